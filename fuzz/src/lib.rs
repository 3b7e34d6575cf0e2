//! The fuzz targets' checks, one function per target (fuzz_targets/*.rs hand libFuzzer's input
//! to them). Each takes any bytes; a panic (a failed check included) is a finding. They call
//! only the crates' public entry points: the same ones the filter calls, so a finding here is
//! an input Envoy can deliver.
//!
//! * [`sse_stream`]: a response body through the stream tracker of each API format (and the
//!   OpenAI strip mode), whole and split at input-derived offsets: the same usage either way,
//!   the caps respected, strip mode only ever removing bytes.
//! * [`inspect_request`]: a request body through the policy's request flow, as Envoy hands it
//!   over: the same verdict twice; a forwarded body is valid JSON; a redacted body holds none
//!   of the values that were redacted (inspecting it again redacts nothing).
//! * [`config_compile`]: any bytes as the filter configuration: a configuration or an error
//!   that says what is wrong, the same answer twice.
//! * [`header_map`]: any bytes as the host's serialized header map, decoded and handed to the
//!   policy's header step; and header pairs built from the input survive encode/decode.

// The checks panic by design: that is how a fuzzer learns of a violation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::{Arc, OnceLock};

use genai_policy::config::Compiled;
use genai_policy::flow::{BodyOutcome, HeadersOutcome, RequestFlow};
use genai_usage::{ApiFormat, Forward, StreamTracker};

/// 64-bit FNV-1a: split points and modes derived from the input itself, so any file (a raw
/// provider transcript included) is a meaningful seed.
fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// xorshift64*: the sequence of cut points.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0.max(1);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Cut offsets (sorted, distinct, inside the body): up to 24 random ones, or every byte.
fn cuts(len: usize, seed: u64) -> Vec<usize> {
    if len == 0 {
        return Vec::new();
    }
    let mut rng = Rng(seed);
    if seed % 8 == 0 && len <= 4096 {
        return (1..len).collect(); // one byte at a time
    }
    let n = (rng.next() % 25) as usize;
    let mut out: Vec<usize> = (0..n).map(|_| (rng.next() % len as u64) as usize).collect();
    out.sort_unstable();
    out.dedup();
    out.retain(|c| *c > 0);
    out
}

fn forwarded(chunk: &[u8], f: Forward, out: &mut Vec<u8>) {
    match f {
        Forward::Unchanged => out.extend_from_slice(chunk),
        Forward::Replace(v) => out.extend_from_slice(&v),
    }
}

/// Whether `small` is a subsequence of `big` (greedy, linear).
fn subsequence(small: &[u8], big: &[u8]) -> bool {
    let mut it = big.iter();
    small.iter().all(|b| it.any(|c| c == b))
}

/// genai_usage's default strip-mode hold cap (`stream::DEFAULT_MAX_HELD_BYTES`, not re-exported).
const DEFAULT_MAX_HELD_BYTES: usize = 64 << 10;

struct Caps {
    event: usize,
    held: usize,
    text: usize,
}

fn tracker(format: ApiFormat, strip: bool, caps: Option<&Caps>) -> StreamTracker {
    let t = StreamTracker::new(format).strip_forced_usage(strip).model("gpt-4o");
    match caps {
        Some(c) => t.max_event_bytes(c.event).max_held_bytes(c.held).max_text_bytes(c.text),
        None => t,
    }
}

fn default_caps_only() -> bool {
    static ONLY: OnceLock<bool> = OnceLock::new();
    *ONLY.get_or_init(|| std::env::var_os("GENAI_FUZZ_DEFAULT_CAPS").is_some_and(|v| v == "1"))
}

/// The SSE parser and stream tracker: never a panic, the caps held, and a differential check:
/// usage from the whole body equals usage from any split of it.
pub fn sse_stream(data: &[u8]) {
    let seed = fnv(data);
    // Small caps (every other input) reach the oversized-event and held-back paths with
    // short inputs; the default caps are what the filter runs with.
    let small = Caps {
        event: 48 + (seed >> 8) as usize % 200,
        held: 16 + (seed >> 16) as usize % 100,
        text: 8 + (seed >> 24) as usize % 64,
    };
    // GENAI_FUZZ_DEFAULT_CAPS=1 (scripts/fuzz --default-caps): only the caps the filter runs
    // with, to tell a finding that needs small caps from one the filter can meet as configured.
    let caps = (seed & 2 != 0 && !default_caps_only()).then_some(&small);
    let cut_at = cuts(data.len(), seed >> 3);
    for (format, strip) in [
        (ApiFormat::OpenAiChat, false),
        (ApiFormat::OpenAiChat, true),
        (ApiFormat::AnthropicMessages, false),
        (ApiFormat::OpenAiResponses, false),
    ] {
        let mut whole = tracker(format, strip, caps);
        let mut whole_out = Vec::new();
        let f = whole.feed(data);
        let whole_first = f.first_content;
        forwarded(data, f.forward, &mut whole_out);
        whole_out.extend_from_slice(&whole.end_stream());

        let mut split = tracker(format, strip, caps);
        let mut split_out = Vec::new();
        let mut split_first = 0;
        let mut at = 0;
        for end in cut_at.iter().copied().chain([data.len()]) {
            let chunk = &data[at..end];
            at = end;
            let f = split.feed(chunk);
            split_first += usize::from(f.first_content);
            forwarded(chunk, f.forward, &mut split_out);
            let (held, copied) = split.held_bytes();
            let cap = caps.map_or(DEFAULT_MAX_HELD_BYTES, |c| c.held);
            assert!(held <= cap, "strip mode holds {held} bytes, over its cap {cap}");
            assert!(copied <= end as u64, "held bytes copied {copied} times for {end} fed");
            if let Some(c) = caps {
                assert!(split.output_text().len() <= c.text, "text kept over its cap");
            }
        }
        split_out.extend_from_slice(&split.end_stream());

        assert_eq!(
            whole.usage(),
            split.usage(),
            "{format:?} strip={strip}: usage depends on the chunking"
        );
        let prompt = |_: &str| 7;
        assert_eq!(
            whole.report_with(prompt),
            split.report_with(prompt),
            "{format:?} strip={strip}: the report depends on the chunking"
        );
        assert_eq!(
            whole.output_text_bytes(),
            split.output_text_bytes(),
            "{format:?}: text bytes"
        );
        assert!(split_first <= 1, "first content reported {split_first} times");
        assert_eq!(
            whole_first,
            split_first == 1,
            "{format:?}: first content depends on the chunking"
        );
        if strip {
            // Strip mode only removes whole usage events: what a client gets is the stream less
            // some of them, and a split (which may hold less back) never removes more.
            assert!(
                subsequence(&split_out, data),
                "strip mode forwarded bytes that were not sent"
            );
            assert!(
                subsequence(&whole_out, &split_out),
                "a split stream lost bytes the whole kept"
            );
        } else {
            assert_eq!(whole_out, data, "observe mode changed the stream");
            assert_eq!(split_out, data, "observe mode changed the split stream");
        }
    }
}

const DEMO_CONFIG: &str = include_str!("../../envoy/demo/filter-config.json");
const TEAM_KEY: &str = "team-abc-key-xxxxx";

fn demo_config() -> &'static Arc<Compiled> {
    static CONFIG: OnceLock<Arc<Compiled>> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let mut c = genai_policy::compile(DEMO_CONFIG.as_bytes()).expect("the demo configuration compiles");
        c.resolve_credentials(|_| Some("sk-fuzz-credential".to_owned()))
            .expect("credentials");
        Arc::new(c)
    })
}

/// What a flow decided, in a comparable form.
#[derive(Debug, PartialEq, Eq)]
enum Decided {
    Refused {
        status: u32,
        code: Option<String>,
        body: Vec<u8>,
    },
    Forwarded {
        body: Option<Vec<u8>>,
        model: String,
        guard: Option<String>,
        action: Option<&'static str>,
    },
    Buffering,
}

fn run_flow(path: &str, body: &[u8]) -> Decided {
    let mut flow = RequestFlow::new(Arc::clone(demo_config()), 0);
    let headers: Vec<(String, Vec<u8>)> = vec![
        (":method".into(), b"POST".to_vec()),
        (":path".into(), path.as_bytes().to_vec()),
        (":authority".into(), b"gateway".to_vec()),
        ("authorization".into(), format!("Bearer {TEAM_KEY}").into_bytes()),
        ("x-api-key".into(), TEAM_KEY.as_bytes().to_vec()),
        ("content-type".into(), b"application/json".to_vec()),
        ("content-length".into(), body.len().to_string().into_bytes()),
    ];
    let outcome = match flow.on_headers(&headers, false) {
        HeadersOutcome::Respond(r) => BodyOutcome::Respond(r),
        // Only GET /v1/gateway/usage is forwarded at the headers (to the rate limit service):
        // never these POSTs; it carries no body to inspect.
        HeadersOutcome::Forward { .. } => {
            return Decided::Forwarded {
                body: None,
                model: String::new(),
                guard: None,
                action: None,
            }
        }
        HeadersOutcome::HoldForBody { .. } => match flow.on_body_progress(body.len(), true) {
            Some(o) => o,
            None => flow.on_body(body.to_vec()),
        },
    };
    let guard = flow.guard_record().map(|g| format!("{g:?}"));
    let action = flow.guard_record().map(|g| g.action);
    match outcome {
        BodyOutcome::Respond(r) => Decided::Refused {
            status: r.status,
            code: r.code.map(|c| format!("{c:?}")),
            body: r.body,
        },
        BodyOutcome::Forward(plan) => Decided::Forwarded {
            body: plan.new_body,
            model: plan.upstream_model,
            guard,
            action,
        },
        BodyOutcome::Buffer => Decided::Buffering,
    }
}

/// Request inspection: any body (the first byte picks the API path), never a panic, the same
/// verdict twice, a forwarded body valid JSON, a redacted body free of what was redacted.
pub fn inspect_request(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else { return };
    let path = ["/v1/chat/completions", "/v1/messages", "/v1/responses"][usize::from(sel % 3)];
    let first = run_flow(path, body);
    let second = run_flow(path, body);
    assert_eq!(first, second, "the same request got two verdicts");
    match &first {
        Decided::Buffering => panic!("a complete body left the flow buffering"),
        Decided::Refused { status, body, .. } => {
            assert!((400..600).contains(status), "refusal with status {status}");
            serde_json::from_slice::<serde_json::Value>(body).expect("a refusal's body is JSON");
        }
        Decided::Forwarded {
            body: new_body, action, ..
        } => {
            let out = new_body.as_deref().unwrap_or(body);
            // RFC 8259 allows a lone surrogate escape (`\ude00`), serde_json does not: judge the
            // forwarded body only where serde_json accepts the client's.
            let client_json = serde_json::from_slice::<serde_json::Value>(body).is_ok();
            if let (true, Err(e)) = (client_json, serde_json::from_slice::<serde_json::Value>(out)) {
                panic!(
                    "forwarded a body that is not JSON ({e}): {:?}",
                    String::from_utf8_lossy(out)
                );
            }
            if *action == Some("redact") {
                // Inspected again, the redacted body has nothing left to redact.
                let again = run_flow(path, out);
                if let Decided::Forwarded {
                    action: Some(a), guard, ..
                } = &again
                {
                    assert_ne!(*a, "redact", "a redacted body still holds redactable values: {guard:?}");
                }
            }
        }
    }
}

/// Configuration compilation: any bytes give a configuration or an error that says what is
/// wrong; never a panic; the same answer twice.
pub fn config_compile(data: &[u8]) {
    let first = genai_policy::compile(data);
    let second = genai_policy::compile(data);
    match (&first, &second) {
        (Ok(_), Ok(_)) => {}
        (Err(a), Err(b)) => {
            assert_eq!(a, b, "two different errors for one configuration");
            assert!(!a.problem.is_empty(), "an error that says nothing");
            let json = serde_json::from_slice::<serde_json::Value>(data);
            if let Ok(serde_json::Value::Object(map)) = json {
                // A JSON object that is not a valid configuration: the error names the field,
                // unless the object as a whole is at fault (a missing field names itself).
                assert!(
                    !a.field.is_empty() || !map.is_empty() || a.problem.contains("missing"),
                    "an error naming no field: {a}"
                );
            }
        }
        _ => panic!("compile gave two answers"),
    }
}

/// Header-map decoding (the host's serialized pairs): any bytes decode or are refused, never
/// a panic; what decodes goes through the policy's header step; and pairs built from the input
/// come back unchanged from encode then decode.
pub fn header_map(data: &[u8]) {
    use genai_filter::host::{decode_pairs, encode_pairs};
    if let Some(pairs) = decode_pairs(data) {
        let mut flow = RequestFlow::new(Arc::clone(demo_config()), 0);
        let _ = flow.on_headers(&pairs, data.first().is_some_and(|b| b & 1 == 1));
    }
    // Round trip: the input, cut at NUL and '\n', as alternating names and values.
    let text = String::from_utf8_lossy(data);
    let parts: Vec<&str> = text.split(['\n', '\0']).collect();
    let pairs: Vec<(&str, &str)> = parts
        .chunks(2)
        .map(|p| (p[0], p.get(1).copied().unwrap_or("")))
        .collect();
    let encoded = encode_pairs(&pairs);
    let decoded = decode_pairs(&encoded).expect("an encoded map decodes");
    assert_eq!(decoded.len(), pairs.len());
    for ((k, v), (dk, dv)) in pairs.iter().zip(&decoded) {
        assert_eq!(
            (*k, v.as_bytes()),
            (dk.as_str(), dv.as_slice()),
            "a pair changed in encode/decode"
        );
    }
}
