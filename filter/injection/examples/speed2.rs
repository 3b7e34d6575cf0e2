use std::time::Instant;
fn main() {
    for unit in [
        "aaaa ",
        "Operating costs rose modestly as the company invested. ",
        "abcdefghij ",
        "x",
    ] {
        let text: String = unit.chars().cycle().take(400 * 1024).collect();
        let t = Instant::now();
        for _ in 0..5 {
            let _ = genai_injection::__shapes_for_bench(&text);
        }
        println!("{unit:?}: {:?} per 400 KB", t.elapsed() / 5);
    }
}
