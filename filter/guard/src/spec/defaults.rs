//! The default markers and prompt-injection rules.

use super::{HiddenText, InjectionRule, Marker};
use crate::kind::Classification;

const VERBS: &str = "(ignore|disregard|forget|bypass|neglect)";
const WHAT: &str = "(instructions|instruction|prompts|prompt|directions|directives|rules|\
                    guidelines|guidance|commands|orders|context|messages|programming|constraints|\
                    restrictions|policies)";

const SECRET_PROMPT: &str = "[full|entire|complete|initial|original|hidden|secret|exact] \
     (system prompt|system message|initial prompt|hidden prompt|original instructions|\
     initial instructions|hidden instructions|system instructions)";

fn rule(name: &str, phrases: Vec<String>) -> InjectionRule {
    InjectionRule {
        name: name.into(),
        family: None,
        score: None,
        phrases,
        patterns: Vec::new(),
        hidden_text: None,
    }
}

fn hidden(name: &str, kind: HiddenText) -> InjectionRule {
    InjectionRule {
        name: name.into(),
        family: None,
        score: None,
        phrases: Vec::new(),
        patterns: Vec::new(),
        hidden_text: Some(kind),
    }
}

/// The default rules (used when `injection_rules` is absent).
pub fn default_injection_rules() -> Vec<InjectionRule> {
    vec![
        rule(
            "instruction_override",
            vec![
                // "ignore all previous instructions", "disregard the above rules"
                format!(
                    "{VERBS} [all|any|every] [of] [the|your|my|these|those|this|all|any] \
                     (previous|prior|above|preceding|earlier|foregoing|former|original|initial|system) \
                     [system] {WHAT}"
                ),
                // "disregard your system prompt"
                format!(
                    "{VERBS} [all|any] [of] [the|your|my|these|this] (system|developer|hidden) \
                     (prompt|prompts|message|messages|instructions|rules)"
                ),
                // "forget everything above", "ignore everything you were told before"
                format!(
                    "(ignore|disregard|forget) (everything|anything|all) [that|which] [i|you|we|they|it] \
                     [have|had|has|were|was|is] [been] [told|said|written|given|typed|wrote|stated|provided] \
                     [to you] (above|before|previously|earlier|so far|until now|up to now|prior)"
                ),
                // "do not follow your previous instructions"
                "(do not|don't|dont|never) (follow|obey) [any|the|your] (previous|prior|above|original|system) \
                 [system] (instructions|prompt|prompts|rules|guidelines)"
                    .into(),
                "your new (instructions|system prompt|rules) (are|is)".into(),
                "(new|updated|revised) system prompt".into(),
            ],
        ),
        rule(
            "role_play_jailbreak",
            vec![
                "you are now [a|an|in] (dan|stan|dude|aim|jailbroken|unrestricted|unfiltered|uncensored|evil|unchained)".into(),
                "do anything now".into(),
                "(developer|dev|god|jailbreak|dan|debug|unrestricted) mode [is] [now] (enabled|activated|unlocked)".into(),
                "(enable|activate|enter|switch to) [the] (dan|jailbreak|god|unrestricted|unfiltered|uncensored) mode".into(),
                "(pretend|imagine|act as if|behave as if|suppose) [that] you (have|had|are under|operate with) \
                 (no|zero) (restrictions|rules|limits|limitations|filters|guidelines|boundaries|constraints|censorship|content policy)"
                    .into(),
                "(ignore|forget|bypass) (your|all|any) (safety|content|ethical) (guidelines|filters|policies|restrictions|rules)"
                    .into(),
                "(freed|released|liberated) from the (typical|usual) confines".into(),
            ],
        ),
        rule(
            "prompt_leak",
            vec![
                format!("(reveal|show|print|repeat|output|display|tell|give|leak|dump) [me|us] your {SECRET_PROMPT}"),
                format!("(reveal|print|repeat|output|leak|dump) [me|us] the {SECRET_PROMPT}"),
                "repeat (the|all) (words|text|content) above".into(),
            ],
        ),
        hidden("hidden_zero_width", HiddenText::ZeroWidthInWord),
        hidden("hidden_unicode_tags", HiddenText::TagCharacters),
        hidden("hidden_invisible_run", HiddenText::InvisibleRun),
        hidden("hidden_bidi_override", HiddenText::BidiOverride),
    ]
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
