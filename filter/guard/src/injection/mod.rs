//! Prompt-injection heuristics: named rules of phrases, regex patterns and hidden-text
//! checks. Phrases and patterns match the normalised text, lowercased with look-alike
//! letters folded; hidden-text checks look at the original text.

mod defaults;
mod fold;
mod hidden;

pub use defaults::default_injection_rules;

use crate::config::{compile_regex, GuardConfigError, HiddenText, InjectionRule};
use crate::normalize::Normalized;
use crate::phrase::PhraseSet;
use regex_lite::Regex;

#[derive(Debug, Clone)]
struct Rule {
    name: String,
    patterns: Vec<Regex>,
    hidden: Option<HiddenText>,
}

/// The compiled rule set.
#[derive(Debug, Clone, Default)]
pub(crate) struct Injection {
    rules: Vec<Rule>,
    /// Phrases of all rules; the tag is the rule index.
    phrases: PhraseSet,
}

impl Injection {
    /// Compiles `rules`; errors name `injection_rules[i]…`.
    pub(crate) fn compile(rules: &[InjectionRule]) -> Result<Self, GuardConfigError> {
        let mut out = Injection::default();
        for (i, rule) in rules.iter().enumerate() {
            let field = format!("injection_rules[{i}]");
            let name = rule.name.trim();
            if name.is_empty() {
                return Err(GuardConfigError::new(format!("{field}.name"), "must not be empty"));
            }
            if out.rules.iter().any(|r| r.name == name) {
                return Err(GuardConfigError::new(
                    format!("{field}.name"),
                    format!("duplicate rule name `{name}`"),
                ));
            }
            if rule.phrases.is_empty() && rule.patterns.is_empty() && rule.hidden_text.is_none() {
                return Err(GuardConfigError::new(
                    field,
                    "needs at least one of `phrases`, `patterns` or `hidden_text`",
                ));
            }
            for (j, phrase) in rule.phrases.iter().enumerate() {
                // Patterns match folded text, so fold the phrase the same way.
                out.phrases
                    .add_pattern(&fold::fold(phrase), i)
                    .map_err(|e| GuardConfigError::new(format!("{field}.phrases[{j}]"), e))?;
            }
            let patterns = rule
                .patterns
                .iter()
                .enumerate()
                .map(|(j, p)| compile_regex(p, &format!("{field}.patterns[{j}]")))
                .collect::<Result<Vec<_>, _>>()?;
            out.rules.push(Rule {
                name: name.to_owned(),
                patterns,
                hidden: rule.hidden_text,
            });
        }
        Ok(out)
    }

    /// Names of the rules that match, in rule order. `norm` is `original` after
    /// [`crate::normalize`].
    pub(crate) fn matches(&self, original: &str, norm: &Normalized<'_>) -> Vec<&str> {
        let normalized = norm.as_str();
        let mut hit = vec![false; self.rules.len()];
        let needs_text = self.rules.iter().any(|r| !r.patterns.is_empty()) || !self.phrases.is_empty();
        if needs_text {
            let folded = fold::fold(normalized);
            self.phrases.find(&folded, &mut |tag, _, _| {
                if let Some(h) = hit.get_mut(tag) {
                    *h = true;
                }
            });
            for (rule, h) in self.rules.iter().zip(hit.iter_mut()) {
                if !*h && rule.patterns.iter().any(|r| r.is_match(&folded)) {
                    *h = true;
                }
            }
        }
        // Every hidden-text trick needs an invisible character, and text that normalises
        // to itself has none.
        let invisible = !norm.is_identity();
        for (rule, h) in self.rules.iter().zip(hit.iter_mut()) {
            if let (false, true, Some(kind)) = (*h, invisible, rule.hidden) {
                *h = hidden::check(kind, original);
            }
        }
        self.rules
            .iter()
            .zip(hit)
            .filter(|(_, h)| *h)
            .map(|(r, _)| r.name.as_str())
            .collect()
    }
}
