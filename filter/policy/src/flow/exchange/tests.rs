use super::*;

/// A response head that records what is read of it.
struct Head {
    status: u32,
    headers: Vec<(&'static str, &'static str)>,
    via_upstream: bool,
    reads: Vec<String>,
}

impl Head {
    fn new(status: u32, headers: &[(&'static str, &'static str)]) -> Self {
        Head {
            status,
            headers: headers.to_vec(),
            via_upstream: true,
            reads: Vec::new(),
        }
    }
}

impl ResponseHead for Head {
    fn status(&mut self) -> u32 {
        self.reads.push(":status".into());
        self.status
    }
    fn header(&mut self, name: &str) -> Option<Vec<u8>> {
        self.reads.push(name.into());
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_bytes().to_vec())
    }
    fn via_upstream(&mut self) -> bool {
        self.reads.push("response.code_details".into());
        self.via_upstream
    }
}

fn exchange(api: Api, forced_usage: bool, body: Vec<u8>) -> Exchange {
    Exchange::new(ExchangeStart {
        team: "team-abc".into(),
        model: "gpt-4o".into(),
        provider: "openai".into(),
        ids: SeriesIds::default(),
        upstream_model: "gpt-4o-2024-08-06".into(),
        pricing: None,
        api,
        forced_usage,
        request_body: body,
        started_ms: 1_000,
        guardrails: Vec::new(),
        workload: None,
        fallback: None,
    })
}

const REQUEST: &[u8] =
    br#"{"model":"gpt-4o","messages":[{"role":"user","content":"Summarize the quarter."}],"stream":true}"#;

/// Feeds chunks; returns what went out and how many times the clock was read.
fn feed(x: &mut Exchange, chunks: &[&[u8]]) -> (Vec<u8>, usize, usize) {
    let mut out = Vec::new();
    let (mut clock, mut reads) = (0, 0);
    for (i, c) in chunks.iter().enumerate() {
        let last = i + 1 == chunks.len();
        let mut now = || {
            clock += 1;
            1_000 + 10 * (i as u64 + 1)
        };
        let mut read = || {
            reads += 1;
            Some(c.to_vec())
        };
        match x.on_response_body(c.len(), last, &mut read, &mut now) {
            Forward::Unchanged => out.extend_from_slice(c),
            Forward::Replace(v) => out.extend_from_slice(&v),
        }
    }
    (out, clock, reads)
}

fn chunk(text: &str) -> String {
    format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{text}\"}}}}],\"usage\":null}}\n\n")
}

const USAGE: &str = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3}}\n\n";

#[test]
fn a_2xx_reads_status_type_and_encoding_never_the_details() {
    let mut x = exchange(Api::ChatCompletions, true, REQUEST.to_vec());
    let mut head = Head::new(200, &[("content-type", "text/event-stream")]);
    let plan = x.on_response_headers(&mut head);
    assert!(plan.remove_content_length);
    assert_eq!(head.reads, [":status", "content-type", "content-encoding"]);

    let mut x = exchange(Api::ChatCompletions, true, REQUEST.to_vec());
    let mut head = Head::new(503, &[("content-type", "application/json")]);
    head.via_upstream = false;
    assert_eq!(x.on_response_headers(&mut head), ResponseHeadersPlan::default());
    // An Envoy 503 may be the rate limit filter's (the limit fails closed): its error code
    // says so.
    assert_eq!(head.reads, [":status", "response.code_details", "x-genai-error-code"]);
    let o = x.finish(2_000);
    assert_eq!(
        (o.origin, o.tokens),
        (Some(Origin::Envoy), None),
        "Envoy's 503 is not billed"
    );
}

#[test]
fn one_clock_read_per_stream_and_the_forced_usage_is_stripped() {
    let mut x = exchange(Api::ChatCompletions, true, REQUEST.to_vec());
    x.on_response_headers(&mut Head::new(200, &[("content-type", "text/event-stream")]));
    let (a, b) = (chunk("Revenue"), chunk(" grew"));
    let (out, clock, reads) = feed(
        &mut x,
        &[a.as_bytes(), b.as_bytes(), USAGE.as_bytes(), b"data: [DONE]\n\n"],
    );
    assert_eq!(String::from_utf8(out).unwrap(), format!("{a}{b}data: [DONE]\n\n"));
    assert_eq!(clock, 1, "the clock is read for the first token only");
    assert_eq!(reads, 4);
    let o = x.finish(1_500);
    assert_eq!(o.ttft_ms, Some(10));
    assert_eq!(o.duration_ms, Some(500));
    let t = o.tokens.unwrap();
    assert_eq!((t.input, t.output, o.estimated), (9, 3, false));
}

#[test]
fn an_error_body_is_not_read_only_timed() {
    let mut x = exchange(Api::ChatCompletions, false, REQUEST.to_vec());
    x.on_response_headers(&mut Head::new(429, &[("content-type", "application/json")]));
    let (_, clock, reads) = feed(&mut x, &[b"{\"error\":{}}"]);
    assert_eq!((clock, reads), (1, 0));
    assert!(!x.wants_body(), "nothing more to learn from the rest of it");
}

#[test]
fn a_json_body_is_scanned_not_kept() {
    let mut x = exchange(Api::ChatCompletions, false, REQUEST.to_vec());
    x.on_response_headers(&mut Head::new(200, &[("content-type", "application/json")]));
    let body =
        br#"{"choices":[{"message":{"content":"Revenue grew."}}],"usage":{"prompt_tokens":21,"completion_tokens":3}}"#;
    let parts: Vec<&[u8]> = body.chunks(7).collect();
    let (out, clock, _) = feed(&mut x, &parts);
    assert_eq!(out, body);
    assert_eq!(clock, 1);
    let o = x.finish(2_000);
    let t = o.tokens.unwrap();
    assert_eq!((t.input, t.output, o.estimated), (21, 3, false));
}

#[test]
fn a_json_body_without_usage_is_estimated_from_its_text() {
    let mut x = exchange(Api::ChatCompletions, false, REQUEST.to_vec());
    x.on_response_headers(&mut Head::new(200, &[("content-type", "application/json")]));
    let body = br#"{"choices":[{"message":{"content":"Revenue grew twelve percent, driven by subscriptions."}}]}"#;
    feed(&mut x, &[body]);
    let o = x.finish(2_000);
    let t = o.tokens.unwrap();
    assert!(o.estimated);
    assert!(t.input > 0 && t.output > 0, "{t:?}");
}

#[test]
fn a_compressed_body_is_estimated_never_zero() {
    for ct in ["application/json", "text/event-stream"] {
        let mut x = exchange(Api::ChatCompletions, true, REQUEST.to_vec());
        let plan = x.on_response_headers(&mut Head::new(200, &[("content-type", ct), ("content-encoding", "br")]));
        assert!(
            !plan.remove_content_length,
            "a body the filter cannot read is not rewritten"
        );
        let gz: &[u8] = &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xab, 0x56, 0x2a, 0xcd];
        let (out, clock, reads) = feed(&mut x, &[gz, gz]);
        assert_eq!(out, [gz, gz].concat(), "passed through unchanged");
        assert_eq!((clock, reads), (1, 0), "counted, not read");
        let o = x.finish(2_000);
        let t = o.tokens.unwrap();
        assert!(o.estimated, "{ct}");
        assert!(t.input > 0 && t.output > 0, "{ct}: {t:?}");
    }
    assert!(!encoded(Some(b"identity")) && !encoded(Some(b" ")) && !encoded(None));
    assert!(encoded(Some(b"gzip")) && encoded(Some(b"zstd")));
}

#[test]
fn abandoned_before_the_response_uses_the_heuristic() {
    let x = exchange(Api::ChatCompletions, true, REQUEST.to_vec());
    let o = x.finish(2_000);
    let t = o.tokens.unwrap();
    assert!(o.estimated && o.origin.is_none());
    let want = estimate_heuristic(&prompt_text(REQUEST), "").input_tokens;
    assert_eq!((t.input, t.output), (want, 0));
}

#[test]
fn a_large_request_is_kept_as_a_bounded_sample() {
    let text = "The quarter closed with revenue up twelve percent. ".repeat(20_000); // ~1 MiB
    let body = format!(r#"{{"model":"gpt-4o","messages":[{{"role":"user","content":"{text}"}}]}}"#).into_bytes();
    let len = body.len();
    let x = exchange(Api::ChatCompletions, false, body);
    assert!(x.prompt.head.len() <= PROMPT_SAMPLE_BYTES);
    assert!(x.prompt.head.capacity() <= PROMPT_SAMPLE_BYTES, "the rest is freed");
    assert_eq!(x.prompt.total, len);
    // The estimate extrapolates the sample: within a few percent of counting it all.
    let sampled = x.prompt.tokens(|t| estimate_heuristic(t, "").input_tokens);
    let whole = estimate_heuristic(&text, "").input_tokens;
    let err = sampled.abs_diff(whole) as f64 / whole as f64;
    assert!(err < 0.05, "sampled {sampled}, whole {whole}");
}
