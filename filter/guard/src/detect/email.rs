//! `email`: local@domain.tld, triggered by `@`.
//!
//! The local part is the practical subset (`A-Z a-z 0-9 . _ % + -`, starting with a letter
//! or digit, at most 64 bytes); the domain needs at least two labels and an alphabetic
//! TLD. Not reported: `@mentions`, `pkg@1.2.3`, `logo@2x.png` (file extensions are not
//! TLDs), URL user info and scp-style `git@github.com:org/repo`, `ssh://git@host/path`.

use crate::text::bytes::{at, before, is_word};

const MAX_LOCAL: usize = 64;

/// TLD-shaped file extensions that are not real TLDs (`icon@2x.png`).
const NOT_TLDS: &[&[u8]] = &[
    b"png", b"jpg", b"jpeg", b"gif", b"svg", b"webp", b"ico", b"bmp", b"tif", b"tiff", b"css", b"js", b"mjs", b"cjs",
    b"ts", b"tsx", b"jsx", b"json", b"yaml", b"yml", b"toml", b"txt", b"html", b"htm", b"xml", b"csv", b"lock", b"exe",
    b"dll", b"wasm", b"pdf",
];

/// The address around the `@` at `at_sign`, if it is one. Bounded work: the local part is
/// at most 64 bytes, and the domain's labels end at the next byte that is not part of one.
pub(super) fn at_sign(b: &[u8], at_sign: usize) -> Option<(usize, usize)> {
    // Cheap rejection first (a run of `@`, an `@mention`).
    let (p, n) = (before(b, at_sign), at(b, at_sign + 1));
    if !(is_local(p) || p >= 0x80) || !n.is_ascii_alphanumeric() {
        return None;
    }
    email_at(b, at_sign)
}

fn is_local(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn email_at(b: &[u8], at_sign: usize) -> Option<(usize, usize)> {
    // Local part, backwards from '@'; accented Latin letters count (`müller@…`).
    let mut s = at_sign;
    while s > 0 {
        if is_local(before(b, s)) {
            s -= 1;
        } else if let Some(len) = latin_letter_before(b, s) {
            s -= len;
        } else {
            break;
        }
        if at_sign - s > MAX_LOCAL {
            return None;
        }
    }
    while s < at_sign && !at(b, s).is_ascii_alphanumeric() && at(b, s) < 0x80 {
        s += 1;
    }
    if s == at_sign || before(b, at_sign) == b'.' {
        return None;
    }

    // Domain labels, forwards.
    let mut p = at_sign + 1;
    let mut labels = 0;
    let mut end = p;
    let mut tld = (p, p);
    loop {
        let ls = p;
        while at(b, p).is_ascii_alphanumeric() || at(b, p) == b'-' {
            p += 1;
        }
        let len = p - ls;
        if len == 0 || len > 63 || at(b, ls) == b'-' || before(b, p) == b'-' {
            break;
        }
        labels += 1;
        end = p;
        tld = (ls, p);
        if at(b, p) == b'.' && at(b, p + 1).is_ascii_alphanumeric() {
            p += 1;
        } else {
            break;
        }
    }
    if labels < 2 || !valid_tld(b.get(tld.0..tld.1)?) {
        return None;
    }
    let next = at(b, end);
    // Glued to more token (`_`, `-`, `@`) or scp-style `host:path`.
    if is_word(next) || matches!(next, b'-' | b'@' | b'/') {
        return None;
    }
    if next == b':' && !matches!(at(b, end + 1), 0 | b' ' | b'\t' | b'\n' | b'\r') {
        return None;
    }
    Some((s, end))
}

/// Byte length of a Latin-1/Latin Extended letter (U+00C0–U+024F) ending at `s`.
fn latin_letter_before(b: &[u8], s: usize) -> Option<usize> {
    // Those letters are two UTF-8 bytes: 0xC3..=0xC9 then a continuation byte.
    let lead = b.get(s.checked_sub(2)?)?;
    let cont = before(b, s);
    let ok = (0xC3..=0xC9).contains(lead) && (0x80..=0xBF).contains(&cont);
    // U+00D7 (×) and U+00F7 (÷) are not letters.
    let sign = *lead == 0xC3 && (cont == 0x97 || cont == 0xB7);
    (ok && !sign).then_some(2)
}

fn valid_tld(t: &[u8]) -> bool {
    if t.len() >= 4 && t.get(..4).is_some_and(|p| p.eq_ignore_ascii_case(b"xn--")) {
        return true;
    }
    t.len() >= 2
        && t.len() <= 24
        && t.iter().all(u8::is_ascii_alphabetic)
        && !NOT_TLDS.iter().any(|x| t.eq_ignore_ascii_case(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(t: &str) -> Vec<&str> {
        let b = t.as_bytes();
        let mut v = vec![];
        let mut next = 0;
        for (k, _) in t.match_indices('@') {
            if k >= next {
                if let Some((s, e)) = at_sign(b, k) {
                    v.push(&t[s..e]);
                    next = e;
                }
            }
        }
        v
    }

    #[test]
    fn basics() {
        assert_eq!(find("mail john.doe+x@example.co.uk."), ["john.doe+x@example.co.uk"]);
        assert_eq!(find("<a@b.io>, c_d@e-f.com"), ["a@b.io", "c_d@e-f.com"]);
        assert!(find("@user lodash@4.17.21 icon@2x.png git@github.com:o/r a@localhost").is_empty());
        assert!(find("x@-a.com .@a.com a.@b.com").is_empty());
    }
}
