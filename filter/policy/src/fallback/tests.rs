use std::sync::Arc;

use super::attempt::End;
use super::report::{points, summary, Final};
use super::*;
use crate::config::chains::tests::chains_json;
use crate::config::compile;
use Classification::*;

fn config() -> Arc<Compiled> {
    let mut c = compile(chains_json().as_bytes()).unwrap();
    c.resolve_credentials(|name| Some(format!("key-of-{name}"))).unwrap();
    Arc::new(c)
}

fn ix(c: &Compiled, name: &str) -> usize {
    c.model_index(name).unwrap()
}

fn names(c: &Compiled, targets: &[usize]) -> Vec<String> {
    targets.iter().map(|t| c.models[*t].name.clone()).collect()
}

fn all(_: usize) -> bool {
    true
}

#[test]
fn classification_decides_which_fallbacks_a_request_may_use() {
    let c = config();
    let gpt = ix(&c, "gpt-4o");
    // gpt-4o → azure-gpt-4o (general) → llama-internal (self_hosted): internal data may use all.
    let chain = select(&c, gpt, Api::ChatCompletions, Internal, all);
    assert_eq!(names(&c, &chain.targets), ["gpt-4o", "azure-gpt-4o", "llama-internal"]);
    assert_eq!(chain.positions, [0, 1, 2]);
    assert!(chain.skipped.is_empty());

    // claude-sonnet-private (premium) → claude-sonnet (general): confidential data stays.
    let private = ix(&c, "claude-sonnet-private");
    let chain = select(&c, private, Api::Messages, Confidential, all);
    assert_eq!(names(&c, &chain.targets), ["claude-sonnet-private"]);
    assert_eq!(
        chain.skipped,
        [Skipped {
            position: 1,
            model: ix(&c, "claude-sonnet"),
            why: Skip::Classification
        }]
    );
    assert_eq!(select(&c, private, Api::Messages, Public, all).targets.len(), 2);

    // llama-internal (self_hosted) → gpt-4o-mini (general): restricted data never reaches it.
    let llama = ix(&c, "llama-internal");
    let chain = select(&c, llama, Api::ChatCompletions, Restricted, all);
    assert_eq!(names(&c, &chain.targets), ["llama-internal"]);
    assert_eq!(chain.skipped[0].why, Skip::Classification);
}

#[test]
fn endpoint_and_team_skips() {
    let c = config();
    let gpt = ix(&c, "gpt-4o");
    // Azure OpenAI does not serve the Responses API.
    let chain = select(&c, gpt, Api::Responses, Public, all);
    assert_eq!(names(&c, &chain.targets), ["gpt-4o", "llama-internal"]);
    assert_eq!(chain.positions, [0, 2]);
    assert_eq!(chain.skipped[0].why, Skip::Endpoint);
    // A team not allowed a target; classification is checked first.
    let azure = ix(&c, "azure-gpt-4o");
    let chain = select(&c, gpt, Api::ChatCompletions, Public, |m| m != azure);
    assert_eq!(
        chain.skipped,
        [Skipped {
            position: 1,
            model: azure,
            why: Skip::Team
        }]
    );
    let chain = select(&c, gpt, Api::ChatCompletions, Confidential, |m| m != azure);
    assert_eq!(chain.skipped[0].why, Skip::Classification);
    assert_eq!(names(&c, &chain.targets), ["gpt-4o", "llama-internal"]);
}

#[test]
fn target_headers_per_provider() {
    let c = config();
    let h = |model: &str, api, q: &str, sent: bool| -> Vec<(String, String)> {
        target_headers(&c, ix(&c, model), api, q, sent)
            .unwrap()
            .into_iter()
            .map(|(n, v)| (n.to_string(), v.as_str().to_string()))
            .collect()
    };
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    };
    assert_eq!(
        h("gpt-4o", Api::ChatCompletions, "?x=1", false),
        pairs(&[
            (":path", "/v1/chat/completions?x=1"),
            ("authorization", "Bearer key-of-OPENAI_API_KEY")
        ])
    );
    assert_eq!(
        h("azure-gpt-4o", Api::ChatCompletions, "?x=1", false),
        pairs(&[
            ("api-key", "key-of-AZURE_OPENAI_API_KEY"),
            (
                ":path",
                "/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21"
            ),
        ])
    );
    assert_eq!(
        h("claude-sonnet-private", Api::Messages, "?beta=true", false),
        pairs(&[
            (":path", "/v1/messages?beta=true"),
            ("x-api-key", "key-of-ANTHROPIC_PRIVATE_API_KEY"),
            ("anthropic-version", "2024-01-01"),
        ])
    );
    assert_eq!(
        h("claude-sonnet", Api::Messages, "", true).len(),
        2,
        "the client's anthropic-version is kept"
    );
    // Secrets stay out of Debug output.
    let dbg = format!(
        "{:?}",
        target_headers(&c, ix(&c, "gpt-4o"), Api::ChatCompletions, "", false)
    );
    assert!(!dbg.contains("key-of-OPENAI"), "{dbg}");
}

const BODY: &[u8] = br#"{"model":"gpt-4o-2024-08-06","messages":[{"role":"user","content":"hi"}]}"#;

fn plan(
    c: &Arc<Compiled>,
    primary: &str,
    api: Api,
    class: Classification,
    body: &[u8],
    sent_version: bool,
) -> AttemptPlan {
    let start = body.windows(8).position(|w| w == b"\"model\":").unwrap() + 8;
    let end = start + body[start + 1..].iter().position(|b| *b == b'"').unwrap() + 2;
    AttemptPlan {
        config: Arc::clone(c),
        api,
        chain: select(c, ix(c, primary), api, class, all),
        query: String::new(),
        client_sent_anthropic_version: sent_version,
        model_span: (start, end),
        forwarded_model: body[start..end].to_vec(),
        forwarded_len: body.len(),
    }
}

fn rewrite(start: AttemptStart) -> AttemptRewrite {
    match start {
        AttemptStart::Rewrite(r) => r,
        other => panic!("expected a rewrite, got {other:?}"),
    }
}

fn header<'a>(r: &'a AttemptRewrite, name: &str) -> Option<&'a str> {
    r.set_headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
}

#[test]
fn each_attempt_is_made_right_for_its_target() {
    let c = config();
    let mut a = Attempts::new(plan(&c, "gpt-4o", Api::ChatCompletions, Internal, BODY, false));
    // Attempt 1, the requested model: the gateway prepared it already.
    let (n, start) = a.begin(Some("gpt-4o"), 1000);
    assert_eq!(n, 0);
    assert!(matches!(start, AttemptStart::Continue), "{start:?}");
    a.on_response(n, 503);
    a.on_done(n, true, false, 1010);

    // Attempt 2, Azure: its key, its deployment path, its model; the OpenAI key removed.
    let (n, start) = a.begin(Some("azure-gpt-4o"), 1050);
    let r = rewrite(start);
    assert_eq!(header(&r, "api-key"), Some("key-of-AZURE_OPENAI_API_KEY"));
    assert_eq!(
        header(&r, ":path"),
        Some("/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21")
    );
    assert!(r.remove_headers.contains(&"authorization") && r.remove_headers.contains(&"x-api-key"));
    assert!(r.remove_headers.contains(&"transfer-encoding"));
    assert!(r.needs_body());
    let body = r.body(BODY).unwrap();
    assert_eq!(body, BODY.to_vec().replace_model("gpt-4o-prod"));
    assert_eq!(header(&r, "content-length"), Some(body.len().to_string().as_str()));
    a.on_done(n, false, true, 1060);

    // Attempt 3, self-hosted (OpenAI kind): the shared headers still hold Azure's, so it
    // sets its own and removes `api-key`, and its own length.
    let (_, start) = a.begin(Some("llama-internal"), 1100);
    let r = rewrite(start);
    assert_eq!(header(&r, "authorization"), Some("Bearer key-of-SELF_HOSTED_API_KEY"));
    assert_eq!(header(&r, ":path"), Some("/v1/chat/completions"));
    assert!(r.remove_headers.contains(&"api-key"));
    let body = r.body(BODY).unwrap();
    assert!(std::str::from_utf8(&body)
        .unwrap()
        .contains(r#""model":"llama-3.1-70b""#));
    assert_eq!(header(&r, "content-length"), Some(body.len().to_string().as_str()));
    assert_eq!(a.log().len(), 3);
    assert_eq!(a.log()[1].end, Some(End::ConnectFailure));
}

trait ReplaceModel {
    fn replace_model(self, to: &str) -> Vec<u8>;
}

impl ReplaceModel for Vec<u8> {
    fn replace_model(self, to: &str) -> Vec<u8> {
        String::from_utf8(self)
            .unwrap()
            .replace("gpt-4o-2024-08-06", to)
            .into_bytes()
    }
}

#[test]
fn an_attempt_to_a_target_outside_the_chain_is_never_sent() {
    let c = config();
    // Confidential: claude-sonnet (general) is not in the chain.
    let body = br#"{"model":"claude-sonnet-4-5","max_tokens":9,"messages":[]}"#;
    let mut a = Attempts::new(plan(
        &c,
        "claude-sonnet-private",
        Api::Messages,
        Confidential,
        body,
        false,
    ));
    for target in [Some("claude-sonnet"), Some("no-such-model"), None] {
        let (_, start) = a.begin(target, 5);
        match start {
            AttemptStart::Refuse(r) => {
                assert_eq!(r.status, 500);
                assert_eq!(r.code, Some(ErrorCode::GatewayInternalError));
            }
            other => panic!("{target:?}: {other:?}"),
        }
    }
    assert!(a.log().iter().all(|x| x.refused));
    assert_eq!(a.served(), None);
    assert_eq!(a.last_target(), None);
}

use crate::error::ErrorCode;

#[test]
fn a_fallback_within_the_same_family_keeps_the_clients_anthropic_version() {
    let c = config();
    let body = br#"{"model":"claude-sonnet-4-5","max_tokens":9,"messages":[]}"#;
    let mut a = Attempts::new(plan(&c, "claude-sonnet-private", Api::Messages, Public, body, true));
    assert!(matches!(
        a.begin(Some("claude-sonnet-private"), 0).1,
        AttemptStart::Continue
    ));
    let r = rewrite(a.begin(Some("claude-sonnet"), 10).1);
    assert_eq!(header(&r, "x-api-key"), Some("key-of-ANTHROPIC_API_KEY"));
    assert_eq!(header(&r, "anthropic-version"), None, "the client sent one");
    assert!(!r.needs_body(), "same upstream model: only headers change");
    assert_eq!(r.body(body).unwrap(), body.to_vec());
    assert_eq!(header(&r, "content-length"), Some(body.len().to_string().as_str()));

    let mut a = Attempts::new(plan(&c, "claude-sonnet-private", Api::Messages, Public, body, false));
    a.begin(Some("claude-sonnet-private"), 0);
    let r = rewrite(a.begin(Some("claude-sonnet"), 10).1);
    assert_eq!(
        header(&r, "anthropic-version"),
        Some("2023-06-01"),
        "the fallback provider's own"
    );
}

#[test]
fn how_attempts_ended() {
    let c = config();
    let mut a = Attempts::new(plan(&c, "gpt-4o", Api::ChatCompletions, Internal, BODY, false));
    let first_byte = c.model("gpt-4o").unwrap().timeouts.first_byte_ms;
    let (n, _) = a.begin(Some("gpt-4o"), 0);
    a.on_done(n, true, false, first_byte);
    assert_eq!(a.log()[n].end, Some(End::Timeout));
    let (n, _) = a.begin(Some("azure-gpt-4o"), first_byte);
    a.on_done(n, true, false, first_byte + 30);
    assert_eq!(a.log()[n].end, Some(End::Reset));
    let (n, _) = a.begin(Some("llama-internal"), first_byte + 60);
    a.on_response(n, 200);
    a.on_done(n, true, false, first_byte + 90);
    assert_eq!(a.log()[n].end, None, "it answered");
    assert_eq!(a.served(), Some(ix(&c, "llama-internal")));
}

/// (target, response status, (connected, transport failure) when told it ended).
type Step<'a> = (&'a str, Option<u32>, Option<(bool, bool)>);

fn attempts(c: &Arc<Compiled>, primary: &str, class: Classification, script: &[Step<'_>]) -> Attempts {
    let mut a = Attempts::new(plan(c, primary, Api::ChatCompletions, class, BODY, false));
    let mut now = 0;
    for (target, status, done) in script {
        let (n, _) = a.begin(Some(target), now);
        if let Some(s) = status {
            a.on_response(n, *s);
        }
        now += 5;
        if let Some((connected, transport_failure)) = done {
            a.on_done(n, *connected, *transport_failure, now);
        }
    }
    a
}

fn report(c: &Compiled, a: &Attempts, fin: Final) -> String {
    summary(&points(c, &a.plan().chain, a.log(), Some(fin)))
}

const OK: Final = Final {
    status: 200,
    from_provider: true,
};

#[test]
fn fallbacks_are_reported_with_their_reasons() {
    let c = config();
    let a = attempts(&c, "gpt-4o", Internal, &[("gpt-4o", Some(200), Some((true, false)))]);
    assert_eq!(report(&c, &a, OK), "", "no fallback");

    let a = attempts(
        &c,
        "gpt-4o",
        Internal,
        &[
            ("gpt-4o", Some(429), Some((true, false))),
            ("azure-gpt-4o", None, Some((false, true))),
            ("llama-internal", Some(200), None),
        ],
    );
    assert_eq!(
        report(&c, &a, OK),
        "gpt-4o>azure-gpt-4o:rate_limited,azure-gpt-4o>llama-internal:connect_failure"
    );

    // Envoy's load balancer passed gpt-4o over (ejected): the first attempt went to Azure.
    let a = attempts(&c, "gpt-4o", Internal, &[("azure-gpt-4o", Some(200), None)]);
    assert_eq!(report(&c, &a, OK), "gpt-4o>azure-gpt-4o:unhealthy");

    // The last attempt failed and Envoy answered before the attempt was told it ended.
    let a = attempts(
        &c,
        "gpt-4o",
        Internal,
        &[
            ("gpt-4o", Some(503), None),
            ("azure-gpt-4o", None, None),
            ("llama-internal", None, None),
        ],
    );
    let fin = Final {
        status: 504,
        from_provider: false,
    };
    assert_eq!(
        report(&c, &a, fin),
        "gpt-4o>azure-gpt-4o:server_error,azure-gpt-4o>llama-internal:reset"
    );
}

#[test]
fn skipped_targets_are_counted_only_where_the_chain_reached_them() {
    let c = config();
    // Confidential to gpt-4o is refused by the guardrails before any of this; restricted to
    // llama-internal: its only fallback is general-tier.
    let llama = ix(&c, "llama-internal");
    let chain = select(&c, llama, Api::ChatCompletions, Restricted, all);
    let failed = Final {
        status: 503,
        from_provider: true,
    };
    // No attempt filter ran (one target): the response decides.
    assert_eq!(summary(&points(&c, &chain, &[], Some(OK))), "");
    assert_eq!(
        summary(&points(&c, &chain, &[], Some(failed))),
        "llama-internal>gpt-4o-mini:classification"
    );
    let timeout = Final {
        status: 504,
        from_provider: false,
    };
    assert_eq!(
        summary(&points(&c, &chain, &[], Some(timeout))),
        "llama-internal>gpt-4o-mini:classification"
    );
    let client_error = Final {
        status: 400,
        from_provider: true,
    };
    assert_eq!(
        summary(&points(&c, &chain, &[], Some(client_error))),
        "",
        "not a failure Envoy retries"
    );

    // Responses API to gpt-4o: Azure is skipped (endpoint); the skip is counted once the
    // first attempt failed, and llama-internal served.
    let mut a = Attempts::new(AttemptPlan {
        chain: select(&c, ix(&c, "gpt-4o"), Api::Responses, Public, all),
        ..plan(&c, "gpt-4o", Api::Responses, Public, BODY, false)
    });
    let (n, _) = a.begin(Some("gpt-4o"), 0);
    a.on_response(n, 500);
    let (n, _) = a.begin(Some("llama-internal"), 10);
    a.on_response(n, 200);
    assert_eq!(
        report(&c, &a, OK),
        "gpt-4o>llama-internal:server_error,gpt-4o>azure-gpt-4o:endpoint"
    );
}

// ---- Through the request flow: the decision, the response and the accounting.

use crate::flow::{BodyOutcome, ForwardPlan, HeadersOutcome, RequestFlow};

/// The chains configuration with emails redacted, as in the demo.
fn flow_config() -> Arc<Compiled> {
    let json = chains_json().replacen(
        '{',
        r#"{"guardrails": {"detectors": {"email": {"action": "redact"}}},"#,
        1,
    );
    let mut c = compile(json.as_bytes()).unwrap();
    c.resolve_credentials(|name| Some(format!("key-of-{name}"))).unwrap();
    Arc::new(c)
}

const KEY: &str = "team-abc-key-xxxxx";

fn forward(c: &Arc<Compiled>, path: &str, extra: &[(&str, &str)], body: &str) -> (RequestFlow, ForwardPlan) {
    let mut flow = RequestFlow::new(Arc::clone(c), 0);
    let mut headers = vec![
        (":method".to_string(), b"POST".to_vec()),
        (":path".to_string(), path.as_bytes().to_vec()),
        ("authorization".to_string(), format!("Bearer {KEY}").into_bytes()),
    ];
    headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())));
    assert!(matches!(
        flow.on_headers(&headers, false),
        HeadersOutcome::HoldForBody { .. }
    ));
    assert!(flow.on_body_progress(body.len(), true).is_none());
    match flow.on_body(body.as_bytes().to_vec()) {
        BodyOutcome::Forward(p) => (flow, p),
        other => panic!("expected forward, got {other:?}"),
    }
}

fn upstream(p: &ForwardPlan) -> &str {
    p.set_headers
        .iter()
        .find(|(n, _)| *n == "x-genai-upstream")
        .map(|(_, v)| v.as_str())
        .unwrap()
}

#[test]
fn the_route_names_exactly_the_approved_chain() {
    let c = flow_config();
    let body = r#"{"messages":[{"role":"user","content":"hi"}],"model":"default-chat"}"#;
    let (_, p) = forward(&c, "/v1/chat/completions", &[], body);
    assert_eq!(upstream(&p), "model:gpt-4o+azure-gpt-4o+llama-internal");
    assert!(p.attempts.is_some());

    // Confidential (declared) to the premium Claude: its general-tier fallback is left out,
    // so Envoy's route has the requested model alone, and no attempt filter is involved.
    let body = r#"{"model":"claude-sonnet-private","max_tokens":9,"messages":[{"role":"user","content":"hi"}]}"#;
    let (_, p) = forward(&c, "/v1/messages", &[("x-data-classification", "confidential")], body);
    assert_eq!(upstream(&p), "model:claude-sonnet-private");
    assert!(p.attempts.is_none());
    let (_, p) = forward(&c, "/v1/messages", &[], body);
    assert_eq!(upstream(&p), "model:claude-sonnet-private+claude-sonnet");

    // No fallbacks, no own timeouts: the provider's route, as before fallbacks existed.
    let body = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;
    let (_, p) = forward(&c, "/v1/chat/completions", &[], body);
    assert_eq!(upstream(&p), "openai");
    assert!(p.attempts.is_none());
}

#[test]
fn attempts_find_the_model_where_the_gateway_left_it() {
    // A redaction before `model` moves it; the stream forces usage, an insertion at the front.
    let c = flow_config();
    let body =
        r#"{"messages":[{"role":"user","content":"write to ann@example.com"}],"model":"default-chat","stream":true}"#;
    let (_, p) = forward(&c, "/v1/chat/completions", &[], body);
    let forwarded = p.new_body.clone().unwrap();
    let text = String::from_utf8(forwarded.clone()).unwrap();
    assert!(
        text.contains("[EMAIL_1]") && text.starts_with(r#"{"stream_options""#),
        "{text}"
    );
    let shared = p.attempts.unwrap();
    let mut a = shared.borrow_mut();
    let (s, e) = a.plan().model_span;
    assert_eq!(&forwarded[s..e], br#""gpt-4o-2024-08-06""#);
    assert_eq!(a.plan().forwarded_len, forwarded.len());
    a.begin(Some("gpt-4o"), 0);
    let r = rewrite(a.begin(Some("azure-gpt-4o"), 1).1);
    let body = String::from_utf8(r.body(&forwarded).unwrap()).unwrap();
    assert_eq!(body, text.replace("gpt-4o-2024-08-06", "gpt-4o-prod"));
    assert!(
        !body.contains("ann@example.com"),
        "the redaction holds for every attempt"
    );
}

/// A provider's response head (JSON), as the exchange reads it.
struct Head(u32);

impl crate::flow::ResponseHead for Head {
    fn status(&mut self) -> u32 {
        self.0
    }
    fn header(&mut self, name: &str) -> Option<Vec<u8>> {
        (name == "content-type").then(|| b"application/json".to_vec())
    }
    fn via_upstream(&mut self) -> bool {
        true
    }
}

fn property<'a>(plan: &'a crate::flow::ResponseHeadersPlan, name: &str) -> Option<&'a str> {
    plan.properties
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

fn usage_body(model: &str, prompt: u64, completion: u64) -> Vec<u8> {
    format!(
        r#"{{"id":"x","object":"chat.completion","model":"{model}","choices":[{{"index":0,"message":{{"role":"assistant","content":"ok"}},"finish_reason":"stop"}}],"usage":{{"prompt_tokens":{prompt},"completion_tokens":{completion},"total_tokens":{}}}}}"#,
        prompt + completion
    )
    .into_bytes()
}

#[test]
fn accounting_follows_the_attempt_that_served() {
    let c = flow_config();
    let body = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#;
    let (mut flow, p) = forward(&c, "/v1/chat/completions", &[], body);
    let shared = p.attempts.unwrap();
    {
        let mut a = shared.borrow_mut();
        let (n, _) = a.begin(Some("gpt-4o"), 0);
        a.on_response(n, 503);
        a.on_done(n, true, false, 5);
        let (n, _) = a.begin(Some("azure-gpt-4o"), 10);
        a.on_response(n, 200);
    }
    let x = flow.exchange().unwrap();
    let plan = x.on_response_headers(&mut Head(200));
    assert_eq!(property(&plan, "genai_model"), Some("azure-gpt-4o"));
    assert_eq!(property(&plan, "genai_provider"), Some("azure"));
    assert_eq!(property(&plan, "genai_requested_model"), Some("gpt-4o"));
    assert_eq!(
        property(&plan, "genai_fallbacks"),
        Some("gpt-4o>azure-gpt-4o:server_error")
    );
    let answer = usage_body("gpt-4o-prod", 1000, 100);
    x.on_response_body(answer.len(), true, &mut || Some(answer.clone()), &mut || 20);
    let o = flow.finish(30);
    assert_eq!(o.model.as_deref(), Some("azure-gpt-4o"));
    assert_eq!(o.provider.as_deref(), Some("azure"));
    assert_eq!(o.requested_model.as_deref(), Some("gpt-4o"));
    // Azure's prices ($5 in, $20 out per million), not gpt-4o's ($2.50, $10): 5000 + 2000.
    assert_eq!(o.cost_microdollars, Some(7000));
    assert_eq!(o.tokens.unwrap().input, 1000, "only the attempt that served is counted");
    assert_eq!(o.fallbacks.len(), 1);
}

#[test]
fn a_confidential_request_gets_the_primarys_failure_and_the_skip_is_counted() {
    let c = flow_config();
    let body = r#"{"model":"claude-sonnet-private","max_tokens":9,"messages":[{"role":"user","content":"hi"}]}"#;
    let (mut flow, _) = forward(&c, "/v1/messages", &[("x-data-classification", "confidential")], body);
    let x = flow.exchange().unwrap();
    let plan = x.on_response_headers(&mut Head(503));
    assert_eq!(
        property(&plan, "genai_model"),
        None,
        "the requested model's own failure"
    );
    assert_eq!(
        property(&plan, "genai_fallbacks"),
        Some("claude-sonnet-private>claude-sonnet:classification")
    );
    let o = flow.finish(10);
    assert_eq!(o.model.as_deref(), Some("claude-sonnet-private"));
    assert_eq!(o.tokens, None, "a failure is not billed");
    assert_eq!(o.fallbacks[0].reason, "classification");

    // The same request, succeeding: nothing was skipped that mattered.
    let (mut flow, _) = forward(&c, "/v1/messages", &[("x-data-classification", "confidential")], body);
    let plan = flow.exchange().unwrap().on_response_headers(&mut Head(200));
    assert!(plan.properties.is_empty());
    assert!(flow.finish(10).fallbacks.is_empty());
}

// ---- Fallbacks and the team's limits (issue 11).

/// The flow configuration with fleet-wide limits: team `t` has a daily budget and may use
/// only `allowed` (a JSON list).
fn limited_config(allowed: &str) -> Arc<Compiled> {
    let json = chains_json()
        .replacen(
            r#"{"name": "t", "#,
            &format!(r#"{{"name": "t", "daily_budget_dollars": 5, "allowed_models": {allowed}, "#),
            1,
        )
        .replacen('{', r#"{"rate_limits": {},"#, 1);
    let mut c = compile(json.as_bytes()).unwrap();
    c.resolve_credentials(|name| Some(format!("key-of-{name}"))).unwrap();
    Arc::new(c)
}

fn set_header<'a>(p: &'a ForwardPlan, name: &str) -> Option<&'a str> {
    p.set_headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
}

#[test]
fn a_fallback_the_team_may_not_use_is_left_out_and_counted() {
    let c = limited_config(r#"["default-chat", "llama-internal"]"#);
    let body = r#"{"model":"default-chat","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}"#;
    let (mut flow, p) = forward(&c, "/v1/chat/completions", &[], body);
    // azure-gpt-4o (gpt-4o's first fallback) is not among the team's models: Envoy's route
    // holds the other two only, so no attempt can reach it.
    assert_eq!(upstream(&p), "model:gpt-4o+llama-internal");
    // The worst case is the dearest target the request may reach: gpt-4o's prices here.
    let tokens = (body.len() as u64).div_ceil(4);
    let cost: u64 = set_header(&p, "x-genai-rl-cost-max").unwrap().parse().unwrap();
    assert_eq!(cost, (tokens * 2_500_000 + 100 * 10_000_000 + 500_000) / 1_000_000);
    let shared = p.attempts.unwrap();
    {
        let mut a = shared.borrow_mut();
        let (n, _) = a.begin(Some("gpt-4o"), 0);
        a.on_response(n, 503);
        a.on_done(n, true, false, 5);
        let (n, _) = a.begin(Some("llama-internal"), 10);
        a.on_response(n, 200);
    }
    let plan = flow.exchange().unwrap().on_response_headers(&mut Head(200));
    assert_eq!(property(&plan, "genai_model"), Some("llama-internal"));
    assert_eq!(
        property(&plan, "genai_fallbacks"),
        Some("gpt-4o>llama-internal:server_error,gpt-4o>azure-gpt-4o:team")
    );
    let o = flow.finish(30);
    assert_eq!(o.fallbacks.len(), 2);
    assert_eq!(o.fallbacks[1].reason, "team");

    // Without the restriction the same request's chain has all three.
    let c = limited_config(r#"["default-chat", "azure-gpt-4o", "llama-internal"]"#);
    let (_, p) = forward(&c, "/v1/chat/completions", &[], body);
    assert_eq!(upstream(&p), "model:gpt-4o+azure-gpt-4o+llama-internal");
    // Azure's prices ($5 in, $20 out per million) are now the worst case.
    let cost: u64 = set_header(&p, "x-genai-rl-cost-max").unwrap().parse().unwrap();
    assert_eq!(cost, (tokens * 5_000_000 + 100 * 20_000_000 + 500_000) / 1_000_000);
}

#[test]
fn the_stream_end_charge_is_the_serving_attempts_once() {
    let c = limited_config(r#"["gpt-4o", "azure-gpt-4o"]"#);
    let body = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#;
    let (mut flow, p) = forward(&c, "/v1/chat/completions", &[], body);
    assert_eq!(upstream(&p), "model:gpt-4o+azure-gpt-4o");
    let shared = p.attempts.unwrap();
    {
        let mut a = shared.borrow_mut();
        let (n, _) = a.begin(Some("gpt-4o"), 0);
        a.on_response(n, 503);
        a.on_done(n, true, false, 5);
        let (n, _) = a.begin(Some("azure-gpt-4o"), 10);
        a.on_response(n, 200);
    }
    let x = flow.exchange().unwrap();
    x.on_response_headers(&mut Head(200));
    let answer = usage_body("gpt-4o-prod", 1000, 100);
    x.on_response_body(answer.len(), true, &mut || Some(answer.clone()), &mut || 20);
    let fx = flow.response_end();
    // The failed attempt's 503 is not billed; Azure's usage at Azure's prices: 5000 + 2000.
    assert_eq!(
        fx.properties,
        vec![("genai_tokens", "1100".to_string()), ("genai_cost", "7000".to_string())]
    );
    assert!(
        flow.response_end().properties.is_empty(),
        "charged once, even when the log follows the last chunk"
    );
    assert_eq!(flow.finish(30).cost_microdollars, Some(7000));
}
