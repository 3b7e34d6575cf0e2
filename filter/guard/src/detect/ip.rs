//! `ip_address`: IPv4 dotted quads and IPv6 in full, compressed and IPv4-embedded forms.
//!
//! IPv4: exactly four dot-separated decimal octets ≤ 255, not part of a longer dotted
//! run (`1.3.6.1.4.1`), not glued to a word (`v1.2.3.4`), and not introduced by a
//! version-like word (`version 1.2.3.4`, `build 10.0.0.1`, `section 1.2.3.4`).
//! IPv6: 8 groups, or fewer with one `::`; must contain a digit (so `a::b`, `Foo::Bar`
//! are code), not a bare `::`, and a short compressed form (`1::2`, a slice in code)
//! needs a group of three or more hex digits. Times (`12:30:45`) and MACs have too few
//! groups and are not reported.
//!
//! The unspecified address `::` on its own is code far more often (Haskell's `x :: Int`,
//! C++'s `::f`, Python's `a[::2]`): it is reported only where nothing but an address can
//! stand: as a prefix (`::/0`, `::/128`), bracketed with a port (`[::]:8080`), as a
//! value after `=` (`src=:: dst=::1`), or as a text's last word (`Use local ipv6 ::`).

use crate::text::bytes::{at, before, digits_end, is_word, starts_cleanly};

/// Words that make a following dotted quad a version or section number.
const VERSION_WORDS: &[&[u8]] = &[
    b"version",
    b"ver",
    b"v",
    b"rv",
    b"release",
    b"rel",
    b"build",
    b"rev",
    b"revision",
    b"section",
    b"sec",
    b"chapter",
    b"firmware",
    b"fw",
    b"kernel",
    b"patch",
    b"update",
    b"sdk",
    b"api",
    b"per",
    b"rfc",
    b"clause",
    b"step",
    b"table",
    b"figure",
    b"fig",
    b"appendix",
    b"annex",
    b"paragraph",
    b"para",
    b"item",
    b"oid",
    b"arc",
];

/// An IPv4 address whose first octet starts at `i`.
pub(super) fn v4_at(b: &[u8], i: usize) -> Option<(usize, usize)> {
    // `10.0.0.1-10.0.0.9` is a range of two addresses.
    let range = before(b, i) == b'-' && i >= 2 && before(b, i - 1).is_ascii_digit();
    if !(starts_cleanly(b, i) || range) || before(b, i) == b'.' {
        return None;
    }
    let end = quad(b, i)?;
    let n = at(b, end);
    if is_word(n) || (n == b'.' && is_word(at(b, end + 1))) || versioned(b, i) {
        return None;
    }
    Some((i, end))
}

/// Four octets from `i`; the end offset.
fn quad(b: &[u8], i: usize) -> Option<usize> {
    let mut p = i;
    for k in 0..4 {
        let e = digits_end(b, p);
        let n = e - p;
        if n == 0 || n > 3 {
            return None;
        }
        let v = b.get(p..e)?.iter().fold(0u32, |a, &c| a * 10 + u32::from(c - b'0'));
        if v > 255 {
            return None;
        }
        p = e;
        if k < 3 {
            if at(b, p) != b'.' {
                return None;
            }
            p += 1;
        }
    }
    Some(p)
}

/// Whether the word before `i` (skipping a little punctuation) is a version word.
fn versioned(b: &[u8], i: usize) -> bool {
    let mut p = i;
    let mut skipped = 0;
    while p > 0 && matches!(before(b, p), b' ' | b'\t' | b':' | b'=' | b'#' | b'.') && skipped < 4 {
        p -= 1;
        skipped += 1;
    }
    let e = p;
    while p > 0 && before(b, p).is_ascii_alphabetic() && e - p < 12 {
        p -= 1;
    }
    let word = b.get(p..e).unwrap_or_default();
    !word.is_empty() && VERSION_WORDS.iter().any(|w| word.eq_ignore_ascii_case(w))
}

/// The IPv6 address whose first `:` is at `c`, if any (bounded: at most eight groups).
pub(super) fn v6_at_colon(b: &[u8], c: usize) -> Option<(usize, usize)> {
    let mut s = c;
    while s > 0 && before(b, s).is_ascii_hexdigit() && c - s < 4 {
        s -= 1;
    }
    let p = before(b, s);
    // Not glued to a word; a `:` before is fine only after a non-hex byte (`ip:fe80::1`).
    let glued = is_word(p)
        || p == b'.'
        || (p == b':' && (s < 2 || before(b, s - 1).is_ascii_hexdigit() || before(b, s - 1) == b':'));
    if glued {
        return None;
    }
    if s == c && at(b, c + 1) == b':' && !at(b, c + 2).is_ascii_hexdigit() && at(b, c + 2) != b':' {
        return unspecified(b, c).then_some((c, c + 2));
    }
    v6(b, s).map(|e| (s, e))
}

/// Whether the bare `::` at `c` (not glued to a word or a colon on either side) stands
/// where only an address can.
fn unspecified(b: &[u8], c: usize) -> bool {
    let (p, n) = (before(b, c), at(b, c + 2));
    let end_or_space = |x: u8| x == 0 || x.is_ascii_whitespace();
    match n {
        // `::/0`: a prefix length of 0–128.
        b'/' => {
            let e = digits_end(b, c + 3);
            let len = b.get(c + 3..e).unwrap_or_default();
            // The value only of at most three digits (a longer run overflowed the fold: a
            // fuzzing finding).
            (1..=3).contains(&len.len())
                && len.iter().fold(0u32, |a, &d| a * 10 + u32::from(d - b'0')) <= 128
                && !is_word(at(b, e))
        }
        // `[::]:8080`
        b']' => p == b'[' && at(b, c + 3) == b':' && at(b, c + 4).is_ascii_digit(),
        // `src=::`, `listen=::,`
        _ if p == b'=' => end_or_space(n) || matches!(n, b',' | b';' | b'&'),
        // The text's last word (not its only one), perhaps before closing punctuation:
        // `Unspecified ::.`
        0 => p.is_ascii_whitespace(),
        b'.' | b',' | b';' | b')' => p.is_ascii_whitespace() && at(b, c + 3) == 0,
        _ => false,
    }
}

/// Parses an IPv6 address at `s`; the end offset.
fn v6(b: &[u8], s: usize) -> Option<usize> {
    let mut p = s;
    let mut groups = 0;
    let mut double = false;
    let mut digit = false;
    let mut long_group = false;
    if at(b, p) == b':' {
        if at(b, p + 1) != b':' {
            return None;
        }
        double = true;
        p += 2;
    }
    loop {
        let h = run_hex(b, p);
        if h == 0 {
            break;
        }
        if at(b, p + h) == b'.' {
            // Embedded IPv4 tail (`::ffff:192.0.2.1`), two groups' worth; a `.` that does
            // not start one ends the address (`2001:db8::1.` at the end of a sentence).
            if let Some(q) = quad(b, p) {
                p = q;
                groups += 2;
                digit = true;
                break;
            }
        }
        if h > 4 {
            return None;
        }
        digit |= b.get(p..p + h)?.iter().any(u8::is_ascii_digit);
        long_group |= h >= 3;
        groups += 1;
        p += h;
        if groups > 8 {
            return None;
        }
        if at(b, p) == b':' && at(b, p + 1) == b':' {
            if double || at(b, p + 2) == b':' {
                return None;
            }
            double = true;
            p += 2;
        } else if at(b, p) == b':' && at(b, p + 1).is_ascii_hexdigit() {
            p += 1;
        } else {
            break;
        }
    }
    let count_ok = if double { groups <= 7 } else { groups == 8 };
    // `1::2` and `[::2]` are slices in code far more often than addresses; of the
    // one-group `::x` forms only the loopback `::1` is kept.
    let short_compressed = double && groups < 3 && at(b, s) != b':' && !long_group;
    let lone = at(b, s) == b':' && groups == 1 && b.get(s..p) != Some(&b"::1"[..]);
    let n = at(b, p);
    let glued = is_word(n) || (n == b'.' && is_word(at(b, p + 1)));
    // Short forms are written in one case; `f16::E`, `c::B50` are paths in code. A long
    // address (four groups or more) may mix cases (`2345:0425:2CA1:…:23b5`).
    let text = b.get(s..p).unwrap_or_default();
    let mixed_case = text.iter().any(u8::is_ascii_lowercase) && text.iter().any(u8::is_ascii_uppercase);
    if mixed_case && groups < 4 {
        return None;
    }
    (groups > 0 && count_ok && digit && !short_compressed && !lone && !glued).then_some(p)
}

fn run_hex(b: &[u8], p: usize) -> usize {
    let mut e = p;
    while at(b, e).is_ascii_hexdigit() {
        e += 1;
    }
    e - p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(t: &str) -> Vec<&str> {
        let b = t.as_bytes();
        let mut v = vec![];
        let mut i = 0;
        while i < b.len() {
            if b[i].is_ascii_digit() {
                if let Some((s, e)) = v4_at(b, i) {
                    v.push(&t[s..e]);
                }
                i = digits_end(b, i);
            } else {
                i += 1;
            }
        }
        v
    }

    fn v6s(t: &str) -> Vec<&str> {
        let b = t.as_bytes();
        let mut v = vec![];
        let mut next = 0;
        for (k, _) in t.match_indices(':') {
            if k >= next {
                if let Some((s, e)) = v6_at_colon(b, k) {
                    v.push(&t[s..e]);
                    next = e;
                }
            }
        }
        v
    }

    #[test]
    fn ipv4() {
        assert_eq!(
            v4("from 10.0.0.1:8080 and 192.168.1.254."),
            ["10.0.0.1", "192.168.1.254"]
        );
        assert_eq!(v4("range 10.0.0.1-10.0.0.9"), ["10.0.0.1", "10.0.0.9"]);
        for t in [
            "1.2.3",
            "15.01.2024",
            "version 1.2.3.4",
            "v1.2.3.4",
            "Version: 1.2.3.4",
            "1.3.6.1.4.1",
            "256.1.1.1",
            "1.2.3.4a",
            "Chrome 120.0.6099.109",
            "per 5.1.5.4",
            "rv:1.9.2.3",
        ] {
            assert!(v4(t).is_empty(), "{t}");
        }
    }

    #[test]
    fn ipv6() {
        for t in [
            "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
            "2001:db8::8a2e:370:7334",
            "::1",
            "fe80::1",
            "2001:db8::",
            "::ffff:192.0.2.128",
            "64:ff9b::192.0.2.33",
        ] {
            assert_eq!(v6s(&format!("x {t} y")), [t], "{t}");
        }
        assert_eq!(v6s("[::1]:8080"), ["::1"]);
        assert_eq!(v6s("ip:fe80::1"), ["fe80::1"]);
        for (t, want) in [
            ("Use local ipv6 ::", &["::"][..]),
            ("src=:: dst=::1", &["::", "::1"]),
            ("::/0", &["::"]),
            ("prefix ::/128.", &["::"]),
            ("listen [::]:8080", &["::"]),
            ("Unspecified ::.", &["::"]),
        ] {
            assert_eq!(v6s(t), want, "{t}");
        }
        for t in [
            "::",
            ":::",
            "f :: Int -> Int",
            "name ::\n  String",
            "a[::]",
            "a[::2]",
            "x = a[::]",
            "ip :: Text",
            "::/129",
            "::/0x",
            "::/1234",
            // Longer than a u32 (a fuzzing finding: the prefix's value overflowed).
            "::/44444444444444444444",
            "[::]",
            "[::]:x",
            "x=::y",
            "Example::",
            ":: comment",
            "a ::, b",
            "12:30:45",
            "00:1A:2B:3C:4D:5E",
            "std::vector",
            "a::b",
            "Foo::Bar",
            "u8::MAX",
            "x[1::2]",
            "arr[::-1]",
            "1::2::3",
            "2024-01-15T12:30:45Z",
            "John 3:16",
            "f16::E",
            "libc::c::B50",
        ] {
            assert!(v6s(t).is_empty(), "{t}: {:?}", v6s(t));
        }
    }
}
