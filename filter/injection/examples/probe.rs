#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
//! False-positive probe over local text files (tuning aid): `cargo run -p genai-injection --example probe -- FILE...`
//! Each paragraph (blank-line separated, at most 4 KiB) is scanned; triggers are printed.
use genai_injection::{Detector, InjectionSpec};

fn main() {
    let d = Detector::compile(&InjectionSpec::default()).unwrap();
    let (mut n, mut hits) = (0usize, 0usize);
    let mut per = std::collections::BTreeMap::<String, usize>::new();
    for path in std::env::args().skip(1) {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for para in text.split("\n\n") {
            if para.len() < 40 || para.len() > 4096 {
                continue;
            }
            n += 1;
            let v = d.scan(para);
            let t = d.triggered(&v);
            if !t.is_empty() {
                hits += 1;
                for h in &t {
                    *per.entry(h.family.to_string()).or_default() += 1;
                    let snippet: String = para.chars().take(200).collect();
                    println!(
                        "{} {:.2} {:?} {path}\n    {:?}",
                        h.family,
                        h.score,
                        d.fired(&v, h.family),
                        snippet
                    );
                }
            }
        }
    }
    println!("{hits}/{n} paragraphs triggered; {per:?}");
}
