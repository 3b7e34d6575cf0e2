//! Request inspection and cost calculation, natively: what the filter's policy costs per
//! request, apart from the wasm VM and Envoy (scripts/bench measures those end to end, and
//! integration/bench/v8-bench times these same calls inside V8).
//!
//! The configuration is the demo one (envoy/demo/filter-config.json), as in the end-to-end
//! benchmark, and the request bodies are built the same way as scripts/bench's workloads.
//! SSE parsing and usage extraction per chunk: filter/usage/benches/sse.rs.

// Benchmark setup may fail loudly: it never runs inside the VM.
#![allow(clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use genai_policy::config::raw::RawPricing;
use genai_policy::flow::{BodyOutcome, HeadersOutcome};
use genai_policy::pricing::{Pricing, TokenCounts};
use genai_policy::{compile, Compiled, RequestFlow};

const DEMO_CONFIG: &str = include_str!("../../../envoy/demo/filter-config.json");

fn config() -> Arc<Compiled> {
    let mut c = compile(DEMO_CONFIG.as_bytes()).expect("the demo configuration compiles");
    c.resolve_credentials(|name| Some(format!("bench-{name}")))
        .expect("every provider key resolves");
    Arc::new(c)
}

/// Text of an ordinary business prompt, free of anything a PII scanner should flag, so the
/// benchmark measures the forwarding path rather than a refusal.
const PARAGRAPH: &str = "The quarter closed with revenue up twelve percent year on year, driven by \
subscriptions in the enterprise segment and a steady recovery in hardware sales. Operating \
margin improved as the data centre migration finished ahead of plan; the board asks for a \
summary of risks, the outlook for the next two quarters and the three decisions to take. ";

/// An OpenAI chat request of about `size` bytes: a system message and one user message.
fn chat_body(size: usize) -> Vec<u8> {
    let head = r#"{"model":"default-chat","messages":[{"role":"system","content":"You are a careful financial analyst."},{"role":"user","content":""#;
    let tail = r#""}],"temperature":0.2}"#;
    let room = size.saturating_sub(head.len() + tail.len());
    let text: String = PARAGRAPH.chars().cycle().take(room).collect();
    format!("{head}{text}{tail}").into_bytes()
}

fn headers(len: usize) -> Vec<(String, Vec<u8>)> {
    [
        (":method", "POST"),
        (":path", "/v1/chat/completions"),
        (":authority", "127.0.0.1:10000"),
        (":scheme", "http"),
        ("content-type", "application/json"),
        ("authorization", "Bearer team-abc-key-xxxxx"),
        ("user-agent", "bench/1.0"),
        ("accept", "*/*"),
        ("x-request-id", "0f5c2d9e-3b7a-4c1e-9d2f-6a8b7c9d0e1f"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
    .chain(std::iter::once((
        "content-length".to_string(),
        len.to_string().into_bytes(),
    )))
    .collect()
}

/// One request through both stages, as the filter drives it; the plan must say forward.
fn inspect(config: &Arc<Compiled>, headers: &[(String, Vec<u8>)], body: Vec<u8>) -> BodyOutcome {
    let mut flow = RequestFlow::new(Arc::clone(config), 0);
    match flow.on_headers(headers, false) {
        HeadersOutcome::HoldForBody { strip } => {
            black_box(strip);
        }
        HeadersOutcome::Respond(r) => panic!("refused at headers: {}", String::from_utf8_lossy(&r.body)),
        HeadersOutcome::Forward { .. } => panic!("forwarded at headers"),
    }
    let len = body.len();
    black_box(flow.on_body_progress(len, true));
    flow.on_body(body)
}

fn bench_inspect(c: &mut Criterion) {
    let config = config();
    let mut g = c.benchmark_group("inspect");
    for (label, size) in [("4 KB", 4 * 1024), ("40 KB", 40 * 1024), ("400 KB", 400 * 1024)] {
        let body = chat_body(size);
        let hdrs = headers(body.len());
        match inspect(&config, &hdrs, body.clone()) {
            BodyOutcome::Forward(plan) => assert_eq!(plan.model, "gpt-4o"),
            other => panic!("the {label} request is not forwarded: {other:?}"),
        }
        g.throughput(Throughput::Bytes(body.len() as u64));
        // The body copy is made outside the timing: in the filter it is the host's buffer read.
        let batch = if size > 100_000 {
            BatchSize::LargeInput
        } else {
            BatchSize::SmallInput
        };
        g.bench_function(format!("headers + body, {label} chat request"), |b| {
            b.iter_batched(|| body.clone(), |body| black_box(inspect(&config, &hdrs, body)), batch)
        });
    }
    let hdrs = headers(4096);
    g.throughput(Throughput::Elements(1));
    g.bench_function("headers only (authenticate, strip)", |b| {
        b.iter(|| {
            let mut flow = RequestFlow::new(Arc::clone(&config), 0);
            black_box(flow.on_headers(black_box(&hdrs), false))
        })
    });
    g.finish();
}

fn bench_cost(c: &mut Criterion) {
    let mut g = c.benchmark_group("cost");
    g.throughput(Throughput::Elements(1));
    let raw = RawPricing {
        input_per_million: 3.0,
        cached_input_per_million: Some(0.3),
        cache_write_per_million: Some(3.75),
        output_per_million: 15.0,
    };
    let pricing = Pricing::from_raw(&raw).expect("valid prices");
    let tokens = TokenCounts {
        input: 1017,
        cached_input: 512,
        cache_write: 13,
        output: 323,
    };
    // 492 × 3 + 512 × 0.3 + 13 × 3.75 + 323 × 15 = 6523.35 µ$
    assert_eq!(pricing.cost_microdollars(&tokens), 6_523);
    g.bench_function("cost_microdollars", |b| {
        b.iter(|| black_box(pricing.cost_microdollars(black_box(&tokens))))
    });
    g.bench_function("Pricing::from_raw (at configuration)", |b| {
        b.iter(|| black_box(Pricing::from_raw(black_box(&raw))))
    });
    g.finish();
}

criterion_group!(benches, bench_inspect, bench_cost);
criterion_main!(benches);
