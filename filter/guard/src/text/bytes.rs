//! Byte-level helpers shared by the hand-written scanners.
//!
//! Detectors work on the bytes of the normalised text. Everything they match is ASCII, so
//! a match always starts and ends on a character boundary; non-ASCII bytes simply act as
//! separators. Reads past either end return 0, which is a separator too — that keeps the
//! scanners free of bounds checks that could panic.

/// The byte at `i`, or 0 past the end.
#[inline]
pub(crate) fn at(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

/// The byte before `i`, or 0 at the start.
#[inline]
pub(crate) fn before(b: &[u8], i: usize) -> u8 {
    match i.checked_sub(1) {
        Some(j) => at(b, j),
        None => 0,
    }
}

/// ASCII letter, digit or underscore: the bytes that make a token longer.
#[inline]
pub(crate) fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

#[inline]
pub(crate) fn is_digit(c: u8) -> bool {
    c.is_ascii_digit()
}

/// End of the run of bytes satisfying `pred` that starts at `i`.
#[inline]
pub(crate) fn run_end(b: &[u8], i: usize, pred: impl Fn(u8) -> bool) -> usize {
    match b.get(i..) {
        Some(rest) => i + rest.iter().position(|&c| !pred(c)).unwrap_or(rest.len()),
        None => i,
    }
}

/// End of the digit run starting at `i`.
#[inline]
pub(crate) fn digits_end(b: &[u8], i: usize) -> usize {
    run_end(b, i, is_digit)
}

/// Whether `b[i..]` starts with `prefix` (exact bytes).
#[inline]
pub(crate) fn starts_with(b: &[u8], i: usize, prefix: &[u8]) -> bool {
    b.get(i..).is_some_and(|s| s.starts_with(prefix))
}

/// Whether `b[i..]` starts with `prefix`, ignoring ASCII case (`prefix` is lowercase).
#[inline]
pub(crate) fn starts_with_ci(b: &[u8], i: usize, prefix: &[u8]) -> bool {
    b.get(i..i + prefix.len())
        .is_some_and(|s| s.eq_ignore_ascii_case(prefix))
}

/// Position of `needle` in `b[from..limit]`. For short windows only (a PEM label): no
/// finder is built.
pub(crate) fn find_bytes(b: &[u8], from: usize, limit: usize, needle: &[u8]) -> Option<usize> {
    let hay = b.get(from..limit.min(b.len()))?;
    if needle.is_empty() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

/// A number-like token may start at `i`: not glued to a word on its left, and not the
/// continuation of a dotted or dashed identifier (`v1.2`, `INV-555`, `1.2.3.4.5`).
pub(crate) fn starts_cleanly(b: &[u8], i: usize) -> bool {
    let p = before(b, i);
    if is_word(p) {
        return false;
    }
    if matches!(p, b'.' | b'-') {
        return !is_word(before(b, i - 1));
    }
    true
}

/// A number-like token may end at `e`: not glued to a word on its right, and not followed
/// by `.digit` or `-digit` (a longer number, a decimal, another group).
pub(crate) fn ends_cleanly(b: &[u8], e: usize) -> bool {
    let n = at(b, e);
    if is_word(n) {
        return false;
    }
    !(matches!(n, b'.' | b'-') && is_digit(at(b, e + 1)))
}

/// The `len` digits starting at `i` as numbers 0–9, if they are all digits.
pub(crate) fn digit_values(b: &[u8], i: usize, len: usize) -> Option<u32> {
    let s = b.get(i..i + len)?;
    s.iter()
        .try_fold(0u32, |acc, &c| is_digit(c).then(|| acc * 10 + u32::from(c - b'0')))
}

/// Whether the text before `i` (within `window` bytes) contains one of `needles`
/// (lowercase ASCII, matched case-insensitively) not preceded by a letter, and not a word of
/// a redaction placeholder (`[PHONE_1]`, `[US_SSN_2]`: after `[` or `_` and before `_`), so
/// that a redacted text does not gain a keyword the original lacked. One pass over the
/// window.
pub(crate) fn keyword_before(b: &[u8], i: usize, window: usize, needles: &[&[u8]]) -> bool {
    let from = i.saturating_sub(window);
    let Some(hay) = b.get(from..i) else {
        return false;
    };
    (0..hay.len()).any(|k| {
        let c = at(hay, k).to_ascii_lowercase();
        let p = before(b, from + k);
        !p.is_ascii_alphabetic()
            && needles.iter().any(|n| {
                n.first() == Some(&c)
                    && hay.get(k..k + n.len()).is_some_and(|w| w.eq_ignore_ascii_case(n))
                    && !(matches!(p, b'[' | b'_') && at(b, from + k + n.len()) == b'_')
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_past_the_ends_are_zero() {
        let b = b"ab";
        assert_eq!(at(b, 5), 0);
        assert_eq!(before(b, 0), 0);
        assert_eq!(digits_end(b"12a", 0), 2);
        assert_eq!(digit_values(b"123", 1, 5), None);
        assert_eq!(digit_values(b"123", 0, 3), Some(123));
        assert!(starts_with_ci(b"AkIa", 0, b"akia"));
        assert!(!starts_with_ci(b"Ak", 0, b"akia"));
        assert_eq!(find_bytes(b"xx-----END", 0, 100, b"-----END"), Some(2));
    }

    #[test]
    fn clean_number_boundaries() {
        let b = b"v1.2 x-9 a 12.5 7-";
        assert!(!starts_clean(b, 1)); // after 'v'
        assert!(!starts_clean(b, 3)); // after "v1."
        assert!(!starts_clean(b, 7)); // after "x-"
        assert!(starts_clean(b, 11));
        assert!(!ends_cleanly(b, 13)); // "12" then ".5"
        assert!(ends_cleanly(b, 18));
    }

    fn starts_clean(b: &[u8], i: usize) -> bool {
        starts_cleanly(b, i)
    }

    #[test]
    fn keyword_window() {
        let b = b"my SSN: 123";
        assert!(keyword_before(b, 8, 32, &[b"x", b"ssn"]));
        assert!(!keyword_before(b"classn 1", 7, 32, &[b"ssn"]));
        assert!(!keyword_before(b"ssn 1", 4, 2, &[b"ssn"]));
        // A placeholder's words are not keywords; a key's are.
        assert!(!keyword_before(b"[PHONE_1] 1", 10, 32, &[b"phone"]));
        assert!(!keyword_before(b"[US_SSN_1] 1", 11, 32, &[b"ssn"]));
        assert!(keyword_before(b"home_phone: 1", 12, 32, &[b"phone"]));
        assert!(keyword_before(b"[phone] 1", 8, 32, &[b"phone"]));
    }
}
