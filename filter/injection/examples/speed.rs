//! Where the time goes (tuning aid): `cargo run --release -p genai-injection --example speed`.
use genai_injection::{Detector, InjectionSpec};
use std::time::Instant;

fn main() {
    let para = "The quarterly report shows revenue growth of twelve percent, driven by strong demand in the enterprise segment and improved retention. Operating costs rose modestly as the company invested in infrastructure and hiring. Management expects margins to expand next year as those investments mature, although currency headwinds and supply constraints remain risks to the outlook. ";
    let text: String = para.chars().cycle().take(400 * 1024).collect();
    let d = Detector::compile(&InjectionSpec::default()).unwrap();
    let texts: Vec<&str> = d.needles().iter().map(|n| n.text.as_str()).collect();
    println!("{} needles", texts.len());
    let ac = aho_corasick::AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .kind(Some(aho_corasick::AhoCorasickKind::DFA))
        .build(&texts)
        .unwrap();
    for _ in 0..2 {
        let t = Instant::now();
        let n = ac.find_overlapping_iter(&text).count();
        let a = t.elapsed();
        let t = Instant::now();
        let v = d.scan(&text);
        let b = t.elapsed();
        let t = Instant::now();
        let x = genai_injection::__shapes_for_bench(&text);
        println!("shapes: {:?} {x}", t.elapsed());
        println!(
            "automaton only: {n} matches in {:?} ({:.2} µs/KB); scan: {:?} ({:.2} µs/KB) {:?}",
            a,
            a.as_secs_f64() * 1e6 / 400.0,
            b,
            b.as_secs_f64() * 1e6 / 400.0,
            d.hits(&v).len()
        );
    }
}
#[allow(dead_code)]
fn unused() {}
