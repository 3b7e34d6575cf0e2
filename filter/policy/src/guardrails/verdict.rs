//! The guardrails' decision on one request body.
//!
//! The body's model-visible texts ([`crate::request::visible`]: each message's parts joined,
//! every other value the provider receives, keys where they can carry content) go through
//! the inspection engine's single pass. The effective classification is the higher of the
//! declared one and what enforcing detectors found; above the model's approval the request
//! is refused. Redactions replace each value's bytes in the body, part by part.

use std::collections::BTreeMap;

use genai_guard::{resolve_overlaps, Document, Finding, InjectionHit, Inspection, Kind, Placeholders, TextKind};

use super::injection::{family_hits, InjectionHit as FamilyHit};
use super::{Action, Guardrails};
use crate::classification::{Classification, ClassificationSet};
use crate::error::{ErrorCode, GatewayError};
use crate::request::strings::Edit;
use crate::request::visible;

/// What the guardrails decided.
#[derive(Debug, Default)]
pub struct Verdict {
    /// The effective classification (declared or detected, whichever is higher).
    pub classification: Option<Classification>,
    /// Detected kinds and how many of each (never values).
    pub detected: BTreeMap<Kind, u32>,
    /// Matched injection rules (rule, family, score).
    pub injection: Vec<InjectionHit>,
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
    /// `email:2,credit_card:1`, for logs (names at the edge).
    summary: String,
    /// Prompt-injection families with a score above zero (triggered or not), in family order.
    pub families: Vec<FamilyHit>,
}

impl Verdict {
    /// `email:2,credit_card:1`, for logs.
    pub fn detected_summary(&self) -> String {
        self.summary.clone()
    }

    /// The typed findings as names and numbers, for a dry run (`genaictl check`, the
    /// gateway's check endpoint): classification, detections by type with counts,
    /// injection hits by rule and family with their score.
    pub fn report(&self, g: &Guardrails) -> serde_json::Value {
        let detected: serde_json::Map<String, serde_json::Value> = self
            .detected
            .iter()
            .map(|(k, n)| (g.kind_name(*k).to_owned(), serde_json::Value::from(*n)))
            .collect();
        let injection: Vec<serde_json::Value> = self
            .injection
            .iter()
            .map(|h| {
                serde_json::json!({
                    "rule": g.scanner.rule_name(h.rule),
                    "family": g.scanner.family_name(h.family),
                    "score": h.score,
                })
            })
            .collect();
        serde_json::json!({
            "classification": self.classification.map(Classification::as_str),
            "detected": detected,
            "injection": injection,
            "action": self.action,
        })
    }
}

/// The model side of the decision.
pub struct Target<'a> {
    pub model: &'a str,
    pub tier: &'a str,
    pub approved: ClassificationSet,
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
    // Per enforcing detector kind, its classification (to say which kinds caused a refusal).
    let mut enforcing: BTreeMap<Kind, Classification> = BTreeMap::new();
    let mut to_redact: Vec<Finding> = Vec::new();

    let doc = if g.enabled {
        visible::document_with(body, skip, g.scanner.inert())
    } else {
        Document::new(body)
    };
    let inspection = if g.enabled {
        g.scanner.inspect(&doc)
    } else {
        Inspection::default()
    };
    for f in &inspection.findings {
        *v.detected.entry(f.kind).or_insert(0) += 1;
        let p = g.policy(f.kind);
        match (p.action, p.shadow) {
            (Action::Enforce, false) => {
                enforced = enforced.max(p.classification);
                shadow_class = shadow_class.max(p.classification);
                enforcing.insert(f.kind, p.classification);
            }
            (Action::Enforce, true) => shadow_class = shadow_class.max(p.classification),
            (Action::Redact, false) if !f.kind.is_marker() => to_redact.push(*f),
            (Action::Redact, _) | (Action::Log, _) => {}
        }
    }
    v.summary = v
        .detected
        .iter()
        .map(|(k, n)| format!("{}:{n}", g.kind_name(*k)))
        .collect::<Vec<_>>()
        .join(",");
    v.injection = inspection.injection.clone();
    v.classification = Some(enforced);

    // Triggers, per detected type, with what was done about it.
    let refused = !target.approved.contains(enforced);
    for &kind in v.detected.keys() {
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
        v.triggers.push((g.kind_name(kind).to_owned(), action));
    }

    if refused {
        let mut causes: Vec<String> = enforcing
            .iter()
            .filter(|(_, c)| !target.approved.contains(**c))
            .map(|(k, _)| format!("{} ×{}", g.kind_name(*k), v.detected.get(k).copied().unwrap_or(0)))
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

    v.families = family_hits(g, inspection.families.as_ref());
    let blocking: Vec<String> = v
        .families
        .iter()
        .filter(|h| h.triggered)
        .map(|h| {
            v.triggers.push((h.trigger(), h.action));
            format!("{} {:.2} ≥ {:.2}", h.family.name(), h.score, h.threshold)
        })
        .collect();
    let blocks = v.families.iter().any(|h| h.triggered && h.action == "block");
    if blocks && v.refusal.is_none() {
        v.refusal = Some(GatewayError::new(
            ErrorCode::PromptInjectionBlocked,
            format!(
                "the prompt looks like a prompt-injection attack ({})",
                blocking.join(", ")
            ),
        ));
        v.action = "block";
    }
    if !v.injection.is_empty() {
        let action = if g.injection_shadow {
            "shadow"
        } else if g.injection_block {
            "block"
        } else {
            "log"
        };
        let names: Vec<&str> = v.injection.iter().map(|h| g.scanner.rule_name(h.rule)).collect();
        for rule in &names {
            v.triggers.push((format!("injection_{rule}"), action));
        }
        if action == "block" && v.refusal.is_none() {
            v.refusal = Some(GatewayError::new(
                ErrorCode::PromptInjectionBlocked,
                format!("the prompt matches prompt-injection rules ({})", names.join(", ")),
            ));
            v.action = "block";
        }
    }
    if v.refusal.is_some() {
        return Ok(v);
    }

    // Redactions, with placeholders numbered across the whole request; a value that spans
    // parts leaves its placeholder in the first part's share and nothing in the others.
    // One allocation per value (its edit's bytes): the shares' buffer is reused.
    let mut placeholders = Placeholders::default();
    let mut shares = Vec::new();
    for f in resolve_overlaps(&to_redact) {
        shares.clear();
        doc.shares_into(f.start, f.end, &mut shares);
        for (k, share) in shares.iter().enumerate() {
            let mut with = String::new();
            if share.bare_number {
                with.push('"');
            }
            if k == 0 {
                placeholders.placeholder_into(f.kind, g.kind_name(f.kind), doc.slice(f.start, f.end), &mut with);
            }
            if share.bare_number {
                with.push('"');
            }
            v.edits.push(Edit {
                start: share.start,
                end: share.end,
                with: with.into_bytes(),
            });
        }
    }
    merge_overlapping(&mut v.edits);
    v.action = if !v.edits.is_empty() {
        "redact"
    } else if v.triggers.iter().any(|(_, a)| *a == "shadow") {
        "shadow"
    } else if v.detected.is_empty() && v.triggers.is_empty() {
        "none"
    } else {
        "allow"
    };

    if let Some((max, max_bytes)) = g.prompt_logging {
        if enforced <= max {
            v.loggable_prompt = Some(loggable_prompt(g, &doc, &inspection.findings, max_bytes));
        }
    }
    v.audit = enforced >= g.audit_from;
    Ok(v)
}

/// Edits of one request never overlap (each value is one finding); should two shares touch
/// the same escape or normalisation cluster, they become one edit rather than a failure.
fn merge_overlapping(edits: &mut Vec<Edit>) {
    edits.sort_by_key(|e| (e.start, e.end));
    let mut out: Vec<Edit> = Vec::with_capacity(edits.len());
    for e in edits.drain(..) {
        match out.last_mut() {
            Some(last) if e.start < last.end => {
                last.end = last.end.max(e.end);
                last.with.extend_from_slice(&e.with);
            }
            _ => out.push(e),
        }
    }
    *edits = out;
}

/// Appends `doc`'s `from..to` to `out`, stopping at the first character boundary past
/// `max_bytes` of `out`.
fn push_within(out: &mut String, doc: &Document<'_>, from: usize, to: usize, max_bytes: usize) {
    let room = max_bytes.saturating_sub(out.len()).saturating_add(1);
    let mut stop = to.min(from.saturating_add(room));
    // The inspected text is UTF-8: a boundary is at most three bytes on (and were it not,
    // nothing is pushed rather than the search going on).
    for _ in 0..3 {
        if stop >= to || stop <= from || !doc.slice(from, stop).is_empty() {
            break;
        }
        stop += 1;
    }
    out.push_str(doc.slice(from, stop));
}

/// The inspected string values (not keys, not numbers) joined by ` | `, each value finding
/// replaced by its placeholder, cut to `max_bytes`.
fn loggable_prompt(g: &Guardrails, doc: &Document<'_>, findings: &[Finding], max_bytes: usize) -> String {
    let values: Vec<Finding> = findings.iter().copied().filter(|f| !f.kind.is_marker()).collect();
    let kept = resolve_overlaps(&values);
    let mut placeholders = Placeholders::default();
    let mut out = String::new();
    let mut next = kept.iter().peekable();
    for (start, end, kind) in doc.text_spans() {
        if matches!(kind, TextKind::Key | TextKind::Number) {
            while next.peek().is_some_and(|f| f.start < end) {
                next.next();
            }
            continue;
        }
        if !out.is_empty() {
            out.push_str(" | ");
        }
        // Only what the cut below keeps is built (and a byte more, so the cut marks it): a
        // text of 300,000 values made as many placeholders for a log line of 2 KB.
        let mut pos = start;
        while let Some(f) = next.peek() {
            if f.start >= end || out.len() > max_bytes {
                break;
            }
            push_within(&mut out, doc, pos, f.start.max(pos), max_bytes);
            if out.len() > max_bytes {
                break;
            }
            placeholders.placeholder_into(f.kind, g.kind_name(f.kind), doc.slice(f.start, f.end), &mut out);
            pos = f.end.max(pos);
            next.next();
        }
        if out.len() <= max_bytes {
            push_within(&mut out, doc, pos, end, max_bytes);
        }
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
    // A fresh copy if the string grew far past its cap: the logged prompt lives as long as the
    // exchange, and a truncated string keeps its whole capacity (up to the body's size) or, shrunk
    // in place, pins a body-sized hole per exchange in flight (integration/tests/test_memory.py).
    if out.capacity() > out.len().saturating_mul(2).saturating_add(64) {
        return out.as_str().to_owned();
    }
    out
}
