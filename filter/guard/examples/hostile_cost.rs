//! What the prompt-injection detector adds to the engine's pass on hostile 4 MiB texts
//! (a tuning aid, not a test): `cargo run --release -p genai-guard --example hostile_cost`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
use std::sync::Arc;
use std::time::Instant;

use genai_guard::{Document, GuardConfig, TextKind};
use genai_injection::{Detector, InjectionSpec};

fn main() {
    let d = Arc::new(Detector::compile(&InjectionSpec::default()).unwrap());
    let d2 = Arc::clone(&d);
    let with = GuardConfig::default().compile_with_injection(Some(d)).unwrap();
    let without = GuardConfig::default().compile().unwrap();
    let units = [
        "xoxb-",
        "4111 ",
        "1.",
        "-",
        ":",
        "a",
        "４",
        "\u{200B}",
        "ignore all previous ",
        "you ",
        "a@",
        "=",
        "#",
        "*",
        "ignore ",
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ",
    ];
    // `hostile_cost UNIT [MIB]`: that unit only, inspected once without the injection
    // detector (for callgrind: `valgrind --tool=callgrind --toggle-collect='*inspect*'`).
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(unit) = args.first() {
        let mib: usize = args.get(1).map_or(1, |m| m.parse().unwrap());
        let text = unit.repeat((mib << 20) / unit.len());
        let doc = Document::plain(&text);
        let t = Instant::now();
        let found = without.inspect(&doc);
        println!(
            "{unit:?} x {mib} MiB: {:.2} ms, {found:?}",
            t.elapsed().as_secs_f64() * 1e3
        );
        return;
    }
    for u in units {
        let text = u.repeat((4 << 20) / u.len());
        let mut best = [f64::MAX; 2];
        for _ in 0..3 {
            for (k, e) in [&without, &with].iter().enumerate() {
                let t = Instant::now();
                let doc = Document::plain(&text);
                let _ = e.inspect(&doc);
                best[k] = best[k].min(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        let t = Instant::now();
        let _ = d2.verdict_without_hits(&text, genai_injection::Tricks::default());
        let shapes = t.elapsed().as_secs_f64() * 1e3;
        println!(
            "{u:>24?}: without {:7.2} ms, with {:7.2} ms (shapes alone {shapes:7.2} ms)",
            best[0], best[1]
        );
    }
    let body = "a|".repeat(2 << 20);
    let mut best = [f64::MAX; 2];
    for _ in 0..3 {
        for (k, e) in [&without, &with].iter().enumerate() {
            let t = Instant::now();
            let mut doc = Document::new(body.as_bytes());
            for i in 0..(2 << 20) {
                doc.begin(TextKind::Value);
                doc.verbatim(2 * i, 2 * i + 1);
            }
            doc.end_text();
            let _ = e.inspect(&doc);
            best[k] = best[k].min(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    println!(
        "{:>24}: without {:7.2} ms, with {:7.2} ms",
        "2M 1-char texts", best[0], best[1]
    );
}
