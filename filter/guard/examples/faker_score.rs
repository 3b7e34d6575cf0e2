//! Recall per type (and, with `LOC=1`, the misses per locale) of the engine with the default
//! configuration on a Faker-generated corpus (`faker_corpus.py`; `scripts/faker-report`
//! runs both). Each value is put in one of three sentences and scanned as plain text and
//! with its digits fullwidth; a value counts as found when a finding of its type overlaps it.
//! Recall is also given apart for the values after a phone word (`call`, `contact`) and
//! alone (phones only: a phone word lets the phone detector accept looser shapes).

// A report tool, not code that runs in Envoy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeMap;

use genai_guard::GuardConfig;

fn fullwidth(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_digit() {
                char::from_u32(c as u32 - 0x30 + 0xFF10).unwrap()
            } else {
                c
            }
        })
        .collect()
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: faker_score CORPUS.jsonl");
    let data = std::fs::read_to_string(path).unwrap();
    let engine = GuardConfig::default().compile().unwrap();
    let templates = ["Please call {} tomorrow.", "My contact: {}", "{}"];
    // Whether the template has a phone word before the value (`call`, `contact`).
    let context = ["after a phone word", "after a phone word", "alone"];
    // (type and form, locale or "" for all) -> (values, found, misses)
    let mut by: BTreeMap<(String, String), (usize, usize, Vec<String>)> = BTreeMap::new();
    for (n, line) in data.lines().enumerate() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let kind = row["type"].as_str().unwrap();
        let value = row["value"].as_str().unwrap();
        let locale = row["locale"].as_str().unwrap();
        for (form, v) in [("plain", value.to_string()), ("fullwidth digits", fullwidth(value))] {
            let text = templates[n % templates.len()].replace("{}", &v);
            let at = text.find(&v).unwrap();
            let hit = engine
                .scan(&text)
                .iter()
                .any(|f| engine.kind_name(f.kind) == kind && f.start < at + v.len() && at < f.end);
            let mut keys = vec![
                (format!("{kind}, {form}"), String::new()),
                (format!("{kind}, {form}"), locale.to_string()),
            ];
            if kind == "phone" {
                keys.push((
                    format!("{kind}, {form}, {}", context[n % templates.len()]),
                    String::new(),
                ));
            }
            for key in keys {
                let e = by.entry(key).or_default();
                e.0 += 1;
                if hit {
                    e.1 += 1;
                } else {
                    e.2.push(v.clone());
                }
            }
        }
    }
    println!("| type, form | values found (recall) |");
    println!("| --- | --- |");
    for ((k, loc), (n, f, _)) in &by {
        if loc.is_empty() {
            println!("| {k} | {f}/{n} ({:.1}%) |", *f as f64 * 100.0 / *n as f64);
        }
    }
    if std::env::var_os("LOC").is_some() {
        for ((k, loc), (n, f, m)) in &by {
            if !loc.is_empty() && f < n {
                println!("  {k} {loc}: {f}/{n}, missed e.g. {:?}", &m[..m.len().min(4)]);
            }
        }
    }
}
