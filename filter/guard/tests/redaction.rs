//! Redaction: typed placeholders, per-request numbering, same value → same placeholder,
//! offsets in multi-byte text, overlaps.

// Test code may unwrap and index (the lints guard code that runs in Envoy).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use genai_guard::{Builtin, Classification, CustomDetector, Finding, GuardConfig, Kind, Placeholders, Scanner};

fn scanner() -> Scanner {
    GuardConfig::default().compile().unwrap()
}

fn redact_all(s: &Scanner, text: &str, counters: &mut Placeholders) -> String {
    let findings: Vec<Finding> = s.scan(text).into_iter().filter(|f| !f.kind.is_marker()).collect();
    s.redact(text, &findings, counters)
}

#[test]
fn placeholders_and_numbering() {
    let s = scanner();
    let text = "Mail a@example.com or b@example.com, call 555-123-4567, card 4111 1111 1111 1111.";
    assert_eq!(
        redact_all(&s, text, &mut Placeholders::default()),
        "Mail [EMAIL_1] or [EMAIL_2], call [PHONE_1], card [CREDIT_CARD_1]."
    );
}

#[test]
fn same_value_same_placeholder_across_texts_and_formats() {
    let s = scanner();
    let mut counters = Placeholders::default();
    let first = redact_all(
        &s,
        "a@example.com, b@example.com, A@Example.com, card 4111111111111111",
        &mut counters,
    );
    assert_eq!(first, "[EMAIL_1], [EMAIL_2], [EMAIL_1], card [CREDIT_CARD_1]");
    // A second text of the same request (e.g. the next message) shares the numbering.
    let second = redact_all(
        &s,
        "again b@example.com and 4111-1111-1111-1111, new c@example.com, ssn 123-45-6789",
        &mut counters,
    );
    assert_eq!(
        second,
        "again [EMAIL_2] and [CREDIT_CARD_1], new [EMAIL_3], ssn [US_SSN_1]"
    );
    // Counters hold numbers and hashes, never the values themselves.
    let held = format!("{counters:?}");
    assert!(!held.contains("example") && !held.contains("4111"), "{held}");
    // A new request starts again at 1.
    assert_eq!(
        redact_all(&s, "c@example.com", &mut Placeholders::default()),
        "[EMAIL_1]"
    );
}

#[test]
fn multibyte_text_around_findings() {
    let s = scanner();
    let text = "Grüße 🙂 an jürgen@example.de — 東京の電話は+81 3-1234-5678です。IBAN: DE89 3704 0044 0532 0130 00 ✓";
    assert_eq!(
        redact_all(&s, text, &mut Placeholders::default()),
        "Grüße 🙂 an [EMAIL_1] — 東京の電話は[PHONE_1]です。IBAN: [IBAN_1] ✓"
    );
}

#[test]
fn invisible_characters_inside_are_removed_with_the_value() {
    let s = scanner();
    let text = "x jo\u{200B}hn@exa\u{00AD}mple.com \u{200B}y";
    assert_eq!(
        redact_all(&s, text, &mut Placeholders::default()),
        "x [EMAIL_1] \u{200B}y"
    );
}

#[test]
fn overlaps_keep_the_longest_then_most_sensitive() {
    let config = GuardConfig {
        custom_detectors: vec![CustomDetector {
            name: "codename".into(),
            keywords: vec!["falcon".into()],
            patterns: vec![],
            case_sensitive: false,
        }],
        ..GuardConfig::default()
    };
    let s = config.compile().unwrap();
    let text = "falcon@example.com and Falcon";
    let findings = s.scan(text);
    let kinds: Vec<&str> = findings.iter().map(|f| s.kind_name(f.kind)).collect();
    // Both signals are reported …
    assert_eq!(kinds, ["email", "codename", "codename"]);
    // … and redaction keeps the longer one where they overlap.
    assert_eq!(
        s.redact(text, &findings, &mut Placeholders::default()),
        "[EMAIL_1] and [CODENAME_1]"
    );

    let equal = [
        Finding {
            kind: Kind::Builtin(Builtin::Phone),
            start: 0,
            end: 5,
        },
        Finding {
            kind: Kind::Builtin(Builtin::Secret),
            start: 0,
            end: 5,
        },
        Finding {
            kind: Kind::Builtin(Builtin::Email),
            start: 3,
            end: 7,
        },
    ];
    assert_eq!(
        s.redact("abcdefgh", &equal, &mut Placeholders::default()),
        "[SECRET_1]fgh"
    );
}

#[test]
fn invalid_findings_are_ignored() {
    let text = "héllo";
    let bad = [
        Finding {
            kind: Kind::Builtin(Builtin::Email),
            start: 2,
            end: 3,
        }, // inside 'é'
        Finding {
            kind: Kind::Builtin(Builtin::Email),
            start: 4,
            end: 99,
        },
        Finding {
            kind: Kind::Builtin(Builtin::Email),
            start: 3,
            end: 3,
        },
        Finding {
            kind: Kind::Builtin(Builtin::Email),
            start: 5,
            end: 1,
        },
    ];
    assert_eq!(scanner().redact(text, &bad, &mut Placeholders::default()), "héllo");
}

#[test]
fn marker_and_custom_placeholders() {
    let f = [Finding {
        kind: Kind::Marker(Classification::Confidential),
        start: 0,
        end: 12,
    }];
    assert_eq!(
        scanner().redact("CONFIDENTIAL x", &f, &mut Placeholders::default()),
        "[MARKER_CONFIDENTIAL_1] x"
    );
}

/// Redacting every finding of every corpus positive leaves nothing to find.
#[test]
fn redacted_corpus_rescans_clean() {
    let s = scanner();
    let dir = format!("{}/tests/corpus", env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "txt") || path.ends_with("injection.txt") {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let Some(body) = line.strip_prefix("+ ") else {
                continue;
            };
            let text: String = body
                .replace("{{}}", "")
                .replace("\\n", "\n")
                .chars()
                .filter(|&c| c != '⟦' && c != '⟧')
                .collect();
            let redacted = redact_all(&s, &text, &mut Placeholders::default());
            assert!(s.scan(&redacted).is_empty(), "{text:?} → {redacted:?}");
        }
    }
}
