//! The effects of a request, stated: what the access log gets, what the provider gets.

use super::*;
use crate::testutil::{config, config_with_guardrails, ABC_KEY};
use std::sync::Arc;

fn headers(path: &str, extra: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = [
        (":method", "POST"),
        (":path", path),
        ("content-type", "application/json"),
        ("x-request-id", "req-42"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
    .collect();
    v.extend(extra.iter().map(|(k, val)| (k.to_string(), val.as_bytes().to_vec())));
    v
}

fn props(fx: &Effects) -> Vec<(&str, &str)> {
    fx.properties.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn set<'a>(fx: &'a Effects, name: &str) -> Option<&'a str> {
    fx.set_headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
}

/// Headers then the whole body; the effects of both.
fn run(flow: &mut RequestFlow, path: &str, extra: &[(&str, &str)], body: &str) -> (Effects, Effects) {
    let auth = format!("Bearer {ABC_KEY}");
    let mut h = vec![("authorization", auth.as_str())];
    h.extend_from_slice(extra);
    let first = flow.request_headers(&headers(path, &h), false);
    assert_eq!(first.next, Next::Pause);
    assert_eq!(
        flow.request_body_progress(body.len() / 2, false).map(|fx| fx.next),
        Some(Next::Pause)
    );
    assert!(flow.request_body_progress(body.len(), true).is_none());
    (first, flow.request_body(body.as_bytes().to_vec()))
}

#[test]
fn a_forwarded_request() {
    let mut flow = RequestFlow::new(config(), 0);
    let body = r#"{"model":"default-chat","messages":[{"role":"user","content":"Hello there"}],"temperature":0.2}"#;
    let (h, b) = run(
        &mut flow,
        "/v1/chat/completions",
        &[("x-genai-upstream", "spoofed")],
        body,
    );
    assert_eq!(props(&h), [("genai_team", "team-abc")]);
    assert_eq!(h.remove_headers, ["authorization", "x-genai-upstream"]);
    assert!(h.reply.is_none());

    assert_eq!(b.next, Next::Continue);
    assert_eq!(
        props(&b),
        [
            ("genai_classification", "public"),
            ("genai_action", "none"),
            ("genai_prompt", "user | Hello there"),
            ("genai_model", "gpt-4o"),
            ("genai_provider", "openai"),
        ],
        "the team was recorded at the header stage, once"
    );
    assert_eq!(set(&b, "x-genai-upstream"), Some("openai"));
    assert_eq!(set(&b, "authorization"), Some("Bearer sk-openai-secret"));
    assert_eq!(set(&b, "accept-encoding"), Some("identity"));
    assert_eq!(set(&b, ":path"), None, "the client's path is already the canonical one");
    assert!(
        b.remove_headers.is_empty(),
        "no transfer-encoding was sent: none to remove"
    );
    // Only the bytes up to the rewritten model change; the rest stays in Envoy's buffer.
    let edit = b.body.as_ref().unwrap();
    assert_eq!(edit.drain, r#"{"model":"default-chat""#.len());
    assert_eq!(edit.prefix, br#"{"model":"gpt-4o-2024-08-06""#);
    let sent = edit.apply_to(body.as_bytes());
    assert_eq!(sent, body.replace("default-chat", "gpt-4o-2024-08-06").as_bytes());
    assert_eq!(set(&b, "content-length"), Some(sent.len().to_string().as_str()));
    assert_eq!(edit.new_len, sent.len());
    assert!(b.audit.is_none() && b.reply.is_none());
}

#[test]
fn what_the_client_sent_differently_is_fixed() {
    let mut flow = RequestFlow::new(config(), 0);
    let body = r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"Hi"}]}"#;
    let (_, b) = run(
        &mut flow,
        "/v1/chat/completions/?x=1",
        &[("transfer-encoding", "chunked"), ("accept-encoding", "gzip, br")],
        body,
    );
    assert_eq!(set(&b, ":path"), Some("/v1/chat/completions?x=1"));
    assert_eq!(b.remove_headers, ["transfer-encoding"]);
    assert_eq!(set(&b, "accept-encoding"), Some("identity"));
    // Usage forced on the stream: inserted first in the object, so the prefix ends with the
    // model's rewrite.
    let edit = b.body.as_ref().unwrap();
    assert_eq!(edit.drain, r#"{"model":"gpt-4o""#.len());
    assert_eq!(
        edit.prefix,
        br#"{"stream_options":{"include_usage":true},"model":"gpt-4o-2024-08-06""#
    );
}

#[test]
fn a_refusal_replies_and_forwards_nothing() {
    let guardrails = r#"{"detection": {"custom_detectors": [{"name": "codename", "keywords": ["Project Bluebird"]}]},
        "detectors": {"codename": {"classification": "restricted"}}}"#;
    let mut flow = RequestFlow::new(config_with_guardrails(guardrails), 0);
    let body = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"Project Bluebird status"}]}"#;
    let (_, b) = run(&mut flow, "/v1/chat/completions", &[], body);
    assert_eq!(b.next, Next::Pause);
    assert!(b.set_headers.is_empty() && b.body.is_none() && b.remove_headers.is_empty());
    let r = b.reply.as_ref().unwrap();
    assert_eq!((r.status, r.details.as_str()), (403, "genai_classification_mismatch"));
    assert!(r
        .headers
        .contains(&("x-genai-error-code", "classification_mismatch".into())));
    assert_eq!(
        props(&b),
        [
            ("genai_classification", "restricted"),
            ("genai_detected", "codename:1"),
            ("genai_action", "block"),
            ("genai_model", "gpt-4o"),
            ("genai_provider", "openai"),
            ("genai_error_code", "classification_mismatch"),
        ]
    );
}

#[test]
fn a_bad_key_is_refused_at_the_headers() {
    let mut flow = RequestFlow::new(config(), 0);
    let fx = flow.request_headers(
        &headers("/v1/chat/completions", &[("authorization", "Bearer wrong")]),
        false,
    );
    assert_eq!(fx.next, Next::Pause);
    assert_eq!(props(&fx), [("genai_error_code", "unauthorized")]);
    assert!(fx.remove_headers.is_empty());
    assert_eq!(fx.reply.unwrap().status, 401);
}

#[test]
fn the_audit_record_names_types_never_values() {
    let guardrails = r#"{"detectors": {"email": {"action": "redact"}}, "audit_from": "public"}"#;
    let mut flow = RequestFlow::new(config_with_guardrails(guardrails), 0);
    let body = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"mail jane@example.com"}]}"#;
    let (_, b) = run(&mut flow, "/v1/chat/completions", &[], body);
    assert_eq!(b.next, Next::Continue);
    let audit = b.audit.expect("an audit record");
    let json: serde_json::Value = serde_json::from_str(audit.strip_prefix("genai audit: ").unwrap()).unwrap();
    assert_eq!(json["request_id"], "req-42");
    assert_eq!(json["team"], "team-abc");
    assert_eq!(json["detected"], "email:1");
    assert!(!audit.contains("jane@example.com"));
    // The redaction is in the body the provider gets.
    let sent = b.body.unwrap().apply_to(body.as_bytes());
    assert!(!String::from_utf8_lossy(&sent).contains("jane@example.com"));
}

#[test]
fn trailers_and_failures_are_refused() {
    let mut flow = RequestFlow::new(config(), 0);
    let auth = format!("Bearer {ABC_KEY}");
    flow.request_headers(&headers("/v1/chat/completions", &[("authorization", &auth)]), false);
    let fx = flow.request_trailers();
    assert_eq!(fx.reply.unwrap().status, 400);
    let mut flow = RequestFlow::new(Arc::clone(&config()), 0);
    let fx = flow.failed("set a request header");
    assert_eq!(fx.reply.as_ref().unwrap().status, 500);
    assert_eq!(props(&fx), [("genai_error_code", "gateway_internal_error")]);
    let fx = Effects::unconfigured();
    assert_eq!((fx.reply.unwrap().status, fx.next), (500, Next::Pause));
}

/// A compressed request body is refused before it is read: its inspection cannot be walked
/// around by compressing the prompt.
#[test]
fn a_compressed_request_body_is_refused() {
    for enc in ["gzip", "br", "deflate, gzip", "x-anything"] {
        let mut flow = RequestFlow::new(config(), 0);
        let auth = format!("Bearer {ABC_KEY}");
        let fx = flow.request_headers(
            &headers(
                "/v1/chat/completions",
                &[("authorization", &auth), ("content-encoding", enc)],
            ),
            false,
        );
        let r = fx.reply.expect("refused");
        assert_eq!((r.status, fx.next), (400, Next::Pause), "{enc}");
        assert!(String::from_utf8_lossy(&r.body).contains("uncompressed"), "{enc}");
    }
    let mut flow = RequestFlow::new(config(), 0);
    let auth = format!("Bearer {ABC_KEY}");
    let fx = flow.request_headers(
        &headers(
            "/v1/chat/completions",
            &[("authorization", &auth), ("content-encoding", "identity")],
        ),
        false,
    );
    assert!(fx.reply.is_none(), "identity is no encoding");
}
