//! Dry runs of the policy: what the gateway would decide for a request, without sending it.
//!
//! `genaictl check` and `POST /v1/gateway/check` both come here, and here a request goes
//! through the filter's own [`RequestFlow`], headers then body, exactly as Envoy hands them
//! to the filter; only its answer is read instead of applied. So the CLI, the endpoint and
//! the filter cannot disagree: there is no second implementation of any decision.
//!
//! What a dry run adds is the view across the catalog: which models would accept the same
//! prompt. The effective classification and the injection verdict do not depend on the
//! model (detector policies are global), so a model accepts the prompt when nothing
//! model-independent refused it and its tier approves that classification, the test the
//! filter makes for the request's own model.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::api::Api;
use crate::classification::Classification;
use crate::config::{Compiled, ProviderKind};
use crate::error::{ErrorCode, GatewayError};
use crate::flow::{BodyOutcome, GuardRecord, HeadersOutcome, RequestFlow};

/// What the gateway would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Forwarded as it is.
    Allow,
    /// Forwarded with values replaced by placeholders.
    Redact,
    /// Refused; nothing forwarded.
    Block,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Redact => "redact",
            Decision::Block => "block",
        }
    }
}

/// One detected type, as the access log counts it (never the values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    pub kind: String,
    pub count: u32,
    /// The classification the detector's policy gives it.
    pub classification: Classification,
    /// What was done about it: `block`, `redact`, `log`, `shadow` or `allow` (the metrics' action).
    pub action: &'static str,
}

/// A prompt-injection rule that matched, its family and score, and what its policy does.
#[derive(Debug, Clone, PartialEq)]
pub struct InjectionHit {
    pub rule: String,
    pub family: String,
    pub score: f32,
    pub action: &'static str,
}

/// Whether one catalog model would accept the prompt, and why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelVerdict {
    pub model: String,
    pub tier: String,
    pub approved_for: Vec<Classification>,
    pub accepts: bool,
    pub error_code: Option<ErrorCode>,
    pub reason: Option<String>,
}

/// The dry run's answer.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub decision: Decision,
    /// The HTTP status the gateway would answer (200 when it would forward).
    pub status: u32,
    /// The refusal, as the client would get it.
    pub error: Option<GatewayError>,
    pub api: Api,
    pub team: Option<String>,
    /// The catalog model (`default-chat` resolves to `gpt-4o`), once the body named one.
    pub model: Option<String>,
    pub requested_model: Option<String>,
    pub provider: Option<String>,
    pub tier: Option<String>,
    pub declared: Option<Classification>,
    /// The effective classification, once the guardrails judged the body.
    pub classification: Option<Classification>,
    pub detections: Vec<Detection>,
    pub injection: Vec<InjectionHit>,
    /// Every prompt-injection family that scored (issue 15): family, score, threshold,
    /// whether it triggered, its action and the features that fired.
    pub injection_families: Vec<crate::guardrails::injection::InjectionHit>,
    /// The access log's `guardrail_action`: `none`, `allow`, `redact`, `block` or `shadow`.
    pub guardrail_action: Option<&'static str>,
    pub models: Vec<ModelVerdict>,
}

/// One request to check.
#[derive(Debug, Clone, Default)]
pub struct CheckInput<'a> {
    /// The API it is for; `None`: from the body's shape ([`detect_api`]).
    pub api: Option<Api>,
    /// The team it is checked for (its key already verified); `None`: no team in particular.
    pub team: Option<String>,
    /// The classification declared in the classification header, as its raw value.
    pub declared: Option<&'a str>,
    pub body: &'a [u8],
}

/// The endpoint named by `--endpoint` or `?endpoint=`: an API's name or its path.
pub fn parse_api(s: &str) -> Option<Api> {
    [Api::ChatCompletions, Api::Messages, Api::Responses]
        .into_iter()
        .find(|a| s == a.name() || s == a.path() || s.strip_suffix('/') == Some(a.path()))
}

/// The API a request body is written for, when nobody said: a Responses body has `input`
/// and no `messages`; otherwise the model's provider decides (Anthropic's speak messages),
/// and chat completions when the model is unknown.
pub fn detect_api(config: &Compiled, body: &[u8]) -> Api {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return Api::ChatCompletions;
    };
    if map.contains_key("input") && !map.contains_key("messages") {
        return Api::Responses;
    }
    let kind = map
        .get("model")
        .and_then(Value::as_str)
        .and_then(|m| config.model(m))
        .and_then(|m| config.provider(m.provider))
        .map(|p| p.kind);
    match kind {
        Some(ProviderKind::Anthropic) => Api::Messages,
        _ => Api::ChatCompletions,
    }
}

/// Runs one request through the filter's flow and reads its decision.
pub fn check(config: &Arc<Compiled>, input: &CheckInput<'_>) -> Verdict {
    check_with_record(config, input).0
}

/// [`check`], and the guardrails' record the access log would get for the request.
pub(crate) fn check_with_record(config: &Arc<Compiled>, input: &CheckInput<'_>) -> (Verdict, Option<GuardRecord>) {
    let api = input.api.unwrap_or_else(|| detect_api(config, input.body));
    let mut flow = RequestFlow::dry_run(Arc::clone(config), input.team.clone());
    let mut headers: Vec<(String, Vec<u8>)> = vec![
        (":method".into(), b"POST".to_vec()),
        (":path".into(), api.path().as_bytes().to_vec()),
        ("content-type".into(), b"application/json".to_vec()),
        ("content-length".into(), input.body.len().to_string().into_bytes()),
    ];
    if let Some(declared) = input.declared {
        let header = config.guardrails.classification_header.clone();
        headers.push((header, declared.as_bytes().to_vec()));
    }
    let outcome = match flow.on_headers(&headers, false) {
        HeadersOutcome::Respond(_) | HeadersOutcome::Forward { .. } => None,
        HeadersOutcome::HoldForBody { .. } => match flow.on_body_progress(input.body.len(), true) {
            Some(BodyOutcome::Respond(_)) => None,
            _ => Some(flow.on_body(input.body.to_vec())),
        },
    };
    let forwarded = matches!(outcome, Some(BodyOutcome::Forward(_)));
    let error = if forwarded { None } else { flow.last_error().cloned() };
    let guard = flow.guard_record();
    let decision = match (&error, guard.map(|g| g.action)) {
        (Some(_), _) => Decision::Block,
        (None, Some("redact")) => Decision::Redact,
        (None, _) => Decision::Allow,
    };
    let (model, provider) = match flow.model() {
        Some((m, p)) => (Some(m.to_string()), Some(p.to_string())),
        None => (None, None),
    };
    let tier = model
        .as_deref()
        .and_then(|m| config.model(m))
        .and_then(|m| config.tier(m.tier))
        .map(|t| t.name.clone());
    let declared = input
        .declared
        .and_then(|d| Classification::parse(&d.trim().to_ascii_lowercase()));
    let classification = guard.map(|g| g.effective);
    let detections = guard
        .map(|g| {
            g.detections
                .iter()
                .map(|(kind, count)| {
                    let name = config.guardrails.kind_name(*kind);
                    Detection {
                        kind: name.to_string(),
                        count: *count,
                        classification: config.guardrails.policy(*kind).classification,
                        action: g.triggers.iter().find(|(k, _)| k == name).map_or("allow", |(_, a)| *a),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let injection = guard
        .map(|g| {
            let engine = &config.guardrails.scanner;
            g.injection
                .iter()
                .map(|h| {
                    let rule = engine.rule_name(h.rule);
                    let trigger = format!("injection_{rule}");
                    InjectionHit {
                        rule: rule.to_string(),
                        family: engine.family_name(h.family).to_string(),
                        score: h.score,
                        action: g
                            .triggers
                            .iter()
                            .find(|(k, _)| *k == trigger)
                            .map_or("log", |(_, a)| *a),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let models = across_catalog(config, error.as_ref(), classification);
    let verdict = Verdict {
        decision,
        status: error.as_ref().map_or(200, GatewayError::status),
        error,
        api,
        team: flow.team().filter(|t| !t.is_empty()).map(str::to_string),
        model,
        requested_model: requested_model(input.body),
        provider,
        tier,
        declared,
        classification,
        detections,
        injection,
        injection_families: guard.map(|g| g.injection_hits.clone()).unwrap_or_default(),
        guardrail_action: guard.map(|g| g.action),
        models,
    };
    (verdict, guard.cloned())
}

fn requested_model(body: &[u8]) -> Option<String> {
    match serde_json::from_slice::<Value>(body).ok()?.get("model")? {
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// Every catalog model (names, not aliases) against the prompt's decision.
fn across_catalog(
    config: &Compiled,
    error: Option<&GatewayError>,
    classification: Option<Classification>,
) -> Vec<ModelVerdict> {
    // Refusals that come with the request's own model; any other holds for every model.
    let model_bound = |e: &GatewayError| {
        matches!(
            e.code,
            ErrorCode::ClassificationMismatch | ErrorCode::ModelNotFound | ErrorCode::ModelApiMismatch
        )
    };
    config
        .models
        .iter()
        .filter_map(|m| {
            let tier = config.tier(m.tier)?;
            let approved_for: Vec<Classification> = tier.approved_for.iter().collect();
            let (accepts, error_code, reason) = match (error, classification) {
                (Some(e), _) if !model_bound(e) => (false, Some(e.code), Some(e.message.clone())),
                (_, Some(c)) if tier.approved_for.contains(c) => (true, None, None),
                (_, Some(c)) => (
                    false,
                    Some(ErrorCode::ClassificationMismatch),
                    Some(format!(
                        "this prompt is {}; tier {} is approved for {}",
                        c.as_str(),
                        tier.name,
                        list(&approved_for)
                    )),
                ),
                (_, None) => (
                    false,
                    error.map(|e| e.code),
                    Some("not judged: the request was refused before its prompt was classified".into()),
                ),
            };
            Some(ModelVerdict {
                model: m.name.clone(),
                tier: tier.name.clone(),
                approved_for,
                accepts,
                error_code,
                reason,
            })
        })
        .collect()
}

fn list(c: &[Classification]) -> String {
    if c.is_empty() {
        "nothing".into()
    } else {
        c.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
    }
}

impl Verdict {
    /// The catalog models that would accept the prompt.
    pub fn approved_models(&self) -> Vec<&str> {
        self.models
            .iter()
            .filter(|m| m.accepts)
            .map(|m| m.model.as_str())
            .collect()
    }

    /// The verdict as `genaictl check` prints it and `POST /v1/gateway/check` answers it.
    pub fn to_json(&self, runbook_base_url: &str) -> Value {
        let classification = |c: Option<Classification>| c.map(Classification::as_str);
        let mut v = json!({
            "decision": self.decision.as_str(),
            "status": self.status,
            "endpoint": self.api.path(),
            "team": self.team,
            "model": self.model,
            "requested_model": self.requested_model,
            "provider": self.provider,
            "tier": self.tier,
            "declared_classification": classification(self.declared),
            "classification": classification(self.classification),
            "detections": self.detections.iter().map(|d| json!({
                "type": d.kind,
                "count": d.count,
                "classification": d.classification.as_str(),
                "action": d.action,
            })).collect::<Vec<_>>(),
            "injection": self.injection.iter().map(|h| json!({
                "rule": h.rule,
                "family": h.family,
                "score": h.score,
                "action": h.action,
            })).collect::<Vec<_>>(),
            "injection_families": self.injection_families.iter().map(|h| json!({
                "family": h.family.name(),
                "score": (f64::from(h.score) * 100.0).round() / 100.0,
                "threshold": h.threshold,
                "triggered": h.triggered,
                "action": h.action,
                "features": h.features,
            })).collect::<Vec<_>>(),
            "guardrail_action": self.guardrail_action,
            "approved_models": self.approved_models(),
            "models": self.models.iter().map(|m| json!({
                "model": m.model,
                "tier": m.tier,
                "approved_for": m.approved_for.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
                "accepts": m.accepts,
                "error_code": m.error_code.map(ErrorCode::as_str),
                "reason": m.reason,
            })).collect::<Vec<_>>(),
        });
        if let (Some(e), Some(map)) = (&self.error, v.as_object_mut()) {
            map.insert("error_code".into(), e.code.as_str().into());
            map.insert("message".into(), e.client_message(runbook_base_url).into());
            map.insert("runbook_url".into(), e.runbook_url(runbook_base_url).into());
        }
        v
    }
}

#[cfg(test)]
mod tests;
