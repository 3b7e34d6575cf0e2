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
//! with the same separator (`91-415-555-0132`). The `00` prefix is a `+` when an ITU country
//! code follows as its own group (`00420 603 967 929`, `001-579-526-2243`), and so is a
//! `(+CC)` or `+(CC)` (`(+358) 146100330`).
//!
//! National numbers with a trunk `0` (most of the world outside North America):
//! `09-7625400`, `090-1234-5678`, `020 7946 0958`, `(0114) 4960670`: a first group of 2–5
//! digits starting `0` then 1–9 (or that group in parentheses), then one to three groups of
//! at least three digits with one consistent separator (which may differ from the first
//! one when either is a space, `0218-096 7929`), the last of at least four, 10–11 digits in
//! all, or 9 after a 2-digit first group; dashed 3-3-2-2 too (`050-391-61-46`). So dates (`01.02.2024`), SSNs
//! (`078-05-1120`: a 2-digit group), versions and ISBN-10s (`0-306-40615-2`) stay out.
//! Spaced numbers may also have up to four further groups of two or more digits
//! (`0253 879 217`, `021 217 42 18`; nine digits only after a 2-digit first group or as
//! 3-3-3, `031 879 217`), but not inside a longer row of spaced groups, not before a time
//! (`01 02 2024 10:30`), and all pairs (`03 44 17 42 18`) only after a phone word
//! ([`said_before`]). Mixed separators never include a dot and are not followed by a date.
//!
//! Any of these may end with an extension: `x2908`, ` x494`, ` ext. 12` (1–6 digits).
//!
//! After a phone word ([`said_before`]: a word of [`SAID_WORDS`] within 32 bytes, with only
//! connecting words such as `me`, `on`, `number` and no digit between), any written shape of
//! 7–15 digits ([`said`]): `Phone: 0 2916 1461`, `call 06-9/217 4218`, `tel (+358) 146100330`;
//! still not dates, years, decimals, thousands, times, coordinates, IPv4 addresses, long rows
//! of pairs, or a number followed by more groups than a phone has.
//!
//! Bare digit runs are order numbers and timestamps far more often than phones; three shapes
//! are reported only after a keyword: a trunk-`0` run of 10–11 digits (`05321234567`) and a
//! Chinese mobile, 11 digits `1[3-9]…` (`13812345678`), after [`BARE_WORDS`] (the phone words
//! plus `number`, `手机`, `电话`, `電話`) in the 32 bytes before them; a North American
//! `NXXNXXXXXX` only after a phone word as [`said_before`] reads it (not `number`: a port
//! `number`'s maximum `4294967295` is an integer).
//!
//! Not reported: other bare digit runs, 7-digit local numbers without a phone word, dates,
//! ZIP+4, SSNs, card numbers.

use crate::text::bytes::{
    at, before, digits_end, ends_cleanly, is_digit, is_word, keyword_before, starts_cleanly, starts_with_ci,
};

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
            // `(+358) 146100330`: the token starts at the parenthesis.
            let s = if p == b'(' { i - 2 } else { i - 1 };
            if p == b'(' && !is_word(before(b, s)) {
                if let Some(e) = paren_code(b, i) {
                    return Some((s, e));
                }
            }
            plus(b, i).map(|e| (i - 1, e)).or_else(|| said(b, s).map(|e| (s, e)))
        }
        b'(' => {
            if i >= 2 && is_word(before(b, i - 1)) {
                return None;
            }
            // `+(370) 92174218`: the token starts at the `+`.
            let s = if i >= 2 && before(b, i - 1) == b'+' && !is_word(before(b, i - 2)) {
                i - 2
            } else {
                i - 1
            };
            if s + 2 == i {
                if let Some(e) = paren_code(b, i) {
                    return Some((s, e));
                }
            }
            let found = if at(b, i) == b'0' {
                national(b, i - 1)
            } else {
                nanp(b, i - 1, false)
            };
            found.map(|e| (i - 1, e)).or_else(|| said(b, s).map(|e| (s, e)))
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
                return national(b, i)
                    .or_else(|| double_zero(b, i))
                    .or_else(|| bare(b, i))
                    .or_else(|| said(b, i))
                    .map(|e| (i, e));
            }
            nanp(b, i, true)
                .or_else(|| with_country_code(b, i))
                .or_else(|| bare(b, i))
                .or_else(|| said(b, i))
                .map(|e| (i, e))
        }
    }
}

/// Words that say the number after them is a phone number: whole words (or the head or
/// tail of a camelCase one, `phoneNumber`, `homePhone`), matched without case. Read by
/// [`said_before`].
const SAID_WORDS: &[&[u8]] = &[
    b"phone",
    b"phones",
    b"telephone",
    b"tel",
    b"mobile",
    b"cell",
    b"cellphone",
    b"cellular",
    b"fax",
    b"whatsapp",
    b"contact",
    b"contacts",
    b"sms",
    b"call",
    b"dial",
    b"ring",
    b"telefon",
    b"telefono",
    b"telefonnummer",
    b"tlf",
];
/// Words that may stand between a phone word and its number (`call me on`, `phone number`,
/// `contact us at`, `mobile (work):`); any other word between them (`Call ID`, `Cell tower
/// at`, `Mobile subscriptions`, `contact the gateway at`) says the number is something else.
const SAID_BETWEEN: &[&[u8]] = &[
    b"me", b"us", b"him", b"her", b"them", b"at", b"on", b"is", b"to", b"via", b"by", b"or", b"and", b"my", b"our",
    b"your", b"his", b"their", b"the", b"a", b"number", b"no", b"nr", b"num", b"back", b"free", b"toll", b"home",
    b"work", b"office", b"direct", b"line", b"main", b"reach", b"please", b"we", b"i", b"can", b"be", b"reached",
];
const SAID_CJK: &[&[u8]] = &["手机".as_bytes(), "电话".as_bytes(), "電話".as_bytes()];
/// The longest number [`said`] accepts, extension apart (`+(370) 921 742 18`); it reads a
/// few bytes more before it refuses a longer one.
const SAID_SPAN: usize = 24;

/// Whether `word` (ASCII letters) names a phone: one of [`SAID_WORDS`], or a camelCase word
/// that starts with one (`phoneNumber`, `mobileNo`) or ends with one (`homePhone`).
fn names_phone(word: &[u8]) -> bool {
    SAID_WORDS.iter().any(|w| {
        let n = w.len();
        word.eq_ignore_ascii_case(w)
            || (word.len() > n
                && word.get(..n).is_some_and(|h| h.eq_ignore_ascii_case(w))
                && at(word, n).is_ascii_uppercase())
            || (word.len() > n
                && word.get(word.len() - n..).is_some_and(|t| t.eq_ignore_ascii_case(w))
                && at(word, word.len() - n).is_ascii_uppercase()
                && at(word, word.len() - n - 1).is_ascii_lowercase())
    })
}

/// Whether a phone word ([`names_phone`]) comes before `s` within 32 bytes, with only
/// punctuation and the words of [`SAID_BETWEEN`] between them and no digit (`Phone: `,
/// `call me on `, `phone number `, `home_phone=`, `"phoneNumber": "`; not `called`,
/// `telescope`, `Call ID `), and is not a word of a redaction placeholder (`[PHONE_1]`) nor
/// the head of a snake_case name (`contact_id`, `call_count`; `phone_number`, `phone_no`
/// are phones); or a CJK phone word is in that window.
fn said_before(b: &[u8], s: usize) -> bool {
    let from = s.saturating_sub(KEYWORD_WINDOW);
    let mut j = s;
    while j > from {
        let c = before(b, j);
        if is_digit(c) {
            return false;
        }
        if !c.is_ascii_alphabetic() {
            j -= 1;
            continue;
        }
        let we = j;
        while j > from && before(b, j).is_ascii_alphabetic() {
            j -= 1;
        }
        if before(b, j).is_ascii_alphabetic() {
            break; // a word cut by the window
        }
        let word = b.get(j..we).unwrap_or_default();
        let tail = at(b, we) == b'_';
        let placeholder = tail && is_digit(at(b, we + 1));
        let snake_head =
            tail && !placeholder && !(starts_with_ci(b, we + 1, b"num") || starts_with_ci(b, we + 1, b"no"));
        let phone = names_phone(word);
        if phone && !placeholder && !snake_head {
            return true;
        }
        // A phone word that did not count (`contact_id`) may still stand between.
        if !phone && !SAID_BETWEEN.iter().any(|w| word.eq_ignore_ascii_case(w)) {
            break;
        }
    }
    keyword_before(b, s, KEYWORD_WINDOW, SAID_CJK)
}

/// A number right after a phone word ([`said_before`]) may take any of the shapes numbers
/// are written in across the world (`Phone: 0 2916 1461`, `call 06-9/217 4218`,
/// `tel (+358) 146100330`, `contact: 090 757-93-83`): from `s` (a `+`, `(` or digit), an
/// optional `+`, then up to six digit groups (one of them may be in parentheses; a single
/// group only if it is that one, `(+358)146100330`) separated by one or two of space, `-`,
/// `.`, `/`, 7–15 digits in all, at most 24 bytes. Still not: a bare run (the shapes of
/// [`bare`] only), a date (`1/15/2024`, `2024-01-15`), two years (`2015-2023`), dots with
/// another separator (`09.00-17.00`, `40.7128 -74.0060`), a decimal (`12.50`), thousands
/// (`12.345.678`, `1 250 000`), an IPv4 address, more than ten digits in pairs (a hex dump),
/// a number followed by a time or by a seventh group.
fn said(b: &[u8], s: usize) -> Option<usize> {
    // The token starts at `s`: not glued to a word, nor to a `+` or `(` the caller left out
    // because it was glued to one (`a+(370) …`).
    // (The phone word is looked for last: most digit runs fail on their shape.)
    if is_word(before(b, s)) || matches!(before(b, s), b'+' | b'(') {
        return None;
    }
    let mut p = s;
    let plus = at(b, p) == b'+';
    p += usize::from(plus);
    let mut paren_used = false;
    let (mut digits, mut groups, mut dots, mut others, mut years) = (0, 0, 0, 0, 0);
    let mut lens = [0usize; 6];
    let mut lead = 0;
    let end = loop {
        let open = at(b, p) == b'(' && !paren_used;
        if open {
            paren_used = true;
            p += 1;
            if groups == 0 && !plus && at(b, p) == b'+' {
                p += 1;
            }
        }
        let e = digits_end(b, p);
        let n = e - p;
        let slot = lens.get_mut(groups)?;
        if n == 0 || digits + n > 15 {
            return None;
        }
        *slot = n;
        if groups == 0 {
            lead = at(b, p);
        }
        digits += n;
        groups += 1;
        years += usize::from(n == 4 && matches!((at(b, p), at(b, p + 1)), (b'1', b'9') | (b'2', b'0')));
        p = e;
        if open {
            if at(b, p) != b')' {
                return None;
            }
            p += 1;
        }
        let group_end = p;
        let mut q = p;
        let (mut dot, mut other) = (0, 0);
        while q - p < 2 && matches!(at(b, q), b' ' | b'-' | b'.' | b'/') {
            dot += usize::from(at(b, q) == b'.');
            other += usize::from(at(b, q) != b'.');
            q += 1;
        }
        let more = (is_digit(at(b, q)) && (q > p || open)) || (at(b, q) == b'(' && !paren_used);
        if !more {
            break group_end;
        }
        dots += dot;
        others += other;
        p = q;
    };
    let [g0, g1, g2, ..] = lens;
    let tail = lens.get(1..groups).unwrap_or_default();
    let date = groups == 3 && ((g0 <= 2 && g1 <= 2 && g2 == 4) || (g0 == 4 && g1 <= 2 && g2 <= 2));
    // Dots with another separator are times, decimals, coordinates or a date and its time
    // (`09.00-17.00`, `45.2 38.1`, `40.7128 -74.0060`, `15.01.2024 14.30`, `10.0.0.1 443`).
    let dotted_mix = dots > 0 && others > 0;
    let decimal = groups == 2 && dots > 0;
    let ipv4 = groups == 4 && dots == 3 && lens.iter().all(|&n| n <= 3);
    // Thousands (`12.345.678`, `1 250 000`), years (`2015-2023`, `2022 2023 2024`), and a
    // row of pairs longer than a phone's (`07 91 44 77 58 10`, a hex dump).
    let thousands = !tail.is_empty() && tail.iter().all(|&n| n == 3) && (dots > 0 || g0 <= 2) && lead != b'0';
    let pairs = lens.iter().all(|&n| n <= 2) && digits > 10;
    let time = at(b, end) == b':' && is_digit(at(b, end + 1));
    let shape = (7..=15).contains(&digits) && (groups >= 2 || paren_used) && end - s <= SAID_SPAN;
    if !shape || date || dotted_mix || decimal || ipv4 || thousands || years >= 2 || pairs || time {
        return None;
    }
    if !said_before(b, s) {
        return None;
    }
    finish(b, end)
}

/// Whether `d` (digits) is a country calling code assigned by the ITU (E.164).
fn country_code(d: &[u8]) -> bool {
    const TWO: &[u16] = &[
        20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54, 55, 56, 57, 58, 60, 61,
        62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98,
    ];
    // Three-digit codes, as ranges of assigned codes.
    const THREE: &[(u16, u16)] = &[
        (211, 213),
        (216, 216),
        (218, 258),
        (260, 269),
        (290, 291),
        (297, 299),
        (350, 359),
        (370, 383),
        (385, 387),
        (389, 389),
        (420, 421),
        (423, 423),
        (500, 509),
        (590, 599),
        (670, 670),
        (672, 683),
        (685, 692),
        (800, 800),
        (808, 808),
        (850, 850),
        (852, 853),
        (855, 856),
        (870, 870),
        (878, 878),
        (880, 883),
        (886, 886),
        (888, 888),
        (960, 968),
        (970, 977),
        (979, 979),
        (992, 996),
        (998, 998),
    ];
    // At most three digits are read (a longer run is no code, and would overflow).
    if d.len() > 3 {
        return false;
    }
    let Some(n) = d
        .iter()
        .try_fold(0u16, |acc, &c| is_digit(c).then(|| acc * 10 + u16::from(c - b'0')))
    else {
        return false;
    };
    match d.len() {
        1 => n == 1 || n == 7,
        2 => TWO.contains(&n),
        3 => THREE.iter().any(|&(lo, hi)| (lo..=hi).contains(&n)),
        _ => false,
    }
}

/// `00`, the international prefix most of the world dials, then a country code as its own
/// group (`00420 603 967 929`, `00971 50 033 9075`, `001-579-526-2243`): read as the same
/// number after `+` would be, and not inside a longer row of groups. A run glued to its
/// code (`00972590339075`) is a padded id as often: only [`said`] after a phone word.
fn double_zero(b: &[u8], i: usize) -> Option<usize> {
    let e = digits_end(b, i);
    let code = b.get(i + 2..e)?;
    if at(b, i + 1) != b'0' || !country_code(code) || !matches!(at(b, e), b' ' | b'-' | b'.') {
        return None;
    }
    let end = if code == b"1" {
        nanp(b, e + 1, false)?
    } else {
        international(b, i + 2)?
    };
    let row = (at(b, end) == b' ' && is_digit(at(b, end + 1)))
        || (before(b, i) == b' ' && i >= 2 && is_digit(before(b, i - 1)));
    // Ten digits or more after the `00` (`0044-2024-01`, `007-123-4567` are ids), and not
    // only groups of four (`0045 0615 1230 1845` are times, `0031 0032 0033` code units).
    let span = b.get(i..end).unwrap_or_default();
    let digits = span.iter().filter(|c| is_digit(**c)).count();
    let fours = span.split(|c| !is_digit(*c)).all(|g| g.len() == 4);
    (!row && digits >= 12 && !fours).then_some(end)
}

/// A country code in parentheses with its `+` (`(+358) 146100330`, `+(370) 92174218`,
/// `(+57)6086003390`), its digits starting at `cs`: then the national number, one group or
/// several with one separator, 6–13 digits, 8–15 in all.
fn paren_code(b: &[u8], cs: usize) -> Option<usize> {
    let ce = digits_end(b, cs);
    if at(b, ce) != b')' || !country_code(b.get(cs..ce)?) {
        return None;
    }
    let mut q = ce + 1;
    q += usize::from(at(b, q) == b' ');
    let (mut national, mut sep) = (0, None);
    let end = loop {
        let e = digits_end(b, q);
        if e - q < 2 {
            return None;
        }
        national += e - q;
        let s = at(b, e);
        let more = matches!(s, b' ' | b'-' | b'.') && sep.is_none_or(|x| x == s) && is_digit(at(b, e + 1));
        if !more || national > 13 {
            break e;
        }
        sep = Some(s);
        q = e + 1;
    };
    let row = at(b, end) == b' ' && is_digit(at(b, end + 1));
    let ok = (7..=13).contains(&national) && (9..=15).contains(&(national + ce - cs)) && !row;
    if !ok {
        return None;
    }
    finish(b, end)
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
    // The separator after the first group; after a parenthesis it is optional
    // (`(0114) 4960670`, `(020)7946 0958`, `(0929)-081003`).
    let first_sep = if paren {
        if at(b, q) != b')' {
            return None;
        }
        q += 1;
        let s = at(b, q);
        q += usize::from(matches!(s, b' ' | b'-'));
        matches!(s, b' ' | b'-').then_some(s)
    } else {
        let s = at(b, q);
        if !matches!(s, b' ' | b'-' | b'.') {
            return None;
        }
        q += 1;
        Some(s)
    };
    let mut digits = ge - gs;
    // The groups after the first share one separator, which may differ from the first
    // one if either is a space (`0666 193-451`, `0218-096 7929`, `090 757-93-83`).
    let mut rest: Option<u8> = None;
    let mut tail = [0usize; 4];
    let mut last;
    let mut second = 0;
    let mut shortest = usize::MAX;
    let mut longest = 0;
    let mut groups = 0;
    loop {
        let e = digits_end(b, q);
        last = e - q;
        if last < 2 {
            return None;
        }
        if let Some(l) = tail.get_mut(groups) {
            *l = last;
        }
        if groups == 0 {
            second = last;
        }
        shortest = shortest.min(last);
        longest = longest.max(last);
        digits += last;
        groups += 1;
        q = e;
        let s = at(b, q);
        let mixed_ok = |s: u8| first_sep.is_none_or(|f| f == s || f == b' ' || s == b' ');
        let more = matches!(s, b' ' | b'-' | b'.')
            && rest.is_none_or(|x| x == s)
            && (rest.is_some() || mixed_ok(s))
            && is_digit(at(b, q + 1));
        if !more || groups == 4 || digits > 11 {
            break;
        }
        rest = Some(s);
        q += 1;
    }
    // Spaced national numbers are written in groups of two or three as often as four
    // (`0253 879 217`, `021 217 42 18`, `03 44 17 42 18`); dashed and dotted ones with a
    // short group are dates, ISBNs and part numbers as often, so they keep the strict
    // shape: groups of three or more, at most three of them, the last of four or more,
    // but for the 3-3-2-2 form of Eastern Europe and Central Asia (`050-391-61-46`).
    let spaced = first_sep == Some(b' ') || rest == Some(b' ');
    let first = ge - gs;
    let pairs_tail =
        !spaced && first_sep == Some(b'-') && first == 3 && second == 3 && groups == 3 && last == 2 && shortest == 2;
    let strict_ok = spaced || (shortest >= 3 && groups <= 3) || pairs_tail;
    // Mixed separators never with a dot, and not before a date (`01 2024-03-15`, an index
    // and a date; `0421 15-03-24`).
    let mixed = rest.is_some() && rest != first_sep;
    let [t0, t1, t2, _] = tail;
    let date_tail = groups == 3 && ((t0 == 4 && t1 <= 2 && t2 <= 2) || (t0 <= 2 && t1 <= 2 && (t2 == 4 || t2 <= 2)));
    let mix_ok = !mixed || (first_sep != Some(b'.') && rest != Some(b'.') && !date_tail);
    // Nine digits only after a 2-digit first group (Israel, Tel Aviv's `03-6123456`; spaced,
    // `02 1234 567`) or spaced 3-3-3 (`031 879 217`): split 3-6 or 5-4, or with a 2-digit
    // group after a longer first one, they are written as SSNs (`078-051121`, `078 05 1120`)
    // and ZIP+4 codes as often.
    let nine = digits == 9 && (first == 2 || (spaced && first == 3 && groups == 2 && shortest == 3));
    let count_ok = (10..=11).contains(&digits) || nine;
    let last_ok = last >= 4 || pairs_tail || (spaced && (digits >= 10 || nine));
    // A spaced number inside a longer row of groups (a spaced IBAN's tail, a table) is
    // not a phone; all pairs (`03 44 17 42 18`, France's form) are lottery numbers as often,
    // so they need a phone word before them.
    let in_row = spaced
        && ((at(b, q) == b' ' && is_digit(at(b, q + 1)))
            || (before(b, p) == b' ' && p >= 2 && is_digit(before(b, p - 1))));
    // A date and its time (`01 02 2024 10:30`): the last group is an hour.
    let before_time = spaced && at(b, q) == b':' && is_digit(at(b, q + 1));
    let pairs = spaced && first == 2 && longest == 2;
    if !(count_ok && last_ok && strict_ok && mix_ok) || in_row || before_time || (pairs && !said_before(b, p)) {
        return None;
    }
    finish(b, q)
}

/// A bare run of digits at `i` that is a phone number's whole shape and follows a phone
/// keyword: a trunk-`0` national number of 10–11 digits, a Chinese mobile or a North
/// American number.
fn bare(b: &[u8], i: usize) -> Option<usize> {
    let (lengths, nanp) = match (at(b, i), at(b, i + 1)) {
        (b'0', b'1'..=b'9') => (10..=11, false),
        (b'1', b'3'..=b'9') => (11..=11, false),
        // A North American number, `NXXNXXXXXX`.
        (b'2'..=b'9', _) if matches!(at(b, i + 3), b'2'..=b'9') => (10..=10, true),
        _ => return None,
    };
    let e = digits_end(b, i);
    let shape = lengths.contains(&(e - i));
    // Ten digits not starting 0 or 1 are most integers of that size (`4294967295`, a port
    // `number`'s maximum): only right after a phone word itself, not after `number`.
    // (The window is read last: most digit runs fail on their shape.)
    let said = || {
        if nanp {
            said_before(b, i)
        } else {
            keyword_before(b, i, KEYWORD_WINDOW, BARE_WORDS)
        }
    };
    let ok = shape && ends_cleanly(b, e) && said();
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

    /// Asserts that none of `texts` holds a phone number.
    fn none(texts: &[&str]) {
        for t in texts {
            assert!(find(t).is_empty(), "{t}: {:?}", find(t));
        }
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
    fn country_codes_after_00_and_in_parentheses() {
        assert_eq!(find("00420 603 967 929"), ["00420 603 967 929"]);
        assert_eq!(find("00971 50 033 9075"), ["00971 50 033 9075"]);
        assert_eq!(find("001-579-526-2243x4330"), ["001-579-526-2243x4330"]);
        assert_eq!(find("(+358) 146100330"), ["(+358) 146100330"]);
        assert_eq!(find("+(370) 92174218"), ["+(370) 92174218"]);
        assert_eq!(find("(+57)6086003390"), ["(+57)6086003390"]);
        none(&[
            // No such country code (`+3` is not one; 3x codes have two digits), a padded id,
            // a row of groups, a short national part.
            "003 42699102",
            "00999 123 456 789",
            "00420 00421 00422 00423",
            "00420 603 967 929 111 222",
            "00972590339075",
            "Departures: 0045 0615 1230 1845",
            "0030 0600 1200",
            "0031 0032 0033",
            "0044-2024-01",
            "Lot 0049 1234 5678",
            "007-123-4567",
            "(+1) 555 1234",
            "(+999) 146100330",
            "(+358) 14610",
            "(+358) 146 100 330 111 222",
            "f(+358) 146100330",
            "a+(370) 92174218",
        ]);
        assert!(country_code(b"1") && country_code(b"44") && country_code(b"420") && country_code(b"998"));
        assert!(!country_code(b"3") && !country_code(b"42") && !country_code(b"999") && !country_code(b"0"));
        // A fuzz finding: a long run after `00` overflowed the code's value.
        assert!(!country_code(b"0000000001015299734") && !country_code(b"4200"));
        assert!(find("route ::/0000000001015299734 via gw").is_empty());
    }

    #[test]
    fn mixed_separators_and_dashed_pairs() {
        assert_eq!(find("0666 193-451"), ["0666 193-451"]);
        assert_eq!(find("0218-096 7929"), ["0218-096 7929"]);
        assert_eq!(find("090 757-93-83"), ["090 757-93-83"]);
        assert_eq!(find("012-3456 7890"), ["012-3456 7890"]);
        assert_eq!(find("050-391-61-46"), ["050-391-61-46"]);
        assert_eq!(find("(0921) 742-180"), ["(0921) 742-180"]);
        assert_eq!(find("(0929)-081003"), ["(0929)-081003"]);
        none(&[
            // Dashed and dotted mixes stay out, and so do dashed pairs in other shapes.
            "012-345.67890",
            "05.03.2024 1430",
            "050-39-61-46",
            "0503-391-61-46",
            "050-391-61-46-11",
            "01 2024-03-15 Initial release",
            "03 15.01.2024 Kickoff",
            "045 12.03.2024",
            "0421 15-03-24",
        ]);
    }

    #[test]
    fn after_a_phone_word_any_written_shape() {
        assert_eq!(find("Phone: 0 2916 1461"), ["0 2916 1461"]);
        assert_eq!(find("call 06-9/217 4218."), ["06-9/217 4218"]);
        assert_eq!(find("tel 446-1003"), ["446-1003"]);
        assert_eq!(find("Contact: 86 9217-4218"), ["86 9217-4218"]);
        assert_eq!(find("home_phone=09/ 290 07 54"), ["09/ 290 07 54"]);
        assert_eq!(find("call me on (287) 92174"), ["(287) 92174"]);
        assert_eq!(find("My contact: 5335907579"), ["5335907579"]);
        assert_eq!(find("电话: 0 347 921 742"), ["0 347 921 742"]);
        assert_eq!(find("Please call me on 0 2916 1461"), ["0 2916 1461"]);
        assert_eq!(find(r#""phoneNumber": "06 12 34 56 78""#), ["06 12 34 56 78"]);
        assert_eq!(find("home_phone_number: 0 2916 1461"), ["0 2916 1461"]);
        assert_eq!(find("mobile phone (work): 0 2916 1461"), ["0 2916 1461"]);
        assert_eq!(find("call 601 809 679"), ["601 809 679"]);
        none(&[
            // Not a phone word, not the last word before the number, or not its shape.
            "Bingo numbers called: 04 11 23 35 42",
            "telescope 0 2916 1461",
            "[PHONE_1] 0 2916 1461",
            "call 2: 0 2916 1461",
            "call on 1/15/2024",
            "call it 2024-01-15",
            "call 192.168.10.200",
            "call 1500.2500",
            "call 0 2916 1461 3322 11 00 22",
            "call 01 02 2024 10:30",
            "phone 12 34",
            "phone 123 456 789 012 345 678",
            "contact 5551234567",
            "port number, maximum 4294967295",
            "number 4294967295",
            // A review's list: another word between, years, times, decimals, coordinates,
            // thousands, addresses, hex dumps, snake_case heads, glued starts.
            "Mobile subscriptions 2015-2023",
            "Cell phone use 2010-2020",
            "SMS 2022 2023 2024",
            "Mobile 2023/24 2024/25",
            "Call us Mon-Fri 09.00-17.00",
            "Call 15.01.2024 14.30",
            "call 2024-01-15 10.30",
            "SMS sent: 12.345.678",
            "call volume 1 250 000",
            "Call charges: 12 345.67",
            "Cell tower at 40.7128 -74.0060",
            "Mobile 45.2 38.1 16.7",
            "Contact angle 105.3 98.7 101.2",
            "Cell density 1.25 2.50 3.75",
            "contact the gateway at 192.168.100.0/24",
            "contact 10.0.0.1 443",
            "SMS PDU: 07 91 44 77 58 10",
            "call f(+358) 146100330",
            "call a+(370) 92174218",
            r#"{"contact_id": 5123456789}"#,
            r#"{"ring_size": 4294967295}"#,
            r#""call_count": 2147483647"#,
            "Call ID 7391846205",
        ]);
    }

    #[test]
    fn national_near_misses() {
        none(&[
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
        ]);
    }

    #[test]
    fn negatives() {
        none(&[
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
        ]);
    }
}
