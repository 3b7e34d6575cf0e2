//! What Envoy sends back: a refusal in the client API's error shape (OpenAI's, or
//! Anthropic's on `/v1/messages`) with a stable code, `retry-after` and a runbook link; and
//! OpenAI-style `x-ratelimit-*` headers on every answer.

use envoy_types::pb::envoy::config::core::v3::HeaderValue;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::Code;
use envoy_types::pb::envoy::service::ratelimit::v3::RateLimitResponse;
use envoy_types::pb::google::protobuf::value::Kind;
use envoy_types::pb::google::protobuf::{Struct, Value};
use genai_policy::error::Dialect;
use genai_policy::{ErrorCode, GatewayError};

use crate::descriptors::Api;
use crate::table::{Family, Scope};
use crate::windows::Calendar;

/// Which limit refused a request, and the numbers a developer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub scope: Scope,
    pub family: Family,
    pub limit: u64,
    /// Counted in the window before this request.
    pub used: u64,
    /// What this request needs: 1 request, its prompt's tokens, its worst-case cost.
    pub needed: u64,
    pub resets_in: u64,
}

impl Refusal {
    pub fn code(&self) -> ErrorCode {
        match self.family {
            Family::Requests | Family::Tokens => ErrorCode::RateLimited,
            Family::Spend(_) => ErrorCode::TeamBudgetExceeded,
        }
    }

    pub fn message(&self) -> String {
        let who = self.scope.describe();
        let retry = format!("retry in {}", duration(self.resets_in));
        match self.family {
            Family::Requests => format!(
                "{who} has made its {} requests of this minute; {retry}",
                self.limit
            ),
            Family::Tokens if self.needed > self.limit => format!(
                "this request's prompt (about {} tokens) alone exceeds the limit of {} tokens per minute of {who}; send a shorter prompt",
                self.needed, self.limit
            ),
            Family::Tokens => format!(
                "{who} has used {} of its {} tokens per minute, and this prompt needs about {}; {retry}",
                self.used, self.limit, self.needed
            ),
            Family::Spend(cal) => {
                let which = match cal {
                    Calendar::Day => "daily",
                    Calendar::Month => "monthly",
                };
                if self.needed > self.limit {
                    format!(
                        "this request could cost up to {}, more than the whole {which} budget of {} of {who}; lower max_tokens or send a shorter prompt",
                        dollars(self.needed),
                        dollars(self.limit)
                    )
                } else {
                    format!(
                        "{who} has spent {} of its {which} budget of {}, and this request could cost up to {}; the budget resets in {}",
                        dollars(self.used),
                        dollars(self.limit),
                        dollars(self.needed),
                        duration(self.resets_in)
                    )
                }
            }
        }
    }

    /// The body, in the shape of the API the client called (the filter's own shapes:
    /// `genai_policy::error`); Anthropic's carries the request id.
    pub fn body(&self, api: Api, runbook_base_url: &str, request_id: Option<&str>) -> Vec<u8> {
        let err = GatewayError::new(self.code(), self.message());
        err.body_for(dialect(api), runbook_base_url, request_id)
    }
}

fn dialect(api: Api) -> Dialect {
    match api {
        Api::ChatCompletions | Api::Responses => Dialect::OpenAi,
        Api::Messages => Dialect::Anthropic,
    }
}

fn header(key: &str, value: impl Into<String>) -> HeaderValue {
    HeaderValue {
        key: key.to_string(),
        value: value.into(),
        ..Default::default()
    }
}

/// `$12.50`, or more decimals for small amounts (`$0.000412`).
pub fn dollars(micro: u64) -> String {
    if micro >= 10_000 || micro == 0 {
        format!("${}.{:02}", micro / 1_000_000, (micro % 1_000_000) / 10_000)
    } else {
        format!("${}.{:06}", micro / 1_000_000, micro % 1_000_000)
    }
}

/// `42s`, `3m20s`, `5h12m`: the OpenAI headers' and the messages' duration format.
pub fn duration(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m{}s", secs / 60, secs % 60),
        _ => format!("{}h{}m", secs / 3600, secs % 3600 / 60),
    }
}

/// `x-ratelimit-*` headers: the tightest request and token limits that apply.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RateHeaders {
    /// (limit, remaining, resets in seconds)
    pub requests: Option<(u64, u64, u64)>,
    pub tokens: Option<(u64, u64, u64)>,
}

impl RateHeaders {
    /// Keeps the tighter of two readings of the same kind.
    pub fn offer(slot: &mut Option<(u64, u64, u64)>, limit: u64, remaining: u64, resets_in: u64) {
        if slot.is_none_or(|(_, r, _)| remaining < r) {
            *slot = Some((limit, remaining, resets_in));
        }
    }

    pub fn headers(&self) -> Vec<HeaderValue> {
        let mut out = Vec::new();
        for (kind, v) in [("requests", self.requests), ("tokens", self.tokens)] {
            if let Some((limit, remaining, reset)) = v {
                out.push(header(&format!("x-ratelimit-limit-{kind}"), limit.to_string()));
                out.push(header(&format!("x-ratelimit-remaining-{kind}"), remaining.to_string()));
                out.push(header(&format!("x-ratelimit-reset-{kind}"), duration(reset)));
            }
        }
        out
    }
}

/// An admission's answer. `scope` goes back as dynamic metadata: Envoy's stream-end
/// descriptors read the team, key and workload from it, because by then the router has
/// removed the descriptor headers from the request.
pub fn ok(rate: &RateHeaders, scope: &[(&'static str, String)]) -> RateLimitResponse {
    let fields = scope
        .iter()
        .map(|(k, v)| {
            let value = Value {
                kind: Some(Kind::StringValue(v.clone())),
            };
            (k.to_string(), value)
        })
        .collect();
    RateLimitResponse {
        overall_code: Code::Ok as i32,
        response_headers_to_add: rate.headers(),
        dynamic_metadata: (!scope.is_empty()).then_some(Struct { fields }),
        ..Default::default()
    }
}

/// A refusal. `request_id` is Envoy's `x-request-id` of the request: Anthropic's shape
/// carries it in the body and in `request-id` (where Anthropic's SDKs read it), as the
/// filter's own refusals do.
pub fn over_limit(
    r: &Refusal,
    api: Api,
    runbook_base_url: &str,
    rate: &RateHeaders,
    request_id: Option<&str>,
) -> RateLimitResponse {
    let mut headers = vec![
        header("content-type", "application/json"),
        header("x-genai-error-code", r.code().as_str()),
        header("x-genai-ratelimit-limit", r.family.limit_label()),
        header("retry-after", r.resets_in.max(1).to_string()),
    ];
    if let (Dialect::Anthropic, Some(id)) = (dialect(api), request_id) {
        headers.push(header("request-id", id));
    }
    headers.extend(rate.headers());
    RateLimitResponse {
        overall_code: Code::OverLimit as i32,
        response_headers_to_add: headers,
        raw_body: r.body(api, runbook_base_url, request_id),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(family: Family, limit: u64, used: u64, needed: u64) -> Refusal {
        Refusal {
            scope: Scope::Team("team-abc".into()),
            family,
            limit,
            used,
            needed,
            resets_in: 3725,
        }
    }

    #[test]
    fn budget_refusal_in_openai_shape() {
        let r = refusal(Family::Spend(Calendar::Day), 50_000_000, 49_990_000, 160_000);
        let v: serde_json::Value =
            serde_json::from_slice(&r.body(Api::ChatCompletions, "https://rb/", Some("req-1"))).unwrap();
        assert_eq!(v["error"]["code"], "team_budget_exceeded");
        assert!(v.get("request_id").is_none(), "OpenAI's shape has no request id");
        assert_eq!(v["error"]["type"], "rate_limit_error");
        assert_eq!(v["error"]["runbook_url"], "https://rb/team_budget_exceeded.md");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains("team `team-abc` has spent $49.99 of its daily budget of $50.00"),
            "{msg}"
        );
        assert!(msg.contains("could cost up to $0.16"), "{msg}");
        assert!(msg.contains("resets in 1h2m"), "{msg}");
    }

    #[test]
    fn rate_refusal_in_anthropic_shape() {
        let r = refusal(Family::Requests, 10, 10, 1);
        let v: serde_json::Value =
            serde_json::from_slice(&r.body(Api::Messages, "https://rb/", Some("req-1"))).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["request_id"], "req-1");
        assert_eq!(v["error"]["type"], "rate_limit_error");
        assert_eq!(v["error"]["code"], "rate_limited");
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with("(runbook: https://rb/rate_limited.md)"));
    }

    #[test]
    fn over_limit_carries_headers() {
        let r = refusal(Family::Tokens, 1000, 900, 200);
        let mut rate = RateHeaders::default();
        RateHeaders::offer(&mut rate.tokens, 1000, 100, 30);
        let resp = over_limit(&r, Api::ChatCompletions, "https://rb/", &rate, Some("req-1"));
        let h: Vec<(String, String)> = resp
            .response_headers_to_add
            .iter()
            .map(|h| (h.key.clone(), h.value.clone()))
            .collect();
        assert!(h.contains(&("retry-after".into(), "3725".into())));
        assert!(h.contains(&("x-genai-ratelimit-limit".into(), "tokens_per_minute".into())));
        assert!(h.contains(&("x-ratelimit-remaining-tokens".into(), "100".into())));
        assert!(h.contains(&("x-ratelimit-reset-tokens".into(), "30s".into())));
        assert_eq!(resp.overall_code, Code::OverLimit as i32);
        assert!(
            !h.iter().any(|(k, _)| k == "request-id"),
            "only Anthropic's shape names it"
        );
        let resp = over_limit(&r, Api::Messages, "https://rb/", &rate, Some("req-1"));
        assert!(resp
            .response_headers_to_add
            .iter()
            .any(|h| h.key == "request-id" && h.value == "req-1"));
    }

    #[test]
    fn a_request_larger_than_the_limit_says_so() {
        let m = refusal(Family::Tokens, 1000, 0, 5000).message();
        assert!(m.contains("alone exceeds"), "{m}");
        let m = refusal(Family::Spend(Calendar::Month), 1_000_000, 0, 2_000_000).message();
        assert!(m.contains("more than the whole monthly budget of $1.00"), "{m}");
    }

    #[test]
    fn formats() {
        assert_eq!(dollars(50_000_000), "$50.00");
        assert_eq!(dollars(412), "$0.000412");
        assert_eq!(dollars(1_234_567), "$1.23");
        assert_eq!(duration(38), "38s");
        assert_eq!(duration(200), "3m20s");
        assert_eq!(duration(15578), "4h19m");
    }
}
