use super::*;
use crate::testutil::{config, ABC_KEY, XYZ_KEY};

fn headers(method: &str, path: &str, extra: &[(&str, &[u8])]) -> Vec<(String, Vec<u8>)> {
    let mut v = vec![
        (":method".to_string(), method.as_bytes().to_vec()),
        (":path".to_string(), path.as_bytes().to_vec()),
        ("content-type".to_string(), b"application/json".to_vec()),
    ];
    v.extend(extra.iter().map(|(n, val)| (n.to_string(), val.to_vec())));
    v
}

fn bearer(key: &str) -> Vec<u8> {
    format!("Bearer {key}").into_bytes()
}

fn respond(o: HeadersOutcome) -> LocalResponse {
    match o {
        HeadersOutcome::Respond(r) => r,
        other => panic!("expected a local response, got {other:?}"),
    }
}

fn code_of(r: &LocalResponse) -> String {
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    v["error"]["code"].as_str().unwrap().to_string()
}

/// Runs a request through both stages.
fn run(path: &str, extra: &[(&str, &[u8])], body: &str) -> (Vec<String>, BodyOutcome) {
    let mut flow = RequestFlow::new(config(), 0);
    let strip = match flow.on_headers(&headers("POST", path, extra), false) {
        HeadersOutcome::HoldForBody { strip } => strip,
        HeadersOutcome::Respond(r) => {
            panic!("rejected at headers: {}", String::from_utf8_lossy(&r.body))
        }
        HeadersOutcome::Forward { .. } => panic!("forwarded at headers"),
    };
    assert!(matches!(
        flow.on_body_progress(body.len() / 2, false),
        Some(BodyOutcome::Buffer)
    ));
    assert!(flow.on_body_progress(body.len(), true).is_none());
    (strip, flow.on_body(body.as_bytes().to_vec()))
}

fn forward(o: BodyOutcome) -> ForwardPlan {
    match o {
        BodyOutcome::Forward(p) => p,
        other => panic!("expected forward, got {other:?}"),
    }
}

fn header<'a>(p: &'a ForwardPlan, name: &str) -> Option<&'a str> {
    p.set_headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
}

#[test]
fn openai_alias_is_rewritten_and_credentials_swapped() {
    let key = bearer(ABC_KEY);
    let body = r#"{"model":"default-chat","messages":[{"role":"user","content":"hi"}],"stream":true}"#;
    let (strip, out) = run(
        "/v1/chat/completions",
        &[("authorization", &key), ("x-genai-upstream", b"azure")],
        body,
    );
    assert_eq!(strip, vec!["authorization", "x-genai-upstream"]);
    let p = forward(out);
    assert_eq!(p.team, "team-abc");
    assert_eq!(p.model, "gpt-4o");
    assert_eq!(p.provider, "openai");
    assert!(p.stream);
    assert_eq!(header(&p, "x-genai-upstream"), Some("openai"));
    assert_eq!(header(&p, "authorization"), Some("Bearer sk-openai-secret"));
    let new_body = p.new_body.as_ref().unwrap();
    // The alias is rewritten, and usage is turned on for the stream (the client did not ask).
    let expected = body.replace("default-chat", "gpt-4o-2024-08-06").replacen(
        '{',
        r#"{"stream_options":{"include_usage":true},"#,
        1,
    );
    assert_eq!(String::from_utf8_lossy(new_body), expected);
    assert_eq!(header(&p, ":path"), Some("/v1/chat/completions"));
    assert_eq!(header(&p, "content-length"), Some(new_body.len().to_string().as_str()));
    assert!(
        !format!("{p:?}").contains("sk-openai-secret"),
        "Debug leaks the provider key"
    );
}

#[test]
fn anthropic_gets_x_api_key_and_version() {
    let body = r#"{"model":"claude-sonnet","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}"#;
    let (strip, out) = run("/v1/messages", &[("x-api-key", XYZ_KEY.as_bytes())], body);
    assert_eq!(strip, vec!["x-api-key"]);
    let p = forward(out);
    assert_eq!(p.team, "team-xyz");
    assert_eq!(header(&p, "x-genai-upstream"), Some("anthropic-up"));
    assert_eq!(header(&p, "x-api-key"), Some("sk-ant-secret"));
    assert_eq!(header(&p, "anthropic-version"), Some("2023-06-01"));
    assert_eq!(header(&p, "authorization"), None);

    let (_, out) = run(
        "/v1/messages",
        &[("x-api-key", XYZ_KEY.as_bytes()), ("anthropic-version", b"2024-01-01")],
        body,
    );
    assert_eq!(
        header(&forward(out), "anthropic-version"),
        None,
        "the client's version is kept"
    );
}

#[test]
fn azure_gets_api_key_and_deployment_path() {
    let key = bearer(ABC_KEY);
    let body = r#"{"model":"azure-gpt-4o","messages":[{"role":"user","content":"hi"}]}"#;
    let p = forward(run("/v1/chat/completions", &[("authorization", &key)], body).1);
    assert_eq!(header(&p, "api-key"), Some("azure-secret"));
    assert_eq!(
        header(&p, ":path"),
        Some("/openai/deployments/gpt4o-deployment/chat/completions?api-version=2024-10-21")
    );
}

#[test]
fn rewritten_body_drops_transfer_encoding() {
    let key = bearer(ABC_KEY);
    let body = r#"{"model":"claude-sonnet","messages":[1]}"#;
    let p = forward(run("/v1/messages", &[("authorization", &key)], body).1);
    assert!(p.new_body.is_some());
    assert_eq!(p.remove_headers, vec!["transfer-encoding"]);
}

#[test]
fn header_stage_rejections() {
    let key = bearer(ABC_KEY);
    type Case = (Vec<(String, Vec<u8>)>, bool, u32, &'static str);
    let cases: Vec<Case> = vec![
        (headers("POST", "/v1/chat/completions", &[]), false, 401, "unauthorized"),
        (
            headers("POST", "/v1/chat/completions", &[("authorization", b"Bearer wrong")]),
            false,
            401,
            "unauthorized",
        ),
        (
            headers("POST", "/v1/embeddings", &[("authorization", &key)]),
            false,
            404,
            "unsupported_endpoint",
        ),
        (
            headers("GET", "/v1/chat/completions", &[("authorization", &key)]),
            true,
            405,
            "method_not_allowed",
        ),
        (
            headers("POST", "/v1/chat/completions", &[("authorization", &key)]),
            true,
            400,
            "invalid_request",
        ),
        (
            headers(
                "POST",
                "/v1/chat/completions",
                &[("authorization", &key), ("x-note", b"\xff")],
            ),
            false,
            400,
            "invalid_request",
        ),
        (
            headers(
                "POST",
                "/v1/chat/completions",
                &[("authorization", &key), ("content-length", b"1001")],
            ),
            false,
            413,
            "request_too_large",
        ),
        (
            headers(
                "POST",
                "/v1/chat/completions",
                &[("authorization", &key), ("content-length", b"0")],
            ),
            false,
            400,
            "invalid_request",
        ),
    ];
    for (hs, eos, status, code) in cases {
        let mut flow = RequestFlow::new(config(), 0);
        let r = respond(flow.on_headers(&hs, eos));
        assert_eq!((r.status, code_of(&r).as_str()), (status, code), "{hs:?}");
        assert!(!String::from_utf8_lossy(&r.body).contains(ABC_KEY));
        assert!(
            flow.on_body_progress(10, true).is_none(),
            "a rejected flow takes no body"
        );
    }
}

#[test]
fn body_stage_rejections() {
    let key = bearer(ABC_KEY);
    let cases = [
        ("/v1/chat/completions", "{", 400, "invalid_request"),
        (
            "/v1/chat/completions",
            r#"{"model":"nope","messages":[1]}"#,
            404,
            "model_not_found",
        ),
        (
            "/v1/chat/completions",
            r#"{"model":"claude-sonnet","messages":[1]}"#,
            400,
            "model_api_mismatch",
        ),
        (
            "/v1/messages",
            r#"{"model":"default-chat","messages":[1]}"#,
            400,
            "model_api_mismatch",
        ),
    ];
    for (path, body, status, code) in cases {
        match run(path, &[("authorization", &key)], body).1 {
            BodyOutcome::Respond(r) => {
                assert_eq!((r.status, code_of(&r).as_str()), (status, code), "{body}")
            }
            other => panic!("{body}: expected rejection, got {other:?}"),
        }
    }
}

#[test]
fn oversized_body_without_content_length_is_413() {
    let key = bearer(ABC_KEY);
    let mut flow = RequestFlow::new(config(), 0);
    assert!(matches!(
        flow.on_headers(
            &headers("POST", "/v1/chat/completions", &[("authorization", &key)]),
            false
        ),
        HeadersOutcome::HoldForBody { .. }
    ));
    match flow.on_body_progress(1001, false) {
        Some(BodyOutcome::Respond(r)) => assert_eq!(code_of(&r), "request_too_large"),
        other => panic!("expected 413, got {other:?}"),
    }
}

#[test]
fn models_list_is_served_locally_after_auth() {
    let key = bearer(ABC_KEY);
    let mut flow = RequestFlow::new(config(), 0);
    let r = respond(flow.on_headers(&headers("GET", "/v1/models", &[("authorization", &key)]), true));
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let ids: Vec<_> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["azure-gpt-4o", "claude-sonnet", "default-chat", "gpt-4o"]);
    // What the playground shows: the model an alias stands for, its API, tier, prices.
    let alias = &v["data"][2]["gateway"];
    assert_eq!(alias["alias_of"], "gpt-4o");
    assert_eq!(alias["api"], "chat_completions");
    assert_eq!(
        alias["endpoints"],
        serde_json::json!(["/v1/chat/completions", "/v1/responses"])
    );
    assert_eq!(alias["tier"], "general");
    assert_eq!(alias["approved_for"], serde_json::json!(["public", "internal"]));
    assert_eq!(alias["pricing"]["input_per_million"], 2.5);
    assert_eq!(alias["pricing"]["cached_input_microdollars_per_million"], 1_250_000);
    let claude = &v["data"][1]["gateway"];
    assert_eq!(
        (claude["api"].as_str(), claude["alias_of"].is_null()),
        (Some("messages"), true)
    );
    assert_eq!(
        claude["approved_for"],
        serde_json::json!(["public", "internal", "confidential"])
    );
    assert!(claude["pricing"].is_null());
    let mut flow = RequestFlow::new(config(), 0);
    assert_eq!(
        respond(flow.on_headers(&headers("GET", "/v1/models", &[]), true)).status,
        401
    );
}

#[test]
fn refusals_on_messages_take_anthropic_shape_with_the_request_id() {
    let mut flow = RequestFlow::new(config(), 0);
    let h = headers(
        "POST",
        "/v1/messages?beta=true",
        &[("x-api-key", b"wrong"), ("x-request-id", b"abc-123")],
    );
    let r = respond(flow.on_headers(&h, false));
    assert_eq!(r.status, 401);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["request_id"], "abc-123");
    assert_eq!(v["error"]["type"], "authentication_error");
    assert_eq!(v["error"]["code"], "unauthorized");
    assert_eq!(v["error"]["details"]["error_code"], "unauthorized");
    assert_eq!(r.headers, vec![("request-id", "abc-123".to_string())]);

    // After authentication too: a body refusal on /v1/messages.
    let key = XYZ_KEY.as_bytes().to_vec();
    let mut flow = RequestFlow::new(config(), 0);
    let h = headers("POST", "/v1/messages", &[("x-api-key", &key)]);
    assert!(matches!(flow.on_headers(&h, false), HeadersOutcome::HoldForBody { .. }));
    let BodyOutcome::Respond(r) =
        flow.on_body(br#"{"model":"nope","max_tokens":5,"messages":[{"role":"user","content":"x"}]}"#.to_vec())
    else {
        panic!("expected a refusal")
    };
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!((r.status, v["error"]["type"].as_str()), (404, Some("not_found_error")));
    assert_eq!(v["error"]["code"], "model_not_found");
    assert!(v.get("request_id").is_none(), "no x-request-id, none invented");
}

#[test]
fn refusals_elsewhere_keep_openai_shape_and_odd_request_ids_are_not_echoed() {
    let mut flow = RequestFlow::new(config(), 0);
    let h = headers("POST", "/v1/chat/completions", &[("x-request-id", b"abc")]);
    let r = respond(flow.on_headers(&h, false));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["error"]["type"], "authentication_error");
    assert!(v.get("type").is_none() && r.headers.is_empty());

    let mut flow = RequestFlow::new(config(), 0);
    let h = headers("GET", "/v1/messages", &[("x-request-id", b"a b\"c")]);
    let r = respond(flow.on_headers(&h, false));
    assert_eq!(r.status, 405);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(v.get("request_id").is_none());
    assert_eq!(r.headers, vec![("allow", "POST".to_string())]);
}
