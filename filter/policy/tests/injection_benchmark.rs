//! Prompt-injection detection measured on others' data (issue 15, item 4): every row of
//! `../shared/benchmarks/injection_dev.jsonl` (scanner-derived attacks and benign
//! lookalikes) and `benign_prompts.jsonl` (ordinary persona prompts) goes through the
//! guardrails' verdict (`judge`, the filter's own code, default configuration) as the
//! request body it holds. Reports detection per category and per family, false positives
//! on both benign sets, and a 5-fold cross-validation of the one tunable thing (the
//! threshold scale), then holds the bars. The report is written to
//! `target/injection-benchmark.md`; `scripts/injection-report` puts it into
//! docs/guardrails.md.
//!
//! The data is read at test time from `../shared` beside the checkout and never copied
//! into the repository.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::BTreeMap;
use std::fmt::Write as _;

use genai_injection::Family;
use genai_policy::classification::Classification;
use genai_policy::guardrails::verdict::{judge, Target};
use genai_policy::guardrails::Guardrails;

struct Row {
    id: String,
    attack: bool,
    category: String,
    set: &'static str,
    /// Per family: score / threshold (0 when the family did not score).
    ratio: [f32; Family::COUNT],
}

fn shared() -> std::path::PathBuf {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/benchmarks");
    assert!(
        p.join("injection_dev.jsonl").exists(),
        "the benchmark data is read from ../shared/benchmarks beside the checkout ({}); it is missing",
        p.display()
    );
    p
}

fn load(g: &Guardrails) -> Vec<Row> {
    let approved = [
        Classification::Public,
        Classification::Internal,
        Classification::Confidential,
        Classification::Restricted,
    ]
    .into_iter()
    .collect();
    let target = Target {
        model: "bench",
        tier: "self_hosted",
        approved,
    };
    let mut rows = Vec::new();
    for (file, set) in [
        ("injection_dev.jsonl", "injection_dev"),
        ("benign_prompts.jsonl", "benign_prompts"),
    ] {
        let text = std::fs::read_to_string(shared().join(file)).unwrap();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let r: serde_json::Value = serde_json::from_str(line).unwrap();
            let body = r["request"].as_str().unwrap().as_bytes();
            let v = judge(g, body, (0, 0), None, &target).unwrap();
            let mut ratio = [0.0; Family::COUNT];
            for h in &v.families {
                ratio[h.family.index()] = h.score / h.threshold;
            }
            rows.push(Row {
                id: r["id"].as_str().unwrap().to_string(),
                attack: r["attack"].as_bool().unwrap(),
                category: if set == "benign_prompts" {
                    "benign_prompts".to_string()
                } else {
                    r["category"].as_str().unwrap().to_string()
                },
                set,
                ratio,
            });
        }
    }
    rows
}

fn detected(r: &Row, scale: f32) -> bool {
    r.ratio.iter().any(|&x| x > 0.0 && x >= scale)
}

fn pct(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        100.0 * a as f64 / b as f64
    }
}

/// The category an attack of each family stands for in the list.
const FAMILY_OF_CATEGORY: &[(&str, &str)] = &[
    ("instruction_override", "instruction_override"),
    ("latent_injection", "embedded_instructions"),
    ("prompt_leak", "prompt_extraction"),
    ("dan_jailbreak", "jailbreak"),
    ("jailbreak_inthewild", "jailbreak"),
    ("roleplay_jailbreak", "jailbreak"),
    ("encoded_injection", "encoded_payload"),
    ("hidden_text", "hidden_text"),
    ("exfiltration", "exfiltration"),
    ("smuggling", "encoded_payload"),
    ("obfuscated_jailbreak", "jailbreak"),
    ("adversarial_suffix", "jailbreak"),
];

/// A deterministic 5-fold split, stratified by category (rows of a category dealt in turn).
fn folds(rows: &[Row]) -> Vec<usize> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    rows.iter()
        .map(|r| {
            let n = seen.entry(r.category.as_str()).or_insert(0);
            *n += 1;
            // A fixed, category-salted offset so categories do not all start in fold 0.
            (*n + r.category.len()) % 5
        })
        .collect()
}

const SCALES: [f32; 7] = [0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5];

#[test]
fn injection_benchmark() {
    let g = Guardrails::compile(None).unwrap();
    let rows = load(&g);
    let attacks: Vec<&Row> = rows.iter().filter(|r| r.attack).collect();
    let benign: Vec<&Row> = rows.iter().filter(|r| !r.attack).collect();
    assert_eq!(attacks.len(), 206, "injection_dev.jsonl should hold 206 attacks");

    let mut md = String::new();
    let hit = attacks.iter().filter(|r| detected(r, 1.0)).count();
    let _ = writeln!(
        md,
        "Default configuration, through the guardrails' verdict (`judge`), each row's request body as sent.\n"
    );
    let _ = writeln!(md, "| attack category (injection_dev) | attacks | detected | rate | family it belongs to | detected by that family |");
    let _ = writeln!(md, "| --- | --- | --- | --- | --- | --- |");
    let mut cats: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for r in &attacks {
        let e = cats.entry(r.category.as_str()).or_default();
        e.0 += 1;
        e.1 += usize::from(detected(r, 1.0));
        let fam = FAMILY_OF_CATEGORY
            .iter()
            .find(|(c, _)| *c == r.category)
            .and_then(|(_, f)| Family::from_name(f));
        if let Some(f) = fam {
            e.2 += usize::from(r.ratio[f.index()] >= 1.0);
        }
    }
    let mut worst = 100.0f64;
    for (c, (n, d, own)) in &cats {
        let fam = FAMILY_OF_CATEGORY.iter().find(|(k, _)| k == c).map_or("?", |(_, f)| *f);
        worst = worst.min(pct(*d, *n));
        let _ = writeln!(md, "| {c} | {n} | {d} | {:.0}% | {fam} | {own} |", pct(*d, *n));
    }
    let _ = writeln!(
        md,
        "| **all attacks** | {} | {hit} | **{:.1}%** | | |\n",
        attacks.len(),
        pct(hit, attacks.len())
    );

    let _ = writeln!(md, "| benign set | prompts | false positives | rate |");
    let _ = writeln!(md, "| --- | --- | --- | --- |");
    let mut fps: Vec<String> = Vec::new();
    let mut fp_total = 0;
    for (set, label) in [
        (
            "injection_dev",
            "injection_dev lookalikes (translation requests, documents, questions, task prompts)",
        ),
        ("benign_prompts", "benign_prompts (awesome-chatgpt-prompts personas)"),
    ] {
        let rs: Vec<&&Row> = benign.iter().filter(|r| r.set == set).collect();
        let f: Vec<&&Row> = rs.iter().filter(|r| detected(r, 1.0)).copied().collect();
        fp_total += f.len();
        fps.extend(f.iter().map(|r| r.id.clone()));
        let _ = writeln!(
            md,
            "| {label} | {} | {} | {:.1}% |",
            rs.len(),
            f.len(),
            pct(f.len(), rs.len())
        );
    }
    let _ = writeln!(
        md,
        "| **both** | {} | {fp_total} | **{:.2}%** |\n",
        benign.len(),
        pct(fp_total, benign.len())
    );

    // Which families fire, on attacks and on benign prompts.
    let _ = writeln!(
        md,
        "| family | attacks it triggers on | benign prompts it triggers on |"
    );
    let _ = writeln!(md, "| --- | --- | --- |");
    for f in Family::ALL {
        let a = attacks.iter().filter(|r| r.ratio[f.index()] >= 1.0).count();
        let b = benign.iter().filter(|r| r.ratio[f.index()] >= 1.0).count();
        let _ = writeln!(md, "| {} | {a} | {b} |", f.name());
    }
    let strong = attacks.iter().filter(|r| r.ratio.iter().any(|&x| x >= 1.25)).count();
    let _ = writeln!(
        md,
        "\nMargin: {strong} of the {hit} detected attacks ({:.0}%) score at least 1.25× their family's threshold.\n",
        pct(strong, hit)
    );

    // Cross-validation: on 4 folds pick the threshold scale that detects most with at most
    // 0.5% false positives; measure it on the fifth.
    let fold = folds(&rows);
    let _ = writeln!(md, "5-fold cross-validation (stratified by category): the threshold scale is chosen on four folds (most attacks detected with at most 0.5% false positives on their benign rows) and measured on the fifth.\n");
    let _ = writeln!(
        md,
        "| fold | scale chosen | attacks detected (held-out fold) | false positives (held-out fold) |"
    );
    let _ = writeln!(md, "| --- | --- | --- | --- |");
    let (mut cv_hit, mut cv_n, mut cv_fp, mut cv_b) = (0, 0, 0, 0);
    for k in 0..5 {
        let train: Vec<&Row> = rows
            .iter()
            .zip(&fold)
            .filter(|(_, f)| **f != k)
            .map(|(r, _)| r)
            .collect();
        let test: Vec<&Row> = rows
            .iter()
            .zip(&fold)
            .filter(|(_, f)| **f == k)
            .map(|(r, _)| r)
            .collect();
        let score = |s: f32, set: &[&Row]| {
            let a = set.iter().filter(|r| r.attack && detected(r, s)).count();
            let b = set.iter().filter(|r| !r.attack && detected(r, s)).count();
            let nb = set.iter().filter(|r| !r.attack).count();
            (a, b, nb)
        };
        let mut best = (1.0f32, 0usize);
        for s in SCALES {
            let (a, b, nb) = score(s, &train);
            if (b as f64) <= 0.005 * nb as f64 && a > best.1 {
                best = (s, a);
            }
        }
        let (a, b, nb) = score(best.0, &test);
        let na = test.iter().filter(|r| r.attack).count();
        cv_hit += a;
        cv_n += na;
        cv_fp += b;
        cv_b += nb;
        let _ = writeln!(
            md,
            "| {} | {:.2} | {a}/{na} ({:.0}%) | {b}/{nb} |",
            k + 1,
            best.0,
            pct(a, na)
        );
    }
    let _ = writeln!(
        md,
        "| **all** | | **{cv_hit}/{cv_n} ({:.1}%)** | **{cv_fp}/{cv_b} ({:.2}%)** |",
        pct(cv_hit, cv_n),
        pct(cv_fp, cv_b)
    );
    if !fps.is_empty() {
        let _ = writeln!(md, "\nFalse positives: {}.", fps.join(", "));
    }
    let misses: Vec<&str> = attacks
        .iter()
        .filter(|r| !detected(r, 1.0))
        .map(|r| r.id.as_str())
        .collect();
    let _ = writeln!(md, "\nMissed attacks ({}): {}.", misses.len(), misses.join(", "));

    println!("{md}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/injection-benchmark.md");
    std::fs::write(&out, &md).unwrap();

    // The bars, held on the development half with room for the held-back half.
    assert!(pct(hit, attacks.len()) >= 85.0, "detection fell below 85%:\n{md}");
    assert!(worst >= 60.0, "a category fell below 60%:\n{md}");
    assert!(fp_total <= 1, "more than one false positive on the benign sets:\n{md}");
    assert!(
        pct(cv_hit, cv_n) >= 80.0 && pct(cv_fp, cv_b) <= 0.5,
        "cross-validated figures below the bars:\n{md}"
    );
}
