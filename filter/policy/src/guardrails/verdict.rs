//! The guardrails' decision on one request body.
//!
//! Every JSON string the provider would see is scanned (message text of every role, content
//! parts, system prompts, tool calls and results, the Responses API's input, and any other
//! field: metadata leaves too), on its decoded text, after normalisation (inside
//! genai-guard). Only the top-level `model` value and base64 `data:` URLs (images, audio)
//! are skipped. The effective classification is the higher of the declared one and what
//! enforcing detectors found; above the model's approval the request is refused.

use std::collections::{BTreeMap, HashMap};

use genai_guard::{redact, Finding};

use super::{Action, Guardrails};
use crate::classification::{Classification, ClassificationSet};
use crate::error::{ErrorCode, GatewayError};
use crate::request::strings::{encode, json_strings, Edit};

/// What the guardrails decided.
#[derive(Debug, Default)]
pub struct Verdict {
    /// The effective classification (declared or detected, whichever is higher).
    pub classification: Option<Classification>,
    /// Detected types and how many of each (never values).
    pub detected: BTreeMap<String, u32>,
    /// Set when the request must be refused.
    pub refusal: Option<GatewayError>,
    /// Redactions to splice into the body.
    pub edits: Vec<Edit>,
    /// (guardrail, action) for the metrics: action is `block`, `redact`, `log`, `shadow` or `allow`.
    pub triggers: Vec<(String, &'static str)>,
    /// `none`, `allow`, `redact`, `block` or `shadow`: the decision, for the access log.
    pub action: &'static str,
    /// The prompt with every finding redacted, where its classification allows logging.
    pub loggable_prompt: Option<String>,
    /// The request must leave an audit record.
    pub audit: bool,
}

impl Verdict {
    /// `email:2,credit_card:1`, for logs.
    pub fn detected_summary(&self) -> String {
        self.detected
            .iter()
            .map(|(k, n)| format!("{k}:{n}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The model side of the decision.
pub struct Target<'a> {
    pub model: &'a str,
    pub tier: &'a str,
    pub approved: ClassificationSet,
}

fn is_data_url(s: &str) -> bool {
    s.len() > 64 && s.starts_with("data:") && s.get(..100.min(s.len())).is_some_and(|h| h.contains(";base64,"))
}

/// Judges `body`. `skip` is the byte range of the top-level `model` value.
pub fn judge(
    g: &Guardrails,
    body: &[u8],
    skip: (usize, usize),
    declared: Option<Classification>,
    target: &Target<'_>,
) -> Result<Verdict, GatewayError> {
    let mut v = Verdict {
        action: "none",
        ..Verdict::default()
    };
    let mut enforced = declared.unwrap_or(Classification::Public);
    let mut shadow_class = enforced;
    // Per enforcing detector type, its classification (to say which types caused a refusal).
    let mut enforcing: BTreeMap<String, Classification> = BTreeMap::new();
    let mut shadowed: BTreeMap<String, Classification> = BTreeMap::new();
    let mut redactions: Vec<(usize, Vec<Finding>)> = Vec::new();
    let mut all_findings: Vec<(usize, Vec<Finding>)> = Vec::new();
    let mut injections: Vec<String> = Vec::new();

    let strings = json_strings(body).ok_or_else(|| {
        GatewayError::new(
            ErrorCode::GatewayInternalError,
            "the gateway could not read the request's strings",
        )
    })?;
    if g.enabled {
        for (i, s) in strings.iter().enumerate() {
            if (s.start, s.end) == skip || is_data_url(&s.text) {
                continue;
            }
            let inspection = g.scanner.inspect(&s.text);
            for name in inspection.injection {
                if !injections.iter().any(|n| n == name) {
                    injections.push(name.to_string());
                }
            }
            if inspection.findings.is_empty() {
                continue;
            }
            let mut to_redact = Vec::new();
            for f in &inspection.findings {
                *v.detected.entry(f.kind.clone()).or_insert(0) += 1;
                let p = g.policy(&f.kind);
                match (p.action, p.shadow) {
                    (Action::Enforce, false) => {
                        enforced = enforced.max(p.classification);
                        shadow_class = shadow_class.max(p.classification);
                        enforcing.insert(f.kind.clone(), p.classification);
                    }
                    (Action::Enforce, true) => {
                        shadow_class = shadow_class.max(p.classification);
                        shadowed.insert(f.kind.clone(), p.classification);
                    }
                    (Action::Redact, false) if !f.is_marker() => to_redact.push(f.clone()),
                    (Action::Redact, _) | (Action::Log, _) => {}
                }
            }
            if !to_redact.is_empty() {
                redactions.push((i, to_redact));
            }
            let values: Vec<Finding> = inspection.findings.into_iter().filter(|f| !f.is_marker()).collect();
            if !values.is_empty() {
                all_findings.push((i, values));
            }
        }
    }
    v.classification = Some(enforced);

    // Triggers, per detected type, with what was done about it.
    let refused = !target.approved.contains(enforced);
    for kind in v.detected.keys() {
        let p = g.policy(kind);
        let action = match p.action {
            Action::Enforce if p.shadow => {
                if target.approved.contains(shadow_class) {
                    "allow"
                } else {
                    "shadow"
                }
            }
            Action::Enforce => {
                if refused && !target.approved.contains(p.classification) {
                    "block"
                } else {
                    "allow"
                }
            }
            Action::Redact if p.shadow => "shadow",
            Action::Redact => "redact",
            Action::Log => "log",
        };
        v.triggers.push((kind.clone(), action));
    }

    if refused {
        let mut causes: Vec<String> = enforcing
            .iter()
            .filter(|(_, c)| !target.approved.contains(**c))
            .map(|(k, _)| format!("{k} ×{}", v.detected.get(k).copied().unwrap_or(0)))
            .collect();
        if declared.is_some_and(|d| !target.approved.contains(d)) {
            causes.push(format!("declared {}", enforced.as_str()));
        }
        let approved: Vec<&str> = target.approved.iter().map(Classification::as_str).collect();
        v.refusal = Some(GatewayError::new(
            ErrorCode::ClassificationMismatch,
            format!(
                "this request carries {} data ({}); model `{}` (tier {}) is approved for {} only. \
                 Use a model approved for {} data, or remove that data from the prompt",
                enforced.as_str(),
                causes.join(", "),
                target.model,
                target.tier,
                if approved.is_empty() {
                    "nothing".to_string()
                } else {
                    approved.join(", ")
                },
                enforced.as_str()
            ),
        ));
        v.action = "block";
    }

    if !injections.is_empty() {
        let action = if g.injection_shadow {
            "shadow"
        } else if g.injection_block {
            "block"
        } else {
            "log"
        };
        for rule in &injections {
            v.triggers.push((format!("injection_{rule}"), action));
        }
        if action == "block" && v.refusal.is_none() {
            v.refusal = Some(GatewayError::new(
                ErrorCode::PromptInjectionBlocked,
                format!("the prompt matches prompt-injection rules ({})", injections.join(", ")),
            ));
            v.action = "block";
        }
    }
    if v.refusal.is_some() {
        return Ok(v);
    }

    // Redactions, with placeholders numbered across the whole request.
    let mut counters: HashMap<String, u32> = HashMap::new();
    for (i, findings) in &redactions {
        if let Some(s) = strings.get(*i) {
            let redacted = redact(&s.text, findings, &mut counters);
            v.edits.push(Edit {
                start: s.start,
                end: s.end,
                with: encode(&redacted),
            });
        }
    }
    v.action = if !v.edits.is_empty() {
        "redact"
    } else if v.triggers.iter().any(|(_, a)| *a == "shadow") {
        "shadow"
    } else if v.detected.is_empty() {
        "none"
    } else {
        "allow"
    };

    if let Some((max, max_bytes)) = g.prompt_logging {
        if enforced <= max {
            v.loggable_prompt = Some(loggable_prompt(&strings, &all_findings, skip, max_bytes));
        }
    }
    v.audit = enforced >= g.audit_from;
    Ok(v)
}

/// Every non-key string, each finding replaced by its placeholder, cut to `max_bytes`.
fn loggable_prompt(
    strings: &[crate::request::strings::JsonStr<'_>],
    findings: &[(usize, Vec<Finding>)],
    skip: (usize, usize),
    max_bytes: usize,
) -> String {
    let mut counters = HashMap::new();
    let mut out = String::new();
    for (i, s) in strings.iter().enumerate() {
        if s.is_key || (s.start, s.end) == skip || is_data_url(&s.text) {
            continue;
        }
        let text = match findings.iter().find(|(j, _)| *j == i) {
            Some((_, f)) => redact(&s.text, f, &mut counters),
            None => s.text.to_string(),
        };
        if !out.is_empty() {
            out.push_str(" | ");
        }
        out.push_str(&text);
        if out.len() >= max_bytes {
            break;
        }
    }
    if out.len() > max_bytes {
        let mut cut = max_bytes;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}
