//! The prompt-injection side of the verdict: the genai-injection detector runs inside the
//! inspection engine's single pass (its needles in the engine's automaton, one accumulator
//! per model-visible text, normalised; hidden-text tricks from the original), and its
//! merged verdict becomes typed family hits with scores, triggers (`injection_<family>`)
//! and, when a triggered family blocks, the refusal.

use genai_injection::{Action, Family, Verdict as Scores};

use super::Guardrails;

/// One family's outcome on a request (all families with a score above zero).
#[derive(Debug, Clone, PartialEq)]
pub struct InjectionHit {
    pub family: Family,
    /// The sum of the weights of the family's features that fired.
    pub score: f32,
    /// The configured threshold; the family triggers at `score >= threshold`.
    pub threshold: f32,
    pub triggered: bool,
    /// What was done: `block`, `log` or `shadow` when triggered, `none` below threshold.
    pub action: &'static str,
    /// The features that fired (`override_verb_directive`, `decodable_payload`, …).
    pub features: Vec<String>,
}

impl InjectionHit {
    /// `injection_<family>`: the guardrail's name in metrics.
    pub fn trigger(&self) -> String {
        format!("injection_{}", self.family.name())
    }
}

/// The family hits of a request's merged verdict (from the engine's single pass), in
/// family order, with what each does under the configuration.
pub fn family_hits(g: &Guardrails, scores: Option<&Scores>) -> Vec<InjectionHit> {
    let Some(scores) = scores else {
        return Vec::new();
    };
    g.injection
        .hits(scores)
        .into_iter()
        .map(|h| {
            let action = if !h.triggered {
                "none"
            } else if g.shadow_all() {
                "shadow"
            } else {
                match h.action {
                    Action::Block => "block",
                    Action::Log => "log",
                    Action::Shadow => "shadow",
                }
            };
            InjectionHit {
                family: h.family,
                score: h.score,
                threshold: h.threshold,
                triggered: h.triggered,
                action,
                features: g
                    .injection
                    .fired(scores, h.family)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            }
        })
        .collect()
}

/// `instruction_override:1.90:block,jailbreak:1.20:shadow`: the triggered families, for
/// the access log.
pub fn summary(hits: &[InjectionHit]) -> String {
    hits.iter()
        .filter(|h| h.triggered)
        .map(|h| format!("{}:{:.2}:{}", h.family.name(), h.score, h.action))
        .collect::<Vec<_>>()
        .join(",")
}
