//! Corpus bars: per-detector recall on true positives and false positives on hard
//! negatives (see `tests/corpus/README.md` for the format). Run with `--nocapture` to
//! see the table.

// Test code may unwrap and index (the lints guard code that runs in Envoy).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use genai_guard::{Finding, GuardConfig, Scanner};
use std::fmt::Write as _;

const DETECTORS: &[&str] = &[
    "email",
    "phone",
    "us_ssn",
    "credit_card",
    "iban",
    "ip_address",
    "secret",
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Positive,
    Negative,
    /// Not this detector; other kinds may be found.
    OtherKind,
    KnownMiss,
    KnownFalsePositive,
}

struct Case {
    line: usize,
    expect: Expect,
    text: String,
    spans: Vec<(usize, usize)>,
}

fn load(name: &str) -> Vec<Case> {
    let path = format!("{}/tests/corpus/{name}", env!("CARGO_MANIFEST_DIR"));
    let raw = std::fs::read_to_string(&path).unwrap();
    let mut cases = Vec::new();
    for (n, line) in raw.lines().enumerate() {
        let (expect, body) = if let Some(b) = line.strip_prefix("+ ") {
            (Expect::Positive, b)
        } else if let Some(b) = line.strip_prefix("- ") {
            (Expect::Negative, b)
        } else if let Some(b) = line.strip_prefix("~ ") {
            (Expect::OtherKind, b)
        } else if let Some(b) = line.strip_prefix("?+ ") {
            (Expect::KnownMiss, b)
        } else if let Some(b) = line.strip_prefix("?- ") {
            (Expect::KnownFalsePositive, b)
        } else {
            assert!(
                line.trim().is_empty() || line.starts_with('#'),
                "{name}:{}: bad line",
                n + 1
            );
            continue;
        };
        let body = body.replace("{{}}", "").replace("\\n", "\n");
        let mut text = String::new();
        let mut spans = Vec::new();
        let mut open = None;
        for c in body.chars() {
            match c {
                '⟦' => open = Some(text.len()),
                '⟧' => spans.push((open.take().unwrap(), text.len())),
                _ => text.push(c),
            }
        }
        assert!(open.is_none(), "{name}:{}: unclosed ⟦", n + 1);
        if matches!(expect, Expect::Positive | Expect::KnownMiss) {
            assert!(!spans.is_empty(), "{name}:{}: positive without ⟦⟧", n + 1);
        }
        cases.push(Case {
            line: n + 1,
            expect,
            text,
            spans,
        });
    }
    cases
}

#[derive(Default)]
struct Stats {
    positives: usize,
    true_positives: usize,
    negative_lines: usize,
    false_positives: usize,
    known_misses: usize,
    known_false_positives: usize,
    failures: Vec<String>,
}

/// Scores `cases` for detector `kind` (`None`: any finding on a negative line counts).
fn score(file: &str, kind: Option<&str>, cases: &[Case], scanner: &Scanner, stats: &mut Stats) {
    for case in cases {
        let findings: Vec<Finding> = scanner.scan(&case.text);
        let show = |f: &Finding| format!("{} {:?}", scanner.kind_name(f.kind), &case.text[f.start..f.end]);
        let expected = |f: &Finding| Some(scanner.kind_name(f.kind)) == kind && case.spans.contains(&(f.start, f.end));
        let unexpected: Vec<String> = findings.iter().filter(|f| !expected(f)).map(show).collect();
        let missed: Vec<&str> = case
            .spans
            .iter()
            .filter(|&&(s, e)| {
                !findings
                    .iter()
                    .any(|f| Some(scanner.kind_name(f.kind)) == kind && (f.start, f.end) == (s, e))
            })
            .map(|&(s, e)| &case.text[s..e])
            .collect();
        let mut problem = String::new();
        if !missed.is_empty() {
            write!(problem, " missed {missed:?}").unwrap();
        }
        if !unexpected.is_empty() {
            write!(problem, " unexpected {unexpected:?}").unwrap();
        }
        match case.expect {
            Expect::Positive | Expect::Negative => {
                if case.expect == Expect::Positive {
                    stats.positives += case.spans.len();
                    stats.true_positives += case.spans.len() - missed.len();
                } else {
                    stats.negative_lines += 1;
                }
                stats.false_positives += unexpected.len();
                if !problem.is_empty() {
                    stats
                        .failures
                        .push(format!("{file}:{}:{problem}  in {:?}", case.line, case.text));
                }
            }
            Expect::OtherKind => {
                stats.negative_lines += 1;
                let own: Vec<&String> = unexpected
                    .iter()
                    .filter(|u| Some(u.split(' ').next().unwrap_or("")) == kind)
                    .collect();
                stats.false_positives += own.len();
                if !own.is_empty() {
                    stats
                        .failures
                        .push(format!("{file}:{}: unexpected {own:?}  in {:?}", case.line, case.text));
                }
            }
            Expect::KnownMiss => stats.known_misses += missed.len(),
            Expect::KnownFalsePositive => stats.known_false_positives += unexpected.len(),
        }
    }
}

fn pct(num: usize, den: usize) -> String {
    if den == 0 {
        "—".into()
    } else {
        format!("{:.1}%", 100.0 * num as f64 / den as f64)
    }
}

#[test]
fn corpus_bars() {
    let scanner = GuardConfig::default().compile().unwrap();
    let mut report =
        String::from("detector      positives  recall   neg.lines  false+  precision  known-miss  known-fp\n");
    let mut failures = Vec::new();
    let mut rows: Vec<(String, Option<&str>)> = DETECTORS.iter().map(|d| (format!("{d}.txt"), Some(*d))).collect();
    rows.push(("common_negatives.txt".into(), None));
    for (file, kind) in rows {
        let mut s = Stats::default();
        score(&file, kind, &load(&file), &scanner, &mut s);
        writeln!(
            report,
            "{:<13} {:>9}  {:>7}  {:>9}  {:>6}  {:>9}  {:>10}  {:>8}",
            kind.unwrap_or("(common)"),
            s.positives,
            pct(s.true_positives, s.positives),
            s.negative_lines,
            s.false_positives,
            pct(s.true_positives, s.true_positives + s.false_positives),
            s.known_misses,
            s.known_false_positives,
        )
        .unwrap();
        failures.extend(s.failures);
    }
    println!("{report}");
    assert!(failures.is_empty(), "corpus failures:\n{}", failures.join("\n"));
}

/// Every positive line of every corpus, joined into one text: the same values are found
/// (findings do not depend on the line being scanned alone).
#[test]
fn corpus_lines_concatenated() {
    let scanner = GuardConfig::default().compile().unwrap();
    let mut text = String::new();
    let mut expected = Vec::new();
    for d in DETECTORS {
        for case in load(&format!("{d}.txt")) {
            if case.expect != Expect::Positive {
                continue;
            }
            let base = text.len();
            for &(s, e) in &case.spans {
                expected.push((d.to_string(), base + s, base + e));
            }
            text.push_str(&case.text);
            text.push_str(" \n");
        }
    }
    let found: Vec<(String, usize, usize)> = scanner
        .scan(&text)
        .into_iter()
        .map(|f| (scanner.kind_name(f.kind).to_string(), f.start, f.end))
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn injection_corpus() {
    let scanner = GuardConfig::default().compile().unwrap();
    let path = format!("{}/tests/corpus/injection.txt", env!("CARGO_MANIFEST_DIR"));
    let raw = std::fs::read_to_string(path).unwrap();
    let mut failures = Vec::new();
    let (mut pos, mut neg, mut hits, mut false_pos) = (0, 0, 0, 0);
    for (n, line) in raw.lines().enumerate() {
        if let Some(body) = line.strip_prefix("+ ") {
            let (rule, text) = body.split_once(" | ").unwrap();
            let text = text.replace("\\n", "\n");
            pos += 1;
            let got = scanner.injection(&text);
            if got.contains(&rule) {
                hits += 1;
            } else {
                failures.push(format!("line {}: {rule} not triggered (got {got:?})", n + 1));
            }
        } else if let Some(text) = line.strip_prefix("- ") {
            neg += 1;
            let got = scanner.injection(text);
            if !got.is_empty() {
                false_pos += 1;
                failures.push(format!("line {}: false positive {got:?}", n + 1));
            }
        }
    }
    println!(
        "injection: {pos} positives, recall {}; {neg} negatives, {false_pos} false positives",
        pct(hits, pos)
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
