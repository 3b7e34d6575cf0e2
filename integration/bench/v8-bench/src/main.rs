//! The filter's hot paths, timed from inside a WebAssembly VM.
//!
//! Built for wasm32-wasip1 and run by `run.mjs` under Node's WASI, this times the very calls the
//! filter makes per request and per response chunk (request inspection by body size, SSE feed
//! per chunk, usage and cost at the end of a request) in V8, the runtime Envoy runs the filter
//! in, with `std::time::Instant`. Built natively, the same binary gives the native figures and
//! can run one operation in a loop for a profiler (`profile NAME N`, used with callgrind).
//!
//! Output: one JSON object on stdout, `{"ops": {name: {"ns": ..., "mb_s": ...}}, "memory": {...}}`.
//! Request bodies, headers and the configuration are those of scripts/bench and of
//! filter/policy/benches/inspect.rs; the SSE chunks those of filter/usage/benches/sse.rs.

use std::hint::black_box;
use std::sync::Arc;

use genai_policy::config::raw::RawPricing;
use genai_policy::flow::{BodyOutcome, Exchange, Forward, HeadersOutcome, ResponseHead};
use genai_policy::metrics::Outcome;
use genai_policy::pricing::{Pricing, TokenCounts};
use genai_policy::{compile, Compiled, RequestFlow};
use genai_usage::{usage_from_json, ApiFormat, SseParser, StreamTracker};

const DEMO_CONFIG: &str = include_str!("../../../../envoy/demo/filter-config.json");

const PARAGRAPH: &str = "The quarter closed with revenue up twelve percent year on year, driven by \
subscriptions in the enterprise segment and a steady recovery in hardware sales. Operating \
margin improved as the data centre migration finished ahead of plan; the board asks for a \
summary of risks, the outlook for the next two quarters and the three decisions to take. ";

const OPENAI_CHUNK: &[u8] = br#"data: {"id":"chatcmpl-DFnKV81lMKGBRRh35sxZO8I88ireo","object":"chat.completion.chunk","created":1772656915,"model":"gpt-5-nano-2025-08-07","service_tier":"default","system_fingerprint":null,"choices":[{"index":0,"delta":{"content":" help"},"finish_reason":null}],"usage":null,"obfuscation":"Lu"}

"#;

const ANTHROPIC_CHUNK: &[u8] = br#"event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" you doing today?"}}

"#;

const OPENAI_USAGE_CHUNK: &[u8] = br#"data: {"id":"chatcmpl-DFnKV81lMKGBRRh35sxZO8I88ireo","object":"chat.completion.chunk","created":1772656915,"model":"gpt-5-nano-2025-08-07","service_tier":"default","system_fingerprint":null,"choices":[],"usage":{"prompt_tokens":18,"completion_tokens":286,"total_tokens":304,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":192,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"obfuscation":"Od"}

"#;

/// CPU time of this thread (or, where the host has no thread clock, of the process), in ns.
/// CPU time rather than wall time: on a shared machine a wall clock also counts the time the
/// thread waited for a core.
mod cpu_clock {
    #[cfg(target_arch = "wasm32")]
    mod sys {
        #[link(wasm_import_module = "wasi_snapshot_preview1")]
        extern "C" {
            fn clock_time_get(id: u32, precision: u64, time: *mut u64) -> u16;
        }
        pub fn read(id: u32) -> Option<u64> {
            let mut t = 0u64;
            // SAFETY: WASI writes one u64 through the pointer, which is valid for the call.
            let errno = unsafe { clock_time_get(id, 1, &mut t) };
            (errno == 0).then_some(t)
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    mod sys {
        #[repr(C)]
        struct Timespec {
            sec: i64,
            nsec: i64,
        }
        extern "C" {
            fn clock_gettime(id: i32, ts: *mut Timespec) -> i32;
        }
        pub fn read(id: u32) -> Option<u64> {
            let mut ts = Timespec { sec: 0, nsec: 0 };
            // SAFETY: clock_gettime writes one timespec through the pointer.
            let rc = unsafe { clock_gettime(id as i32, &mut ts) };
            (rc == 0).then(|| ts.sec as u64 * 1_000_000_000 + ts.nsec as u64)
        }
    }
    /// WASI and Linux number them alike: 2 the process's CPU time, 3 the thread's.
    const PROCESS: u32 = 2;
    const THREAD: u32 = 3;

    pub fn name() -> &'static str {
        if sys::read(THREAD).is_some() {
            "thread_cputime"
        } else if sys::read(PROCESS).is_some() {
            "process_cputime"
        } else {
            "none"
        }
    }

    pub fn now() -> u64 {
        sys::read(THREAD).or_else(|| sys::read(PROCESS)).unwrap_or(0)
    }
}

/// A started CPU-time measurement.
struct Instant(u64);

impl Instant {
    fn now() -> Self {
        Instant(cpu_clock::now())
    }
    fn elapsed(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(cpu_clock::now().saturating_sub(self.0))
    }
}

fn fail(what: &str) -> ! {
    eprintln!("v8-bench: {what}");
    std::process::exit(2)
}

fn config() -> Arc<Compiled> {
    let mut c = compile(DEMO_CONFIG.as_bytes()).unwrap_or_else(|e| fail(&format!("demo config: {e}")));
    c.resolve_credentials(|name| Some(format!("bench-{name}")))
        .unwrap_or_else(|e| fail(&format!("credentials: {e}")));
    Arc::new(c)
}

fn chat_body(size: usize, stream: bool) -> Vec<u8> {
    let head = r#"{"model":"default-chat","messages":[{"role":"system","content":"You are a careful financial analyst."},{"role":"user","content":""#;
    let tail = if stream {
        r#""}],"temperature":0.2,"stream":true}"#
    } else {
        r#""}],"temperature":0.2}"#
    };
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

/// Headers then the whole body, as the filter drives a request; `None` unless forwarded.
fn inspect(config: &Arc<Compiled>, headers: &[(String, Vec<u8>)], body: Vec<u8>) -> Option<RequestFlow> {
    let mut flow = RequestFlow::new(Arc::clone(config), 0);
    match flow.on_headers(headers, false) {
        HeadersOutcome::HoldForBody { strip } => {
            black_box(strip);
        }
        HeadersOutcome::Respond(_) | HeadersOutcome::Forward { .. } => return None,
    }
    black_box(flow.on_body_progress(body.len(), true));
    match flow.on_body(body) {
        BodyOutcome::Forward(plan) => {
            black_box(plan);
            Some(flow)
        }
        _ => None,
    }
}

/// The demo configuration with `"guardrails": {"enabled": false}`.
fn config_without_guardrails() -> Arc<Compiled> {
    // The demo's guardrails object keeps its rules; `enabled` turns them all off.
    let raw = DEMO_CONFIG.replacen(r#""guardrails": {"#, r#""guardrails": {"enabled": false,"#, 1);
    if raw == DEMO_CONFIG {
        fail("the demo configuration has no guardrails object");
    }
    let mut c = compile(raw.as_bytes()).unwrap_or_else(|e| fail(&format!("demo config: {e}")));
    c.resolve_credentials(|name| Some(format!("bench-{name}")))
        .unwrap_or_else(|e| fail(&format!("credentials: {e}")));
    Arc::new(c)
}

/// One request through the effects API, as `filter/wasm`'s gateway glue drives it.
fn full_request(config: &Arc<Compiled>, headers: &[(String, Vec<u8>)], body: Vec<u8>, answer: &[u8]) -> Outcome {
    let mut flow = RequestFlow::new(Arc::clone(config), 0);
    black_box(flow.request_headers(headers, false));
    black_box(flow.request_body_progress(body.len(), true));
    black_box(flow.request_body(body));
    if let Some(x) = flow.exchange() {
        black_box(x.on_response_headers(&mut OkHead(b"application/json")));
        let mut read = || Some(answer.to_vec());
        let mut now = || 5;
        black_box(x.on_response_body(answer.len(), true, &mut read, &mut now));
    }
    black_box(flow.response_end());
    flow.finish(40)
}

/// A streamed request, forwarded, whose response headers (SSE from the provider) arrived.
fn streaming_flow(config: &Arc<Compiled>) -> RequestFlow {
    let body = chat_body(1024, true);
    let hdrs = headers(body.len());
    let mut flow = inspect(config, &hdrs, body).unwrap_or_else(|| fail("the streamed request is refused"));
    let Some(x) = flow.exchange() else {
        fail("no exchange after forwarding")
    };
    x.on_response_headers(&mut OkHead(b"text/event-stream"));
    flow
}

/// The head of a provider's 200 response of this content type, as the filter reads it.
struct OkHead(&'static [u8]);

impl ResponseHead for OkHead {
    fn status(&mut self) -> u32 {
        200
    }
    fn header(&mut self, name: &str) -> Option<Vec<u8>> {
        (name == "content-type").then(|| self.0.to_vec())
    }
    fn via_upstream(&mut self) -> bool {
        true
    }
}

/// One response chunk through the exchange, as the filter hands it over (the host's copy of
/// the chunk into the VM is the `to_vec`).
#[inline(never)] // callgrind counts only this function's instructions for the chunk profiles
fn chunk_through(x: &mut Exchange, chunk: &[u8], end: bool, now: u64) -> Forward {
    x.on_response_body(chunk.len(), end, &mut || Some(chunk.to_vec()), &mut || now)
}

struct Bench {
    quick: bool,
    results: Vec<(String, f64, Option<usize>)>,
}

impl Bench {
    fn target_ns(&self) -> u128 {
        if self.quick {
            10_000_000
        } else {
            40_000_000
        }
    }

    fn rounds(&self) -> usize {
        if self.quick {
            5
        } else {
            11
        }
    }

    /// Median time per call of `f` over several batches, each of about `target_ns`.
    fn run<R>(&mut self, name: &str, bytes: Option<usize>, mut f: impl FnMut() -> R) {
        let mut iters: u64 = 1;
        loop {
            let t = Instant::now();
            for _ in 0..iters {
                black_box(f());
            }
            let ns = t.elapsed().as_nanos();
            if ns >= self.target_ns() / 4 || iters >= 1 << 30 {
                let per = (ns as f64 / iters as f64).max(0.01);
                iters = ((self.target_ns() as f64 / per) as u64).max(1);
                break;
            }
            iters *= 4;
        }
        let mut samples: Vec<f64> = (0..self.rounds())
            .map(|_| {
                let t = Instant::now();
                for _ in 0..iters {
                    black_box(f());
                }
                t.elapsed().as_nanos() as f64 / iters as f64
            })
            .collect();
        self.push(name, &mut samples, bytes);
    }

    /// As `run`, with each call's input made (and its output dropped) outside the timing.
    fn run_batched<I, R>(
        &mut self,
        name: &str,
        bytes: Option<usize>,
        per_batch: usize,
        mut setup: impl FnMut() -> I,
        mut f: impl FnMut(I) -> R,
    ) {
        let per_batch = per_batch.max(1);
        let mut samples = Vec::new();
        let deadline = self.target_ns() * self.rounds() as u128;
        let started = Instant::now();
        while samples.len() < self.rounds()
            || (samples.len() < 3 * self.rounds() && started.elapsed().as_nanos() < deadline)
        {
            let inputs: Vec<I> = (0..per_batch).map(|_| setup()).collect();
            let mut outputs = Vec::with_capacity(per_batch);
            let t = Instant::now();
            for input in inputs {
                outputs.push(f(input));
            }
            let ns = t.elapsed().as_nanos() as f64;
            drop(black_box(outputs));
            samples.push(ns / per_batch as f64);
        }
        self.push(name, &mut samples, bytes);
    }

    fn push(&mut self, name: &str, samples: &mut [f64], bytes: Option<usize>) {
        samples.sort_by(f64::total_cmp);
        let median = samples.get(samples.len() / 2).copied().unwrap_or(f64::NAN);
        eprintln!("  {name}: {median:.0} ns");
        self.results.push((name.to_string(), median, bytes));
    }
}

/// Pages of linear memory (64 KiB each) in use; 0 where there is no wasm memory.
fn memory_bytes() -> u64 {
    #[cfg(target_arch = "wasm32")]
    {
        core::arch::wasm32::memory_size(0) as u64 * 65536
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        0
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Issue 15: prompt-injection detection per KB of prompt. `engine_inspect_*` is the
/// inspection engine's single pass over a plain text without the detector, and
/// `engine_inspect_injection_*` the same pass with the detector's needles in its automaton
/// and its per-text verdict: the difference is what the detector costs beside the rest of
/// the inspection. `injection_detect_*` is the detector on its own (its own automaton, as
/// tools call it); `injection_detect_hostile_64k` a text dense in needles.
fn injection_ops(b: &mut Bench, config: &Arc<Compiled>) {
    let g = &config.guardrails;
    let (Ok(without), Ok(with)) = (
        genai_guard::GuardConfig::default().compile(),
        genai_guard::GuardConfig::default().compile_with_injection(Some(Arc::clone(&g.injection))),
    ) else {
        fail("the default guard configuration does not compile");
    };
    for (label, size) in [("4k", 4 * 1024), ("400k", 400 * 1024)] {
        let text: String = PARAGRAPH.chars().cycle().take(size).collect();
        b.run(&format!("engine_inspect_{label}"), Some(text.len()), || {
            black_box(without.inspect(&genai_guard::Document::plain(black_box(&text))))
        });
        b.run(&format!("engine_inspect_injection_{label}"), Some(text.len()), || {
            black_box(with.inspect(&genai_guard::Document::plain(black_box(&text))))
        });
        b.run(&format!("injection_detect_{label}"), Some(text.len()), || {
            let tricks = genai_injection::tricks(black_box(&text));
            black_box(g.injection.inspect(black_box(&text), tricks))
        });
    }
    let hostile: String = "ignore previous instructions system prompt DAN ![x](http ----------\n"
        .chars()
        .cycle()
        .take(64 * 1024)
        .collect();
    b.run("injection_detect_hostile_64k", Some(hostile.len()), || {
        black_box(
            g.injection
                .inspect(black_box(&hostile), genai_injection::Tricks::default()),
        )
    });
    b.run("engine_inspect_injection_hostile_64k", Some(hostile.len()), || {
        black_box(with.inspect(&genai_guard::Document::plain(black_box(&hostile))))
    });
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let config = config();
    if args.first().map(String::as_str) == Some("profile") {
        profile(&config, &args);
        return;
    }
    let mem_start = memory_bytes();
    let mut b = Bench {
        quick,
        results: Vec::new(),
    };

    // Request inspection: headers, then the whole body; the body copy (the host's buffer
    // read, in the filter) is made outside the timing.
    for (label, size) in [("4k", 4 * 1024), ("40k", 40 * 1024), ("400k", 400 * 1024)] {
        let body = chat_body(size, false);
        let hdrs = headers(body.len());
        if inspect(&config, &hdrs, body.clone()).is_none() {
            fail(&format!("the {label} request is refused"));
        }
        let per_batch = (4 << 20) / size;
        b.run_batched(
            &format!("inspect_{label}"),
            Some(body.len()),
            per_batch,
            || body.clone(),
            |body| inspect(&config, &hdrs, body),
        );
    }
    // Hostile 4 MiB bodies (issue 9): one trigger repeated, nested arrays, a million
    // one-character strings; each must be inspected in linear time.
    for kind in HOSTILE_KINDS {
        let Some(body) = hostile_body(kind, 4 << 20) else {
            continue;
        };
        let hdrs = headers(body.len());
        b.run_batched(
            &format!("hostile_{kind}_4m"),
            Some(body.len()),
            2,
            || body.clone(),
            |body| inspect(&config, &hdrs, body),
        );
    }
    injection_ops(&mut b, &config);
    let hdrs = headers(4096);
    b.run("headers_only", None, || {
        let mut flow = RequestFlow::new(Arc::clone(&config), 0);
        flow.on_headers(&hdrs, false)
    });

    // Per response chunk, through the exchange as the filter calls it.
    let mut flow = streaming_flow(&config);
    if let Some(x) = flow.exchange() {
        b.run("chunk_openai_exchange", None, || {
            chunk_through(x, black_box(OPENAI_CHUNK), false, 1)
        });
    }
    // A burst: 500 events in one chunk (a provider's fast stream, read in one go), after the
    // first token, through the exchange: what the first chunk of the TTFT probe costs.
    let burst: Vec<u8> = OPENAI_CHUNK.repeat(500);
    b.run_batched(
        "chunk_burst_500_exchange",
        Some(burst.len()),
        20,
        || {
            let mut flow = streaming_flow(&config);
            if let Some(x) = flow.exchange() {
                chunk_through(x, OPENAI_CHUNK, false, 1);
            }
            flow
        },
        |mut flow| {
            if let Some(x) = flow.exchange() {
                black_box(chunk_through(x, &burst, false, 2));
            }
            flow
        },
    );
    // The same split as filter/usage/benches/sse.rs.
    let mut p = SseParser::new();
    b.run("chunk_sse_parser_only", None, || {
        p.feed_with(black_box(OPENAI_CHUNK), |e| {
            black_box(e);
        })
    });
    let mut t = StreamTracker::new(ApiFormat::OpenAiChat);
    b.run("chunk_openai_peek", None, || t.feed(black_box(OPENAI_CHUNK)));
    let mut t = StreamTracker::new(ApiFormat::OpenAiChat).strip_forced_usage(true);
    b.run("chunk_openai_strip", None, || t.feed(black_box(OPENAI_CHUNK)));
    let mut t = StreamTracker::new(ApiFormat::OpenAiChat).strip_forced_usage(true);
    b.run("chunk_openai_usage_strip", None, || {
        t.feed(black_box(OPENAI_USAGE_CHUNK))
    });
    let mut t = StreamTracker::new(ApiFormat::AnthropicMessages);
    b.run("chunk_anthropic_peek", None, || t.feed(black_box(ANTHROPIC_CHUNK)));

    // End of a request: usage from a JSON body, cost, and the whole finish of a stream
    // (usage chunk seen) with its metric points.
    let body = body_2k();
    b.run("usage_from_json_2k", None, || {
        usage_from_json(ApiFormat::OpenAiChat, black_box(&body))
    });
    let raw = RawPricing {
        input_per_million: 3.0,
        cached_input_per_million: Some(0.3),
        cache_write_per_million: Some(3.75),
        output_per_million: 15.0,
    };
    let Ok(pricing) = Pricing::from_raw(&raw) else {
        fail("pricing")
    };
    let tokens = TokenCounts {
        input: 1017,
        cached_input: 512,
        cache_write: 13,
        output: 323,
    };
    b.run("cost_microdollars", None, || {
        pricing.cost_microdollars(black_box(&tokens))
    });
    b.run_batched(
        "finish_stream_with_usage",
        None,
        2000,
        || {
            let mut flow = streaming_flow(&config);
            if let Some(x) = flow.exchange() {
                chunk_through(x, OPENAI_CHUNK, false, 1);
                chunk_through(x, OPENAI_USAGE_CHUNK, false, 2);
                chunk_through(x, b"data: [DONE]\n\n", true, 3);
            }
            flow
        },
        |mut flow| {
            let outcome: Outcome = flow.finish(4);
            outcome.points()
        },
    );

    // The tokenizer: loaded on the first estimate; its load time and what it adds to the
    // module's linear memory.
    let mem_before_tokenizer = memory_bytes();
    let prompt: String = PARAGRAPH.chars().cycle().take(4096).collect();
    let t = Instant::now();
    // What the filter does once, on a tick after its VM starts.
    let first = genai_usage::preload(genai_usage::Encoding::O200k);
    let tokenizer_first_ns = t.elapsed().as_nanos();
    let mem_after_tokenizer = memory_bytes();
    black_box(first);
    b.run("estimate_4k_prompt_o200k", Some(prompt.len()), || {
        genai_usage::count_tokens("gpt-4o", black_box(&prompt))
    });

    let mut out = String::from("{\"ops\": {");
    for (i, (name, ns, bytes)) in b.results.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&format!("{}: {{\"ns\": {ns:.1}", json_str(name)));
        if let Some(bytes) = bytes {
            let mb_s = *bytes as f64 / 1e6 / (ns / 1e9);
            out.push_str(&format!(", \"bytes\": {bytes}, \"mb_s\": {mb_s:.1}"));
        }
        out.push('}');
    }
    out.push_str(&format!(
        "}}, \"memory\": {{\"start_bytes\": {mem_start}, \"before_tokenizer_bytes\": {mem_before_tokenizer}, \
\"after_tokenizer_bytes\": {mem_after_tokenizer}, \"tokenizer_first_estimate_ns\": {tokenizer_first_ns}}}, \"clock\": {}}}",
        json_str(cpu_clock::name())
    ));
    println!("{out}");
}

/// `profile NAME N`: runs one operation N times and nothing else, for callgrind.
fn profile(config: &Arc<Compiled>, args: &[String]) {
    let name = args.get(1).map(String::as_str).unwrap_or("inspect_400k");
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
    let size = match name {
        "inspect_4k" => 4 * 1024,
        "inspect_40k" => 40 * 1024,
        "inspect_400k" => 400 * 1024,
        hostile if hostile.starts_with("hostile_") => {
            let Some(body) = hostile_op(hostile) else {
                fail(&format!("no hostile input {hostile}"))
            };
            let hdrs = headers(body.len());
            for _ in 0..n {
                black_box(inspect(config, &hdrs, body.clone()));
            }
            return;
        }
        "chunk_openai_exchange" => {
            let mut flow = streaming_flow(config);
            if let Some(x) = flow.exchange() {
                for _ in 0..n {
                    black_box(chunk_through(x, black_box(OPENAI_CHUNK), false, 1));
                }
            }
            return;
        }
        "chunk_burst_500_exchange" => {
            // The TTFT probe's first chunk: 500 events read in one go, after the first token.
            let burst: Vec<u8> = OPENAI_CHUNK.repeat(500);
            for _ in 0..n {
                let mut flow = streaming_flow(config);
                if let Some(x) = flow.exchange() {
                    chunk_through(x, OPENAI_CHUNK, false, 1);
                    black_box(chunk_through(x, black_box(&burst), false, 2));
                }
            }
            return;
        }
        // A whole 4 KB request as the glue drives it (effects API): headers, body, a JSON
        // answer, the end and the outcome; `_noguard` with the guardrails off, so that the
        // two profiles' difference is the inspection's share of the request path.
        "full_4k" | "full_4k_noguard" => {
            let config = if name == "full_4k" {
                Arc::clone(config)
            } else {
                config_without_guardrails()
            };
            let body = chat_body(4 * 1024, false);
            let hdrs = headers(body.len());
            let answer = body_2k();
            for _ in 0..n {
                black_box(full_request(&config, &hdrs, body.clone(), &answer));
            }
            return;
        }
        other => fail(&format!("no profile for {other}")),
    };
    let body = chat_body(size, false);
    let hdrs = headers(body.len());
    for _ in 0..n {
        black_box(inspect(config, &hdrs, body.clone()));
    }
}

fn body_2k() -> Vec<u8> {
    let content = "The quarter closed with revenue up 12% year on year, driven by subscriptions. ".repeat(18);
    format!(
        r#"{{"id":"chatcmpl-C3kBOLGARFj2WJrm5MRyuTiK4u6eF","object":"chat.completion","created":1755008546,"model":"gpt-4o-2024-08-06","choices":[{{"index":0,"message":{{"role":"assistant","content":"{content}","refusal":null,"annotations":[]}},"logprobs":null,"finish_reason":"stop"}}],"usage":{{"prompt_tokens":1017,"completion_tokens":323,"total_tokens":1340,"prompt_tokens_details":{{"cached_tokens":512,"audio_tokens":0}},"completion_tokens_details":{{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}},"service_tier":"default","system_fingerprint":"fp_1"}}"#
    )
    .into_bytes()
}

/// The hostile inputs of the inspection (issue 9): one trigger repeated to fill a chat
/// request, deeply nested arrays, a million one-character strings. Every detector, validator
/// and rule must stay linear on them.
const HOSTILE_KINDS: &[&str] = &[
    "xoxb", "aiza", "sk", "eyj", "eyjdash", "digits", "at", "dot", "dash", "onechar", "nested", "strings",
];

/// `hostile_KIND_SIZE` (SIZE: `10k`, `400k`, `4m`, bytes of body): its body.
fn hostile_op(name: &str) -> Option<Vec<u8>> {
    let rest = name.strip_prefix("hostile_")?;
    let (kind, size) = rest.rsplit_once('_')?;
    let size = if let Some(k) = size.strip_suffix('k') {
        k.parse::<usize>().ok()? * 1024
    } else if let Some(m) = size.strip_suffix('m') {
        m.parse::<usize>().ok()? << 20
    } else {
        size.parse().ok()?
    };
    hostile_body(kind, size)
}

/// A chat request of about `size` bytes whose text is the hostile pattern `kind`.
fn hostile_body(kind: &str, size: usize) -> Option<Vec<u8>> {
    let unit = match kind {
        "xoxb" => "xoxb-",
        "aiza" => "AIza-",
        "sk" => "sk-",
        "eyj" => "eyJ",
        "eyjdash" => "eyJ-",
        "digits" => "1",
        "at" => "@",
        "dot" => ".",
        "dash" => "-",
        "onechar" => "a",
        "nested" => {
            let depth = size.saturating_sub(128) / 2;
            let body = format!(
                r#"{{"model":"default-chat","messages":[{{"role":"user","content":"hi"}}],"metadata":{{"x":{}{}}}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            );
            return Some(body.into_bytes());
        }
        "strings" => {
            let n = size.saturating_sub(128) / 4;
            let mut body = String::from(
                r#"{"model":"default-chat","messages":[{"role":"user","content":"hi"}],"metadata":{"x":["#,
            );
            for i in 0..n {
                if i > 0 {
                    body.push(',');
                }
                body.push_str("\"a\"");
            }
            body.push_str("]}}");
            return Some(body.into_bytes());
        }
        _ => return None,
    };
    let head = r#"{"model":"default-chat","messages":[{"role":"user","content":""#;
    let tail = r#""}]}"#;
    let room = size.saturating_sub(head.len() + tail.len());
    let text: String = unit.chars().cycle().take(room).collect();
    Some(format!("{head}{text}{tail}").into_bytes())
}
