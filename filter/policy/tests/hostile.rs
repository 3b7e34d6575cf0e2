//! Hostile input costs linear time (issue 9): each 4 MiB hostile body goes through the
//! whole request path (headers, parse, model-visible text, the inspection's single pass,
//! the verdict) within a CPU budget natively, and at two sizes the time grows like the
//! size (a ratio near 4 for 4x the bytes; a quadratic scanner shows 16).
//!
//! Three budgets, each a complexity guard about twice the slowest kind under it (`scripts/bench`
//! reports the real figures; each timing is the thread's CPU time, the best of three runs):
//! - the inputs issue 9 names (runs of `xoxb-`, `AIza-`, `sk-`, `eyJ`, digits, `@`, `.`,
//!   `-`, nested arrays, a million one-character strings, 4 MiB of one character): the
//!   issue's 100 ms. Measured 3 December 2026 at idle, in this test's build, two runs:
//!   12-54 ms (`sk-` 49-54, `eyJ` 41-42, the rest 12-39; digits 15-20).
//! - the other kinds (digit groups, `1.`, fullwidth digits, escapes, zero-width spaces,
//!   phrase anchors, …): 200 ms. Measured: 11-91 ms (digit groups 85-91: four detectors
//!   try every group start; `1.` 67-71; fullwidth digits 63-66, normalised first).
//! - the kinds whose every value is redacted (250,000-330,000 values in 4 MiB, each with
//!   a placeholder and a splice): 400 ms. Measured: e-mails 89-95 ms, phones 121-130 ms (366
//!   and 231 ms before overlap resolution took its one-pass path for values in order,
//!   placeholders were hashed without copies and the logged prompt stopped at its cut).
//!
//! On the shared machine under load (average 8, 2 December) one kind varied by a third and
//! the slowest took up to 1.6x as long.
//!
//! `GENAI_HOSTILE_ONLY=NAME` runs one kind (for a profiler).

// Test code may unwrap and index (the lints guard code that runs in Envoy).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::Arc;
use std::time::Duration;

use genai_policy::flow::{BodyOutcome, HeadersOutcome};
use genai_policy::{compile, Compiled, RequestFlow};

const DEMO_CONFIG: &str = include_str!("../../../envoy/demo/filter-config.json");
const MIB: usize = 1 << 20;
/// The issue's budget for a 4 MiB hostile body of the kinds it names, natively.
const BUDGET: Duration = Duration::from_millis(100);
/// The budget of the other kinds: one this slow has lost its linear constant.
const CEILING: Duration = Duration::from_millis(200);
/// The budget of the kinds whose every value is redacted. Before `Document` noted each
/// string's escapes once and mapped an escaped string's values in one walk, each value's
/// share scanned its whole string: 4 MiB of e-mail addresses took more than ten minutes.
const REDACTION_CEILING: Duration = Duration::from_millis(400);

/// Which budget a kind is held to.
#[derive(Clone, Copy, PartialEq)]
enum Class {
    /// Named by issue 9: [`BUDGET`].
    Named,
    /// [`CEILING`].
    Other,
    /// Every value redacted: [`REDACTION_CEILING`].
    Redacted,
}

impl Class {
    fn budget(self) -> Duration {
        match self {
            Class::Named => BUDGET,
            Class::Other => CEILING,
            Class::Redacted => REDACTION_CEILING,
        }
    }
}

fn config() -> Arc<Compiled> {
    let mut c = compile(DEMO_CONFIG.as_bytes()).unwrap();
    c.resolve_credentials(|name| Some(format!("test-{name}"))).unwrap();
    Arc::new(c)
}

/// CPU time of this thread.
fn cpu_now() -> Duration {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        fn clock_gettime(id: i32, ts: *mut Timespec) -> i32;
    }
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through the pointer. 3: CLOCK_THREAD_CPUTIME_ID.
    let rc = unsafe { clock_gettime(3, &mut ts) };
    assert_eq!(rc, 0);
    Duration::new(ts.sec as u64, ts.nsec as u32)
}

/// A chat request of exactly `size` bytes (at most) whose user text is `unit` repeated.
fn chat(unit: &str, size: usize) -> Vec<u8> {
    let head = r#"{"model":"default-chat","messages":[{"role":"user","content":""#;
    let tail = r#""}]}"#;
    let room = size - head.len() - tail.len();
    let n = room / unit.len();
    format!("{head}{}{tail}", unit.repeat(n)).into_bytes()
}

/// A chat request of at most `size` bytes whose user text is `lead` once, then `unit` repeated.
fn chat_with_tail(lead: &str, unit: &str, size: usize) -> Vec<u8> {
    let mut body = chat(unit, size.saturating_sub(lead.len()));
    let text_at = r#"{"model":"default-chat","messages":[{"role":"user","content":""#.len();
    body.splice(text_at..text_at, lead.bytes());
    body
}

/// A request with `unit` repeated as elements of an array in `metadata`.
fn array_of(unit: &str, size: usize) -> Vec<u8> {
    let head = r#"{"model":"default-chat","messages":[{"role":"user","content":"hi"}],"metadata":{"x":["#;
    let tail = "]}}";
    let room = size - head.len() - tail.len();
    let n = room / (unit.len() + 1);
    let items = vec![unit; n].join(",");
    format!("{head}{items}{tail}").into_bytes()
}

fn nested(size: usize) -> Vec<u8> {
    let head = r#"{"model":"default-chat","messages":[{"role":"user","content":"hi"}],"metadata":{"x":"#;
    let depth = (size - head.len() - 2) / 2;
    format!("{head}{}{}}}}}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
}

/// A body of (at most) the given size.
type Builder = Box<dyn Fn(usize) -> Vec<u8>>;

/// The hostile bodies: name, budget and builder.
fn cases() -> Vec<(&'static str, Class, Builder)> {
    use Class::{Named, Other, Redacted};
    let text = |unit: &'static str| -> Builder { Box::new(move |n| chat(unit, n)) };
    vec![
        ("xoxb- run", Named, text("xoxb-")),
        ("AIza- run", Named, text("AIza-")),
        ("sk- run", Named, text("sk-")),
        ("eyJ run", Named, text("eyJ")),
        ("eyJ- run", Other, text("eyJ-")),
        ("github_pat_ run", Other, text("github_pat_")),
        ("digits", Named, text("1")),
        ("digit groups", Other, text("4111 ")),
        ("@", Named, text("@")),
        ("a@", Other, text("a@")),
        (".", Named, text(".")),
        ("1.", Other, text("1.")),
        ("-", Named, text("-")),
        (":", Other, text(":")),
        ("one character", Named, text("a")),
        ("escaped newlines", Other, text("\\n")),
        ("fullwidth digits", Other, text("４")),
        ("zero-width spaces", Other, text("\u{200B}")),
        ("injection words", Other, text("ignore all previous ")),
        ("phrase anchors", Other, text("you ")),
        ("-----BEGIN ", Other, text("-----BEGIN PRIVATE KEY-----\\n")),
        ("e-mails (redacted)", Redacted, text("jane@example.com ")),
        ("phones (redacted)", Redacted, text("555-123-4567 ")),
        ("phones with extensions (redacted)", Redacted, text("555-123-4567x12 ")),
        (
            "spaced national numbers (redacted)",
            Redacted,
            text("tel 0253 879 217, "),
        ),
        ("a row of spaced pairs", Other, text("04 11 ")),
        ("phone words and short groups", Other, text("call 1-2/3 (4) ")),
        ("a phone word before every digit", Other, text("phone 1")),
        ("phone words and the words between", Other, text("call me on the ")),
        (
            "00 and a country code (redacted)",
            Redacted,
            text("00420 603 967 929, "),
        ),
        ("country codes in parentheses", Other, text("(+358)(+")),
        (
            "an extension of a million digits",
            Other,
            Box::new(|n| chat_with_tail("555-123-4567x", "1", n)),
        ),
        ("escaped e-mails (redacted)", Redacted, text("jane@example.com\\n")),
        ("one-character strings", Named, Box::new(|n| array_of("\"a\"", n))),
        ("numbers", Other, Box::new(|n| array_of("1", n))),
        ("nested arrays", Named, Box::new(nested)),
    ]
}

fn headers(len: usize) -> Vec<(String, Vec<u8>)> {
    vec![
        (":method".into(), b"POST".to_vec()),
        (":path".into(), b"/v1/chat/completions".to_vec()),
        ("authorization".into(), b"Bearer team-abc-key-xxxxx".to_vec()),
        ("content-length".into(), len.to_string().into_bytes()),
    ]
}

/// Runs one request; returns its CPU time and the status it got (200 forwarded).
fn run(config: &Arc<Compiled>, body: &[u8]) -> (Duration, u32) {
    let mut best = Duration::MAX;
    let mut status = 0;
    for _ in 0..3 {
        let body = body.to_vec();
        let hdrs = headers(body.len());
        let t = cpu_now();
        let mut flow = RequestFlow::new(Arc::clone(config), 0);
        assert!(matches!(
            flow.on_headers(&hdrs, false),
            HeadersOutcome::HoldForBody { .. }
        ));
        status = match flow.on_body(body) {
            BodyOutcome::Forward(_) => 200,
            BodyOutcome::Respond(r) => r.status,
            BodyOutcome::Buffer => 0,
        };
        best = best.min(cpu_now() - t);
    }
    (best, status)
}

#[test]
fn every_hostile_body_is_linear_and_within_budget() {
    let config = config();
    let mut report = Vec::new();
    let mut failures = Vec::new();
    // GENAI_HOSTILE_ONLY=NAME runs one kind (for a profiler).
    let only = std::env::var("GENAI_HOSTILE_ONLY").ok();
    for (name, class, build) in cases() {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let small = build(MIB);
        let large = build(4 * MIB);
        assert!(large.len() <= 4 * MIB, "{name}: {} bytes", large.len());
        let (mut t1, s1) = run(&config, &small);
        let (mut t4, s4) = run(&config, &large);
        assert_eq!(s1, s4, "{name}: the same verdict at both sizes");
        assert_ne!(s4, 500, "{name}: an internal error");
        // Below a few milliseconds the ratio is noise; above, it must look linear.
        let ratio_of = |t1: Duration, t4: Duration| t4.as_secs_f64() / t1.as_secs_f64().max(1e-6);
        if t4 > Duration::from_millis(8) && ratio_of(t1, t4) > 8.0 {
            // Measured again before judging (best of six): on the shared machine one run
            // gave `eyJ` a ratio of 9.8 (1 MiB at two thirds of its usual time, 4 MiB at
            // nearly twice its: page faults spared or paid depending on what the kind
            // before left in memory), a kind at 4 in every other run. A quadratic cost
            // stays at 16 however often it is measured.
            t1 = t1.min(run(&config, &small).0);
            t4 = t4.min(run(&config, &large).0);
        }
        let ratio = ratio_of(t1, t4);
        report.push(format!(
            "{name:>24}: 1 MiB {:>7.2} ms, 4 MiB {:>7.2} ms, ratio {ratio:>5.2}, status {s4}",
            t1.as_secs_f64() * 1e3,
            t4.as_secs_f64() * 1e3
        ));
        // The budgets are native figures. scripts/test-wasm runs this test in V8 too, where
        // (--single-threaded: V8 compiles on this thread) 4 MiB took 86-633 ms at load 8;
        // there it only reports. The linear ratio below is checked in both.
        let budget = class.budget();
        if t4 > budget && !cfg!(target_family = "wasm") {
            failures.push(format!("{name}: 4 MiB took {t4:?}, budget {budget:?}"));
        } else if t4 > BUDGET {
            println!("over the issue's {BUDGET:?}: {name}: 4 MiB took {t4:?}");
        }
        if t4 > Duration::from_millis(8) && ratio > 8.0 {
            failures.push(format!("{name}: 4× the bytes took {ratio:.1}× the time"));
        }
    }
    println!("{}", report.join("\n"));
    assert!(failures.is_empty(), "{}\n{}", failures.join("\n"), report.join("\n"));
}

/// After every hostile body, an ordinary request is judged as ever (the state a VM keeps
/// between requests is the compiled configuration only).
#[test]
fn an_ordinary_request_after_hostile_ones() {
    let config = config();
    for (_, _, build) in cases() {
        let _ = run(&config, &build(MIB / 4));
    }
    let card = br#"{"model":"default-chat","messages":[{"role":"user","content":"card 4111 1111 1111 1111"}]}"#;
    assert_eq!(run(&config, card).1, 403);
    let fine = br#"{"model":"default-chat","messages":[{"role":"user","content":"hello"}]}"#;
    assert_eq!(run(&config, fine).1, 200);
}
