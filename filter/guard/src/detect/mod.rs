//! Built-in detectors: hand-written scanners over the bytes of the normalised text.
//!
//! No regex engine: each detector is triggered by something cheap (an `@`, a `:`, the
//! start of a digit run, the start of a word) and then validated (Luhn, IIN ranges,
//! mod-97, octet ranges, SSN ranges, decodable JWT header, …) so that look-alikes such as
//! order numbers, hashes, dates or version strings are not reported.

mod credit_card;
mod email;
mod iban;
mod ip;
mod phone;
mod secret;
mod ssn;

use crate::bytes::{before, digits_end};
use crate::finding::Builtin;

/// A built-in detection: kind and byte range in the normalised text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hit {
    pub kind: Builtin,
    pub start: usize,
    pub end: usize,
}

/// Runs the enabled built-in detectors (`enabled` is a mask of [`Builtin::bit`]).
pub(crate) fn scan(text: &str, enabled: u8, out: &mut Vec<Hit>) {
    let b = text.as_bytes();
    let on = |d: Builtin| enabled & d.bit() != 0;
    let mut push = |kind: Builtin, span: Option<(usize, usize)>| {
        if let Some((start, end)) = span {
            out.push(Hit { kind, start, end });
        }
    };

    if on(Builtin::Email) {
        email::scan(b, &mut |s, e| push(Builtin::Email, Some((s, e))));
    }
    if on(Builtin::IpAddress) {
        ip::scan_v6(b, &mut |s, e| push(Builtin::IpAddress, Some((s, e))));
    }
    if on(Builtin::Secret) {
        secret::scan(b, &mut |s, e| push(Builtin::Secret, Some((s, e))));
    }

    // Digit runs: one not glued to a word on its left is offered to the numeric
    // detectors; one right after exactly two letters may be an IBAN's check digits.
    let (phone, ssn, card, ipv4) = (
        on(Builtin::Phone),
        on(Builtin::UsSsn),
        on(Builtin::CreditCard),
        on(Builtin::IpAddress),
    );
    let iban = on(Builtin::Iban);
    if !(phone || ssn || card || ipv4 || iban) {
        return;
    }
    let mut i = 0;
    while let Some(d) = next_digit(b, i) {
        let prev = before(b, d);
        if !prev.is_ascii_alphanumeric() {
            if phone {
                push(Builtin::Phone, phone::find_at(b, d));
            }
            if ssn {
                push(Builtin::UsSsn, ssn::find_at(b, d));
            }
            if card {
                push(Builtin::CreditCard, credit_card::find_at(b, d));
            }
            if ipv4 {
                push(Builtin::IpAddress, ip::v4_at(b, d));
            }
        } else if iban
            && d >= 2
            && prev.is_ascii_alphabetic()
            && before(b, d - 1).is_ascii_alphabetic()
            && !before(b, d - 2).is_ascii_alphanumeric()
        {
            push(Builtin::Iban, iban::find_at(b, d - 2));
        }
        i = digits_end(b, d);
    }
}

/// Position of the first ASCII digit at or after `from`, skipping eight bytes at a time
/// (prose has few digits).
fn next_digit(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(chunk) = b.get(i..i + 8) {
        let word = u64::from_le_bytes(<[u8; 8]>::try_from(chunk).ok()?);
        if has_digit(word) {
            break;
        }
        i += 8;
    }
    let rest = b.get(i..)?;
    rest.iter().position(u8::is_ascii_digit).map(|p| p + i)
}

/// Whether any byte of `x` is `0`–`9` ("hasbetween" from Bit Twiddling Hacks: exact for
/// every byte value; no lane borrows or carries into the next).
fn has_digit(x: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low7 = x & (ONES * 0x7F);
    let le_9 = (ONES * (0x7F + 0x3A)).wrapping_sub(low7);
    let ge_0 = low7.wrapping_add(ONES * (0x7F - 0x2F));
    le_9 & ge_0 & !x & HIGH != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_digit_is_exact() {
        for v in 0..=255u8 {
            for lane in 0..8 {
                let mut bytes = [b'a'; 8];
                bytes[lane] = v;
                assert_eq!(has_digit(u64::from_le_bytes(bytes)), v.is_ascii_digit(), "{v}");
                let mut high = [0xFF; 8];
                high[lane] = v;
                assert_eq!(has_digit(u64::from_le_bytes(high)), v.is_ascii_digit(), "{v}");
            }
        }
        assert_eq!(next_digit(b"abcdefghijklmnop7", 0), Some(16));
        assert_eq!(next_digit(b"abc9", 0), Some(3));
        assert_eq!(next_digit(b"abcdefghij", 0), None);
        assert_eq!(next_digit(b"1", 5), None);
    }
}
