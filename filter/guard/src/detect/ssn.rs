//! `us_ssn`: `AAA-GG-SSSS` with dashes, spaces or dots (one separator, used twice), in the
//! ranges the SSA issues: area not 000, 666 or 900–999; group not 00; serial not 0000.
//! Nine unformatted digits only when a keyword (`SSN`, `social security`, …) appears in
//! the 48 bytes before them.

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
        ] {
            assert_eq!(one(t), None, "{t}");
        }
    }
}
