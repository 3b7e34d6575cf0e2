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
//! The country code is its own group of 1–3 digits, or glued to the area code
//! (`+34868 792 174`, `+44151 4960929`): then a first group of 4–5 digits not starting `0`,
//! spaced or dashed (not dotted), 10 digits or more, so coordinates (`+4339-07923`) and
//! expanded years (`+002024-01-15`) stay out.
//! A 2–3 digit country code without its `+` only before a dashed or dotted NANP number
//! with the same separator (`91-415-555-0132`).
//!
//! National numbers with a trunk `0` (most of the world outside North America):
//! `09-7625400`, `090-1234-5678`, `020 7946 0958`, `(0114) 4960670`: a first group of 2–5
//! digits starting `0` then 1–9 (or that group in parentheses), then one to three groups of
//! at least three digits with one consistent separator, the last of at least four, 10–11
//! digits in all, or 9 after a 2-digit first group. So dates (`01.02.2024`), SSNs
//! (`078-05-1120`: a 2-digit group), versions and ISBN-10s (`0-306-40615-2`) stay out.
//! Spaced numbers may also have up to four further groups of two or more digits
//! (`0253 879 217`, `021 217 42 18`; nine digits only after a 2-digit first group or as
//! 3-3-3, `031 879 217`), but not inside a longer row of spaced groups, not before a time
//! (`01 02 2024 10:30`), and all pairs (`03 44 17 42 18`) only after a phone keyword.
//!
//! Any of these may end with an extension: `x2908`, ` x494`, ` ext. 12` (1–6 digits).
//!
//! Bare digit runs are order numbers and timestamps far more often than phones; two shapes
//! are reported only after a phone keyword (the list below plus `number`, `手机`, `电话`, `電話`) in
//! the 32 bytes before them: a trunk-`0` run of 10–11 digits (`05321234567`) and a Chinese
//! mobile, 11 digits `1[3-9]…` (`13812345678`).
//!
//! Not reported: other bare digit runs, 7-digit local numbers, dates, ZIP+4, SSNs, card
//! numbers.

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
/// What may introduce a bare run of digits as a phone number: the phone words and these.
const BARE_WORDS: &[&[u8]] = &[
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
    b"number",
    "手机".as_bytes(),
    "电话".as_bytes(),
    "電話".as_bytes(),
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
            if at(b, i) == b'0' {
                return national(b, i - 1).map(|e| (i - 1, e));
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
            if at(b, i) == b'0' {
                return national(b, i).or_else(|| bare(b, i)).map(|e| (i, e));
            }
            nanp(b, i, true)
                .or_else(|| with_country_code(b, i))
                .or_else(|| bare(b, i))
                .map(|e| (i, e))
        }
    }
}

/// A national number with a trunk `0` at `p` (or `(` then the `0`): the end offset.
fn national(b: &[u8], p: usize) -> Option<usize> {
    let paren = at(b, p) == b'(';
    let gs = p + usize::from(paren);
    let ge = digits_end(b, gs);
    if at(b, gs) != b'0' || !matches!(at(b, gs + 1), b'1'..=b'9') || !(2..=5).contains(&(ge - gs)) {
        return None;
    }
    let mut q = ge;
    let sep = if paren {
        if at(b, q) != b')' {
            return None;
        }
        q += 1;
        // `(0114) 4960670`, `(020)7946 0958`: the space after the parenthesis is optional,
        // the groups after it may use one separator of their own.
        if at(b, q) == b' ' {
            q += 1;
        }
        None
    } else {
        let s = at(b, q);
        if !matches!(s, b' ' | b'-' | b'.') {
            return None;
        }
        q += 1;
        Some(s)
    };
    let mut digits = ge - gs;
    // Spaced national numbers are written in groups of two or three as often as four
    // (`0253 879 217`, `021 217 42 18`, `03 44 17 42 18`); dashed and dotted ones with a
    // short group are dates, ISBNs and part numbers as often, so they keep the strict shape.
    let spaced = sep == Some(b' ');
    let (min_group, max_groups) = if spaced { (2, 4) } else { (3, 3) };
    let mut sep = sep;
    let mut last;
    let mut shortest = usize::MAX;
    let mut longest = 0;
    let mut groups = 0;
    loop {
        let e = digits_end(b, q);
        last = e - q;
        if last < min_group {
            return None;
        }
        shortest = shortest.min(last);
        longest = longest.max(last);
        digits += last;
        groups += 1;
        q = e;
        let s = at(b, q);
        let more = matches!(s, b' ' | b'-' | b'.') && sep.is_none_or(|x| x == s) && is_digit(at(b, q + 1));
        if !more || groups == max_groups || digits > 11 {
            break;
        }
        sep = Some(s);
        q += 1;
    }
    // Nine digits only after a 2-digit first group (Israel, Tel Aviv's `03-6123456`; spaced,
    // `02 1234 567`) or spaced 3-3-3 (`031 879 217`): split 3-6 or 5-4, or with a 2-digit
    // group after a longer first one, they are written as SSNs (`078-051121`, `078 05 1120`)
    // and ZIP+4 codes as often.
    let first = ge - gs;
    let nine = digits == 9 && (first == 2 || (spaced && first == 3 && groups == 2 && shortest == 3));
    let count_ok = (10..=11).contains(&digits) || nine;
    let last_ok = last >= 4 || (spaced && (digits >= 10 || nine));
    // A spaced number inside a longer row of groups (a spaced IBAN's tail, a table) is
    // not a phone; all pairs (`03 44 17 42 18`, France's form) are lottery numbers as often,
    // so they need a phone word before them.
    let in_row = spaced
        && ((at(b, q) == b' ' && is_digit(at(b, q + 1)))
            || (before(b, p) == b' ' && p >= 2 && is_digit(before(b, p - 1))));
    // A date and its time (`01 02 2024 10:30`): the last group is an hour.
    let before_time = spaced && at(b, q) == b':' && is_digit(at(b, q + 1));
    let pairs = spaced && first == 2 && longest == 2;
    if !(count_ok && last_ok) || in_row || before_time || (pairs && !keyword_before(b, p, KEYWORD_WINDOW, PHONE_WORDS))
    {
        return None;
    }
    finish(b, q)
}

/// A bare run of digits at `i` that is a phone number's whole shape and follows a phone
/// keyword: a trunk-`0` national number of 10–11 digits or a Chinese mobile.
fn bare(b: &[u8], i: usize) -> Option<usize> {
    let lengths = match (at(b, i), at(b, i + 1)) {
        (b'0', b'1'..=b'9') => 10..=11,
        (b'1', b'3'..=b'9') => 11..=11,
        _ => return None,
    };
    let e = digits_end(b, i);
    let shape = lengths.contains(&(e - i));
    let ok = shape && ends_cleanly(b, e) && keyword_before(b, i, KEYWORD_WINDOW, BARE_WORDS);
    ok.then_some(e)
}

/// A country code written without its `+` before a North American number, with the
/// number's own separator (`91-415-555-0132`, `44.415.555.0132`): a 2–3 digit code not
/// starting `0` (`1-800-…` is read above), then `NXX-NXX-XXXX`. Spaces are not accepted
/// (`12 300 200 1000` is a row of a table).
fn with_country_code(b: &[u8], i: usize) -> Option<usize> {
    let e = digits_end(b, i);
    let sep = at(b, e);
    let ok = (2..=3).contains(&(e - i)) && matches!(sep, b'-' | b'.') && at(b, e + 4) == sep;
    if !ok {
        return None;
    }
    nanp(b, e + 1, false)
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
        if e - i != 11 || !matches!(at(b, i + 1), b'2'..=b'9') {
            return None;
        }
        return finish(b, e);
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
    finish(b, end)
}

/// `+CC …` international number: digits after the `+` starting at `i`.
fn international(b: &[u8], i: usize) -> Option<usize> {
    let mut p = i;
    let mut digits = 0;
    let mut groups = 0;
    let mut longest = 0;
    let mut first = 0;
    // Whether a dot separates any groups (`+20.5 12.3` is arithmetic more often).
    let mut dotted = false;
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
            dotted |= s == b'.';
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
        // The country code is a group of its own (`+34 868 792 174`), or glued to the area
        // code or number (`+34868 792 174`, `+44151 4960929`, `+31384-019161`): then the
        // first group is longer (no country code starts `0`), and the groups are spaced or
        // dashed, 10 digits or more (ISO 6709 coordinates, `+4339-07923`, have 9).
        let glued = first <= 5 && at(b, i) != b'0' && !dotted && digits >= 10 && groups <= 4;
        (8..=15).contains(&digits) && (first <= 3 || glued) && longest >= 2
    };
    if !shape_ok {
        return None;
    }
    finish(b, end)
}

/// Where a number whose digits end at `e` ends: with the extension written after it
/// (`555-123-4567x2908`, `… x494`, `… ext. 12`, `…ext12`: 1–6 digits), or at `e` if it ends
/// cleanly there. What is read past `e` is the extension's marker and its digit run (a run
/// only one number can end before, so the reading stays linear).
fn finish(b: &[u8], e: usize) -> Option<usize> {
    extension(b, e).or_else(|| ends_cleanly(b, e).then_some(e))
}

fn extension(b: &[u8], e: usize) -> Option<usize> {
    let mut p = e + usize::from(at(b, e) == b' ');
    if at(b, p) == b'x' {
        p += 1;
    } else if b.get(p..p + 3).is_some_and(|w| w.eq_ignore_ascii_case(b"ext")) {
        p += 3;
        p += usize::from(at(b, p) == b'.');
        p += usize::from(at(b, p) == b' ');
    } else {
        return None;
    }
    let d = digits_end(b, p);
    ((1..=6).contains(&(d - p)) && ends_cleanly(b, d)).then_some(d)
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
        // A country code without its `+`, with the number's separator.
        assert_eq!(find("call 91-415-555-0132"), ["91-415-555-0132"]);
        assert_eq!(find("44.415.555.0132"), ["44.415.555.0132"]);
        // Extensions are part of the number.
        assert_eq!(find("321-280-9679x2908."), ["321-280-9679x2908"]);
        assert_eq!(find("+1-647-201-7468x1453"), ["+1-647-201-7468x1453"]);
        assert_eq!(find("(232) 661-6630 x494"), ["(232) 661-6630 x494"]);
        assert_eq!(find("555.123.4567 ext. 12"), ["555.123.4567 ext. 12"]);
        assert_eq!(find("+44 20 7946 0958 Ext 7"), ["+44 20 7946 0958 Ext 7"]);
        assert_eq!(find("090-1234-5678x12"), ["090-1234-5678x12"]);
        // Not an extension: no digits, too many, or glued to a word.
        assert_eq!(find("555-123-4567 x"), ["555-123-4567"]);
        assert_eq!(find("555-123-4567 x1234567"), ["555-123-4567"]);
        assert_eq!(find("555-123-4567 extra")[..], ["555-123-4567"]);
        assert_eq!(find("555-123-4567xyz")[..], [] as [&str; 0]);
    }

    #[test]
    fn international_forms() {
        assert_eq!(find("+44 20 7946 0958."), ["+44 20 7946 0958"]);
        assert_eq!(find("+44 (0)20 7946 0958"), ["+44 (0)20 7946 0958"]);
        assert_eq!(find("+91-98765-43210"), ["+91-98765-43210"]);
        assert_eq!(find("+33 1 23 45 67 89"), ["+33 1 23 45 67 89"]);
        // The country code glued to the area code.
        assert_eq!(find("+34868 792 174"), ["+34868 792 174"]);
        assert_eq!(find("+44151 4960929"), ["+44151 4960929"]);
        assert_eq!(find("+31384-019161"), ["+31384-019161"]);
        assert_eq!(find("+38971 017 468"), ["+38971 017 468"]);
        // But not dotted, short or long-grouped arithmetic.
        assert_eq!(find("+2000.50 3000.25")[..], [] as [&str; 0]);
        assert_eq!(find("+12345 678")[..], [] as [&str; 0]);
        assert_eq!(find("+1234567 89")[..], [] as [&str; 0]);
        assert_eq!(find("+23456 789")[..], [] as [&str; 0]);
        assert_eq!(find("+2345678 90")[..], [] as [&str; 0]);
        assert_eq!(find("+234567 8901")[..], [] as [&str; 0]);
        assert_eq!(find("+404251-0740023")[..], [] as [&str; 0]);
        assert_eq!(find("+4339-07923")[..], [] as [&str; 0]);
        assert_eq!(find("+002024-01-15")[..], [] as [&str; 0]);
        assert_eq!(find("+0530 20240115")[..], [] as [&str; 0]);
    }

    #[test]
    fn national_forms() {
        assert_eq!(find("My Israeli number is 09-7625400"), ["09-7625400"]);
        assert_eq!(find("My Japanese number is 090-1234-5678."), ["090-1234-5678"]);
        assert_eq!(find("020 7946 0958"), ["020 7946 0958"]);
        assert_eq!(find("030.1234.5678"), ["030.1234.5678"]);
        assert_eq!(find("ring (0114) 4960670"), ["(0114) 4960670"]);
        assert_eq!(find("(020)7946-0958"), ["(020)7946-0958"]);
        assert_eq!(find("0 30 1234567")[..], [] as [&str; 0]);
        // Spaced groups of two and three.
        assert_eq!(find("0253 879 217"), ["0253 879 217"]);
        assert_eq!(find("021 217 42 18"), ["021 217 42 18"]);
        assert_eq!(find("tel: 03 44 17 42 18"), ["03 44 17 42 18"]);
        assert_eq!(find("0709 67 92 90"), ["0709 67 92 90"]);
        assert_eq!(find("031 879 217"), ["031 879 217"]);
        // Bare runs after a phone keyword only.
        assert_eq!(find("My CN number is 13812345678"), ["13812345678"]);
        assert_eq!(find("手机 13812345678"), ["13812345678"]);
        assert_eq!(find("Cep tel: 05321234567"), ["05321234567"]);
        assert_eq!(find("phone 0917123456"), ["0917123456"]);
    }

    #[test]
    fn national_near_misses() {
        for t in [
            // Bare runs without a keyword, or of the wrong shape after one.
            "13812345678",
            "05321234567",
            "order 13812345678",
            "number 12812345678",
            "number 138123456789",
            "number 1381234567",
            "phone 00321234567",
            "phone 053212345",
            "phone 053212345678",
            "ts 1381234567890",
            // Separated forms: dates, SSNs, ISBNs, versions, short or long numbers.
            "01.02.2024",
            "01-02-2024 10:30",
            "078-05-1120",
            "0-306-40615-2",
            "0.12.3456",
            "00-7625400",
            "09-76254",
            "090-1234-567",
            "090-1234-5678-9",
            "090-1234-56789",
            "090-123-456-789",
            "012-3456 7890",
            "012345-678901",
            "v09-7625400",
            "09-7625400x",
            "(0) 7625400",
            "(09 7625400",
            "f(0114) 4960670",
            // Nine digits split 3-6 or 5-4: an SSN's odd forms, ZIP+4 codes.
            "078-051121",
            "07805-1121",
            "07805 1121",
            "078 05 1120",
            "078 051 12",
            "031 87 217",
            "0253 879 2",
            "03 44 17 42 18 99",
            "03 44 17 42 18",
            "Lottery numbers 04 11 23 35 42 and bonus 07.",
            "DE89 3704 0044 0532 0130 001",
            "01 02 2024",
            "01 02 2024 10:30",
            "05 03 2024 14:30:00",
        ] {
            assert!(find(t).is_empty(), "{t}: {:?}", find(t));
        }
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
            "91-415 555-0132",
            "91 415 555 0132",
            "012-415-555-0132",
            "1234-415-555-0132",
            "91-415-555-01324",
        ] {
            assert!(find(t).is_empty(), "{t}: {:?}", find(t));
        }
    }
}
