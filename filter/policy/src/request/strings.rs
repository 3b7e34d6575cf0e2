//! Every string of a JSON document, with its exact byte span.
//!
//! Guardrails scan the decoded text of every string the provider would see, and redaction
//! replaces a string in place; neither needs a value tree, and splicing keeps every other
//! byte of the client's body as it was. The input has already been validated as JSON.

use std::borrow::Cow;

/// One JSON string token.
#[derive(Debug, PartialEq, Eq)]
pub struct JsonStr<'a> {
    /// Byte offset of the opening quote.
    pub start: usize,
    /// Byte offset just past the closing quote.
    pub end: usize,
    /// True for an object key.
    pub is_key: bool,
    /// The decoded value (escapes resolved: `\u0040` is `@`).
    pub text: Cow<'a, str>,
}

/// All strings of `json`, in document order; `None` if it is not well-formed.
pub fn json_strings(json: &[u8]) -> Option<Vec<JsonStr<'_>>> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&b) = json.get(i) {
        if b != b'"' {
            i += 1;
            continue;
        }
        let start = i;
        let mut j = i + 1;
        let mut escaped = false;
        loop {
            match json.get(j)? {
                b'\\' => {
                    escaped = true;
                    j += 2;
                }
                b'"' => break,
                _ => j += 1,
            }
        }
        let end = j + 1;
        let raw = json.get(start..end)?;
        let text = if escaped {
            Cow::Owned(serde_json::from_slice::<String>(raw).ok()?)
        } else {
            Cow::Borrowed(std::str::from_utf8(json.get(start + 1..j)?).ok()?)
        };
        let is_key = json
            .get(end..)?
            .iter()
            .find(|c| !c.is_ascii_whitespace())
            .is_some_and(|c| *c == b':');
        out.push(JsonStr {
            start,
            end,
            is_key,
            text,
        });
        i = end;
    }
    Some(out)
}

/// A replacement of `body[start..end]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub start: usize,
    pub end: usize,
    pub with: Vec<u8>,
}

/// Applies non-overlapping edits; `None` if any is out of range or they overlap.
pub fn apply_edits(body: &[u8], mut edits: Vec<Edit>) -> Option<Vec<u8>> {
    edits.sort_by_key(|e| (e.start, e.end));
    let added: usize = edits.iter().map(|e| e.with.len()).sum();
    let mut out = Vec::with_capacity(body.len() + added);
    let mut at = 0;
    for e in &edits {
        if e.start < at || e.end < e.start {
            return None;
        }
        out.extend_from_slice(body.get(at..e.start)?);
        out.extend_from_slice(&e.with);
        at = e.end;
    }
    out.extend_from_slice(body.get(at..)?);
    Some(out)
}

/// `s` as a JSON string literal.
pub fn encode(s: &str) -> Vec<u8> {
    serde_json::Value::String(s.to_string()).to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_values_and_decodes_escapes() {
        let json = br#"{"a": "x\u0040y.com", "b" :["p", {"q\"k":"caf\u00e9"}], "n": 1}"#;
        let s = json_strings(json).unwrap();
        let texts: Vec<(&str, bool)> = s.iter().map(|s| (s.text.as_ref(), s.is_key)).collect();
        assert_eq!(
            texts,
            vec![
                ("a", true),
                ("x@y.com", false),
                ("b", true),
                ("p", false),
                ("q\"k", true),
                ("café", false),
                ("n", true)
            ]
        );
        for t in &s {
            assert_eq!(json[t.start], b'"');
            assert_eq!(json[t.end - 1], b'"');
        }
        assert!(matches!(s[0].text, Cow::Borrowed(_)), "no copy without escapes");
    }

    #[test]
    fn escaped_backslash_before_quote_ends_the_string() {
        let s = json_strings(br#"["a\\", "b"]"#).unwrap();
        assert_eq!(s.iter().map(|s| s.text.as_ref()).collect::<Vec<_>>(), vec!["a\\", "b"]);
    }

    #[test]
    fn malformed_is_none_not_a_panic() {
        for bad in [&b"\"abc"[..], b"[\"a\\", b"\"\\u12\"", b"\"\xff\""] {
            assert!(json_strings(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn edits_apply_in_order_and_reject_overlap() {
        let body = b"0123456789";
        let e = |s, e, w: &str| Edit {
            start: s,
            end: e,
            with: w.as_bytes().to_vec(),
        };
        assert_eq!(
            apply_edits(body, vec![e(8, 9, "X"), e(0, 2, "ab")]).unwrap(),
            b"ab234567X9"
        );
        assert_eq!(apply_edits(body, vec![e(1, 1, "+")]).unwrap(), b"0+123456789");
        assert!(apply_edits(body, vec![e(0, 5, ""), e(4, 6, "")]).is_none());
        assert!(apply_edits(body, vec![e(9, 11, "")]).is_none());
    }
}
