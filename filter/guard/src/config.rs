//! Configuration (serde) and its compilation into a [`Scanner`].

use crate::finding::{Builtin, Classification};
use crate::injection::{default_injection_rules, Injection};
use crate::pattern::Pattern;
use crate::phrase::PhraseSet;
use crate::scanner::{Scanner, Tag};
use regex_lite::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest accepted regex pattern source, and the compiled-size cap passed to regex-lite.
const MAX_PATTERN_LEN: usize = 1024;
const REGEX_SIZE_LIMIT: usize = 1 << 20;
const MAX_KEYWORD_LEN: usize = 256;
const MAX_NAME_LEN: usize = 64;

/// What the guard looks for. Every field is optional: `{}` is the default configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// for case-insensitivity).
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InjectionRule {
    /// Reported when the rule matches.
    pub name: String,
    /// Phrase patterns, case-insensitive, whole words, flexible whitespace:
    /// `word`, `(alt|other alt)` (one required), `[alt|alt]` (optional).
    #[serde(default)]
    pub phrases: Vec<String>,
    /// Regular expressions (regex-lite) matched on the normalised, lowercased text.
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

/// The default markers: `CONFIDENTIAL`, `RESTRICTED`, `INTERNAL ONLY`,
/// `INTERNAL USE ONLY`, all case-sensitive.
pub fn default_markers() -> Vec<Marker> {
    [
        ("CONFIDENTIAL", Classification::Confidential),
        ("RESTRICTED", Classification::Restricted),
        ("INTERNAL ONLY", Classification::Internal),
        ("INTERNAL USE ONLY", Classification::Internal),
    ]
    .into_iter()
    .map(|(keyword, classification)| Marker {
        keyword: keyword.into(),
        classification,
        case_sensitive: true,
    })
    .collect()
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
    pub(crate) fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
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

/// Compiles a regex-lite pattern with the guard's limits.
pub(crate) fn compile_regex(pattern: &str, field: &str) -> Result<Regex, GuardConfigError> {
    if pattern.is_empty() {
        return Err(GuardConfigError::new(field, "must not be empty"));
    }
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(GuardConfigError::new(
            field,
            format!("is longer than {MAX_PATTERN_LEN} bytes"),
        ));
    }
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| GuardConfigError::new(field, format!("invalid regex: {e}")))
}

fn check_keyword(keyword: &str, field: &str) -> Result<(), GuardConfigError> {
    if keyword.len() > MAX_KEYWORD_LEN {
        return Err(GuardConfigError::new(
            field,
            format!("is longer than {MAX_KEYWORD_LEN} bytes"),
        ));
    }
    Ok(())
}

fn check_name(name: &str, field: &str, taken: &[String]) -> Result<(), GuardConfigError> {
    let well_formed = name.len() <= MAX_NAME_LEN
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_');
    if !well_formed {
        return Err(GuardConfigError::new(
            field,
            format!(
                "`{name}` must be lowercase letters, digits and `_`, start with a letter, \
                 at most {MAX_NAME_LEN} bytes"
            ),
        ));
    }
    if Builtin::from_name(name).is_some() {
        return Err(GuardConfigError::new(field, format!("`{name}` is a built-in detector")));
    }
    if taken.iter().any(|t| t == name) {
        return Err(GuardConfigError::new(
            field,
            format!("duplicate detector name `{name}`"),
        ));
    }
    Ok(())
}

impl GuardConfig {
    /// Validates the configuration and compiles it (phrase tables, regexes) once.
    pub fn compile(&self) -> Result<Scanner, GuardConfigError> {
        let mut enabled: u8 = Builtin::ALL.iter().fold(0, |m, b| m | b.bit());
        for (i, name) in self.disabled_detectors.iter().enumerate() {
            let Some(b) = Builtin::from_name(name) else {
                let known: Vec<&str> = Builtin::ALL.iter().map(|b| b.name()).collect();
                return Err(GuardConfigError::new(
                    format!("disabled_detectors[{i}]"),
                    format!("unknown detector `{name}`; built-ins are {}", known.join(", ")),
                ));
            };
            enabled &= !b.bit();
        }

        let mut phrases = PhraseSet::default();
        let mut tags: Vec<Tag> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut regexes: Vec<(usize, Pattern)> = Vec::new();
        for (i, d) in self.custom_detectors.iter().enumerate() {
            let field = format!("custom_detectors[{i}]");
            check_name(&d.name, &format!("{field}.name"), &names)?;
            if d.keywords.is_empty() && d.patterns.is_empty() {
                return Err(GuardConfigError::new(field, "needs at least one keyword or pattern"));
            }
            let tag = tags.len();
            tags.push(Tag::Custom(names.len()));
            for (j, k) in d.keywords.iter().enumerate() {
                let kf = format!("{field}.keywords[{j}]");
                check_keyword(k, &kf)?;
                phrases
                    .add_literal(k, d.case_sensitive, tag)
                    .map_err(|e| GuardConfigError::new(kf, e))?;
            }
            for (j, p) in d.patterns.iter().enumerate() {
                let pf = format!("{field}.patterns[{j}]");
                let re = compile_regex(p, &pf)?;
                let pattern = Pattern::new(p, re, |src| compile_regex(src, &pf).ok());
                regexes.push((names.len(), pattern));
            }
            names.push(d.name.clone());
        }

        let default_markers_list;
        let markers = match &self.markers {
            Some(m) => m,
            None => {
                default_markers_list = default_markers();
                &default_markers_list
            }
        };
        for (i, m) in markers.iter().enumerate() {
            let field = format!("markers[{i}].keyword");
            check_keyword(&m.keyword, &field)?;
            let tag = tags.len();
            tags.push(Tag::Marker(m.classification));
            phrases
                .add_literal(&m.keyword, m.case_sensitive, tag)
                .map_err(|e| GuardConfigError::new(field, e))?;
        }

        let injection = match &self.injection_rules {
            Some(rules) => Injection::compile(rules)?,
            None => Injection::compile(&default_injection_rules())?,
        };

        Ok(Scanner {
            enabled,
            phrases,
            tags,
            names,
            regexes,
            injection,
        })
    }
}
