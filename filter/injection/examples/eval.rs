#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
//! Quick look at the benchmark sets (tuning aid): `cargo run -p genai-injection --example eval -- [misses|fps]`.
use genai_injection::{Detector, InjectionSpec};
use std::collections::BTreeMap;

fn rows(path: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn main() {
    let arg = std::env::args().nth(1).unwrap_or_default();
    let d = Detector::compile(&InjectionSpec::default()).unwrap();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/benchmarks/");
    let mut per: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    for file in ["injection_dev.jsonl", "benign_prompts.jsonl"] {
        for r in rows(&format!("{root}{file}")) {
            let text = r["text"].as_str().unwrap();
            let attack = r["attack"].as_bool().unwrap();
            let cat = r["category"].as_str().unwrap_or("benign_prompt").to_string();
            let cat = if file.starts_with("benign") {
                "benign_prompts".to_string()
            } else {
                cat
            };
            let v = d.scan(text);
            let hits = d.triggered(&v);
            let e = per
                .entry(format!("{}{}", if attack { "A " } else { "B " }, cat))
                .or_default();
            e.0 += 1;
            if !hits.is_empty() {
                e.1 += 1;
            }
            let all = d.hits(&v);
            let desc: Vec<String> = all
                .iter()
                .map(|h| format!("{}={:.2}{:?}", h.family, h.score, d.fired(&v, h.family)))
                .collect();
            if (arg == "misses" && attack && hits.is_empty())
                || (arg == "fps" && !attack && !hits.is_empty())
                || arg == "all"
            {
                let snippet: String = text.chars().take(160).collect();
                println!("{} {} {:?}\n    {}", r["id"], cat, snippet, desc.join(" "));
            }
        }
    }
    let (mut at, mut ad) = (0, 0);
    for (k, (n, hit)) in &per {
        println!("{k:30} {hit:4}/{n:<4} {:5.1}%", 100.0 * *hit as f64 / *n as f64);
        if k.starts_with('A') {
            at += n;
            ad += hit;
        }
    }
    println!("attacks {ad}/{at} {:.1}%", 100.0 * ad as f64 / at as f64);
}
