//! Per-request behaviour controls, read from `x-mock-*` request headers.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};
use hyper::{HeaderMap, StatusCode};
use serde_json::{Map, Value};

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
    /// `x-mock-retry-after`: sent as `retry-after` with an injected error (`x-mock-status`).
    pub retry_after: Option<String>,
    /// `x-mock-reset: head`: after the initial wait, drop the connection without answering.
    pub reset: bool,
    /// `x-mock-error-after`: in a stream, send the provider's error event after this many
    /// token events and end the stream there.
    pub error_after: Option<usize>,
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
            retry_after: None,
            reset: false,
            error_after: None,
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
        if let Some(v) = headers.get("x-mock-retry-after") {
            let v = v.to_str().map(str::trim).unwrap_or_default();
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
                return Err("x-mock-retry-after must be seconds or an HTTP date".to_owned());
            }
            c.retry_after = Some(v.to_owned());
        }
        if let Some(v) = headers.get("x-mock-reset") {
            if !v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"head") {
                return Err("x-mock-reset must be \"head\" (drop the connection before the response head)".to_owned());
            }
            c.reset = true;
        }
        if let Some(n) = number(headers, "x-mock-error-after")? {
            c.error_after = Some(usize::try_from(n).unwrap_or(usize::MAX));
        }
        Ok(c)
    }

    /// Total wait before the response head is sent.
    pub fn initial_wait(&self) -> Duration {
        self.hang.saturating_add(self.ttft)
    }
}

/// Controls set on the instance (`PUT /__mock/controls`) rather than per request: they apply
/// to every provider request this instance receives, optionally only to the next `times`
/// ones. A request's own `x-mock-*` headers win over them. This is how a test (or a person
/// trying the local gateway) makes one mock instance fail while another, standing in for a
/// second provider, keeps answering.
#[derive(Default)]
pub struct InstanceControls(Mutex<Option<Scripted>>);

struct Scripted {
    headers: HeaderMap,
    /// `None`: until cleared.
    remaining: Option<u64>,
}

impl InstanceControls {
    /// Replaces the instance's controls with a JSON object: `x-mock-*` names to values
    /// (strings or numbers), and optionally `"times": N`. Checked like request headers.
    pub fn set(&self, body: &[u8]) -> Result<(), String> {
        let object: Map<String, Value> =
            serde_json::from_slice(body).map_err(|e| format!("expected a JSON object: {e}"))?;
        let mut headers = HeaderMap::new();
        let mut remaining = None;
        for (key, value) in &object {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Err(format!("{key}: expected a string or a number")),
            };
            if key == "times" {
                let n = text.parse::<u64>().ok().filter(|n| *n > 0);
                remaining = Some(n.ok_or_else(|| "times must be a positive integer".to_owned())?);
                continue;
            }
            if !key.starts_with("x-mock-") {
                return Err(format!("{key}: only x-mock-* controls and \"times\" can be set"));
            }
            let name = HeaderName::from_bytes(key.as_bytes()).map_err(|_| format!("{key}: not a header name"))?;
            let value = HeaderValue::from_str(&text).map_err(|_| format!("{key}: not a header value"))?;
            headers.insert(name, value);
        }
        Controls::from_headers(&headers)?;
        *self.lock() = Some(Scripted { headers, remaining });
        Ok(())
    }

    pub fn clear(&self) {
        *self.lock() = None;
    }

    /// The current controls as JSON (`{}` when none are set).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Map::new();
        if let Some(s) = self.lock().as_ref() {
            for (k, v) in &s.headers {
                out.insert(
                    k.as_str().to_owned(),
                    Value::String(String::from_utf8_lossy(v.as_bytes()).into()),
                );
            }
            if let Some(n) = s.remaining {
                out.insert("times".to_owned(), Value::from(n));
            }
        }
        crate::text::to_json(&out)
    }

    /// The control headers one provider request gets: the instance's (using up one of
    /// `times`), overridden by the request's own `x-mock-*` headers.
    pub fn apply(&self, request: &HeaderMap) -> HeaderMap {
        let mut merged = HeaderMap::new();
        {
            let mut guard = self.lock();
            if let Some(s) = guard.as_mut() {
                merged = s.headers.clone();
                if let Some(n) = s.remaining.as_mut() {
                    *n -= 1;
                    if *n == 0 {
                        *guard = None;
                    }
                }
            }
        }
        for (k, v) in request {
            if k.as_str().starts_with("x-mock-") {
                merged.insert(k.clone(), v.clone());
            }
        }
        merged
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Scripted>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
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
            ("x-mock-retry-after", " 2 "),
            ("x-mock-reset", "HEAD"),
            ("x-mock-error-after", "4"),
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
        assert_eq!(c.retry_after.as_deref(), Some("2"));
        assert!(c.reset);
        assert_eq!(c.error_after, Some(4));
    }

    #[test]
    fn instance_controls_apply_for_a_number_of_requests() {
        let ic = InstanceControls::default();
        assert_eq!(ic.to_json(), b"{}");
        ic.set(br#"{"x-mock-status": 503, "x-mock-retry-after": "1", "times": 2}"#)
            .unwrap();
        let first = Controls::from_headers(&ic.apply(&HeaderMap::new())).unwrap();
        assert_eq!(first.status, Some(StatusCode::SERVICE_UNAVAILABLE));
        assert_eq!(first.retry_after.as_deref(), Some("1"));
        // The request's own headers win.
        let second =
            Controls::from_headers(&ic.apply(&headers(&[("x-mock-status", "429"), ("x-other", "1")]))).unwrap();
        assert_eq!(second.status, Some(StatusCode::TOO_MANY_REQUESTS));
        // Used up after two requests.
        assert_eq!(
            Controls::from_headers(&ic.apply(&HeaderMap::new())).unwrap(),
            Controls::default()
        );
        assert_eq!(ic.to_json(), b"{}");

        ic.set(br#"{"x-mock-reset": "head"}"#).unwrap();
        for _ in 0..3 {
            assert!(Controls::from_headers(&ic.apply(&HeaderMap::new())).unwrap().reset);
        }
        ic.clear();
        assert!(!Controls::from_headers(&ic.apply(&HeaderMap::new())).unwrap().reset);
    }

    #[test]
    fn instance_controls_are_checked_when_set() {
        let ic = InstanceControls::default();
        for bad in [
            &br#"[1]"#[..],
            br#"{"x-mock-status": "99"}"#,
            br#"{"x-mock-status": true}"#,
            br#"{"status": "503"}"#,
            br#"{"x-mock-status": "503", "times": 0}"#,
            br#"{"x-mock-status": "503", "times": "many"}"#,
        ] {
            assert!(ic.set(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(ic.to_json(), b"{}", "a refused setting changes nothing");
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
            ("x-mock-retry-after", ""),
            ("x-mock-reset", "yes"),
            ("x-mock-error-after", "soon"),
        ] {
            let err = Controls::from_headers(&headers(&[(k, v)])).unwrap_err();
            assert!(err.starts_with(k), "{err}");
        }
    }
}
