//! `phone`: North American numbers in their written forms and international numbers with
//! a `+` country code.
//!
//! NANP: `(555) 123-4567`, `555-123-4567`, `555.123.4567`, `1-800-555-1234`,
//! `+1 555 123 4567`, `+15551234567`; the area code starts with 2–9. A bare
//! space-separated `555 123 4567` (no `+1`, no parentheses) looks like a row of a table,
//! so it also needs a valid exchange (2–9) and a phone keyword (`phone`, `tel`, `call`,
//! `mobile`, …) in the 32 bytes before it.
//!
//! International: `+` then groups separated by single spaces, dashes or dots (an optional
//! `(0)` trunk group), 8–15 digits in total (E.164), or 10–15 digits without separators.
//!
//! Not reported: bare digit runs (order numbers, timestamps), 7-digit local numbers,
//! dates, ZIP+4, SSNs, card numbers.

use crate::text::bytes::{at, before, digits_end, ends_cleanly, is_digit, is_word, keyword_before, starts_cleanly};

const KEYWORD_WINDOW: usize = 32;
const PHONE_WORDS: &[&[u8]] = &[
    b"phone",
    b"tel",
    b"call",
    b"mobile",
    b"cell",
    b"fax",
    b"whatsapp",
    b"contact",
    b"sms",
    b"text me",
    b"ring",
];

/// A phone number whose first digit run starts at `i`, as a byte span.
pub(super) fn find_at(b: &[u8], i: usize) -> Option<(usize, usize)> {
    match before(b, i) {
        b'+' => {
            // `+` must itself start a token (not `a+1`, `2+2`, `e-+42`, `x*+3`).
            let p = if i >= 2 { before(b, i - 1) } else { 0 };
            if is_word(p) || matches!(p, b'+' | b'-' | b'.' | b'*' | b'/' | b'^') {
                return None;
            }
            plus(b, i).map(|e| (i - 1, e))
        }
        b'(' => {
            if i >= 2 && is_word(before(b, i - 1)) {
                return None;
            }
            nanp(b, i - 1, false).map(|e| (i - 1, e))
        }
        _ => {
            if !starts_cleanly(b, i) {
                return None;
            }
            // `1-800-555-1234`, `1 (800) 555-1234`
            if at(b, i) == b'1' && matches!(at(b, i + 1), b' ' | b'-' | b'.') {
                if let Some(e) = nanp(b, i + 2, false) {
                    return Some((i, e));
                }
            }
            nanp(b, i, true).map(|e| (i, e))
        }
    }
}

/// After `+`: `+1` is NANP, anything else international.
fn plus(b: &[u8], i: usize) -> Option<usize> {
    if at(b, i) == b'1' && !is_digit(at(b, i + 1)) {
        return match at(b, i + 1) {
            b' ' | b'-' | b'.' => nanp(b, i + 2, false),
            b'(' => nanp(b, i + 1, false),
            _ => None,
        };
    }
    if at(b, i) == b'1' {
        // `+15551234567`
        let e = digits_end(b, i);
        let ok = e - i == 11 && matches!(at(b, i + 1), b'2'..=b'9') && ends_cleanly(b, e);
        return ok.then_some(e);
    }
    international(b, i)
}

/// `NXX-NXX-XXXX` with a consistent separator, or `(NXX) NXX-XXXX`, starting at `p`.
/// `strict` demands a valid exchange for the bare space-separated form.
fn nanp(b: &[u8], p: usize, strict: bool) -> Option<usize> {
    let (area, mut q, sep) = if at(b, p) == b'(' {
        if at(b, p + 4) != b')' || digits_end(b, p + 1) != p + 4 {
            return None;
        }
        let mut q = p + 5;
        if matches!(at(b, q), b' ' | b'-') {
            q += 1;
        }
        (p + 1, q, None)
    } else {
        let sep = at(b, p + 3);
        if digits_end(b, p) != p + 3 || !matches!(sep, b' ' | b'-' | b'.') {
            return None;
        }
        (p, p + 4, Some(sep))
    };
    if !matches!(at(b, area), b'2'..=b'9') {
        return None;
    }
    let exchange = q;
    if digits_end(b, q) != q + 3 {
        return None;
    }
    q += 3;
    let sep2 = at(b, q);
    let sep_ok = match sep {
        Some(s) => sep2 == s,
        None => matches!(sep2, b' ' | b'-' | b'.'),
    };
    if !sep_ok || digits_end(b, q + 1) != q + 5 {
        return None;
    }
    let end = q + 5;
    if strict && sep == Some(b' ') {
        // Bare `NXX NXX XXXX` looks like a row of a table: only after a phone keyword.
        let said = keyword_before(b, p, KEYWORD_WINDOW, PHONE_WORDS);
        if !said || !matches!(at(b, exchange), b'2'..=b'9') {
            return None;
        }
    }
    ends_cleanly(b, end).then_some(end)
}

/// `+CC …` international number: digits after the `+` starting at `i`.
fn international(b: &[u8], i: usize) -> Option<usize> {
    let mut p = i;
    let mut digits = 0;
    let mut groups = 0;
    let mut longest = 0;
    let mut first = 0;
    let mut end = i;
    loop {
        // A group is a digit run, or a parenthesised one: `(0)`, `(20)`.
        let (gs, ge, close) = if at(b, p) == b'(' {
            let e = digits_end(b, p + 1);
            if e == p + 1 || at(b, e) != b')' {
                break;
            }
            (p + 1, e, e + 1)
        } else {
            let e = digits_end(b, p);
            if e == p {
                break;
            }
            (p, e, e)
        };
        let n = ge - gs;
        if digits + n > 15 {
            if groups == 0 {
                return None;
            }
            break;
        }
        if groups == 0 {
            first = n;
        }
        digits += n;
        groups += 1;
        longest = longest.max(n);
        end = close;
        let s = at(b, end);
        let next = at(b, end + 1);
        if matches!(s, b' ' | b'-' | b'.') && (is_digit(next) || next == b'(') {
            p = end + 1;
        } else if s == b'(' || (close != ge && is_digit(s)) {
            // `+44(0)20…`, `(0)20`: a parenthesised group may touch its neighbours.
            p = end;
        } else {
            break;
        }
    }
    let shape_ok = if groups == 1 {
        (10..=15).contains(&digits)
    } else {
        (8..=15).contains(&digits) && first <= 3 && longest >= 2
    };
    (shape_ok && ends_cleanly(b, end)).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(t: &str) -> Vec<&str> {
        let b = t.as_bytes();
        let mut v = vec![];
        let mut i = 0;
        while i < b.len() {
            if is_digit(b[i]) {
                if let Some((s, e)) = find_at(b, i) {
                    v.push(&t[s..e]);
                }
                i = digits_end(b, i);
            } else {
                i += 1;
            }
        }
        v
    }

    #[test]
    fn nanp_forms() {
        assert_eq!(find("call (555) 123-4567"), ["(555) 123-4567"]);
        assert_eq!(find("555-123-4567 or 555.123.4567"), ["555-123-4567", "555.123.4567"]);
        assert_eq!(find("+1 555 123 4567")[0], "+1 555 123 4567");
        assert_eq!(find("1-800-555-1234")[0], "1-800-555-1234");
        assert_eq!(find("+15551234567"), ["+15551234567"]);
    }

    #[test]
    fn international_forms() {
        assert_eq!(find("+44 20 7946 0958."), ["+44 20 7946 0958"]);
        assert_eq!(find("+44 (0)20 7946 0958"), ["+44 (0)20 7946 0958"]);
        assert_eq!(find("+91-98765-43210"), ["+91-98765-43210"]);
        assert_eq!(find("+33 1 23 45 67 89"), ["+33 1 23 45 67 89"]);
    }

    #[test]
    fn negatives() {
        for t in [
            "Order #123456789",
            "5551234567",
            "555-1234",
            "2024-01-15",
            "12345-6789",
            "123-45-6789",
            "4111 1111 1111 1111",
            "555-123-4567-89",
            "INV-555-123-4567",
            "x+44 20 7946 0958",
            "+12.5%",
            "+1000000",
            "300 200 1000 400",
            "12 300 200 1000",
            "555 123 4567",
            "room 212 555 0199",
            "155-123-4567",
        ] {
            assert!(find(t).is_empty(), "{t}: {:?}", find(t));
        }
    }
}
