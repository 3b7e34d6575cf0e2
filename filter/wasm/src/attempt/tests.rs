//! The attempt role against the recording host: a request through the gateway role, then its
//! attempts as Envoy makes them (each attempt its own context and stream state, the request
//! header map shared), then the response and the accounting back in the gateway role.

use super::*;
use crate::gateway;
use crate::host::fake::FakeHost;

const DEMO_CONFIG: &str = include_str!("../../../../envoy/demo/filter-config.json");
const ABC_KEY: &str = "team-abc-key-xxxxx";

fn configured() -> (FakeHost, gateway::Root) {
    let host = FakeHost::new();
    *host.plugin_configuration.borrow_mut() = DEMO_CONFIG.as_bytes().to_vec();
    for (k, v) in [
        ("OPENAI_API_KEY", "sk-openai-test"),
        ("ANTHROPIC_API_KEY", "sk-ant-test"),
        ("ANTHROPIC_PRIVATE_API_KEY", "sk-ant-private-test"),
        ("AZURE_OPENAI_API_KEY", "azure-test"),
        ("SELF_HOSTED_API_KEY", "self-hosted-test"),
    ] {
        host.env.borrow_mut().insert(k.into(), v.into());
    }
    let mut root = gateway::Root::default();
    assert!(root.configure(&host, DEMO_CONFIG.len()));
    host.take_calls();
    (host, root)
}

const BODY: &str = r#"{"model":"default-chat","messages":[{"role":"user","content":"Summarize the quarter."}]}"#;

/// The gateway role decides and forwards; returns the request (kept alive, as Envoy keeps
/// its context until the stream ends).
fn forward(host: &FakeHost, root: &gateway::Root, path: &str, body: &str, extra: &[(&str, &str)]) -> gateway::Request {
    let len = body.len().to_string();
    let mut headers = vec![
        (":method", "POST"),
        (":path", path),
        (":authority", "gateway.internal"),
        ("content-type", "application/json"),
        ("authorization", "Bearer team-abc-key-xxxxx"),
        ("content-length", len.as_str()),
    ];
    headers.extend_from_slice(extra);
    host.set_request_headers(&headers);
    *host.request_body.borrow_mut() = body.as_bytes().to_vec();
    let mut req = root.request(host);
    assert_eq!(req.on_request_headers(host, false), Action::Pause);
    assert_eq!(req.on_request_body(host, body.len(), true), Action::Continue);
    assert!(!body.contains(ABC_KEY));
    req
}

/// An attempt's own host: the request headers as the previous attempt left them (Envoy
/// shares one map), the body as the router buffered it, the gateway's filter state, and the
/// target Envoy picked.
fn attempt_host(headers: &[(String, Vec<u8>)], body: &[u8], key: Option<&str>, target: Option<&str>) -> FakeHost {
    let h = FakeHost::new();
    *h.request_headers.borrow_mut() = headers.to_vec();
    *h.request_body.borrow_mut() = body.to_vec();
    let mut p = h.properties.borrow_mut();
    if let Some(k) = key {
        p.insert("filter_state.wasm.genai_attempts".into(), k.as_bytes().to_vec());
    }
    if let Some(t) = target {
        p.insert(
            "xds.upstream_host_metadata.filter_metadata.genai.target".into(),
            t.as_bytes().to_vec(),
        );
    }
    drop(p);
    h
}

fn header(h: &FakeHost, name: &str) -> Option<String> {
    h.request_header(name)
}

fn answered(h: &FakeHost, status: &str) {
    h.set_response_headers(&[(":status", status), ("content-type", "application/json")]);
}

#[test]
fn a_failed_attempt_falls_back_with_the_targets_own_request() {
    let (gw, root) = configured();
    let mut req = forward(&gw, &root, "/v1/chat/completions", BODY, &[]);
    assert_eq!(
        header(&gw, "x-genai-upstream").as_deref(),
        Some("model:gpt-4o+azure-gpt-4o+llama-internal")
    );
    let key = gw
        .property_text("genai_attempts")
        .expect("the plan's key is filter state");
    let forwarded = gw.request_body.borrow().clone();
    let shared_headers = gw.request_headers.borrow().clone();

    // Attempt 1: the requested model, prepared by the gateway: nothing to change.
    let a1 = attempt_host(&shared_headers, &forwarded, Some(&key), Some("gpt-4o"));
    let mut r1 = Root.request();
    assert_eq!(r1.on_request_headers(&a1, false), Action::Continue);
    assert_eq!(
        a1.take_calls(),
        [
            "get_property(filter_state.wasm.genai_attempts)",
            "get_property(xds.upstream_host_metadata.filter_metadata.genai.target)",
            "get_current_time_nanoseconds()",
        ],
        "the host calls of an attempt that needs no change"
    );
    assert_eq!(r1.on_request_body(&a1, forwarded.len(), true), Action::Continue);
    answered(&a1, "503");
    assert_eq!(r1.on_response_headers(&a1), Action::Continue);
    a1.properties
        .borrow_mut()
        .insert("upstream.local_address".into(), b"127.0.0.1:5555".to_vec());
    a1.take_calls();
    r1.on_done(&a1);
    assert_eq!(
        a1.take_calls(),
        Vec::<String>::new(),
        "an attempt that had its response head reads nothing more when it ends"
    );

    // Attempt 2: Azure. Held until the body is complete; then its key, path and model.
    let a2 = attempt_host(
        &a1.request_headers.borrow(),
        &forwarded,
        Some(&key),
        Some("azure-gpt-4o"),
    );
    let mut r2 = Root.request();
    assert_eq!(r2.on_request_headers(&a2, false), Action::Pause);
    assert_eq!(r2.on_request_body(&a2, forwarded.len() / 2, false), Action::Pause);
    assert_eq!(r2.on_request_body(&a2, forwarded.len(), true), Action::Continue);
    assert_eq!(header(&a2, "api-key").as_deref(), Some("azure-test"));
    assert_eq!(
        header(&a2, "authorization"),
        None,
        "the OpenAI key does not go to Azure"
    );
    assert_eq!(
        header(&a2, ":path").as_deref(),
        Some("/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21")
    );
    let sent = a2.request_body.borrow().clone();
    let sent_text = String::from_utf8(sent.clone()).unwrap();
    assert!(sent_text.contains(r#""model":"gpt-4o-prod""#), "{sent_text}");
    assert_eq!(header(&a2, "content-length"), Some(sent.len().to_string()));
    answered(&a2, "200");
    r2.on_response_headers(&a2);
    r2.on_done(&a2);

    // The response reaches the gateway role: usage and cost are Azure's.
    gw.set_response_headers(&[(":status", "200"), ("content-type", "application/json")]);
    gw.properties
        .borrow_mut()
        .insert("response.code_details".into(), b"via_upstream".to_vec());
    assert_eq!(req.on_response_headers(&gw), Action::Continue);
    assert_eq!(gw.property_text("genai_model").as_deref(), Some("azure-gpt-4o"));
    assert_eq!(gw.property_text("genai_provider").as_deref(), Some("azure"));
    assert_eq!(gw.property_text("genai_requested_model").as_deref(), Some("gpt-4o"));
    assert_eq!(
        gw.property_text("genai_fallbacks").as_deref(),
        Some("gpt-4o>azure-gpt-4o:server_error")
    );
    let answer = r#"{"id":"c","object":"chat.completion","model":"gpt-4o-prod","choices":[],"usage":{"prompt_tokens":1000,"completion_tokens":100,"total_tokens":1100}}"#;
    *gw.response_body.borrow_mut() = answer.as_bytes().to_vec();
    req.on_response_body(&gw, answer.len(), true);
    req.on_log(&gw);
    assert_eq!(
        gw.stat("genai_fallbacks_total;team=team-abc;model=gpt-4o;from=gpt-4o;to=azure-gpt-4o;reason=server_error"),
        Some(1)
    );
    // Azure's demo prices: $2.50 in, $10 out per million.
    assert_eq!(
        gw.stat("genai_request_cost_microdollars_total;team=team-abc;model=azure-gpt-4o"),
        Some(3500)
    );
    assert_eq!(
        gw.stat("genai_tokens_total;team=team-abc;model=azure-gpt-4o;provider=azure;type=input;estimated=false"),
        Some(1000)
    );
    assert_eq!(
        gw.stat("genai_tokens_total;team=team-abc;model=gpt-4o;provider=openai;type=input;estimated=false"),
        None
    );

    // The request is over: its plan is gone, a late attempt finds nothing and sends nothing.
    drop(req);
    let late = attempt_host(&shared_headers, &forwarded, Some(&key), Some("llama-internal"));
    assert_eq!(Root.request().on_request_headers(&late, false), Action::Pause);
    assert_eq!(late.sent.borrow().as_ref().map(|s| s.status), Some(500));
}

#[test]
fn an_attempt_reset_before_its_response_head_reads_how_it_ended() {
    let (gw, root) = configured();
    let _req = forward(&gw, &root, "/v1/chat/completions", BODY, &[]);
    let key = gw.property_text("genai_attempts").expect("the plan's key");
    let forwarded = gw.request_body.borrow().clone();
    let a1 = attempt_host(&gw.request_headers.borrow(), &forwarded, Some(&key), Some("gpt-4o"));
    let mut r1 = Root.request();
    assert_eq!(r1.on_request_headers(&a1, false), Action::Continue);
    assert_eq!(r1.on_request_body(&a1, forwarded.len(), true), Action::Continue);
    a1.take_calls();
    r1.on_done(&a1);
    assert_eq!(
        a1.take_calls(),
        [
            "get_property(upstream.local_address)",
            "get_property(upstream.transport_failure_reason)",
            "get_current_time_nanoseconds()",
        ],
        "the host calls of an attempt that ended without a response"
    );
}

#[test]
fn attempts_without_a_plan_or_outside_the_chain_are_never_sent() {
    let (gw, root) = configured();
    // No plan at all (the gateway filter missing, or in another VM): a fallback target is
    // refused; the chain's first target (the route names it) may go as the gateway prepared it.
    let h = attempt_host(&[], BODY.as_bytes(), None, Some("azure-gpt-4o"));
    h.properties
        .borrow_mut()
        .insert("xds.route_name".into(), b"model:gpt-4o+azure-gpt-4o".to_vec());
    assert_eq!(Root.request().on_request_headers(&h, false), Action::Pause);
    let sent = h.sent.borrow().clone().unwrap();
    assert_eq!(sent.status, 500);
    assert!(String::from_utf8_lossy(&sent.body).contains("gateway_internal_error"));
    let h = attempt_host(&[], BODY.as_bytes(), None, Some("gpt-4o"));
    h.properties
        .borrow_mut()
        .insert("xds.route_name".into(), b"model:gpt-4o+azure-gpt-4o".to_vec());
    assert_eq!(Root.request().on_request_headers(&h, false), Action::Continue);
    assert!(h.sent.borrow().is_none());
    let h = attempt_host(&[], BODY.as_bytes(), None, Some("gpt-4o"));
    assert_eq!(
        Root.request().on_request_headers(&h, false),
        Action::Pause,
        "no route name: refused"
    );

    // A confidential request to the premium Claude has no fallback (its only one is
    // general-tier): no plan is registered, its route holds the requested model alone.
    let body = r#"{"model":"claude-sonnet-private","max_tokens":16,"messages":[{"role":"user","content":"Project Bluebird numbers"}]}"#;
    let _req = forward(&gw, &root, "/v1/messages", body, &[]);
    assert_eq!(
        header(&gw, "x-genai-upstream").as_deref(),
        Some("model:claude-sonnet-private")
    );
    assert_eq!(gw.property_text("genai_attempts"), None);

    // A public one to the same model may fall back; an attempt Envoy sent elsewhere than the
    // chain (a configuration out of step) is refused.
    let body = r#"{"model":"claude-sonnet-private","max_tokens":16,"messages":[{"role":"user","content":"hello"}]}"#;
    let _req = forward(&gw, &root, "/v1/messages", body, &[]);
    assert_eq!(
        header(&gw, "x-genai-upstream").as_deref(),
        Some("model:claude-sonnet-private+claude-sonnet")
    );
    let key = gw.property_text("genai_attempts").unwrap();
    let forwarded = gw.request_body.borrow().clone();
    let h = attempt_host(&gw.request_headers.borrow(), &forwarded, Some(&key), Some("gpt-4o"));
    assert_eq!(Root.request().on_request_headers(&h, false), Action::Pause);
    let sent = h.sent.borrow().clone().unwrap();
    assert_eq!(sent.status, 500);
    assert!(String::from_utf8_lossy(&sent.body).contains("gateway_internal_error"));
    // The Anthropic fallback: the client's own anthropic-version is absent, so the target's.
    let h = attempt_host(
        &gw.request_headers.borrow(),
        &forwarded,
        Some(&key),
        Some("claude-sonnet"),
    );
    let mut r = Root.request();
    assert_eq!(
        r.on_request_headers(&h, false),
        Action::Continue,
        "same upstream model: headers only"
    );
    assert_eq!(header(&h, "x-api-key").as_deref(), Some("sk-ant-test"));
    assert_eq!(header(&h, "anthropic-version").as_deref(), Some("2023-06-01"));
    assert_eq!(header(&h, "content-length"), Some(forwarded.len().to_string()));
}
