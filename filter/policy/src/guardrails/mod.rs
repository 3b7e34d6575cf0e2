//! Data classification and PII guardrails: configuration compiled once, and the verdict on
//! each request ([`verdict::judge`]). Detection itself lives in the `genai-guard` crate.

pub mod injection;
pub mod verdict;

use genai_guard::{Builtin, CustomId, Engine, Kind};

use crate::classification::Classification;
use crate::config::raw::RawGuardrails;
use crate::config::ConfigError;

/// What a detection does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Raise the request's classification to the detector's; refused above the model's approval.
    Enforce,
    /// Replace the value with a typed placeholder; the classification is not raised (the
    /// value no longer leaves).
    Redact,
    /// Count only.
    Log,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectorPolicy {
    pub classification: Classification,
    pub action: Action,
    pub shadow: bool,
}

/// Default classification per built-in detector: contact data internal; financial and
/// government identifiers confidential; credentials restricted.
pub fn default_classification(kind: Builtin) -> Classification {
    match kind {
        Builtin::Email | Builtin::Phone | Builtin::IpAddress => Classification::Internal,
        Builtin::UsSsn | Builtin::CreditCard | Builtin::Iban => Classification::Confidential,
        Builtin::Secret => Classification::Restricted,
    }
}

/// Custom detectors default to confidential: they name what an organisation cares about.
const CUSTOM_DEFAULT: Classification = Classification::Confidential;

pub struct Guardrails {
    pub enabled: bool,
    /// The inspection engine, compiled once.
    pub scanner: Engine,
    /// Per [`Kind::index`]: what a finding of that kind does (shadow-all applied).
    policies: Vec<DetectorPolicy>,
    /// `guardrails.shadow`: every guardrail in shadow mode.
    shadow_all: bool,
    /// The prompt-injection detector (families, scores, thresholds, actions).
    pub injection: std::sync::Arc<genai_injection::Detector>,
    /// What the admin's own `detection.injection_rules` do: block (else log), shadow.
    pub injection_block: bool,
    pub injection_shadow: bool,
    pub classification_header: String,
    /// Prompts of at most this classification may be logged (redacted), up to `.1` bytes.
    pub prompt_logging: Option<(Classification, usize)>,
    pub audit_from: Classification,
}

impl std::fmt::Debug for Guardrails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guardrails")
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

fn classification(field: &str, value: &str) -> Result<Classification, ConfigError> {
    Classification::parse(value).ok_or_else(|| {
        ConfigError::new(
            field,
            format!("unknown classification `{value}`; expected public, internal, confidential or restricted"),
        )
    })
}

impl Guardrails {
    pub fn compile(raw: Option<RawGuardrails>) -> Result<Self, ConfigError> {
        let raw = match raw {
            Some(r) => r,
            None => serde_json::from_str("{}").map_err(|e| ConfigError::new("guardrails", e.to_string()))?,
        };
        // The genai-injection detector replaces the guard's built-in injection rules; the
        // admin's own `detection.injection_rules` still run.
        let mut detection = raw.detection.clone();
        if detection.injection_rules.is_none() {
            detection.injection_rules = Some(Vec::new());
        }
        // The detector first: its needles go into the engine's one automaton.
        let injection = std::sync::Arc::new(
            genai_injection::Detector::compile(&raw.injection)
                .map_err(|e| ConfigError::new(format!("guardrails.injection.{}", e.field), e.problem))?,
        );
        let mut scanner = detection
            .compile_with_injection(Some(std::sync::Arc::clone(&injection)))
            .map_err(|e| ConfigError::new(format!("guardrails.detection.{}", e.field), e.problem))?;
        let customs: Vec<&str> = raw.detection.custom_detectors.iter().map(|d| d.name.as_str()).collect();

        // Defaults for every kind: built-ins by type, markers their own, custom detectors
        // confidential; all enforced.
        let mut policies: Vec<DetectorPolicy> = Builtin::ALL
            .iter()
            .map(|&b| default_classification(b))
            .chain(Classification::ALL)
            .chain(customs.iter().map(|_| CUSTOM_DEFAULT))
            .map(|classification| DetectorPolicy {
                classification,
                action: Action::Enforce,
                shadow: raw.shadow,
            })
            .collect();
        for (kind, p) in &raw.detectors {
            let field = format!("guardrails.detectors.{kind}");
            let typed = if let Some(b) = Builtin::from_name(kind) {
                Kind::Builtin(b)
            } else if let Some(i) = customs.iter().position(|c| c == kind) {
                Kind::Custom(CustomId(u16::try_from(i).unwrap_or(u16::MAX)))
            } else {
                return Err(ConfigError::new(
                    field,
                    "not a detector: use a built-in type (email, phone, us_ssn, credit_card, iban, ip_address, secret) or a custom detector's name",
                ));
            };
            let default = policies.get(typed.index()).map_or(CUSTOM_DEFAULT, |p| p.classification);
            let classification = match &p.classification {
                Some(c) => classification(&format!("{field}.classification"), c)?,
                None => default,
            };
            let action = match p.action.as_deref() {
                None | Some("enforce") => Action::Enforce,
                Some("redact") => Action::Redact,
                Some("log") => Action::Log,
                Some(other) => {
                    return Err(ConfigError::new(
                        format!("{field}.action"),
                        format!("unknown action `{other}`; expected enforce, redact or log"),
                    ))
                }
            };
            if let Some(slot) = policies.get_mut(typed.index()) {
                *slot = DetectorPolicy {
                    classification,
                    action,
                    shadow: p.shadow.unwrap_or(false) || raw.shadow,
                };
            }
        }
        // The kinds whose values the verdict replaces (see `verdict::judge`): the engine
        // judges their neighbours in the text as it will be forwarded.
        scanner.set_redacted(Builtin::ALL.into_iter().filter(|b| {
            policies
                .get(Kind::Builtin(*b).index())
                .is_some_and(|p| p.action == Action::Redact && !p.shadow)
        }));
        let injection_block = raw.injection.action.as_deref() != Some("log");
        let header = raw.classification_header.to_ascii_lowercase();
        let header_ok = !header.is_empty()
            && header.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !header.starts_with(crate::headers::GATEWAY_PREFIX)
            && !header.starts_with(crate::headers::ENVOY_PREFIX);
        if !header_ok {
            return Err(ConfigError::new(
                "guardrails.classification_header",
                "must be a header name (letters, digits, '-'), not starting with x-genai- or x-envoy- (those are stripped)",
            ));
        }
        let max = classification(
            "guardrails.prompt_logging.max_classification",
            &raw.prompt_logging.max_classification,
        )?;
        if raw.prompt_logging.max_bytes > 65536 {
            return Err(ConfigError::new(
                "guardrails.prompt_logging.max_bytes",
                "must be at most 65536",
            ));
        }
        // Prompts are logged redacted; with nothing scanned there is nothing to redact them by.
        let prompt_logging = (raw.enabled && raw.prompt_logging.enabled)
            .then_some((max, usize::try_from(raw.prompt_logging.max_bytes).unwrap_or(65536)));
        Ok(Guardrails {
            enabled: raw.enabled,
            scanner,
            policies,
            shadow_all: raw.shadow,
            injection,
            injection_block,
            injection_shadow: raw.shadow || raw.injection.shadow,
            classification_header: header,
            prompt_logging,
            audit_from: classification("guardrails.audit_from", &raw.audit_from)?,
        })
    }

    /// Every guardrail runs in shadow mode (`guardrails.shadow`).
    pub fn shadow_all(&self) -> bool {
        self.shadow_all
    }

    /// The policy for a finding's kind.
    pub fn policy(&self, kind: Kind) -> DetectorPolicy {
        self.policies.get(kind.index()).copied().unwrap_or(DetectorPolicy {
            classification: kind.marker_classification().unwrap_or(CUSTOM_DEFAULT),
            action: Action::Enforce,
            shadow: false,
        })
    }

    /// A finding kind's name (`email`, a custom detector's name, `marker:restricted`).
    pub fn kind_name(&self, kind: Kind) -> &str {
        self.scanner.kind_name(kind)
    }
}

#[cfg(test)]
mod tests;
