//! The rule specification compiled into the engine, once, at configuration time: every
//! needle (secret prefixes, custom keywords, markers, injection phrase anchors, pattern
//! literals) in one Aho-Corasick automaton, phrases into their small automata, patterns
//! checked against the linear-time rule. Nothing of this is built per request.

use aho_corasick::dfa::DFA;
use aho_corasick::MatchKind;

use crate::detect::secret::PREFIXES;
use crate::engine::{Action, Engine, Inert, Owner};
use crate::kind::{Builtin, CustomId};
use crate::rules::pattern::Pattern;
use crate::rules::phrase::{lower, Phrase};
use crate::rules::{FamilyId, InjectionRule as CompiledRule};
use crate::spec::{default_injection_rules, default_markers, GuardConfig, GuardConfigError};

const MAX_KEYWORD_LEN: usize = 256;
const MAX_NAME_LEN: usize = 64;

/// No built-in detector's value is shorter than seven bytes (an IPv4 address, `1.1.1.1`);
/// a JSON number of up to six bytes is none.
const INERT_BUILTIN: usize = 6;
/// The injection detector judges texts of two bytes or more (`injection::MIN_TEXT`).
const INERT_STRING: usize = crate::injection::MIN_TEXT - 1;

/// Needles and what each hit means, while they are collected.
#[derive(Default)]
struct Needles {
    texts: Vec<String>,
    actions: Vec<Vec<Action>>,
}

impl Needles {
    fn add(&mut self, needle: &str, action: Action) {
        let key = needle.to_ascii_lowercase();
        match self.texts.iter().position(|t| *t == key) {
            Some(i) => {
                if let Some(a) = self.actions.get_mut(i) {
                    a.push(action);
                }
            }
            None => {
                self.texts.push(key);
                self.actions.push(vec![action]);
            }
        }
    }

    /// A phrase's anchor words; a case-insensitive anchor with non-ASCII letters in its
    /// lower, upper and title case (the automaton folds ASCII case only).
    fn add_phrase(&mut self, phrase: &Phrase, index: usize) {
        let ci = !phrase.case_sensitive();
        for (piece, word) in phrase.anchors() {
            let action = Action::Phrase {
                phrase: index as u32,
                anchor: piece as u16,
            };
            if ci && !word.is_ascii() {
                let upper: String = word.chars().flat_map(char::to_uppercase).collect();
                let mut title: String = word.chars().take(1).flat_map(char::to_uppercase).collect();
                title.extend(word.chars().skip(1));
                let mut forms = vec![lower(word), upper, title];
                forms.sort();
                forms.dedup();
                for f in forms {
                    self.add(&f, action);
                }
            } else {
                self.add(word, action);
            }
        }
    }
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
    /// Validates the configuration and compiles it into an [`Engine`], once.
    pub fn compile(&self) -> Result<Engine, GuardConfigError> {
        self.compile_with_injection(None)
    }

    /// As [`GuardConfig::compile`], with the prompt-injection detector in the same pass:
    /// its needles join the one automaton, and [`Engine::inspect`] feeds their hits to a
    /// per-text accumulator ([`crate::Inspection::families`]).
    pub fn compile_with_injection(
        &self,
        detector: Option<std::sync::Arc<genai_injection::Detector>>,
    ) -> Result<Engine, GuardConfigError> {
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

        let mut needles = Needles::default();
        let mut phrases: Vec<(Phrase, Owner)> = Vec::new();
        let mut patterns: Vec<(Pattern, Owner)> = Vec::new();
        let mut names: Vec<String> = Vec::new();

        if enabled & Builtin::Secret.bit() != 0 {
            for &(prefix, kind) in PREFIXES {
                needles.add(prefix, Action::Secret(kind));
            }
        }

        for (i, d) in self.custom_detectors.iter().enumerate() {
            let field = format!("custom_detectors[{i}]");
            check_name(&d.name, &format!("{field}.name"), &names)?;
            if d.keywords.is_empty() && d.patterns.is_empty() {
                return Err(GuardConfigError::new(field, "needs at least one keyword or pattern"));
            }
            let owner = Owner::Custom(CustomId(u16::try_from(i).unwrap_or(u16::MAX)));
            for (j, k) in d.keywords.iter().enumerate() {
                let kf = format!("{field}.keywords[{j}]");
                check_keyword(k, &kf)?;
                let phrase = Phrase::literal(k, d.case_sensitive).map_err(|e| GuardConfigError::new(kf, e))?;
                needles.add_phrase(&phrase, phrases.len());
                phrases.push((phrase, owner));
            }
            for (j, p) in d.patterns.iter().enumerate() {
                let pattern = Pattern::compile(p, false, &format!("{field}.patterns[{j}]"))?;
                needles.add(pattern.literal().0, Action::Pattern(patterns.len() as u32));
                patterns.push((pattern, owner));
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
            let phrase = Phrase::literal(&m.keyword, m.case_sensitive).map_err(|e| GuardConfigError::new(field, e))?;
            needles.add_phrase(&phrase, phrases.len());
            phrases.push((phrase, Owner::Marker(m.classification)));
        }

        let default_rules;
        let rules = match &self.injection_rules {
            Some(r) => r,
            None => {
                default_rules = default_injection_rules();
                &default_rules
            }
        };
        let mut injection: Vec<CompiledRule> = Vec::new();
        let mut families: Vec<String> = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            let field = format!("injection_rules[{i}]");
            let name = rule.name.trim();
            if name.is_empty() {
                return Err(GuardConfigError::new(format!("{field}.name"), "must not be empty"));
            }
            if injection.iter().any(|r| r.name == name) {
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
            let family_name = rule.family.as_deref().map(str::trim).unwrap_or(name);
            if family_name.is_empty() {
                return Err(GuardConfigError::new(format!("{field}.family"), "must not be empty"));
            }
            let family = match families.iter().position(|f| f == family_name) {
                Some(k) => k,
                None => {
                    families.push(family_name.to_owned());
                    families.len() - 1
                }
            };
            let score = rule.score.unwrap_or(1.0);
            if !score.is_finite() || score < 0.0 {
                return Err(GuardConfigError::new(format!("{field}.score"), "must be a number ≥ 0"));
            }
            let owner = Owner::Rule(crate::rules::RuleId(u16::try_from(i).unwrap_or(u16::MAX)));
            for (j, phrase) in rule.phrases.iter().enumerate() {
                let phrase =
                    Phrase::pattern(phrase).map_err(|e| GuardConfigError::new(format!("{field}.phrases[{j}]"), e))?;
                needles.add_phrase(&phrase, phrases.len());
                phrases.push((phrase, owner));
            }
            for (j, p) in rule.patterns.iter().enumerate() {
                let pattern = Pattern::compile(p, true, &format!("{field}.patterns[{j}]"))?;
                needles.add(pattern.literal().0, Action::Pattern(patterns.len() as u32));
                patterns.push((pattern, owner));
            }
            injection.push(CompiledRule {
                name: name.to_owned(),
                family: FamilyId(u16::try_from(family).unwrap_or(u16::MAX)),
                score,
                hidden: rule.hidden_text,
            });
        }
        if let Some(d) = &detector {
            for (i, n) in d.needles().iter().enumerate() {
                needles.add(&n.text, Action::Injection(u32::try_from(i).unwrap_or(u32::MAX)));
            }
        }
        if phrases.len() > u32::MAX as usize || names.len() > usize::from(u16::MAX) {
            return Err(GuardConfigError::new("custom_detectors", "too many rules"));
        }

        let automaton = if needles.texts.is_empty() {
            None
        } else {
            Some(
                DFA::builder()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .build(&needles.texts)
                    .map_err(|e| GuardConfigError::new("detection", format!("could not build the automaton: {e}")))?,
            )
        };
        let hidden_rules = injection.iter().any(|r| r.hidden.is_some());
        let shortest = |number_only: bool| {
            needles
                .texts
                .iter()
                .filter(|t| !number_only || t.bytes().all(|c| c.is_ascii_digit() || b"+-.e".contains(&c)))
                .map(String::len)
                .min()
                .unwrap_or(usize::MAX)
        };
        let inert = Inert {
            number: shortest(true).saturating_sub(1).min(INERT_BUILTIN),
            string: shortest(false).saturating_sub(1).min(INERT_STRING),
        };
        Ok(Engine {
            enabled,
            redacted: u8::MAX,
            automaton,
            actions: needles.actions,
            phrases,
            patterns,
            names,
            injection,
            families,
            hidden_rules,
            detector,
            inert,
        })
    }
}
