#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
//! Instruction counts (tuning aid): `perf stat -e instructions:u target/release/examples/instr MODE`.
use genai_injection::{Detector, InjectionSpec};
fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let para = "The quarter closed with revenue up twelve percent year on year, driven by subscriptions in the enterprise segment and a steady recovery in hardware sales. Operating margin improved as the data centre migration finished ahead of plan; the board asks for a summary of risks, the outlook for the next two quarters and the three decisions to take. ";
    let text: String = para.chars().cycle().take(1 << 20).collect();
    let d = Detector::compile(&InjectionSpec::default()).unwrap();
    let texts: Vec<&str> = d.needles().iter().map(|n| n.text.as_str()).collect();
    let ac = aho_corasick::AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .kind(Some(aho_corasick::AhoCorasickKind::DFA))
        .build(&texts)
        .unwrap();
    let n = match mode.as_str() {
        "none" => 0,
        "automaton" => ac.find_overlapping_iter(&text).count(),
        "shapes" => genai_injection::__shapes_for_bench(&text),
        _ => d.hits(&d.scan(&text)).len(),
    };
    println!("{n}");
}
