//! Request headers as Envoy hands them over: names are lower-case, values are bytes.

/// The prefix of every header the gateway sets for Envoy or for logs. Incoming headers
/// with it are removed first, so a client cannot spoof a routing or team decision.
pub const GATEWAY_PREFIX: &str = "x-genai-";

/// The header Envoy's routes match on to pick the provider's cluster.
pub const UPSTREAM_HEADER: &str = "x-genai-upstream";

/// Envoy's own control headers (`x-envoy-max-retries`, `x-envoy-upstream-rq-timeout-ms`,
/// ...). Envoy's router obeys them from any client unless told otherwise, which would let a
/// workload multiply provider calls or change timeouts; the gateway strips them.
pub const ENVOY_PREFIX: &str = "x-envoy-";

/// Credential headers a client may send; none of them is forwarded to a provider.
pub const CLIENT_CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "x-api-key", "api-key"];

/// A borrowed view of the request headers.
pub struct Headers<'a> {
    pairs: &'a [(String, Vec<u8>)],
}

impl<'a> Headers<'a> {
    pub fn new(pairs: &'a [(String, Vec<u8>)]) -> Self {
        Headers { pairs }
    }

    /// The first value of `name` (lower-case).
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }

    pub fn count(&self, name: &str) -> usize {
        self.pairs.iter().filter(|(n, _)| n == name).count()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> {
        self.pairs.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// The first header whose value is not UTF-8, if any.
    pub fn first_non_utf8(&self) -> Option<&'a str> {
        self.iter()
            .find(|(_, v)| std::str::from_utf8(v).is_err())
            .map(|(n, _)| n)
    }

    /// Names to remove before the request may leave: the gateway's own prefix, Envoy's
    /// control headers and the client's credentials. Deduplicated, in first-seen order.
    /// `also`: further names the gateway consumes (the classification header).
    pub fn to_strip(&self, also: &[&str]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (name, _) in self.iter() {
            let strip = name.starts_with(GATEWAY_PREFIX)
                || name.starts_with(ENVOY_PREFIX)
                || CLIENT_CREDENTIAL_HEADERS.contains(&name)
                || also.contains(&name);
            if strip && !out.iter().any(|n| n == name) {
                out.push(name.to_string());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &[u8])]) -> Vec<(String, Vec<u8>)> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_vec())).collect()
    }

    #[test]
    fn strips_prefix_and_credentials_once_each() {
        let pairs = h(&[
            ("x-genai-upstream", b"evil"),
            ("authorization", b"Bearer k"),
            ("x-genai-team", b"x"),
            ("x-genai-upstream", b"evil2"),
            ("content-type", b"application/json"),
            ("api-key", b"k"),
            ("x-envoy-max-retries", b"50"),
            ("x-data-classification", b"internal"),
        ]);
        let hs = Headers::new(&pairs);
        assert_eq!(
            hs.to_strip(&["x-data-classification"]),
            vec![
                "x-genai-upstream",
                "authorization",
                "x-genai-team",
                "api-key",
                "x-envoy-max-retries",
                "x-data-classification"
            ]
        );
    }

    #[test]
    fn finds_non_utf8_values() {
        let pairs = h(&[("a", b"ok"), ("b", b"\xff\xfe")]);
        assert_eq!(Headers::new(&pairs).first_non_utf8(), Some("b"));
        let pairs = h(&[("a", "caf\u{e9}".as_bytes())]);
        assert_eq!(Headers::new(&pairs).first_non_utf8(), None);
    }
}
