//! `us_ssn`: `AAA-GG-SSSS` with dashes, spaces or dots (one separator, used twice), in the
//! ranges the SSA issues: area not 000, 666 or 900–999; group not 00; serial not 0000.
//! Nine unformatted digits, or nine digits split 3-6 (`078-051121`) or 5-4 (`07805-1121`)
//! by one dash, only when a keyword (`SSN`, `social security`, …) appears in the 48 bytes
//! before them: without one, 5-4 is a ZIP+4 code, 3-6 a national phone number (`030-123456`)
//! or a part number, and nine bare digits an order or account number. (Presidio scores
//! these three forms "very weak" and leaves it to context words to lift them: the same
//! rule.) Mixed separators (`693-09.4444`) are never an SSN.

use crate::text::bytes::{at, digit_values, digits_end, ends_cleanly, keyword_before, starts_cleanly};

const KEYWORD_WINDOW: usize = 48;
const KEYWORDS: &[&[u8]] = &[
    b"ssn",
    b"social security",
    b"soc sec",
    b"soc. sec",
    b"ss#",
    b"ss #",
    b"ss no",
    b"s.s.n",
];

/// An SSN whose first digit run starts at `i`.
pub(super) fn find_at(b: &[u8], i: usize) -> Option<(usize, usize)> {
    if !starts_cleanly(b, i) {
        return None;
    }
    let e = digits_end(b, i);
    match e - i {
        3 | 5 if at(b, e) == b'-' && digits_end(b, e + 1) - (e + 1) == 9 - (e - i) => {
            // `AAA-GGSSSS`, `AAAGG-SSSS`: the odd dash placements, after a keyword only.
            let s = e + 1;
            let end = digits_end(b, s);
            if !ends_cleanly(b, end) {
                return None;
            }
            let mut d = [0u8; 9];
            for (k, c) in b.get(i..e)?.iter().chain(b.get(s..end)?).enumerate() {
                *d.get_mut(k)? = c - b'0';
            }
            let num = |r: std::ops::Range<usize>| d.get(r).map(|x| x.iter().fold(0u32, |a, &c| a * 10 + u32::from(c)));
            let ok = valid(num(0..3)?, num(3..5)?, num(5..9)?) && keyword_before(b, i, KEYWORD_WINDOW, KEYWORDS);
            ok.then_some((i, end))
        }
        3 => {
            let sep = at(b, e);
            if !matches!(sep, b'-' | b' ' | b'.') {
                return None;
            }
            let g = e + 1;
            if digits_end(b, g) != g + 2 || at(b, g + 2) != sep {
                return None;
            }
            let s = g + 3;
            let end = s + 4;
            let ok = digits_end(b, s) == end
                && ends_cleanly(b, end)
                && valid(digit_values(b, i, 3)?, digit_values(b, g, 2)?, digit_values(b, s, 4)?);
            ok.then_some((i, end))
        }
        9 => {
            let ok = ends_cleanly(b, e)
                && valid(
                    digit_values(b, i, 3)?,
                    digit_values(b, i + 3, 2)?,
                    digit_values(b, i + 5, 4)?,
                )
                && keyword_before(b, i, KEYWORD_WINDOW, KEYWORDS);
            ok.then_some((i, e))
        }
        _ => None,
    }
}

fn valid(area: u32, group: u32, serial: u32) -> bool {
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(t: &str) -> Option<&str> {
        let i = t.find(|c: char| c.is_ascii_digit())?;
        find_at(t.as_bytes(), i).map(|(s, e)| &t[s..e])
    }

    #[test]
    fn formats_and_ranges() {
        assert_eq!(one("ssn 123-45-6789."), Some("123-45-6789"));
        assert_eq!(one("id 123 45 6789"), Some("123 45 6789"));
        assert_eq!(one("SSN: 123456789"), Some("123456789"));
        assert_eq!(one("Social Security number is 078051120"), Some("078051120"));
        assert_eq!(one("SSN 078-051121"), Some("078-051121"));
        assert_eq!(one("my ssn: 07805-1121."), Some("07805-1121"));
        assert_eq!(one("ss# 123-456789"), Some("123-456789"));
        for t in [
            "000-12-3456",
            "666-12-3456",
            "912-12-3456",
            "123-00-4567",
            "123-45-0000",
            "123-45 6789",
            "order 123456789",
            "123-45-67890",
            "A123-45-6789",
            // The odd placements without a keyword: ZIP+4, a phone number, a part number.
            "078-051121",
            "07805-1121",
            "ship to 20500-0003",
            "call 030-123456",
            // With a keyword, still nine digits in the SSA ranges, one dash, clean ends.
            "SSN 000-123456",
            "SSN 66612-3456",
            "SSN 12300-0000",
            "SSN 078-0511210",
            "SSN 0780-51121",
            "SSN 078-05112",
            "SSN 078-051121-4",
            "SSN 078-051121x",
            "SSN 07805 1121",
            "SSN 693-09.4444",
        ] {
            assert_eq!(one(t), None, "{t}");
        }
    }
}
