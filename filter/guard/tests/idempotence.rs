//! Redaction is idempotent: once every detected value is replaced by its placeholder, a second
//! inspection of the redacted text finds no value. A detection must not depend on what a
//! neighbouring detection takes: in `+2 (415)150-53 55thanku@example.com` the e-mail takes
//! `55thanku@example.com`, and the phone `+2 (415)150-53` before it is a phone whether the
//! e-mail is there or already `[EMAIL_1]` (the fuzz finding of issue 14, fixed here).

// Test code may unwrap and index (the lints guard code that runs in Envoy).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use genai_guard::{Builtin, Finding, GuardConfig, Kind, Placeholders, Scanner};

fn scanner() -> Scanner {
    GuardConfig::default().compile().unwrap()
}

fn values(s: &Scanner, text: &str) -> Vec<Finding> {
    s.scan(text)
        .into_iter()
        .filter(|f| matches!(f.kind, Kind::Builtin(_)))
        .collect()
}

/// The values a second inspection of the redacted `text` still finds, as strings.
fn left_after_redaction(s: &Scanner, text: &str) -> (String, Vec<String>) {
    let first = values(s, text);
    let redacted = s.redact(text, &first, &mut Placeholders::default());
    let again = values(s, &redacted)
        .iter()
        .map(|f| format!("{}: {}", s.kind_name(f.kind), &redacted[f.start..f.end]))
        .collect();
    (redacted, again)
}

#[test]
fn the_fuzz_finding_a_phone_before_an_email() {
    let s = scanner();
    let text = "Mall +2 (415)150-53 55thanku@example.com or call";
    let found: Vec<&str> = values(&s, text).iter().map(|f| &text[f.start..f.end]).collect();
    assert_eq!(found, ["+2 (415)150-53", "55thanku@example.com"]);
    let (redacted, left) = left_after_redaction(&s, text);
    assert_eq!(redacted, "Mall [PHONE_1] [EMAIL_1] or call");
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_value_that_loses_an_overlap_keeps_what_stands_alone() {
    let s = scanner();
    // The phone's last group is the e-mail's local part: the e-mail is longer and wins, and
    // `+44 20 7946` is a phone on its own.
    for (text, want) in [
        ("+44 20 7946 0958.x@example.com", "[PHONE_1] [EMAIL_1]"),
        ("+44 20 7946 0958x@example.com", "[PHONE_1] [EMAIL_1]"),
    ] {
        let (redacted, left) = left_after_redaction(&s, text);
        assert_eq!(redacted, want, "{text}");
        assert!(left.is_empty(), "{text}: {left:?}");
    }
}

/// xorshift64*: a fixed sequence, so the test is the same on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[(self.next() % v.len() as u64) as usize]
    }
}

/// Pieces of every detector's values and of what sits next to them (words, separators, an
/// e-mail's local part and domain, an IPv6 colon), joined at random: texts where one
/// detector's candidate runs into another's.
const PIECES: &[&str] = &[
    "+2 ",
    "+44 ",
    "+1 ",
    "+",
    "(415)",
    "(0)",
    "(",
    ")",
    "150-53",
    "55",
    "7946",
    "0958",
    "20",
    "415",
    "555",
    "123",
    "4567",
    "0114",
    "09-7625400",
    "555-123-4567",
    "(555) 123-4567",
    "4111 1111 1111 1111",
    "4111111111111111",
    "4111",
    "1111",
    "078-05-1120",
    "078",
    "05",
    "1120",
    "192.168.1.1",
    "10.0.0.1",
    "2001:db8::1",
    "::",
    ":",
    "DE89 3704 0044 0532 0130 00",
    "DE89",
    "3704",
    "GB82WEST12345698765432",
    "thanku",
    "x",
    "a",
    "abc",
    "Z",
    "@example.com",
    "@ex.co",
    "jane@example.com",
    ".",
    "-",
    " ",
    " ",
    " ",
    ", ",
    "_",
    "call ",
    "phone ",
    "ssn ",
    "SSN: ",
    "card ",
    "tel: ",
    "number ",
    "[",
    "]",
    "sk-",
    "AKIA",
    "0",
    "1",
    "2",
    "9",
    "13812345678",
    "05321234567",
    "/",
    "#",
    "\n",
];

#[test]
fn redacting_every_value_leaves_no_value_behind() {
    let s = scanner();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut failures = Vec::new();
    for _ in 0..100_000 {
        let n = 2 + (rng.next() % 9) as usize;
        let text: String = (0..n).map(|_| rng.pick(PIECES)).collect();
        let (redacted, left) = left_after_redaction(&s, &text);
        if !left.is_empty() && failures.len() < 40 {
            failures.push(format!("{text:?} -> {redacted:?}: {left:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} texts:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A scanner told that every built-in kind but `stays` is redacted (the policy's
/// `action: redact`); values of `stays` remain in the forwarded text.
fn scanner_keeping(stays: &[Builtin]) -> Scanner {
    let mut s = scanner();
    s.set_redacted(Builtin::ALL.into_iter().filter(|b| !stays.contains(b)));
    s
}

/// As the policy forwards it: only values of redacted kinds replaced. Returns the redacted
/// text and the values of redacted kinds a second inspection still finds.
fn left_after_partial_redaction(s: &Scanner, stays: &[Builtin], text: &str) -> (String, Vec<String>) {
    let redacts = |f: &Finding| matches!(f.kind, Kind::Builtin(b) if !stays.contains(&b));
    let first: Vec<Finding> = values(s, text).into_iter().filter(redacts).collect();
    let redacted = s.redact(text, &first, &mut Placeholders::default());
    let again = values(s, &redacted)
        .iter()
        .filter(|f| redacts(f))
        .map(|f| format!("{}: {}", s.kind_name(f.kind), &redacted[f.start..f.end]))
        .collect();
    (redacted, again)
}

#[test]
fn the_fuzz_finding_a_phone_around_an_allowed_ip_address() {
    // The demo allows IP addresses and redacts phones and e-mails. The phone runs into the
    // e-mail's local part (`5m`), so at first only the address inside it and the e-mail are
    // values; once the e-mail is `[EMAIL_1]` the phone stands alone, and it outweighs the
    // address, which stays in the forwarded text (issue 14's second inspect_request finding).
    let text = "+2(45)64.5.0.5 5m@p.om";
    let s = scanner_keeping(&[Builtin::IpAddress]);
    let found: Vec<&str> = values(&s, text).iter().map(|f| &text[f.start..f.end]).collect();
    assert_eq!(found, ["+2(45)64.5.0.5", "5m@p.om"]);
    let (redacted, left) = left_after_partial_redaction(&s, &[Builtin::IpAddress], text);
    assert_eq!(redacted, "[PHONE_1] [EMAIL_1]");
    assert!(left.is_empty(), "{left:?}");
    // Everything redacted: the address is masked with the e-mail, and nothing changes.
    let all = scanner();
    let found: Vec<&str> = values(&all, text).iter().map(|f| &text[f.start..f.end]).collect();
    assert_eq!(found, ["64.5.0.5", "5m@p.om"]);
}

#[test]
fn redacting_some_kinds_leaves_none_of_them_behind() {
    // Each built-in kind left in the text in turn, and two at once.
    let keeps: Vec<Vec<Builtin>> = Builtin::ALL
        .into_iter()
        .map(|b| vec![b])
        .chain([
            vec![Builtin::IpAddress, Builtin::Email],
            vec![Builtin::Phone, Builtin::UsSsn],
        ])
        .collect();
    let scanners: Vec<Scanner> = keeps.iter().map(|k| scanner_keeping(k)).collect();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut failures = Vec::new();
    for _ in 0..60_000 {
        let n = 2 + (rng.next() % 9) as usize;
        let text: String = (0..n).map(|_| rng.pick(PIECES)).collect();
        let k = (rng.next() % keeps.len() as u64) as usize;
        let (redacted, left) = left_after_partial_redaction(&scanners[k], &keeps[k], &text);
        if !left.is_empty() && failures.len() < 40 {
            failures.push(format!("keeping {:?}: {text:?} -> {redacted:?}: {left:?}", keeps[k]));
        }
    }
    assert!(
        failures.is_empty(),
        "{} texts:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
