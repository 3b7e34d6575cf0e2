//! Built-in detectors and their validators, over the bytes of the normalised text.
//!
//! No regex engine: each detector is triggered by something cheap and then validated
//! (Luhn, IIN ranges, mod-97, octet ranges, SSN ranges, decodable JWT header, …) so that
//! look-alikes such as order numbers, hashes, dates or version strings are not reported.
//! The structured detectors share one pass over byte classes ([`structured`]): the start
//! of a digit run (cards, SSNs, phones, IPv4, IBANs), `@` (email) and `:` (IPv6). Secrets
//! are found from their prefixes by the engine's automaton ([`secret::at_prefix`]).
//! Every validator reads a bounded window from its trigger, or a token run measured once
//! ([`secret::Runs`]), so the whole scan is linear in the text.

mod credit_card;
mod email;
mod iban;
mod ip;
pub(crate) mod phone;
pub(crate) mod secret;
mod ssn;

pub(crate) use credit_card::valid as card_valid;

use crate::kind::Builtin;
use crate::overlap;
use crate::text::bytes::{before, digits_end};

/// A built-in detection: kind and byte range in the normalised text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hit {
    pub kind: Builtin,
    pub start: usize,
    pub end: usize,
}

/// Runs the enabled structured detectors (`enabled` is a mask of [`Builtin::bit`]) in one
/// pass over the trigger bytes of `b`.
pub(crate) fn structured(b: &[u8], enabled: u8, out: &mut Vec<Hit>) {
    structured_in(b, enabled, 0, b.len(), out);
}

/// How far around a detected value its neighbours are judged again: more than any
/// candidate reads from its trigger (an e-mail's local part, 64 bytes back from its `@`; an
/// IBAN with spaces, 42 forward; a phone, about 70 with its extension) and than an SSN or
/// phone keyword's window (48; 32 from a phone's start, which may be 2 bytes before its
/// trigger, `(+358)`).
const NEIGHBOURHOOD: usize = 80;
/// Rounds of [`reveal`]: each needs a value that only a neighbour's placeholder revealed.
const MAX_ROUNDS: usize = 4;

/// Detection that does not depend on what a neighbouring detection takes. `kept` (built-in
/// values, non-overlapping) are the values that will be redacted. A candidate that ran into
/// one of them (`+2 (415)150-53 55thanku@example.com`: the phone's last group is the
/// e-mail's local part, so the phone was rejected), lost an overlap to one, or had its
/// keyword pushed out of reach by one is judged again in the text as redaction leaves it:
/// each value replaced by a mask as long as its shortest placeholder (`[EMAIL_1]` is
/// `[_______]`: `[`, word bytes, `]`). What stands alone then (`+2 (415)150-53`) is added,
/// mapped back to this text's offsets. Without this, redaction is not idempotent: the
/// forwarded body would hold a value that a second inspection redacts. Only the triggers
/// within [`NEIGHBOURHOOD`] of a value are looked at again, so the extra cost is one copy
/// of the text and a few bytes per value; nothing is copied when there is none.
///
/// Only values of the kinds in `redacted` (a mask of [`Builtin::bit`]) are masked; the
/// others stay in the forwarded text, so they stay in the text judged here too, and a
/// candidate that overlaps one of them is weighed against it as the first pass weighs any
/// two (longest, then most sensitive): in `+2(45)64.5.0.5 5m@p.om` with IP addresses
/// allowed, once the e-mail is masked the phone `+2(45)64.5.0.5` outweighs the address
/// inside it (a fuzz finding: the phone was forwarded, and a second inspection redacted it).
pub(crate) fn reveal(b: &[u8], enabled: u8, redacted: u8, kept: Vec<Hit>) -> Vec<Hit> {
    if kept.is_empty() {
        return kept;
    }
    let mut all = kept;
    all.sort_unstable_by_key(|h| h.start);
    let mut masked = Vec::with_capacity(b.len());
    // Unmasked stretches: (start in `masked`, start in `b`, length).
    let mut stretches: Vec<(usize, usize, usize)> = Vec::new();
    let mut windows: Vec<(usize, usize)> = Vec::new();
    for _ in 0..MAX_ROUNDS {
        masked.clear();
        stretches.clear();
        windows.clear();
        let mut pos = 0;
        for h in &all {
            if redacted & h.kind.bit() == 0 {
                continue; // stays in the text
            }
            let Some(text) = b.get(pos..h.start) else {
                continue;
            };
            stretches.push((masked.len(), pos, text.len()));
            masked.extend_from_slice(text);
            let m = masked.len();
            masked.push(b'[');
            masked.resize(m + h.kind.name().len() + 3, b'_');
            masked.push(b']');
            windows.push((m, masked.len()));
            pos = h.end;
        }
        stretches.push((masked.len(), pos, b.len().saturating_sub(pos)));
        masked.extend_from_slice(b.get(pos..).unwrap_or_default());

        let mut found = Vec::new();
        let mut w = 0;
        while let Some(&(s, e)) = windows.get(w) {
            // Merge the neighbourhoods of values close together.
            let from = s.saturating_sub(NEIGHBOURHOOD);
            let mut to = e + NEIGHBOURHOOD;
            w += 1;
            while let Some(&(_, ne)) = windows.get(w).filter(|n| n.0.saturating_sub(NEIGHBOURHOOD) <= to) {
                to = to.max(ne + NEIGHBOURHOOD);
                w += 1;
            }
            structured_in(&masked, enabled, from, to.min(masked.len()), &mut found);
        }
        // Back to offsets of `b`: a value lies within one unmasked stretch.
        found.retain_mut(|h| {
            let k = stretches.partition_point(|st| st.0 <= h.start);
            let Some(&(ms, bs, len)) = k.checked_sub(1).and_then(|k| stretches.get(k)) else {
                return false;
            };
            if h.end > ms + len {
                return false;
            }
            (h.start, h.end) = (h.start - ms + bs, h.end - ms + bs);
            true
        });
        if found.is_empty() {
            break;
        }
        // A found value lies in unmasked text, so it can overlap only values that stay.
        // Those are weighed with the candidates, as a second inspection would weigh them.
        // (Sorted, with binary searches: a body of many values stays linear.)
        found.sort_unstable_by_key(|h| (h.start, h.end));
        let reach = running_max_end(&found);
        let staying: Vec<Hit> = all
            .iter()
            .filter(|a| redacted & a.kind.bit() == 0 && touches(&found, &reach, a) && !holds(&found, a))
            .copied()
            .collect();
        found.extend_from_slice(&staying);
        let winners = overlap::resolve(found, |h| (h.start, h.end), |h| h.kind.rank());
        // `all` is sorted by start and without overlaps; so are the winners.
        let fresh: Vec<Hit> = winners.into_iter().filter(|w| !holds(&all, w)).collect();
        if fresh.is_empty() {
            break;
        }
        // What stays and lost to a fresh value is not a value of the forwarded text.
        let fresh_reach = running_max_end(&fresh);
        all.retain(|a| !touches(&fresh, &fresh_reach, a));
        all.extend_from_slice(&fresh);
        all.sort_unstable_by_key(|h| h.start);
    }
    all
}

/// For hits sorted by start: the greatest end among the first `k + 1`, for each `k`.
fn running_max_end(hits: &[Hit]) -> Vec<usize> {
    let mut max = 0;
    hits.iter()
        .map(|h| {
            max = max.max(h.end);
            max
        })
        .collect()
}

/// Whether any of `hits` (sorted by start; `reach` from [`running_max_end`]) overlaps `a`.
fn touches(hits: &[Hit], reach: &[usize], a: &Hit) -> bool {
    let p = hits.partition_point(|h| h.start < a.end);
    p.checked_sub(1)
        .and_then(|k| reach.get(k))
        .is_some_and(|&end| end > a.start)
}

/// Whether `hits` (sorted by start, then end) holds `a` itself.
fn holds(hits: &[Hit], a: &Hit) -> bool {
    let p = hits.partition_point(|h| (h.start, h.end) < (a.start, a.end));
    hits.get(p..)
        .unwrap_or_default()
        .iter()
        .take_while(|h| (h.start, h.end) == (a.start, a.end))
        .any(|h| h == a)
}

/// The longest run of digits a numeric detector's value can start with (an unbroken card).
const MAX_LEADING_RUN: usize = 19;

/// [`structured`] over the triggers in `from..to` only (candidates read past `to`).
fn structured_in(b: &[u8], enabled: u8, from: usize, to: usize, out: &mut Vec<Hit>) {
    let on = |d: Builtin| enabled & d.bit() != 0;
    let (email, ipv6) = (on(Builtin::Email), on(Builtin::IpAddress));
    let (phone, ssn, card, ipv4, iban) = (
        on(Builtin::Phone),
        on(Builtin::UsSsn),
        on(Builtin::CreditCard),
        on(Builtin::IpAddress),
        on(Builtin::Iban),
    );
    let digits = phone || ssn || card || ipv4 || iban;
    let mut push = |kind: Builtin, span: Option<(usize, usize)>| {
        if let Some((start, end)) = span {
            out.push(Hit { kind, start, end });
        }
    };
    // Triggers inside a reported email or IPv6 address are not looked at again.
    let (mut email_end, mut v6_end) = (0, 0);
    let mut i = from;
    while let Some(t) = next_trigger(b, i).filter(|&t| t < to) {
        let c = b.get(t).copied().unwrap_or(0);
        match c {
            b'@' => {
                i = t + 1;
                if email && t >= email_end {
                    if let Some((s, e)) = email::at_sign(b, t) {
                        push(Builtin::Email, Some((s, e)));
                        email_end = e;
                    }
                }
            }
            b':' => {
                i = t + 1;
                if ipv6 && t >= v6_end {
                    if let Some((s, e)) = ip::v6_at_colon(b, t) {
                        push(Builtin::IpAddress, Some((s, e)));
                        v6_end = e;
                    }
                }
            }
            _ => {
                // The start of a digit run: one not glued to a word on its left is offered
                // to the numeric detectors; one right after exactly two letters may be an
                // IBAN's check digits.
                i = digits_end(b, t);
                // A run of at most six digits that ends its text (a JSON number, a short
                // value) is no detector's whole value: every one needs seven digits or a
                // separator after the first group. Skipping it keeps a million small
                // numbers cheap.
                if !digits || (i - t <= 6 && matches!(b.get(i), None | Some(0))) {
                    continue;
                }
                let prev = before(b, t);
                if !prev.is_ascii_alphanumeric() {
                    // No numeric value starts with a run of more than 19 digits (a card's
                    // most; a phone has at most 15, an SSN 9, an IPv4 group 3): such a run is
                    // measured once, here, not again by each detector (a 4 MiB run of digits).
                    // An IBAN's (after two letters, below) may be longer.
                    if i - t > MAX_LEADING_RUN {
                        continue;
                    }
                    if phone {
                        push(Builtin::Phone, phone::find_at(b, t));
                    }
                    if ssn {
                        push(Builtin::UsSsn, ssn::find_at(b, t));
                    }
                    if card {
                        push(Builtin::CreditCard, credit_card::find_at(b, t));
                    }
                    if ipv4 {
                        push(Builtin::IpAddress, ip::v4_at(b, t));
                    }
                } else if iban
                    && t >= 2
                    && prev.is_ascii_alphabetic()
                    && before(b, t - 1).is_ascii_alphabetic()
                    && !before(b, t - 2).is_ascii_alphanumeric()
                {
                    push(Builtin::Iban, iban::find_at(b, t - 2));
                }
            }
        }
    }
}

/// Position of the first digit, `@` or `:` at or after `from`, skipping eight bytes at a
/// time (prose has few of them).
fn next_trigger(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(chunk) = b.get(i..i + 8) {
        let word = u64::from_le_bytes(<[u8; 8]>::try_from(chunk).ok()?);
        // Digits and `:` are the contiguous bytes 0x30–0x3A: one range test, and one for `@`.
        if has_digit_or_colon(word) || has_byte(word, b'@') {
            break;
        }
        i += 8;
    }
    let rest = b.get(i..)?;
    rest.iter()
        .position(|&c| c.is_ascii_digit() || c == b'@' || c == b':')
        .map(|p| p + i)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

#[cfg(test)]
/// Whether any byte of `x` is `0`–`9` ("hasbetween" from Bit Twiddling Hacks: exact for
/// every byte value; no lane borrows or carries into the next).
fn has_digit(x: u64) -> bool {
    let low7 = x & (ONES * 0x7F);
    let le_9 = (ONES * (0x7F + 0x3A)).wrapping_sub(low7);
    let ge_0 = low7.wrapping_add(ONES * (0x7F - 0x2F));
    le_9 & ge_0 & !x & HIGH != 0
}

/// Whether any byte of `x` is `0`–`9` or `:` (the same test, bounds 0x2F < c < 0x3B).
fn has_digit_or_colon(x: u64) -> bool {
    let low7 = x & (ONES * 0x7F);
    let le = (ONES * (0x7F + 0x3B)).wrapping_sub(low7);
    let ge = low7.wrapping_add(ONES * (0x7F - 0x2F));
    le & ge & !x & HIGH != 0
}

/// Whether any byte of `x` is `v` (exact: the "haszero" test on `x ^ v`, in its form
/// without false positives).
fn has_byte(x: u64, v: u8) -> bool {
    let y = x ^ (ONES * u64::from(v));
    let t = (y & (ONES * 0x7F)).wrapping_add(ONES * 0x7F);
    !(t | y | (ONES * 0x7F)) != 0
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
        for v in 0..=255u8 {
            for lane in 0..8 {
                let mut bytes = [b'a'; 8];
                bytes[lane] = v;
                let w = u64::from_le_bytes(bytes);
                assert_eq!(has_byte(w, b'@'), v == b'@', "{v}");
                assert_eq!(has_byte(w, b':'), v == b':', "{v}");
                assert_eq!(has_digit_or_colon(w), v.is_ascii_digit() || v == b':', "{v}");
            }
        }
        assert_eq!(next_trigger(b"abcdefghijklmnop7", 0), Some(16));
        assert_eq!(next_trigger(b"abcdefghijklmn@p", 0), Some(14));
        assert_eq!(next_trigger(b"abcdefgh:", 0), Some(8));
        assert_eq!(next_trigger(b"abc9", 0), Some(3));
        assert_eq!(next_trigger(b"abcdefghij", 0), None);
        assert_eq!(next_trigger(b"1", 5), None);
    }

    /// A run longer than any value's first run offers nothing to any detector; one of
    /// exactly 19 digits (a Visa number) still does, and so does what follows a long run.
    #[test]
    fn long_digit_runs_start_no_value() {
        fn found(t: &str) -> Vec<(Builtin, &str)> {
            let mut out = Vec::new();
            structured(t.as_bytes(), 0xFF, &mut out);
            out.iter().map(|h| (h.kind, &t[h.start..h.end])).collect()
        }
        assert_eq!(
            found("card 4111111111111111110 ok"),
            vec![(Builtin::CreditCard, "4111111111111111110")]
        );
        assert_eq!(found("n 41111111111111111104 ok"), vec![]);
        assert_eq!(
            found(&format!("n {} +1 415 555 0132", "7".repeat(400))),
            vec![(Builtin::Phone, "+1 415 555 0132")]
        );
        assert_eq!(found(&format!("{}.1.2.3", "1".repeat(20))), vec![]);
        // After two letters the run may be an IBAN's, which can be longer.
        assert_eq!(
            found("iban DE89370400440532013000 ok"),
            vec![(Builtin::Iban, "DE89370400440532013000")]
        );
    }
}
