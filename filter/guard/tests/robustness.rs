//! No panics on arbitrary input (fixed-seed randomized tests), and the invariants every
//! caller relies on: findings are in bounds, on character boundaries, non-empty and
//! sorted; scanning is deterministic; redaction never panics.

// Test code may unwrap and index (the lints guard code that runs in Envoy).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use genai_guard::{normalize, Finding, GuardConfig, Placeholders, Scanner};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn scanner() -> Scanner {
    let json = r#"{"custom_detectors": [
        {"name": "codename", "keywords": ["falcon", "project osprey", "über"]},
        {"name": "ticket", "patterns": ["TKT-[0-9]{1,6}", "(?i)xx[a-z]{0,8}", "\\bAB-?[0-9]{0,3}"]}
    ]}"#;
    serde_json::from_str::<GuardConfig>(json).unwrap().compile().unwrap()
}

fn check_invariants(s: &Scanner, text: &str) {
    let findings = s.scan(text);
    for f in &findings {
        assert!(f.start < f.end && f.end <= text.len(), "{f:?} in {text:?}");
        assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
    }
    assert!(findings.windows(2).all(|w| w[0].start <= w[1].start));
    assert_eq!(findings, s.scan(text), "not deterministic");
    let _ = s.injection(text);
    // Every normalised character maps to a non-empty original range on character
    // boundaries, and the ranges advance with the text.
    let n = normalize(text);
    let norm = n.as_str();
    let mut last = (0, 0);
    for (k, c) in norm.char_indices() {
        let (a, b) = n.to_original(k, k + c.len_utf8()).unwrap();
        assert!(a < b && b <= text.len(), "{a}..{b} for {c:?} in {text:?}");
        assert!(text.is_char_boundary(a) && text.is_char_boundary(b));
        assert!(a >= last.0 && b >= last.1, "not monotonic in {text:?}");
        last = (a, b);
    }
    if !norm.is_empty() {
        let (a, b) = n.to_original(0, norm.len()).unwrap();
        assert!(a <= b && b <= text.len());
    }
    let mut counters = Placeholders::default();
    let redacted = s.redact(text, &findings, &mut counters);
    // Redaction of everything that is not a marker leaves no built-in finding behind.
    let values: Vec<Finding> = findings.into_iter().filter(|f| !f.kind.is_marker()).collect();
    let redacted_values = s.redact(text, &values, &mut counters);
    let _ = (redacted, redacted_values);
}

#[test]
fn random_bytes_as_lossy_utf8() {
    let s = scanner();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..1000 {
        let len = rng.below(300);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        check_invariants(&s, &String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn random_unicode_strings() {
    let s = scanner();
    let mut rng = Rng(42);
    for _ in 0..1000 {
        let len = rng.below(200);
        let text: String = (0..len)
            .map(|_| {
                // Mostly the planes that hold real text, sometimes anything.
                let cp = match rng.below(4) {
                    0 => rng.below(0x80) as u32,
                    1 => rng.below(0x3000) as u32,
                    2 => 0xE0000 + rng.below(0x200) as u32,
                    _ => rng.below(0x110000) as u32,
                };
                char::from_u32(cp).unwrap_or('\u{FFFD}')
            })
            .collect();
        check_invariants(&s, &text);
    }
}

/// Random mixes of the pieces the detectors react to: digits, separators, `@`, `:`,
/// prefixes of secrets, invisible and combining characters, fullwidth digits, emoji.
#[test]
fn structured_fragments() {
    const PIECES: &[&str] = &[
        "4111",
        "1111",
        "555",
        "123",
        "45",
        "6789",
        "0",
        "9",
        "255",
        "1",
        "-",
        " ",
        ".",
        "(",
        ")",
        "+",
        "+1 ",
        "+44 ",
        "@",
        "example",
        ".com",
        "a",
        "Z",
        ":",
        "::",
        "fe80",
        "ffff",
        "/",
        "_",
        "AKIA",
        "ASIA",
        "ghp_",
        "github_pat_",
        "xoxb-",
        "hooks.slack.com/services/",
        "AIza",
        "sk-",
        "sk-ant-",
        "sk_live_",
        "eyJ",
        "eyJhbGciOiJIUzI1NiJ9",
        ".",
        "-----BEGIN ",
        "PRIVATE KEY-----",
        "-----END ",
        "\n",
        "DE89",
        "GB82",
        "3704",
        "WEST",
        "SSN ",
        "ssn:",
        "version ",
        "v",
        "\u{200B}",
        "\u{00AD}",
        "\u{202E}",
        "\u{E0041}",
        "\u{FE0F}",
        "\u{0301}",
        "４",
        "１",
        "＠",
        "ﬁ",
        "٤",
        "–",
        "é",
        "東京",
        "🏴",
        "\u{E007F}",
        "👨‍👩‍👧",
        "CONFIDENTIAL",
        "INTERNAL",
        "ONLY",
        "falcon",
        "project",
        "osprey",
        "ignore",
        "all",
        "previous",
        "instructions",
        "you are now",
        "DAN",
        "ABC-123",
        "\"",
        "'",
        "=",
        "ÿ",
        "\u{10FFFF}",
    ];
    let s = scanner();
    let mut rng = Rng(7);
    for _ in 0..2000 {
        let n = rng.below(40);
        let text: String = (0..n).map(|_| *rng.pick(PIECES)).collect();
        check_invariants(&s, &text);
    }
}

#[test]
fn large_inputs() {
    let s = scanner();
    let mut rng = Rng(1);
    // A long run of one trigger byte, and a long random-fragment text.
    for text in [
        ":".repeat(50_000),
        "1".repeat(50_000),
        "@".repeat(50_000),
        "a@".repeat(50_000),
        "1.".repeat(50_000),
        "4111 ".repeat(20_000),
        "\u{200B}".repeat(50_000),
        "-----BEGIN RSA PRIVATE KEY-----\n".repeat(2_000),
        "ignore ".repeat(20_000),
        (0..100_000)
            .map(|_| char::from_u32(rng.below(0x3000) as u32).unwrap_or(' '))
            .collect(),
    ] {
        check_invariants(&s, &text);
    }
}

#[test]
fn debug_output_never_contains_the_value() {
    let s = scanner();
    let text = "jane@example.com 4111111111111111 AKIAIOSFODNN7EXAMPLE";
    for f in s.scan(text) {
        let shown = format!("{f:?}");
        let value = &text[f.start..f.end];
        assert!(!shown.contains(value), "{shown}");
    }
}

/// Secret prefixes are measured in batches while the automaton runs (a body of prefixes holds
/// a few thousand, not millions): across many batches, with decoy prefixes between the keys and
/// a glued run of 20,000 before the last, every real key is found exactly where it is, and no
/// decoy is.
#[test]
fn secrets_found_across_many_batches_of_prefixes() {
    let s = scanner();
    let keys = [
        "sk-proj-Ab3dE5gH7jK9mN1pQ3sT5vX7zB",
        "ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        "AKIAIOSFODNN7EXAMPLE",
    ];
    let mut text = String::new();
    let mut expected = Vec::new();
    // Every seventh prefix a real key: some batch is then set off by a key's own prefix,
    // which must wait for the next batch, not be lost.
    for n in 0..30_000 {
        if n % 7 == 0 {
            let key = keys[(n / 7) % keys.len()];
            text.push_str("key ");
            expected.push((text.len(), text.len() + key.len()));
            text.push_str(key);
            text.push(' ');
        } else {
            text.push_str(["sk- ", "eyJ ", "ghp_ ", "AKIA "][n % 4]);
        }
    }
    // A run of prefixes glued together, then one last key at the very end.
    text.push_str(&"sk-".repeat(20_000));
    text.push(' ');
    expected.push((text.len(), text.len() + keys[0].len()));
    text.push_str(keys[0]);
    let found: Vec<(usize, usize)> = s
        .scan(&text)
        .into_iter()
        .filter(|f| s.kind_name(f.kind) == "secret")
        .map(|f| (f.start, f.end))
        .collect();
    assert_eq!(found, expected);
}
