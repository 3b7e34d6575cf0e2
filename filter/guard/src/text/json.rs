//! JSON string literals: decoding into the inspected text, and mapping offsets of the
//! decoded text back to the raw bytes of the literal (for byte-exact redaction).
//!
//! The body has been validated as JSON before (serde_json), so a literal is well formed;
//! still, nothing here panics on bad input: a malformed escape decodes to U+FFFD.

/// Appends the decoded content of the JSON string literal `raw` (its bytes between the
/// quotes) to `out`.
pub(crate) fn decode_into(raw: &[u8], out: &mut Vec<u8>) {
    // Short literals: a plain look for a backslash is cheaper than a SIMD search's set-up.
    if raw.len() <= 16 && !raw.contains(&b'\\') {
        out.extend_from_slice(raw);
        return;
    }
    let mut i = 0;
    while i < raw.len() {
        let rest = raw.get(i..).unwrap_or_default();
        let Some(k) = memchr::memchr(b'\\', rest) else {
            out.extend_from_slice(rest);
            return;
        };
        out.extend_from_slice(rest.get(..k).unwrap_or_default());
        i += k;
        let (c, len) = escape_at(raw, i);
        let mut tmp = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
        i += len;
    }
}

/// The character the escape at `raw[i]` (a backslash) stands for, and its raw length.
fn escape_at(raw: &[u8], i: usize) -> (char, usize) {
    let simple = match raw.get(i + 1) {
        Some(b'"') => '"',
        Some(b'\\') => '\\',
        Some(b'/') => '/',
        Some(b'b') => '\u{8}',
        Some(b'f') => '\u{c}',
        Some(b'n') => '\n',
        Some(b'r') => '\r',
        Some(b't') => '\t',
        Some(b'u') => return unicode_escape(raw, i),
        Some(_) => return ('\u{FFFD}', 2),
        None => return ('\u{FFFD}', 1),
    };
    (simple, 2)
}

fn hex4(raw: &[u8], i: usize) -> Option<u32> {
    let s = raw.get(i..i + 4)?;
    s.iter()
        .try_fold(0u32, |acc, &c| char::from(c).to_digit(16).map(|d| acc * 16 + d))
}

/// `\uXXXX`, or a surrogate pair `\uD83D\uDE00`; a lone surrogate is U+FFFD.
fn unicode_escape(raw: &[u8], i: usize) -> (char, usize) {
    let Some(hi) = hex4(raw, i + 2) else {
        return ('\u{FFFD}', 2);
    };
    if (0xD800..0xDC00).contains(&hi) {
        if raw.get(i + 6) == Some(&b'\\') && raw.get(i + 7) == Some(&b'u') {
            if let Some(lo) = hex4(raw, i + 8).filter(|lo| (0xDC00..0xE000).contains(lo)) {
                let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                return (char::from_u32(cp).unwrap_or('\u{FFFD}'), 12);
            }
        }
        return ('\u{FFFD}', 6);
    }
    (char::from_u32(hi).unwrap_or('\u{FFFD}'), 6)
}

/// Maps sorted decoded offsets of the literal `raw` to raw offsets, in one walk: each
/// decoded offset that falls inside an escape's output maps to the escape's start (for a
/// range start) or its end (for a range end). `points` are `(decoded, is_end)`; the result
/// is in the same order.
#[cfg(test)]
pub(crate) fn raw_offsets(raw: &[u8], points: &[(usize, bool)]) -> Vec<usize> {
    raw_offsets_from(raw, (0, 0), points).0
}

/// [`raw_offsets`] from `(raw, decoded)`, a unit boundary an earlier walk returned (points
/// at or after it), so that the values of one long string are mapped in one walk in all;
/// also returns where this walk stopped.
pub(crate) fn raw_offsets_from(
    raw: &[u8],
    (r0, d0): (usize, usize),
    points: &[(usize, bool)],
) -> (Vec<usize>, (usize, usize)) {
    let mut out = Vec::with_capacity(points.len());
    let (mut r, mut d) = (r0, d0);
    let mut tmp = [0u8; 4];
    for &(want, is_end) in points {
        // Advance while the next unit ends at or before `want` (start) / before it (end).
        while let Some(&c) = raw.get(r) {
            let (rl, dl) = if c == b'\\' {
                let (ch, len) = escape_at(raw, r);
                (len, ch.encode_utf8(&mut tmp).len())
            } else {
                (1, 1)
            };
            let stop = if is_end { d >= want } else { d + dl > want };
            if stop {
                break;
            }
            r += rl;
            d += dl;
        }
        out.push(r);
    }
    (out, (r, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(raw: &str) -> String {
        let mut v = Vec::new();
        decode_into(raw.as_bytes(), &mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn decodes_every_escape() {
        assert_eq!(decode(r#"a\"b\\c\/d\n\t\u0040\u00e9\ud83d\ude00"#), "a\"b\\c/d\n\t@é😀");
        assert_eq!(decode(r"\ud83d x \uZZZZ"), "\u{FFFD} x \u{FFFD}ZZZZ");
        assert_eq!(decode("plain"), "plain");
    }

    #[test]
    fn maps_decoded_offsets_back() {
        // raw: x \u0040 y  -> decoded "x@y"
        let raw = br"x\u0040y";
        assert_eq!(
            raw_offsets(raw, &[(0, false), (1, false), (2, true), (3, true)]),
            vec![0, 1, 7, 8]
        );
        // A range inside a multi-byte escape output expands to the whole escape.
        let raw = br"a\u00e9b";
        assert_eq!(raw_offsets(raw, &[(2, false), (2, true)]), vec![1, 7]);
    }
}
