//! Scan throughput on realistic prompt text: English prose with a few PII items (one per
//! ~4 KB), at 4 KB and 400 KB; plus injection heuristics, redaction, custom detectors
//! and non-ASCII text. `cargo bench -p genai-guard --bench scan`.

// A benchmark is test code: it may unwrap and index (the lints guard code run in Envoy).
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use genai_guard::{Document, GuardConfig, Placeholders, Scanner};

const PROSE: &[&str] = &[
    "The quarterly review covered revenue, churn and the hiring plan for the next two quarters. ",
    "Please summarise the attached meeting notes and list the action items with their owners. ",
    "We migrated the billing service to the new cluster on 2024-01-15 without downtime; latency dropped by 12.5%. ",
    "Customers reported that the export button fails when the report has more than 10,000 rows. ",
    "Can you rewrite this paragraph so that it sounds friendlier but keeps every technical detail? ",
    "The function below returns the n-th Fibonacci number; explain why it is O(n) and not O(2^n). ",
    "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
    "Order #123456789 shipped from the Rotterdam warehouse and should arrive within 3-5 business days. ",
    "Version 2.4.1 fixes the memory leak in the cache layer; see section 4.2 of the design document. ",
    "Our team decided to postpone the launch until the security review is complete and signed off. ",
    "SELECT id, name FROM accounts WHERE created_at >= '2024-01-01' ORDER BY id LIMIT 50;\n",
    "The new onboarding flow reduced support tickets by a third compared with last year's numbers. ",
];

const PII: &[&str] = &[
    "Contact jane.doe@example.com for access. ",
    "Call me at (555) 123-4567 after lunch. ",
    "My card is 4111 1111 1111 1111, expiry 12/26. ",
    "SSN 123-45-6789 was on the form. ",
    "The server at 10.20.30.40 is down. ",
    "Send it to DE89 3704 0044 0532 0130 00 please. ",
    "The key AKIAIOSFODNN7EXAMPLE leaked in the logs. ",
];

fn prompt(size: usize) -> String {
    let mut out = String::with_capacity(size + 256);
    let (mut p, mut q) = (0, 0);
    while out.len() < size {
        out.push_str(PROSE[p % PROSE.len()]);
        p += 1;
        if out.len() / 4096 > q {
            out.push_str(PII[q % PII.len()]);
            q += 1;
        }
    }
    out
}

fn custom() -> Scanner {
    let json = r#"{"custom_detectors": [
        {"name": "project_codename", "keywords": ["Falcon", "Project Osprey", "Nightjar"]},
        {"name": "employee_id", "patterns": ["\\bEMP-[0-9]{6}\\b"]}
    ]}"#;
    serde_json::from_str::<GuardConfig>(json).unwrap().compile().unwrap()
}

fn bench(c: &mut Criterion) {
    let default = GuardConfig::default().compile().unwrap();
    let custom = custom();
    let small = prompt(4 << 10);
    let large = prompt(400 << 10);
    let cjk = "会議の議事録を要約してください。担当者と期限を一覧にしてください。".repeat(4500);
    let mixed = large.replacen("Please", "Please\u{200B}", 1);

    let mut g = c.benchmark_group("scan");
    for (name, text) in [("4KB", &small), ("400KB", &large)] {
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function(format!("default/{name}"), |b| b.iter(|| default.scan(black_box(text))));
        g.bench_function(format!("inspect/{name}"), |b| {
            b.iter(|| default.inspect(&Document::plain(black_box(text))))
        });
    }
    g.throughput(Throughput::Bytes(large.len() as u64));
    g.bench_function("custom_keywords_and_regex/400KB", |b| {
        b.iter(|| custom.scan(black_box(&large)))
    });
    g.bench_function("one_zero_width_char/400KB", |b| {
        b.iter(|| default.scan(black_box(&mixed)))
    });
    g.throughput(Throughput::Bytes(cjk.len() as u64));
    g.bench_function(format!("japanese/{}KB", cjk.len() >> 10), |b| {
        b.iter(|| default.inspect(&Document::plain(black_box(&cjk))))
    });
    g.finish();

    let findings = default.scan(&large);
    let mut g = c.benchmark_group("redact");
    g.throughput(Throughput::Bytes(large.len() as u64));
    g.bench_function("400KB", |b| {
        b.iter(|| default.redact(black_box(&large), &findings, &mut Placeholders::default()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
