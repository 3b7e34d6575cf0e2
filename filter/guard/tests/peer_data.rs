//! Others' test data (issue 9 item 6): Microsoft Presidio's recognizer test cases and the
//! awesome-chatgpt-prompts collection, read from `../shared/benchmarks/` at test time (never
//! copied into the repository), through the engine with the default configuration.
//!
//! Prints recall and false positives per type (`cargo test -p genai-guard --test peer_data
//! -- --nocapture`; docs/guardrails.md has the table) and fails if a figure falls below the
//! floor measured when the engine landed, so that a regression shows. Presidio's
//! region-only phone files (Turkey, the Philippines) are reported apart.

// Test code may unwrap and index (the lints guard code that runs in Envoy).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use genai_guard::{Engine, GuardConfig};

fn shared(name: &str) -> Option<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/benchmarks");
    std::fs::read_to_string(dir.join(name)).ok()
}

#[derive(Default, Debug)]
struct Score {
    values: usize,
    found: usize,
    negatives: usize,
    false_positives: usize,
    misses: Vec<String>,
    fps: Vec<String>,
}

fn score_presidio(engine: &Engine, data: &str) -> BTreeMap<String, Score> {
    let mut by: BTreeMap<String, Score> = BTreeMap::new();
    for line in data.lines().filter(|l| !l.trim().is_empty()) {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let kind = row["type"].as_str().unwrap();
        let scope = row["scope"].as_str().unwrap_or("core");
        let text = row["text"].as_str().unwrap();
        let key = if scope == "core" {
            kind.to_string()
        } else {
            format!("{kind} ({scope})")
        };
        let s = by.entry(key).or_default();
        let found: Vec<(usize, usize)> = engine
            .scan(text)
            .into_iter()
            .filter(|f| engine.kind_name(f.kind) == kind)
            .map(|f| (f.start, f.end))
            .collect();
        if row["expect"].as_bool().unwrap() {
            let values: Vec<String> = row["expected_values"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            if values.is_empty() {
                s.values += 1;
                if found.is_empty() {
                    s.misses.push(text.to_string());
                } else {
                    s.found += 1;
                }
            }
            let mut from = 0;
            for v in values {
                s.values += 1;
                let at = text[from..].find(&v).map(|p| p + from);
                let hit = at.is_some_and(|p| found.iter().any(|&(fs, fe)| fs < p + v.len() && p < fe));
                if let Some(p) = at {
                    from = p + v.len();
                }
                if hit {
                    s.found += 1;
                } else {
                    s.misses.push(v);
                }
            }
        } else {
            s.negatives += 1;
            if !found.is_empty() {
                s.false_positives += 1;
                s.fps.push(text.to_string());
            }
        }
    }
    by
}

#[test]
fn presidio_cases_and_benign_prompts() {
    let (Some(presidio), Some(benign)) = (shared("presidio_pii.jsonl"), shared("benign_prompts.jsonl")) else {
        panic!("../shared/benchmarks/ is missing: the peer data is read from there at test time");
    };
    let engine = GuardConfig::default().compile().unwrap();
    let by = score_presidio(&engine, &presidio);
    let (mut values, mut found) = (0, 0);
    println!("| type | values found (recall) | negatives flagged (false positives) |");
    println!("| --- | --- | --- |");
    for (kind, s) in &by {
        let recall = s.found as f64 / s.values.max(1) as f64;
        println!(
            "| {kind} | {}/{} ({:.1}%) | {}/{} |",
            s.found,
            s.values,
            recall * 100.0,
            s.false_positives,
            s.negatives
        );
        if !kind.contains('(') {
            values += s.values;
            found += s.found;
        }
    }
    let core = found as f64 / values.max(1) as f64;
    println!("core recall: {found}/{values} ({:.1}%)", core * 100.0);
    for (kind, s) in &by {
        for m in s.misses.iter().take(12) {
            println!("  miss {kind}: {m}");
        }
        for f in s.fps.iter().take(6) {
            println!("  false positive {kind}: {f}");
        }
    }

    // Benign prompts: nothing should be detected, and no injection rule should match.
    let (mut prompts, mut flagged, mut injected) = (0, Vec::new(), Vec::new());
    for line in benign.lines().filter(|l| !l.trim().is_empty()) {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let text = row["text"].as_str().unwrap();
        prompts += 1;
        let f = engine.scan(text);
        if !f.is_empty() {
            flagged.push(format!(
                "{}: {}",
                row["id"],
                f.iter()
                    .map(|f| format!("{} {:?}", engine.kind_name(f.kind), &text[f.start..f.end]))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !engine.injection(text).is_empty() {
            injected.push(row["id"].to_string());
        }
    }
    println!(
        "benign prompts: {prompts}, with a detection: {}, with an injection rule: {}",
        flagged.len(),
        injected.len()
    );
    for f in &flagged {
        println!("  {f}");
    }

    // Floors: the figures measured last (a regression fails; see docs/guardrails.md). us_ssn
    // stays at 4/7: Presidio's three misses are its "very weak" forms (`078-051121`,
    // `07805-1121`, `078051121`), which we report only after an SSN keyword.
    let floor = |kind: &str| -> f64 {
        match kind {
            "credit_card" | "email" => 1.0,
            "iban" => 0.99,
            "ip_address" => 0.98,
            "phone" => 0.97,
            "us_ssn" => 0.57,
            // Presidio's region-only phone files (reported apart): Turkey rose from 6/26 to
            // 10/26 with spaced national numbers.
            "phone (region:TR)" => 0.38,
            "phone (region:PH)" => 0.28,
            _ => 0.0,
        }
    };
    for (kind, s) in &by {
        let recall = s.found as f64 / s.values.max(1) as f64;
        assert!(
            recall >= floor(kind),
            "{kind}: recall {recall:.3} below {}",
            floor(kind)
        );
        if !kind.contains('(') {
            assert!(
                s.false_positives * 100 <= s.negatives.max(1) * 5,
                "{kind}: {} false positives of {}",
                s.false_positives,
                s.negatives
            );
        }
    }
    assert!(core >= 0.98, "core recall {core:.3}");
    assert!(flagged.is_empty(), "benign prompts with a detection: {flagged:?}");
    assert!(
        injected.is_empty(),
        "benign prompts matching an injection rule: {injected:?}"
    );
}
