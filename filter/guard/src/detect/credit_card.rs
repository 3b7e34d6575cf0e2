//! `credit_card`: 13–19 digits, unbroken or grouped by single spaces or dashes (one
//! separator throughout), Luhn-valid, with a known IIN prefix and a length that brand
//! issues (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, UATP, Dankort, Maestro,
//! Mir, RuPay, Verve, Troy).
//!
//! Grouped numbers may be followed by more digit groups (an expiry, a CVV): the longest
//! leading run of groups that validates is reported.

use crate::text::bytes::{at, before, digits_end, ends_cleanly, is_digit, is_word, run_end, starts_cleanly};

const MAX_GROUPS: usize = 8;

/// A card number whose first digit run starts at `i`.
pub(super) fn find_at(b: &[u8], i: usize) -> Option<(usize, usize)> {
    if !starts_cleanly(b, i) {
        return None;
    }
    let e0 = digits_end(b, i);
    let n0 = e0 - i;
    if n0 >= 13 {
        let ok = n0 <= 19 && ends_cleanly(b, e0) && valid(b.get(i..e0)?) && !in_table_of_numbers(b, i, e0);
        return ok.then_some((i, e0));
    }
    if !(4..=6).contains(&n0) {
        return None;
    }
    let sep = at(b, e0);
    if !matches!(sep, b' ' | b'-') {
        return None;
    }
    // Group ends, and the digits up to each: the groups are read once and never copied
    // (a run of digit groups offers a candidate at every group).
    let mut ends = [0usize; MAX_GROUPS];
    let mut upto = [0usize; MAX_GROUPS];
    let mut count = 0;
    let mut total = 0;
    let mut p = i;
    loop {
        let ge = digits_end(b, p);
        let n = ge - p;
        if n == 0 || n > 6 || total + n > 19 || is_word(at(b, ge)) || count == MAX_GROUPS {
            break;
        }
        total += n;
        *ends.get_mut(count)? = ge;
        *upto.get_mut(count)? = total;
        count += 1;
        if at(b, ge) == sep && is_digit(at(b, ge + 1)) {
            p = ge + 1;
        } else {
            break;
        }
    }
    // Longest prefix of whole groups that is a valid card. The first group has at least
    // four digits: the brand's prefix.
    let prefix = b.get(i..i + 4)?;
    for k in (0..count).rev() {
        let (end, len) = (*ends.get(k)?, *upto.get(k)?);
        if len < 13 {
            break;
        }
        let clean = !(at(b, end) == b'.' && is_digit(at(b, end + 1)));
        // The brand first: cheaper than Luhn, and most lengths fail it.
        if clean && brand_ok(prefix, len) && luhn(b.get(i..end)?) {
            return Some((i, end));
        }
    }
    None
}

/// Whether the unbroken number `b[s..e]` sits in a list of long numbers that are not
/// cards (tables of 64-bit constants, test vectors): about 1 in 20 random 15–19 digit
/// numbers passes Luhn and the IIN check, but then its neighbours almost surely do not.
/// A list of card numbers (a CSV export) keeps its cards: their neighbours are valid.
fn in_table_of_numbers(b: &[u8], s: usize, e: usize) -> bool {
    let sep = |c: u8| c.is_ascii_whitespace() || b",;()[]{}|\"'".contains(&c);
    // The neighbour before: a digit run right behind separators.
    let mut p = s;
    while p > 0 && s - p < 16 && sep(before(b, p)) {
        p -= 1;
    }
    let left = (p < s).then(|| {
        let end = p;
        while p > 0 && before(b, p).is_ascii_digit() {
            p -= 1;
        }
        (p, end)
    });
    let q = run_end(b, e, sep);
    let right = (q > e && q - e <= 16).then(|| (q, digits_end(b, q)));
    [left, right]
        .into_iter()
        .flatten()
        .any(|(ns, ne)| ne - ns >= 14 && !b.get(ns..ne).is_some_and(|d| ne - ns <= 19 && valid(d)))
}

/// Luhn checksum, IIN prefix and brand length.
pub(crate) fn valid(digits: &[u8]) -> bool {
    digits.iter().all(u8::is_ascii_digit) && brand_ok(digits, digits.len()) && luhn(digits)
}

/// The Luhn checksum of the digits of `b`, whatever separates them.
fn luhn(b: &[u8]) -> bool {
    // From the right: digits at even places as they are, at odd places doubled with their
    // digits summed (a table).
    const DOUBLED: [u8; 10] = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9];
    let mut sum = 0u32;
    let mut odd = false;
    for &c in b.iter().rev() {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            continue;
        }
        let v = if odd {
            DOUBLED.get(usize::from(d)).copied().unwrap_or(0)
        } else {
            d
        };
        sum += u32::from(v);
        odd = !odd;
    }
    sum % 10 == 0
}

/// Whether a number of `len` digits starting with `prefix` (its first four digits) is a
/// length some brand with that prefix issues.
fn brand_ok(prefix: &[u8], len: usize) -> bool {
    // Cards have at least 13 digits: the 4-digit prefix holds the shorter ones.
    let p4 = prefix
        .iter()
        .take(4)
        .fold(0u32, |acc, &c| acc * 10 + u32::from(c.wrapping_sub(b'0')));
    let (p1, p2, p3) = (p4 / 1000, p4 / 100, p4 / 10);
    let visa = p1 == 4 && matches!(len, 13 | 16 | 19);
    let mastercard = ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && len == 16;
    let amex = matches!(p2, 34 | 37) && len == 15;
    let discover = (p4 == 6011 || p2 == 65 || (644..=649).contains(&p3)) && (16..=19).contains(&len);
    // JCB's own range, and its older 15-digit `2131` numbers (`1800` is read as UATP below).
    let jcb = ((3528..=3589).contains(&p4) && (16..=19).contains(&len)) || (p4 == 2131 && len == 15);
    let diners = ((300..=305).contains(&p3) || matches!(p2, 36 | 38 | 39) || p4 == 3095) && (14..=19).contains(&len);
    let unionpay = p2 == 62 && (16..=19).contains(&len);
    // Less common brands (issuer ranges as the networks publish them): UATP, Dankort,
    // Maestro, Mir, RuPay, Verve, Troy.
    let uatp = p1 == 1 && len == 15;
    let dankort = p4 == 5019 && len == 16;
    // Maestro also issues 12 digits, not read: a 12-digit id (an AWS account's) has a
    // Maestro prefix and passes Luhn about once in 25.
    let maestro = (p2 == 50 || (56..=58).contains(&p2) || matches!(p4, 6304 | 6759 | 6761..=6763) || p3 == 639)
        && (13..=19).contains(&len);
    let mir = (2200..=2204).contains(&p4) && (16..=19).contains(&len);
    let rupay = (matches!(p2, 60 | 81 | 82) || p3 == 508 || p3 == 353 || p3 == 356) && len == 16;
    let verve = ((5060..=5061).contains(&p4) || p4 == 6500) && (16..=19).contains(&len);
    let troy = p4 == 9792 && len == 16;
    visa || mastercard
        || amex
        || discover
        || jcb
        || diners
        || unionpay
        || uatp
        || dankort
        || maestro
        || mir
        || rupay
        || verve
        || troy
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(t: &str) -> Option<&str> {
        let i = t.find(|c: char| c.is_ascii_digit())?;
        find_at(t.as_bytes(), i).map(|(s, e)| &t[s..e])
    }

    #[test]
    fn brands_and_groupings() {
        for t in [
            "4111111111111111",
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "5555 5555 5555 4444",
            "2223 0031 2200 3222",
            "3782 822463 10005",
            "6011 1111 1111 1117",
            "3530 1113 3330 0000",
            "3056 930902 5904",
            "6200 0000 0000 0005",
            "4222222222222",
            "213112378991430",
        ] {
            assert_eq!(one(t), Some(t), "{t}");
        }
        assert_eq!(one("4111 1111 1111 1111 12 25 123"), Some("4111 1111 1111 1111"));
    }

    #[test]
    fn negatives() {
        for t in [
            "4111111111111112",
            "1234567812345678",
            "4111 1111-1111 1111",
            "41111111111111111111",
            "503885272883",
            "2131123789914304",
            "978-3-16-148410-0",
            "1705312800000",
            "4111111111111111.5",
            "KQU(1), 6558939822118891088, 4856042377419278489,",
        ] {
            assert_eq!(one(t), None, "{t}");
        }
    }
}
