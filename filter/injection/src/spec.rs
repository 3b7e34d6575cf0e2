//! The configuration, as an admin writes it (strict serde: unknown fields are errors).
//!
//! ```json
//! {
//!   "action": "block",
//!   "shadow": false,
//!   "families": {
//!     "jailbreak": { "threshold": 1.5, "action": "shadow" },
//!     "exfiltration": { "enabled": false }
//!   },
//!   "custom_rules": [
//!     { "name": "codename_leak", "family": "prompt_extraction", "score": 1.0,
//!       "terms": [["reveal", "leak", "print"], ["project falcon"]], "window": 60 }
//!   ]
//! }
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

/// What a triggered family does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Refuse the request (403 `prompt_injection_blocked`).
    Block,
    /// Count and log only.
    Log,
    /// Decide as if blocking and count it (`action="shadow"`), but forward.
    Shadow,
}

impl Action {
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Block => "block",
            Action::Log => "log",
            Action::Shadow => "shadow",
        }
    }
}

/// The injection detection's configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InjectionSpec {
    /// The action of every family that sets none: `block` (the default) or `log`.
    #[serde(default)]
    pub action: Option<String>,
    /// Every family that sets no action runs in shadow mode.
    #[serde(default)]
    pub shadow: bool,
    /// Per family (`instruction_override`, `prompt_extraction`, `jailbreak`,
    /// `embedded_instructions`, `encoded_payload`, `hidden_text`, `exfiltration`).
    #[serde(default)]
    pub families: BTreeMap<String, FamilySpec>,
    /// The admin's own scored rules, added to a family's score.
    #[serde(default)]
    pub custom_rules: Vec<CustomRule>,
}

/// One family's settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FamilySpec {
    /// `false` turns the family off (not scored, never triggers).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// The score at which the family triggers (default 1.0; more than 0, at most 100).
    #[serde(default)]
    pub threshold: Option<f32>,
    /// `block`, `log` or `shadow`; by default the top-level action (and shadow).
    #[serde(default)]
    pub action: Option<Action>,
}

/// An admin-written rule: up to three groups of terms that must occur in order (or, with
/// `ordered: false`, in any order for two groups), each at most `window` bytes after the
/// one before. A term is a word or phrase matched as whole words, ASCII
/// case-insensitively; a trailing `*` matches any word starting with it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomRule {
    /// The rule's name (lowercase letters, digits, `_`), shown among the family's features.
    pub name: String,
    /// The family whose score it adds to.
    pub family: String,
    /// Added to the family's score when the rule matches (default 1.0).
    #[serde(default)]
    pub score: Option<f32>,
    /// One to three groups; one term of each must occur.
    pub terms: Vec<Vec<String>>,
    /// Largest gap in bytes between one group's term and the next (default 64, at most 4096).
    #[serde(default)]
    pub window: Option<u32>,
    /// With two groups, `false` accepts them in either order (default true).
    #[serde(default)]
    pub ordered: Option<bool>,
}

/// A configuration error, naming the field (`families.jailbrake`, `custom_rules[0].terms[1][0]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub field: String,
    pub problem: String,
}

impl SpecError {
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        SpecError {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

impl std::error::Error for SpecError {}
