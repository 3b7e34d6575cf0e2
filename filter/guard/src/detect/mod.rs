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

use crate::bytes::{at, before, digits_end, is_digit};
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

    // Number pass: every digit run is offered to the numeric detectors.
    let numeric =
        enabled & (Builtin::Phone.bit() | Builtin::UsSsn.bit() | Builtin::CreditCard.bit() | Builtin::IpAddress.bit());
    if numeric != 0 {
        let mut i = 0;
        while i < b.len() {
            if !is_digit(at(b, i)) {
                i += 1;
                continue;
            }
            if on(Builtin::Phone) {
                push(Builtin::Phone, phone::find_at(b, i));
            }
            if on(Builtin::UsSsn) {
                push(Builtin::UsSsn, ssn::find_at(b, i));
            }
            if on(Builtin::CreditCard) {
                push(Builtin::CreditCard, credit_card::find_at(b, i));
            }
            if on(Builtin::IpAddress) {
                push(Builtin::IpAddress, ip::v4_at(b, i));
            }
            i = digits_end(b, i);
        }
    }

    // Word pass: secrets (known prefixes) and IBANs (two letters, two digits).
    if on(Builtin::Secret) || on(Builtin::Iban) {
        let mut i = 0;
        while i < b.len() {
            let c = at(b, i);
            let starts_word = (c.is_ascii_alphanumeric() || c == b'-')
                && !before(b, i).is_ascii_alphanumeric()
                && !(c == b'-' && before(b, i) == b'-');
            if starts_word {
                if on(Builtin::Secret) {
                    push(Builtin::Secret, secret::find_at(b, i));
                }
                if on(Builtin::Iban) && c.is_ascii_alphabetic() {
                    push(Builtin::Iban, iban::find_at(b, i));
                }
            }
            i += 1;
        }
    }
}
