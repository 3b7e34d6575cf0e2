//! The glue against the recording host: what a request does to Envoy, call by call.
//!
//! The golden lists below are the host-call budget of a request. A change that adds a call
//! shows up here first; update the list only for a call that is needed (docs/benchmarks.md
//! reports the counts).
//!
//! The demo configuration has fleet-wide limits (`rate_limits`), so a forwarded request
//! makes six calls more than without: four descriptor headers for Envoy's rate limit
//! filters (`x-genai-rl-team`, `-api`, `-tokens`, `-cost-max`; a key id or a workload would
//! add one each) and, when the response ends, the two filter-state values the stream-end
//! charge reads (`genai_tokens`, `genai_cost`). Without `rate_limits` those six are absent.

use super::*;
use crate::host::fake::FakeHost;

const DEMO_CONFIG: &str = include_str!("../../../../envoy/demo/filter-config.json");
const ABC_KEY: &str = "team-abc-key-xxxxx";

fn configured() -> (FakeHost, Root) {
    configured_with(DEMO_CONFIG)
}

fn configured_with(config: &str) -> (FakeHost, Root) {
    let host = FakeHost::new();
    *host.plugin_configuration.borrow_mut() = config.as_bytes().to_vec();
    for (k, v) in [
        ("OPENAI_API_KEY", "sk-openai-test"),
        ("ANTHROPIC_API_KEY", "sk-ant-test"),
        ("ANTHROPIC_PRIVATE_API_KEY", "sk-ant-private-test"),
        ("AZURE_OPENAI_API_KEY", "azure-test"),
        ("SELF_HOSTED_API_KEY", "self-hosted-test"),
    ] {
        host.env.borrow_mut().insert(k.into(), v.into());
    }
    let mut root = Root::default();
    assert!(root.configure(&host, config.len()));
    host.take_calls();
    (host, root)
}

fn chat_body(stream: bool, text: &str) -> String {
    format!(
        r#"{{"model":"default-chat","messages":[{{"role":"user","content":"{text}"}}],"temperature":0.2{}}}"#,
        if stream { r#","stream":true"# } else { "" }
    )
}

fn request_headers(host: &FakeHost, body: &str) {
    let len = body.len().to_string();
    host.set_request_headers(&[
        (":method", "POST"),
        (":path", "/v1/chat/completions"),
        (":authority", "gateway.internal"),
        (":scheme", "http"),
        ("content-type", "application/json"),
        ("authorization", &format!("Bearer {ABC_KEY}")),
        ("accept-encoding", "gzip, deflate"),
        ("user-agent", "OpenAI/Python 1.99.0"),
        ("x-request-id", "req-1"),
        ("content-length", &len),
    ]);
    *host.request_body.borrow_mut() = body.as_bytes().to_vec();
}

/// Sends the request through headers and body; returns the body callback's action.
fn send(host: &FakeHost, req: &mut Request, body: &str) -> (Action, Action) {
    request_headers(host, body);
    let a = req.on_request_headers(host, false);
    if a != Action::Pause {
        return (a, Action::Continue);
    }
    // Envoy calls once per data frame: a first part, then the end of the stream.
    let half = body.len() / 2;
    let b1 = req.on_request_body(host, half, false);
    assert_eq!(b1, Action::Pause, "keeps buffering until the end of the body");
    let b2 = req.on_request_body(host, body.len(), true);
    if b2 == Action::Continue {
        // What Envoy sends on: the body as edited (model rewritten), its length declared.
        let sent = String::from_utf8(host.request_body.borrow().clone()).unwrap();
        assert!(sent.contains(r#""model":"gpt-4o-2024-08-06""#), "{sent}");
        assert_eq!(host.request_header("content-length"), Some(sent.len().to_string()));
        assert_eq!(
            sent.replace("gpt-4o-2024-08-06", "default-chat")
                .replace(r#""stream_options":{"include_usage":true},"#, ""),
            body
        );
        assert_eq!(host.request_header("accept-encoding").as_deref(), Some("identity"));
        assert_eq!(
            host.request_header("authorization").as_deref(),
            Some("Bearer sk-openai-test")
        );
    }
    (a, b2)
}

fn respond_json(host: &FakeHost, req: &mut Request, body: &str) {
    host.set_response_headers(&[
        (":status", "200"),
        ("content-type", "application/json"),
        ("content-length", &body.len().to_string()),
    ]);
    host.properties
        .borrow_mut()
        .insert("response.code_details".into(), b"via_upstream".to_vec());
    assert_eq!(req.on_response_headers(host), Action::Continue);
    *host.response_body.borrow_mut() = body.as_bytes().to_vec();
    assert_eq!(req.on_response_body(host, body.len(), true), Action::Continue);
}

const JSON_ANSWER: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"Revenue grew."},"finish_reason":"stop"}],"usage":{"prompt_tokens":21,"completion_tokens":3,"total_tokens":24}}"#;

fn chunk(text: &str) -> String {
    format!(
        "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{text}\"}},\"finish_reason\":null}}],\"usage\":null}}\n\n"
    )
}

const USAGE_CHUNK: &str = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-2024-08-06\",\"choices\":[],\"usage\":{\"prompt_tokens\":21,\"completion_tokens\":3,\"total_tokens\":24}}\n\n";

/// The chunks the client receives (after the filter's rewrite of each).
fn stream(host: &FakeHost, req: &mut Request, chunks: &[&str]) -> Vec<String> {
    host.set_response_headers(&[(":status", "200"), ("content-type", "text/event-stream")]);
    host.properties
        .borrow_mut()
        .insert("response.code_details".into(), b"via_upstream".to_vec());
    assert_eq!(req.on_response_headers(host), Action::Continue);
    let mut out = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        host.clock_ms.set(host.clock_ms.get() + 5);
        *host.response_body.borrow_mut() = c.as_bytes().to_vec();
        let last = i + 1 == chunks.len();
        assert_eq!(req.on_response_body(host, c.len(), last), Action::Continue);
        out.push(String::from_utf8(host.response_body.borrow().clone()).unwrap());
    }
    out
}

/// Compares the calls with the golden list, printing both in full if they differ.
fn assert_calls(calls: &[String], golden: &[&str]) {
    if calls != golden {
        let got: Vec<String> = calls.iter().map(|c| format!("        {c:?},")).collect();
        panic!(
            "host calls differ from the golden list ({} calls, golden {}):\n{}",
            calls.len(),
            golden.len(),
            got.join("\n")
        );
    }
}

#[test]
fn a_plain_chat_request() {
    let (host, root) = configured();
    // A first request defines the metrics; the budget is that of every later one.
    let mut steady = Vec::new();
    for _ in 0..2 {
        host.clock_ms.set(1_000);
        let mut req = root.request(&host);
        let body = chat_body(false, "Summarize the quarter.");
        assert_eq!(send(&host, &mut req, &body), (Action::Pause, Action::Continue));
        respond_json(&host, &mut req, JSON_ANSWER);
        host.clock_ms.set(1_040);
        req.on_log(&host);
        steady = host.take_calls();
    }
    assert_calls(
        &steady,
        &[
        "get_current_time_nanoseconds()",
        "get_header_map_pairs(request_headers)",
        "remove_header_map_value(request_headers, authorization)",
        "set_property(genai_team, team-abc)",
        "get_buffer_bytes(request_body, 0, 106)",
        "replace_header_map_value(request_headers, x-genai-upstream, model:gpt-4o+azure-gpt-4o+llama-internal)",
        "replace_header_map_value(request_headers, authorization, Bearer sk-openai-test)",
        "replace_header_map_value(request_headers, x-genai-rl-team, team-abc)",
        "replace_header_map_value(request_headers, x-genai-rl-api, chat_completions)",
        "replace_header_map_value(request_headers, x-genai-rl-tokens, 27)",
        "replace_header_map_value(request_headers, x-genai-rl-cost-max, 163908)",
        "replace_header_map_value(request_headers, content-length, 111)",
        "replace_header_map_value(request_headers, accept-encoding, identity)",
        r#"set_buffer_bytes(request_body, 0, 23, {"model":"gpt-4o-2024-08-06")"#,
        "set_property(genai_classification, public)",
        "set_property(genai_action, none)",
        "set_property(genai_prompt, user | Summarize the quarter.)",
        "set_property(genai_model, gpt-4o)",
        "set_property(genai_provider, openai)",
        // default-chat may fall back: its attempts find the plan by this key.
        "set_property(genai_attempts, 2)",
        "get_header_map_value(response_headers, :status)",
        "get_header_map_value(response_headers, content-type)",
        "get_header_map_value(response_headers, content-encoding)",
        "get_buffer_bytes(response_body, 0, 247)",
        "get_current_time_nanoseconds()",
        "set_property(genai_tokens, 24)",
        "set_property(genai_cost, 83)",
        "get_current_time_nanoseconds()",
        "increment_metric(genai_requests_total;team=team-abc;model=gpt-4o;provider=openai;code_class=2xx;origin=provider, 1)",
        "increment_metric(genai_tokens_total;team=team-abc;model=gpt-4o;provider=openai;type=input;estimated=false, 21)",
        "increment_metric(genai_tokens_total;team=team-abc;model=gpt-4o;provider=openai;type=output;estimated=false, 3)",
        "record_metric(genai_prompt_tokens;team=team-abc;model=gpt-4o, 21)",
        "increment_metric(genai_request_cost_microdollars_total;team=team-abc;model=gpt-4o, 83)",
        "record_metric(genai_request_cost_microdollars;team=team-abc;model=gpt-4o, 83)",
        "record_metric(genai_time_to_first_token_milliseconds;team=team-abc;model=gpt-4o;provider=openai, 0)",
        "record_metric(genai_request_duration_milliseconds;team=team-abc;model=gpt-4o;provider=openai, 40)",
        ],
    );
    assert_eq!(
        host.stat("genai_tokens_total;team=team-abc;model=gpt-4o;provider=openai;type=input;estimated=false"),
        Some(42)
    );
}

/// Without `rate_limits` a request makes none of the six rate limit calls, and the rest
/// of its calls are those of the golden above.
#[test]
fn a_plain_chat_request_without_rate_limits() {
    let mut config: serde_json::Value = serde_json::from_str(DEMO_CONFIG).unwrap();
    config.as_object_mut().unwrap().remove("rate_limits");
    let config = config.to_string();
    let run = |config: &str| {
        let (host, root) = configured_with(config);
        let mut calls = Vec::new();
        for _ in 0..2 {
            host.clock_ms.set(1_000);
            let mut req = root.request(&host);
            let body = chat_body(false, "Summarize the quarter.");
            assert_eq!(send(&host, &mut req, &body), (Action::Pause, Action::Continue));
            respond_json(&host, &mut req, JSON_ANSWER);
            host.clock_ms.set(1_040);
            req.on_log(&host);
            calls = host.take_calls();
        }
        calls
    };
    let with = run(DEMO_CONFIG);
    let without = run(&config);
    let rate_limit_call =
        |c: &String| c.contains("x-genai-rl-") || c.contains("genai_tokens,") || c.contains("genai_cost,");
    assert_eq!(with.iter().filter(|c| rate_limit_call(c)).count(), 6, "{with:?}");
    assert!(!without.iter().any(rate_limit_call), "{without:?}");
    // The plan key of a request that may fall back counts on across both runs (one
    // worker): compared as present, not by value.
    let key = |c: &String| {
        if c.starts_with("set_property(genai_attempts, ") {
            "set_property(genai_attempts, KEY)".to_string()
        } else {
            c.clone()
        }
    };
    let rest: Vec<String> = with.iter().filter(|c| !rate_limit_call(c)).map(key).collect();
    assert!(
        rest.iter().any(|c| c == "set_property(genai_attempts, KEY)"),
        "{rest:?}"
    );
    assert_eq!(rest, without.iter().map(key).collect::<Vec<_>>());
}

#[test]
fn a_streamed_chat_request() {
    let (host, root) = configured();
    let mut steady = Vec::new();
    for _ in 0..2 {
        host.clock_ms.set(1_000);
        let mut req = root.request(&host);
        let body = chat_body(true, "Summarize the quarter.");
        assert_eq!(send(&host, &mut req, &body), (Action::Pause, Action::Continue));
        let (c1, c2) = (chunk("Revenue"), chunk(" grew."));
        let got = stream(&host, &mut req, &[&c1, &c2, USAGE_CHUNK, "data: [DONE]\n\n"]);
        assert_eq!(
            got,
            vec![c1.clone(), c2.clone(), String::new(), "data: [DONE]\n\n".into()]
        );
        req.on_log(&host);
        steady = host.take_calls();
    }
    assert_calls(
        &steady,
        &[
        "get_current_time_nanoseconds()",
        "get_header_map_pairs(request_headers)",
        "remove_header_map_value(request_headers, authorization)",
        "set_property(genai_team, team-abc)",
        "get_buffer_bytes(request_body, 0, 120)",
        "replace_header_map_value(request_headers, x-genai-upstream, model:gpt-4o+azure-gpt-4o+llama-internal)",
        "replace_header_map_value(request_headers, authorization, Bearer sk-openai-test)",
        "replace_header_map_value(request_headers, x-genai-rl-team, team-abc)",
        "replace_header_map_value(request_headers, x-genai-rl-api, chat_completions)",
        "replace_header_map_value(request_headers, x-genai-rl-tokens, 30)",
        "replace_header_map_value(request_headers, x-genai-rl-cost-max, 163915)",
        "replace_header_map_value(request_headers, content-length, 165)",
        "replace_header_map_value(request_headers, accept-encoding, identity)",
        r#"set_buffer_bytes(request_body, 0, 23, {"stream_options":{"include_usage":true},"model":"gpt-4o-2024-08-06")"#,
        "set_property(genai_classification, public)",
        "set_property(genai_action, none)",
        "set_property(genai_prompt, user | Summarize the quarter.)",
        "set_property(genai_model, gpt-4o)",
        "set_property(genai_provider, openai)",
        // default-chat may fall back: its attempts find the plan by this key.
        "set_property(genai_attempts, 2)",
        "get_header_map_value(response_headers, :status)",
        "get_header_map_value(response_headers, content-type)",
        "get_header_map_value(response_headers, content-encoding)",
        "remove_header_map_value(response_headers, content-length)",
        "get_buffer_bytes(response_body, 0, 168)",
        "get_current_time_nanoseconds()",
        "get_buffer_bytes(response_body, 0, 167)",
        "get_buffer_bytes(response_body, 0, 162)",
        "set_buffer_bytes(response_body, 0, 162, )",
        "get_buffer_bytes(response_body, 0, 14)",
        "set_property(genai_tokens, 24)",
        "set_property(genai_cost, 83)",
        "get_current_time_nanoseconds()",
        "increment_metric(genai_requests_total;team=team-abc;model=gpt-4o;provider=openai;code_class=2xx;origin=provider, 1)",
        "increment_metric(genai_tokens_total;team=team-abc;model=gpt-4o;provider=openai;type=input;estimated=false, 21)",
        "increment_metric(genai_tokens_total;team=team-abc;model=gpt-4o;provider=openai;type=output;estimated=false, 3)",
        "record_metric(genai_prompt_tokens;team=team-abc;model=gpt-4o, 21)",
        "increment_metric(genai_request_cost_microdollars_total;team=team-abc;model=gpt-4o, 83)",
        "record_metric(genai_request_cost_microdollars;team=team-abc;model=gpt-4o, 83)",
        "record_metric(genai_time_to_first_token_milliseconds;team=team-abc;model=gpt-4o;provider=openai, 5)",
        "record_metric(genai_request_duration_milliseconds;team=team-abc;model=gpt-4o;provider=openai, 20)",
        ],
    );
}

#[test]
fn a_refused_request() {
    let (host, root) = configured();
    let mut steady = Vec::new();
    for _ in 0..2 {
        host.clock_ms.set(1_000);
        let mut req = root.request(&host);
        // A confidential codename, to a model approved up to internal: 403, nothing forwarded.
        let body = chat_body(false, "Status of Project Bluebird?");
        let (h, b) = send(&host, &mut req, &body);
        assert_eq!((h, b), (Action::Pause, Action::Pause));
        let sent = host.sent.borrow_mut().take().expect("a local reply");
        assert_eq!(sent.status, 403);
        assert!(String::from_utf8_lossy(&sent.body).contains("classification_mismatch"));
        assert_eq!(
            host.request_header("x-genai-upstream"),
            None,
            "not routed to a provider"
        );
        assert_eq!(*host.request_body.borrow(), body.as_bytes(), "body untouched");
        req.on_log(&host);
        steady = host.take_calls();
    }
    assert_calls(
        &steady,
        &[
        "get_current_time_nanoseconds()",
        "get_header_map_pairs(request_headers)",
        "remove_header_map_value(request_headers, authorization)",
        "set_property(genai_team, team-abc)",
        "get_buffer_bytes(request_body, 0, 111)",
        "set_property(genai_classification, confidential)",
        "set_property(genai_detected, project_codename:1)",
        "set_property(genai_action, block)",
        "set_property(genai_model, gpt-4o)",
        "set_property(genai_provider, openai)",
        "set_property(genai_error_code, classification_mismatch)",
        "send_local_response(403, genai_classification_mismatch)",
        "get_current_time_nanoseconds()",
        "increment_metric(genai_requests_total;team=team-abc;model=gpt-4o;provider=openai;code_class=4xx;origin=gateway, 1)",
        "record_metric(genai_request_duration_milliseconds;team=team-abc;model=gpt-4o;provider=openai, 0)",
        "increment_metric(genai_guardrail_triggers_total;team=team-abc;guardrail=project_codename;action=block, 1)",
        ],
    );
}

/// The tokenizer loads on the tick after configuration, never on a request: an estimate
/// before it is made with the heuristic, and loads nothing.
#[test]
fn the_tokenizer_loads_on_a_tick_not_on_a_request() {
    let (host, _) = configured();
    let mut root = Root::default();
    assert!(root.configure(&host, DEMO_CONFIG.len()));
    let calls = host.take_calls();
    assert!(
        calls.contains(&"set_tick_period_milliseconds(1)".to_string()),
        "{calls:?}"
    );

    // A stream cut off before any usage: estimated at on_log, with the heuristic.
    let mut req = root.request(&host);
    let body = chat_body(true, "Summarize the quarter.");
    send(&host, &mut req, &body);
    stream(&host, &mut req, &[&chunk("Revenue")]);
    req.on_log(&host);
    assert!(
        !genai_usage::loaded(genai_usage::Encoding::O200k),
        "a request loaded the tokenizer"
    );
    let est = "genai_tokens_total;team=team-abc;model=gpt-4o;provider=openai;type=output;estimated=true";
    assert!(host.stat(est).is_some_and(|n| n > 0), "estimated, never zero");

    root.tick(&host);
    assert_eq!(host.tick_period_ms.get(), 0, "one tick");
    let logs = host.logs.borrow();
    if cfg!(feature = "tokenizer") {
        assert!(genai_usage::loaded(genai_usage::Encoding::O200k));
        assert!(
            logs.iter().any(|(_, m)| m.contains("tokenizer O200k loaded in")),
            "{logs:?}"
        );
    }
}

/// The VM's linear memory is reported as a gauge when it has grown, and costs no host call
/// while it stays the same (the budgets above are pinned with a memory that does not grow).
#[test]
fn the_vm_memory_gauge_follows_growth_only() {
    let (host, root) = configured();
    for (mem, calls_for_it) in [(1u64 << 20, 2), (1 << 20, 0), (3 << 20, 1)] {
        host.memory_bytes.set(mem);
        let mut req = root.request(&host);
        send(&host, &mut req, &chat_body(false, "Summarize the quarter."));
        respond_json(&host, &mut req, JSON_ANSWER);
        req.on_log(&host);
        let calls = host.take_calls();
        let gauge: Vec<_> = calls.iter().filter(|c| c.contains("genai_vm_memory_bytes")).collect();
        // The first report defines the gauge, then records; later growth only records.
        assert_eq!(gauge.len(), calls_for_it, "{gauge:?}");
        assert_eq!(host.stat("genai_vm_memory_bytes"), Some(mem));
    }
}
