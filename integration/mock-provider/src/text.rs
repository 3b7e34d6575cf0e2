//! Deterministic generated text, prompt-token estimates, ids and JSON string escaping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// Default token texts, cycled: eight tokens make one sentence.
const WORDS: [&str; 8] = ["This ", "is ", "a ", "mock ", "reply ", "from ", "the ", "provider. "];

/// The completion to produce: `tokens` tokens, each `custom` or the next word of [`WORDS`].
#[derive(Debug, Clone)]
pub struct Completion {
    pub tokens: usize,
    custom: Option<String>,
}

impl Completion {
    pub fn new(tokens: usize, custom: Option<String>) -> Self {
        Self { tokens, custom }
    }

    /// Text of token `i` (0-based).
    pub fn token(&self, i: usize) -> &str {
        match &self.custom {
            Some(t) => t,
            None => WORDS.get(i % WORDS.len()).copied().unwrap_or_default(),
        }
    }

    /// The whole completion text.
    pub fn text(&self) -> String {
        let mut s = String::with_capacity(self.tokens.saturating_mul(self.token(0).len()));
        for i in 0..self.tokens {
            s.push_str(self.token(i));
        }
        s
    }

    pub fn tokens_u64(&self) -> u64 {
        u64::try_from(self.tokens).unwrap_or(u64::MAX)
    }
}

/// Characters of prompt text in a message-like JSON value: strings count whole; arrays
/// sum their items; objects count their `text` and `content` fields (chat messages,
/// content parts, system blocks, Responses input items).
pub fn text_chars(v: &Value) -> usize {
    match v {
        Value::String(s) => s.chars().count(),
        Value::Array(items) => items.iter().map(text_chars).sum(),
        Value::Object(map) => ["text", "content"]
            .iter()
            .filter_map(|k| map.get(*k))
            .map(text_chars)
            .sum(),
        _ => 0,
    }
}

/// Rough prompt token estimate: characters / 4, at least 1.
pub fn estimate_tokens(parts: &[Option<&Value>]) -> u64 {
    let chars: usize = parts.iter().flatten().map(|v| text_chars(v)).sum();
    u64::try_from(chars / 4).unwrap_or(u64::MAX).max(1)
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A process-unique id such as `chatcmpl-mock000000000000000001`.
pub fn next_id(prefix: &str) -> String {
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}mock{n:020}")
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Serializes `v` to JSON. The mock's response types are plain structs of strings and
/// numbers, which cannot fail to serialize; `{}` stands in rather than panicking.
pub fn to_json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_else(|_| b"{}".to_vec())
}

/// Appends `s` as a quoted JSON string.
pub fn push_json_str(buf: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    buf.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        buf.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        if esc.is_empty() {
            buf.extend_from_slice(b"\\u00");
            buf.push(HEX[usize::from(b >> 4)]);
            buf.push(HEX[usize::from(b & 0xf)]);
        } else {
            buf.extend_from_slice(esc);
        }
        start = i + 1;
    }
    buf.extend_from_slice(bytes.get(start..).unwrap_or_default());
    buf.push(b'"');
}

/// Appends the decimal form of `n`.
pub fn push_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        if let Some(d) = digits.get_mut(i) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    buf.extend_from_slice(digits.get(i..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn default_tokens_form_a_sentence() {
        let c = Completion::new(8, None);
        assert_eq!(c.text(), "This is a mock reply from the provider. ");
        assert_eq!(c.token(8), "This ");
        assert_eq!(Completion::new(3, Some("x".into())).text(), "xxx");
    }

    #[test]
    fn estimates_prompt_tokens() {
        let messages = json!([
            {"role": "system", "content": "12345678"},
            {"role": "user", "content": [{"type": "text", "text": "abcd"}]}
        ]);
        assert_eq!(estimate_tokens(&[Some(&messages)]), 3);
        assert_eq!(estimate_tokens(&[None]), 1);
        assert_eq!(estimate_tokens(&[Some(&json!("12345678")), Some(&messages)]), 5);
    }

    #[test]
    fn json_strings_round_trip() {
        for s in ["", "plain", "q\"b\\s\n\r\t\u{1}\u{1f}é😀 end"] {
            let mut buf = Vec::new();
            push_json_str(&mut buf, s);
            let back: String = serde_json::from_slice(&buf).unwrap();
            assert_eq!(back, s);
        }
    }

    #[test]
    fn numbers() {
        for n in [0u64, 7, 10, 1234567890, u64::MAX] {
            let mut buf = Vec::new();
            push_u64(&mut buf, n);
            assert_eq!(String::from_utf8(buf).unwrap(), n.to_string());
        }
    }

    #[test]
    fn ids_are_unique() {
        assert_ne!(next_id("msg_"), next_id("msg_"));
    }
}
