//! The rule specification: what the guard looks for, as an admin writes it (serde types,
//! unknown fields rejected). [`GuardConfig::compile`](crate::GuardConfig::compile) turns it
//! into an [`Engine`](crate::Engine) once, at configuration time.

mod defaults;

pub use defaults::{default_injection_rules, default_markers};

use crate::kind::Classification;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What the guard looks for. Every field is optional: `{}` is the default configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardConfig {
    /// Organisation-specific detectors (project code names, internal id formats).
    #[serde(default)]
    pub custom_detectors: Vec<CustomDetector>,
    /// Classification markers; `None` means [`default_markers`], `Some([])` none.
    #[serde(default)]
    pub markers: Option<Vec<Marker>>,
    /// Prompt-injection rules; `None` means [`default_injection_rules`], `Some([])` none.
    #[serde(default)]
    pub injection_rules: Option<Vec<InjectionRule>>,
    /// Built-in detectors to switch off, by type name (`ip_address`).
    #[serde(default)]
    pub disabled_detectors: Vec<String>,
}

/// A configurable detector: findings are reported with `name` as their type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomDetector {
    /// Type name of the findings: lowercase letters, digits and `_`, starting with a
    /// letter (`project_codename`); must not be a built-in name.
    pub name: String,
    /// Words or phrases, matched as whole words with flexible whitespace.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Regular expressions (regex-lite syntax, matched on the normalised text; use `(?i)`
    /// for case-insensitivity). Each must start with a literal of at least three
    /// characters and have a bounded match length (see [`crate::rules`]), so that matching
    /// stays linear in the prompt whatever it holds.
    #[serde(default)]
    pub patterns: Vec<String>,
    /// Whether keywords match case-sensitively (default: no).
    #[serde(default)]
    pub case_sensitive: bool,
}

/// A keyword whose presence declares a classification (`CONFIDENTIAL` → confidential).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Marker {
    /// The word or phrase (whole words, flexible whitespace).
    pub keyword: String,
    /// The classification it declares; findings have type `marker:<classification>`.
    pub classification: Classification,
    /// Whether the keyword matches case-sensitively (default: yes, so "confidential" in
    /// ordinary prose does not count).
    #[serde(default = "yes")]
    pub case_sensitive: bool,
}

fn yes() -> bool {
    true
}

/// A named prompt-injection rule; it matches when any of its parts does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InjectionRule {
    /// Reported when the rule matches.
    pub name: String,
    /// The attack family the rule belongs to (its trigger name in metrics and verdicts);
    /// defaults to the rule's name.
    #[serde(default)]
    pub family: Option<String>,
    /// The rule's score when it matches (default 1.0); a family's score is the sum over its
    /// matching rules.
    #[serde(default)]
    pub score: Option<f32>,
    /// Phrase patterns, case-insensitive, whole words, flexible whitespace:
    /// `word`, `(alt|other alt)` (one required), `[alt|alt]` (optional).
    #[serde(default)]
    pub phrases: Vec<String>,
    /// Regular expressions (regex-lite) matched on the normalised text (add `(?i)` for
    /// case-insensitivity); the same literal-anchor and bounded-length rule as custom
    /// detector patterns.
    #[serde(default)]
    pub patterns: Vec<String>,
    /// A hidden-text trick, checked on the original text.
    #[serde(default)]
    pub hidden_text: Option<HiddenText>,
}

/// Hidden-text tricks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HiddenText {
    /// A zero-width character between two ASCII letters or digits (`ig\u{200B}nore`).
    ZeroWidthInWord,
    /// Unicode tag characters (U+E0000–U+E007F) outside emoji flag sequences.
    TagCharacters,
    /// Four or more invisible characters in a row.
    InvisibleRun,
    /// Bidi overrides, or bidi embeddings/isolates in text with no right-to-left script.
    BidiOverride,
}

/// A configuration error: the field path (`custom_detectors[1].patterns[0]`) and what is
/// wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardConfigError {
    /// Path of the offending field.
    pub field: String,
    /// What is wrong.
    pub problem: String,
}

impl GuardConfigError {
    /// A problem with the field at `field`.
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        GuardConfigError {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for GuardConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

impl std::error::Error for GuardConfigError {}
