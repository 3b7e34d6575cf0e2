//! Per-request behaviour controls, read from `x-mock-*` request headers.

use std::time::Duration;

use hyper::{HeaderMap, StatusCode};

/// Largest accepted `x-mock-tokens`.
pub const MAX_TOKENS: usize = 100_000;
/// Completion tokens when `x-mock-tokens` is absent.
pub const DEFAULT_TOKENS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Controls {
    /// `x-mock-ttft-ms`: wait before the first byte of the response.
    pub ttft: Duration,
    /// `x-mock-token-delay-ms`: wait between streamed tokens.
    pub token_delay: Duration,
    /// `x-mock-tokens`: number of completion tokens.
    pub tokens: usize,
    /// `x-mock-token-text`: text of every token (default: a fixed sentence, cycled).
    pub token_text: Option<String>,
    /// `x-mock-status`: answer with this status (>= 400: provider-shaped error body).
    pub status: Option<StatusCode>,
    /// `x-mock-hang-ms`: send nothing for this long, then respond normally.
    pub hang: Duration,
    /// `x-mock-abort-after`: in a stream, close the connection after this many token events.
    pub abort_after: Option<usize>,
    /// `x-mock-replay`: answer with this file from the `--fixtures` directory (name unchecked here).
    pub replay: Option<String>,
    /// `x-mock-chunk-bytes`: send a replayed body in writes of at most this many bytes (>= 1).
    pub chunk_bytes: Option<usize>,
    /// `x-mock-chunk-delay-ms`: wait between the writes of a replayed body.
    pub chunk_delay: Duration,
    /// `x-mock-usage: omit`: OpenAI chat streams never carry usage, even with `include_usage`.
    pub omit_usage: bool,
}

impl Default for Controls {
    fn default() -> Self {
        Self {
            ttft: Duration::ZERO,
            token_delay: Duration::ZERO,
            tokens: DEFAULT_TOKENS,
            token_text: None,
            status: None,
            hang: Duration::ZERO,
            abort_after: None,
            replay: None,
            chunk_bytes: None,
            chunk_delay: Duration::ZERO,
            omit_usage: false,
        }
    }
}

impl Controls {
    /// Reads the controls; the error names the offending header.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, String> {
        let mut c = Self::default();
        if let Some(ms) = number(headers, "x-mock-ttft-ms")? {
            c.ttft = Duration::from_millis(ms);
        }
        if let Some(ms) = number(headers, "x-mock-token-delay-ms")? {
            c.token_delay = Duration::from_millis(ms);
        }
        if let Some(ms) = number(headers, "x-mock-hang-ms")? {
            c.hang = Duration::from_millis(ms);
        }
        if let Some(n) = number(headers, "x-mock-tokens")? {
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            if n > MAX_TOKENS {
                return Err(format!("x-mock-tokens must be at most {MAX_TOKENS}"));
            }
            c.tokens = n;
        }
        if let Some(n) = number(headers, "x-mock-abort-after")? {
            c.abort_after = Some(usize::try_from(n).unwrap_or(usize::MAX));
        }
        if let Some(code) = number(headers, "x-mock-status")? {
            let status = u16::try_from(code)
                .ok()
                .filter(|c| (200..=599).contains(c))
                .and_then(|c| StatusCode::from_u16(c).ok())
                .ok_or_else(|| "x-mock-status must be an HTTP status from 200 to 599".to_owned())?;
            c.status = Some(status);
        }
        if let Some(v) = headers.get("x-mock-token-text") {
            let text = String::from_utf8_lossy(v.as_bytes()).into_owned();
            if text.is_empty() {
                return Err("x-mock-token-text must not be empty".to_owned());
            }
            c.token_text = Some(text);
        }
        if let Some(v) = headers.get("x-mock-replay") {
            let name = v
                .to_str()
                .map_err(|_| "x-mock-replay must be a plain file name".to_owned())?;
            c.replay = Some(name.trim().to_owned());
        }
        if let Some(n) = number(headers, "x-mock-chunk-bytes")? {
            if n == 0 {
                return Err("x-mock-chunk-bytes must be at least 1".to_owned());
            }
            c.chunk_bytes = Some(usize::try_from(n).unwrap_or(usize::MAX));
        }
        if let Some(ms) = number(headers, "x-mock-chunk-delay-ms")? {
            c.chunk_delay = Duration::from_millis(ms);
        }
        if let Some(v) = headers.get("x-mock-usage") {
            if !v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"omit") {
                return Err("x-mock-usage must be \"omit\"".to_owned());
            }
            c.omit_usage = true;
        }
        Ok(c)
    }

    /// Total wait before the response head is sent.
    pub fn initial_wait(&self) -> Duration {
        self.hang.saturating_add(self.ttft)
    }
}

fn number(headers: &HeaderMap, name: &str) -> Result<Option<u64>, String> {
    let Some(v) = headers.get(name) else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| format!("{name} must be a non-negative integer"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn defaults() {
        assert_eq!(Controls::from_headers(&HeaderMap::new()).unwrap(), Controls::default());
    }

    #[test]
    fn reads_all_headers() {
        let c = Controls::from_headers(&headers(&[
            ("x-mock-ttft-ms", "5"),
            ("x-mock-token-delay-ms", "2"),
            ("x-mock-tokens", "100000"),
            ("x-mock-token-text", "ab "),
            ("x-mock-status", "429"),
            ("x-mock-hang-ms", "7"),
            ("x-mock-abort-after", "3"),
            ("x-mock-replay", " chat.sse "),
            ("x-mock-chunk-bytes", "7"),
            ("x-mock-chunk-delay-ms", "4"),
            ("x-mock-usage", "omit"),
        ]))
        .unwrap();
        assert_eq!(c.ttft, Duration::from_millis(5));
        assert_eq!(c.token_delay, Duration::from_millis(2));
        assert_eq!(c.tokens, 100_000);
        assert_eq!(c.token_text.as_deref(), Some("ab "));
        assert_eq!(c.status, Some(StatusCode::TOO_MANY_REQUESTS));
        assert_eq!(c.abort_after, Some(3));
        assert_eq!(c.initial_wait(), Duration::from_millis(12));
        assert_eq!(c.replay.as_deref(), Some("chat.sse"));
        assert_eq!(c.chunk_bytes, Some(7));
        assert_eq!(c.chunk_delay, Duration::from_millis(4));
        assert!(c.omit_usage);
    }

    #[test]
    fn rejects_bad_values() {
        for (k, v) in [
            ("x-mock-tokens", "100001"),
            ("x-mock-tokens", "-1"),
            ("x-mock-ttft-ms", "soon"),
            ("x-mock-status", "99"),
            ("x-mock-status", "600"),
            ("x-mock-chunk-bytes", "0"),
            ("x-mock-chunk-bytes", "many"),
            ("x-mock-chunk-delay-ms", "-3"),
            ("x-mock-usage", "drop"),
            ("x-mock-usage", ""),
        ] {
            let err = Controls::from_headers(&headers(&[(k, v)])).unwrap_err();
            assert!(err.starts_with(k), "{err}");
        }
    }
}
