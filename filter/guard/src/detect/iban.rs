//! `iban`: country code, two check digits and the BBAN, unbroken or in groups of four
//! separated by single spaces; the exact length registered for the country, and the
//! ISO 7064 mod-97 check.

use crate::text::bytes::{at, is_digit, is_word};

/// IBAN lengths by country (SWIFT IBAN registry).
const LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BI", 27),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DJ", 27),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FK", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"LY", 25),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MN", 20),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NI", 28),
    (b"NL", 18),
    (b"NO", 15),
    (b"OM", 23),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"RU", 33),
    (b"SA", 24),
    (b"SC", 31),
    (b"SD", 18),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"SO", 23),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
    (b"YE", 30),
];

const MAX_LEN: usize = 34;

/// An IBAN starting at word start `i`.
pub(super) fn find_at(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let cc = [at(b, i).to_ascii_uppercase(), at(b, i + 1).to_ascii_uppercase()];
    if !cc.iter().all(u8::is_ascii_uppercase) || !is_digit(at(b, i + 2)) || !is_digit(at(b, i + 3)) {
        return None;
    }
    let len = LENGTHS.iter().find(|(c, _)| **c == cc)?.1;
    let spaced = at(b, i + 4) == b' ';
    let mut chars = [0u8; MAX_LEN];
    let mut count = 0;
    let mut p = i;
    while count < len {
        let c = at(b, p);
        if c.is_ascii_alphanumeric() {
            *chars.get_mut(count)? = c.to_ascii_uppercase();
            count += 1;
            p += 1;
        } else if spaced && c == b' ' && count % 4 == 0 && at(b, p + 1).is_ascii_alphanumeric() {
            p += 1;
        } else {
            return None;
        }
    }
    if is_word(at(b, p)) {
        return None;
    }
    mod97(chars.get(..len)?).then_some((i, p))
}

/// ISO 7064 MOD 97-10: the first four characters moved to the end, letters as 10–35.
fn mod97(iban: &[u8]) -> bool {
    let (head, tail) = iban.split_at(4.min(iban.len()));
    let mut r: u32 = 0;
    for &c in tail.iter().chain(head) {
        r = match c {
            b'0'..=b'9' => (r * 10 + u32::from(c - b'0')) % 97,
            b'A'..=b'Z' => (r * 100 + u32::from(c - b'A') + 10) % 97,
            _ => return false,
        };
    }
    r == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(t: &str) -> Option<&str> {
        find_at(t.as_bytes(), 0).map(|(s, e)| &t[s..e])
    }

    #[test]
    fn valid_and_invalid() {
        assert_eq!(
            one("DE89 3704 0044 0532 0130 00 ok"),
            Some("DE89 3704 0044 0532 0130 00")
        );
        assert_eq!(one("DE89370400440532013000"), Some("DE89370400440532013000"));
        assert_eq!(one("GB82WEST12345698765432"), Some("GB82WEST12345698765432"));
        assert_eq!(one("gb82 west 1234 5698 7654 32"), Some("gb82 west 1234 5698 7654 32"));
        assert_eq!(one("DE88370400440532013000"), None);
        assert_eq!(one("DE893704004405320130001"), None);
        assert_eq!(one("XX89370400440532013000"), None);
        assert_eq!(one("DE89 3704 0044 0532 0130 0"), None);
    }
}
