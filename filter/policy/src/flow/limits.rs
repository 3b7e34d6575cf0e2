//! The filter's part in fleet-wide rate limits and budgets.
//!
//! The filter counts nothing. It names who is calling and what the request may cost, in
//! request headers that Envoy's rate limit filters turn into descriptors for the rate limit
//! service (the route removes them before the request leaves), and, when the response ends,
//! what it did cost, as filter state that Envoy sends with `apply_on_stream_done`. Clients
//! cannot set any of these: every `x-genai-*` header they send is removed first.

use genai_usage::{heuristic_ascii_tokens, heuristic_tokens};

use super::HeaderValue;
use crate::api::Api;
use crate::config::limits::DEFAULT_MAX_OUTPUT_TOKENS;
use crate::config::{Caller, Compiled, Model};
use crate::headers::UPSTREAM_HEADER;
use crate::pricing::TokenCounts;

/// The team: every descriptor's `team` entry.
pub const TEAM_HEADER: &str = "x-genai-rl-team";
/// The key's id, only for keys that carry limits of their own.
pub const KEY_HEADER: &str = "x-genai-rl-key";
/// The workload's name, only for workloads that carry limits.
pub const WORKLOAD_HEADER: &str = "x-genai-rl-workload";
/// The client API (`chat_completions`, `messages`, `responses`): the service answers a
/// refusal in that API's error shape.
pub const API_HEADER: &str = "x-genai-rl-api";
/// The prompt's estimated tokens: the tokens-per-minute admission check.
pub const TOKENS_HEADER: &str = "x-genai-rl-tokens";
/// The request's worst-case cost in micro-dollars; present only when a budget applies, so
/// that requests without one never wait for (or fail closed on) the budget check.
pub const COST_MAX_HEADER: &str = "x-genai-rl-cost-max";
/// `x-genai-upstream` of the usage endpoint's route (to the rate limit service).
pub const USAGE_UPSTREAM: &str = "genai-usage";

/// Filter state Envoy reads at stream end (`%FILTER_STATE(wasm.genai_tokens:PLAIN)%`).
pub const TOKENS_PROPERTY: &str = "genai_tokens";
/// The request's cost in micro-dollars, likewise.
pub const COST_PROPERTY: &str = "genai_cost";

/// Envoy refuses a descriptor's `hits_addend` above 1e9 (the descriptor is then dropped),
/// so amounts are capped there: $1,000 or a billion tokens for one request.
pub const MAX_HITS: u64 = 1_000_000_000;

/// What a request may cost at most, known before it leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorstCase {
    /// Estimated prompt tokens (a calibrated per-character estimate of the whole body: JSON
    /// punctuation counts too, so it leans high).
    pub prompt_tokens: u64,
    /// The request's own output cap, else the model's, else [`DEFAULT_MAX_OUTPUT_TOKENS`].
    pub output_tokens: u64,
    /// Both at the model's prices; 0 for an unpriced model.
    pub cost_microdollars: u64,
}

pub fn worst_case(model: &Model, body: &[u8], requested_max_output: Option<u64>) -> WorstCase {
    worst_case_for(model, prompt_estimate(body), requested_max_output)
}

/// The worst case over every target a request may be served by: a fallback may be dearer
/// than the model asked for, or allow more output. The prompt is estimated once.
pub fn worst_case_of_chain<'m>(
    models: impl IntoIterator<Item = &'m Model>,
    body: &[u8],
    requested_max_output: Option<u64>,
) -> Option<WorstCase> {
    let prompt_tokens = prompt_estimate(body);
    models
        .into_iter()
        .map(|m| worst_case_for(m, prompt_tokens, requested_max_output))
        .reduce(|a, b| WorstCase {
            prompt_tokens,
            output_tokens: a.output_tokens.max(b.output_tokens),
            cost_microdollars: a.cost_microdollars.max(b.cost_microdollars),
        })
}

fn prompt_estimate(body: &[u8]) -> u64 {
    // Most bodies are ASCII, which is UTF-8 with one character a byte: the estimate is the
    // length, without the UTF-8 check `request::parse` already made.
    if body.is_ascii() {
        return heuristic_ascii_tokens(body.len());
    }
    // `request::parse` refused a body that is not UTF-8, so the strict check passes: it reads
    // a word at a time where ASCII, while a lossy view decodes byte by byte (it was 13 % of a
    // 4 KB request's instructions). The lossy branch only keeps this total.
    match std::str::from_utf8(body) {
        Ok(text) => heuristic_tokens(text),
        Err(_) => heuristic_tokens(&String::from_utf8_lossy(body)),
    }
}

fn worst_case_for(model: &Model, prompt_tokens: u64, requested_max_output: Option<u64>) -> WorstCase {
    let output_tokens = match (requested_max_output, model.max_output_tokens) {
        (Some(r), Some(m)) => r.min(m),
        (Some(n), None) | (None, Some(n)) => n,
        (None, None) => DEFAULT_MAX_OUTPUT_TOKENS,
    };
    let cost_microdollars = model.pricing.map_or(0, |p| {
        p.cost_microdollars(&TokenCounts {
            input: prompt_tokens,
            output: output_tokens,
            ..TokenCounts::default()
        })
    });
    WorstCase {
        prompt_tokens,
        output_tokens,
        cost_microdollars,
    }
}

/// The descriptor headers of a request the filter forwards.
pub fn request_headers(
    config: &Compiled,
    caller: Caller,
    workload: Option<usize>,
    api: Api,
    worst: &WorstCase,
) -> Vec<(&'static str, HeaderValue)> {
    let Some(team) = config.teams.get(caller.team) else {
        return Vec::new();
    };
    let mut out = vec![
        (TEAM_HEADER, HeaderValue::Plain(team.name.clone())),
        (API_HEADER, HeaderValue::Plain(api.name().to_string())),
        (
            TOKENS_HEADER,
            HeaderValue::Plain(worst.prompt_tokens.clamp(1, MAX_HITS).to_string()),
        ),
    ];
    let key = caller
        .key
        .and_then(|k| team.keys.get(k))
        .filter(|k| !k.limits.is_empty());
    if let Some(k) = key {
        out.push((KEY_HEADER, HeaderValue::Plain(k.id.clone())));
    }
    let workload = workload
        .and_then(|w| config.workloads.get(w))
        .filter(|w| !w.limits.is_empty());
    if let Some(w) = workload {
        out.push((WORKLOAD_HEADER, HeaderValue::Plain(w.name.clone())));
    }
    let budgeted = team.limits.has_budget()
        || key.is_some_and(|k| k.limits.has_budget())
        || workload.is_some_and(|w| w.limits.has_budget());
    if budgeted {
        // At least 1: a free request still needs a budget that is not yet spent.
        let cost = worst.cost_microdollars.clamp(1, MAX_HITS);
        out.push((COST_MAX_HEADER, HeaderValue::Plain(cost.to_string())));
    }
    out
}

/// What the usage endpoint's request carries to the rate limit service.
pub fn usage_headers(config: &Compiled, caller: Caller) -> Vec<(&'static str, HeaderValue)> {
    let Some(team) = config.teams.get(caller.team) else {
        return Vec::new();
    };
    let mut out = vec![
        (UPSTREAM_HEADER, HeaderValue::Plain(USAGE_UPSTREAM.to_string())),
        (TEAM_HEADER, HeaderValue::Plain(team.name.clone())),
    ];
    if let Some(k) = caller.key.and_then(|k| team.keys.get(k)) {
        out.push((KEY_HEADER, HeaderValue::Plain(k.id.clone())));
    }
    out
}

/// What a finished request is charged, as Envoy reads it at stream end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charge {
    /// Input plus output tokens, as reported or estimated.
    pub tokens: u64,
    pub cost_microdollars: u64,
}

impl Charge {
    /// The filter state to set: (property, decimal value), capped at [`MAX_HITS`].
    pub fn properties(&self) -> [(&'static str, String); 2] {
        [
            (TOKENS_PROPERTY, self.tokens.min(MAX_HITS).to_string()),
            (COST_PROPERTY, self.cost_microdollars.min(MAX_HITS).to_string()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::auth::key_digest_hex;
    use crate::config::compile;
    use crate::flow::{BodyOutcome, HeadersOutcome, RequestFlow};
    use crate::testutil::{config_json, env, ABC_KEY, XYZ_KEY};

    const BATCH_KEY: &str = "batch-key-zzzzzzzz";

    #[test]
    fn the_prompt_estimate_reads_the_body_as_its_text() {
        // ASCII, CJK and an emoji: the strict view gives the text's own estimate.
        // ASCII bodies take the length, without the UTF-8 check: the same figure.
        for text in [
            "",
            "{",
            "{}",
            "{\"a\":1}",
            r#"{"m":"hello world"}"#,
            r#"{"m":"日本語のテキスト 🙂"}"#,
        ] {
            assert_eq!(prompt_estimate(text.as_bytes()), heuristic_tokens(text), "{text}");
        }
        // Not UTF-8 (never reaches here: parse refuses it): the lossy view, no panic.
        let bad = b"{\"m\":\"\xff\xfe abc\"}";
        assert_eq!(prompt_estimate(bad), heuristic_tokens(&String::from_utf8_lossy(bad)));
    }

    /// The shared test configuration with fleet-wide limits.
    fn limited() -> Arc<crate::Compiled> {
        let json = config_json()
            .replacen(
                r#""daily_budget_dollars": 50}"#,
                &format!(
                    r#""daily_budget_dollars": 50, "requests_per_minute": 10,
                       "keys": [{{"id": "batch", "sha256": "{}", "requests_per_minute": 2}}]}}"#,
                    key_digest_hex(BATCH_KEY.as_bytes())
                ),
                1,
            )
            .replacen(
                r#"{"name": "team-xyz", "key_sha256": ["#,
                r#"{"name": "team-xyz", "allowed_models": ["default-chat"], "key_sha256": ["#,
                1,
            )
            .replacen(
                '{',
                r#"{"rate_limits": {}, "workloads": [{"name": "nightly", "daily_budget_dollars": 1}, {"name": "plain"}],
                    "workload_header": "x-workload","#,
                1,
            );
        let mut c = compile(json.as_bytes()).unwrap();
        c.resolve_credentials(env).unwrap();
        Arc::new(c)
    }

    fn headers(path: &str, key: &str, extra: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        let mut v = vec![
            (":method".to_string(), b"POST".to_vec()),
            (":path".to_string(), path.as_bytes().to_vec()),
            ("authorization".to_string(), format!("Bearer {key}").into_bytes()),
        ];
        v.extend(extra.iter().map(|(n, val)| (n.to_string(), val.as_bytes().to_vec())));
        v
    }

    fn forward(config: Arc<crate::Compiled>, key: &str, extra: &[(&str, &str)], body: &str) -> Vec<(String, String)> {
        let mut flow = RequestFlow::new(config, 0);
        match flow.on_headers(&headers("/v1/chat/completions", key, extra), false) {
            HeadersOutcome::HoldForBody { .. } => {}
            other => panic!("{other:?}"),
        }
        match flow.on_body(body.as_bytes().to_vec()) {
            BodyOutcome::Forward(p) => p
                .set_headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.as_str().to_string()))
                .collect(),
            BodyOutcome::Respond(r) => panic!("{}", String::from_utf8_lossy(&r.body)),
            BodyOutcome::Buffer => panic!("buffering"),
        }
    }

    fn get<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
        h.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    const CHAT: &str = r#"{"model": "gpt-4o", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}"#;

    #[test]
    fn a_forwarded_request_names_its_team_and_its_worst_case() {
        let h = forward(limited(), ABC_KEY, &[], CHAT);
        assert_eq!(get(&h, TEAM_HEADER), Some("team-abc"));
        assert_eq!(get(&h, API_HEADER), Some("chat_completions"));
        assert_eq!(get(&h, KEY_HEADER), None, "a plain key has no limits of its own");
        assert_eq!(get(&h, WORKLOAD_HEADER), None);
        // ~90 bytes of JSON: 23 tokens at $2.50/M, plus 100 output tokens at $10/M.
        let tokens: u64 = get(&h, TOKENS_HEADER).unwrap().parse().unwrap();
        assert_eq!(tokens, (CHAT.len() as u64).div_ceil(4));
        let cost: u64 = get(&h, COST_MAX_HEADER).unwrap().parse().unwrap();
        assert_eq!(cost, (tokens * 2_500_000 + 100 * 10_000_000 + 500_000) / 1_000_000);
    }

    #[test]
    fn no_budget_no_budget_check() {
        let h = forward(limited(), XYZ_KEY, &[], &CHAT.replace("gpt-4o", "default-chat"));
        assert_eq!(get(&h, TEAM_HEADER), Some("team-xyz"));
        assert_eq!(get(&h, COST_MAX_HEADER), None);
    }

    #[test]
    fn keys_and_workloads_with_limits_are_named() {
        let h = forward(limited(), BATCH_KEY, &[("x-workload", "nightly")], CHAT);
        assert_eq!(get(&h, KEY_HEADER), Some("batch"));
        assert_eq!(get(&h, WORKLOAD_HEADER), Some("nightly"));
        // A workload without limits labels the metrics but sends no descriptor.
        let h = forward(limited(), ABC_KEY, &[("x-workload", "plain")], CHAT);
        assert_eq!(get(&h, WORKLOAD_HEADER), None);
    }

    #[test]
    fn an_unknown_workload_is_refused_and_the_header_is_consumed() {
        let mut flow = RequestFlow::new(limited(), 0);
        match flow.on_headers(
            &headers("/v1/chat/completions", ABC_KEY, &[("x-workload", "me")]),
            false,
        ) {
            HeadersOutcome::Respond(r) => assert_eq!(r.status, 400),
            other => panic!("{other:?}"),
        }
        let mut flow = RequestFlow::new(limited(), 0);
        let h = headers(
            "/v1/chat/completions",
            ABC_KEY,
            &[("x-workload", "nightly"), ("x-genai-rl-team", "x")],
        );
        match flow.on_headers(&h, false) {
            HeadersOutcome::HoldForBody { strip } => {
                assert!(strip.contains(&"x-workload".to_string()));
                assert!(
                    strip.contains(&"x-genai-rl-team".to_string()),
                    "clients cannot set descriptors"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(flow.workload(), Some("nightly"));
    }

    #[test]
    fn a_spiffe_id_names_the_workload() {
        let json = config_json().replacen(
            '{',
            r#"{"workloads": [{"name": "checkout", "spiffe_ids": ["spiffe://cluster.local/ns/shop/sa/checkout"]}],"#,
            1,
        );
        let mut c = compile(json.as_bytes()).unwrap();
        c.resolve_credentials(env).unwrap();
        let c = Arc::new(c);
        assert!(c.wants_peer_identity());
        let mut flow = RequestFlow::new(c, 0);
        flow.set_peer_uri_san(Some("spiffe://cluster.local/ns/shop/sa/checkout".into()));
        assert!(matches!(
            flow.on_headers(&headers("/v1/chat/completions", ABC_KEY, &[]), false),
            HeadersOutcome::HoldForBody { .. }
        ));
        assert_eq!(flow.workload(), Some("checkout"));
    }

    #[test]
    fn a_model_the_team_may_not_use_is_403() {
        let mut flow = RequestFlow::new(limited(), 0);
        assert!(matches!(
            flow.on_headers(&headers("/v1/chat/completions", XYZ_KEY, &[]), false),
            HeadersOutcome::HoldForBody { .. }
        ));
        // team-xyz may use default-chat, so gpt-4o (its model) too; not azure-gpt-4o.
        match flow.on_body(CHAT.replace("gpt-4o", "azure-gpt-4o").into_bytes()) {
            BodyOutcome::Respond(r) => {
                assert_eq!(r.status, 403);
                let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                assert_eq!(v["error"]["code"], "model_not_allowed");
                assert_eq!(v["error"]["param"], "model");
            }
            other => panic!("{other:?}"),
        }
        forward(limited(), XYZ_KEY, &[], CHAT);
    }

    #[test]
    fn the_usage_endpoint_is_routed_to_the_service() {
        let mut flow = RequestFlow::new(limited(), 0);
        let mut h = headers("/v1/gateway/usage", BATCH_KEY, &[("x-genai-rl-team", "team-xyz")]);
        h[0].1 = b"GET".to_vec();
        match flow.on_headers(&h, true) {
            HeadersOutcome::Forward { strip, set_headers } => {
                assert!(strip.contains(&"x-genai-rl-team".to_string()));
                assert!(strip.contains(&"authorization".to_string()));
                let set: Vec<(&str, &str)> = set_headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
                assert_eq!(
                    set,
                    vec![
                        ("x-genai-upstream", USAGE_UPSTREAM),
                        (TEAM_HEADER, "team-abc"),
                        (KEY_HEADER, "batch")
                    ]
                );
            }
            other => panic!("{other:?}"),
        }
        // Without fleet-wide limits there is no such endpoint.
        let mut flow = RequestFlow::new(crate::testutil::config(), 0);
        let mut h = headers("/v1/gateway/usage", ABC_KEY, &[]);
        h[0].1 = b"GET".to_vec();
        match flow.on_headers(&h, true) {
            HeadersOutcome::Respond(r) => assert_eq!(r.status, 404),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_worst_case_takes_the_smallest_output_cap() {
        let c = limited();
        let model = c.model("gpt-4o").unwrap();
        assert_eq!(worst_case(model, b"{}", None).output_tokens, DEFAULT_MAX_OUTPUT_TOKENS);
        assert_eq!(worst_case(model, b"{}", Some(7)).output_tokens, 7);
        let capped = crate::config::Model {
            max_output_tokens: Some(5),
            ..model.clone()
        };
        assert_eq!(worst_case(&capped, b"{}", Some(7)).output_tokens, 5);
        assert_eq!(worst_case(&capped, b"{}", None).output_tokens, 5);
    }

    #[test]
    fn charges_are_capped_where_envoy_caps_hits() {
        let c = Charge {
            tokens: 5,
            cost_microdollars: 2 * MAX_HITS,
        };
        assert_eq!(
            c.properties(),
            [
                (TOKENS_PROPERTY, "5".to_string()),
                (COST_PROPERTY, MAX_HITS.to_string())
            ]
        );
    }
}
