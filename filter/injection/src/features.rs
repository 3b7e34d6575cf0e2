//! The built-in features: concepts combined by order and proximity, each with a family and
//! a weight. A family's score is the sum of the weights of its features that fired (each
//! once); it triggers at its threshold (1.0 unless configured). Weak cues weigh less than
//! 1 and count only together; a feature that alone is an attack weighs 1.

use crate::family::Family;
use crate::lexicon::C;

/// How a feature's slots combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A hit of any concept of slot 0.
    Any,
    /// Slot 0, then slot 1 starting at most `window` bytes after slot 0 ended, then slot 2
    /// likewise after slot 1.
    Seq,
    /// Slot 0 and slot 1 in either order, at most `window` bytes apart.
    Near,
    /// `n` hits of slot 0 in a row, each starting at most `window` bytes after the last ended.
    Run(u16),
    /// `n` hits of slot 0 anywhere.
    Count(u16),
}

/// A built-in feature.
#[derive(Debug)]
pub(crate) struct Feature {
    pub name: &'static str,
    pub family: Family,
    pub weight: f32,
    pub kind: Kind,
    pub window: u32,
    pub slots: &'static [&'static [C]],
}

const fn f(
    name: &'static str,
    family: Family,
    weight: f32,
    kind: Kind,
    window: u32,
    slots: &'static [&'static [C]],
) -> Feature {
    Feature {
        name,
        family,
        weight,
        kind,
        window,
        slots,
    }
}

use Family::{
    EmbeddedInstructions as Emb, EncodedPayload as Enc, Exfiltration as Exf, InstructionOverride as Ovr,
    Jailbreak as Jb, PromptExtraction as Ext,
};
use Kind::{Any, Count, Near, Run, Seq};

pub(crate) static FEATURES: &[Feature] = &[
    // ---- instruction override ----
    f(
        "override_verb_directive",
        Ovr,
        1.0,
        Seq,
        40,
        &[&[C::Ignore, C::Override], &[C::Directive]],
    ),
    f(
        "override_verb_prior_content",
        Ovr,
        0.8,
        Seq,
        32,
        &[&[C::Ignore], &[C::PriorRef], &[C::DirectiveWeak]],
    ),
    f(
        "override_verb_prior",
        Ovr,
        0.5,
        Seq,
        20,
        &[&[C::Ignore], &[C::PriorRef]],
    ),
    f("directive_void", Ovr, 1.0, Seq, 40, &[&[C::Directive], &[C::Void]]),
    f("new_directive", Ovr, 0.5, Any, 0, &[&[C::NewDirective]]),
    f("abort_then_hijack", Ovr, 1.0, Seq, 80, &[&[C::Abort], &[C::Hijack]]),
    f(
        "override_then_hijack",
        Ovr,
        0.6,
        Seq,
        120,
        &[&[C::Ignore], &[C::Hijack]],
    ),
    f(
        "separator_then_order",
        Ovr,
        1.0,
        Seq,
        48,
        &[&[C::Separator], &[C::Abort, C::Ignore, C::Hijack, C::NewDirective]],
    ),
    f("abort", Ovr, 0.3, Any, 0, &[&[C::Abort]]),
    f("hijack", Ovr, 0.3, Any, 0, &[&[C::Hijack]]),
    f(
        "authority_then_order",
        Ovr,
        0.6,
        Near,
        200,
        &[&[C::Authority], &[C::Hijack, C::Ignore, C::NewDirective]],
    ),
    // ---- prompt extraction ----
    f(
        "reveal_system_prompt",
        Ext,
        1.0,
        Near,
        40,
        &[&[C::Reveal, C::CopyVerb, C::WhatQ], &[C::SysPrompt]],
    ),
    f(
        "reveal_instructions_given",
        Ext,
        1.0,
        Seq,
        32,
        &[&[C::Reveal, C::CopyVerb, C::WhatQ], &[C::SysPromptWeak]],
    ),
    f("system_prompt_named", Ext, 0.4, Any, 0, &[&[C::SysPrompt]]),
    f("copy_text_above", Ext, 1.0, Seq, 40, &[&[C::CopyVerb], &[C::AboveText]]),
    f("text_above_named", Ext, 0.4, Any, 0, &[&[C::AboveText]]),
    f("completion_bait", Ext, 1.0, Near, 60, &[&[C::Complete], &[C::Bait]]),
    f("bait", Ext, 0.5, Any, 0, &[&[C::Bait]]),
    f(
        "authority_pretext",
        Ext,
        0.5,
        Near,
        200,
        &[&[C::Authority], &[C::SysPrompt, C::SysPromptWeak, C::AboveText]],
    ),
    f("override_then_ask", Ext, 0.6, Seq, 80, &[&[C::Ignore], &[C::WhatQ]]),
    // ---- jailbreak ----
    f("jailbreak_name", Jb, 0.6, Any, 0, &[&[C::JbName]]),
    f("jailbreak_phrase", Jb, 1.0, Any, 0, &[&[C::JbStrong]]),
    f("mode_enabled", Jb, 0.5, Seq, 12, &[&[C::Mode], &[C::Enabled]]),
    f("ai_self", Jb, 0.15, Any, 0, &[&[C::AiSelf, C::GptSuffix]]),
    f("free_from_rules", Jb, 0.5, Any, 0, &[&[C::Free]]),
    f("no_limits", Jb, 0.4, Any, 0, &[&[C::NoLimit]]),
    f("amoral", Jb, 0.35, Any, 0, &[&[C::Amoral]]),
    f("policy_named", Jb, 0.35, Any, 0, &[&[C::Policy]]),
    f("no_refusal", Jb, 0.35, Any, 0, &[&[C::NoRefuse]]),
    f("persona", Jb, 0.15, Any, 0, &[&[C::Persona]]),
    f("dual_answers", Jb, 0.45, Any, 0, &[&[C::Dual]]),
    f("hypothetical", Jb, 0.3, Any, 0, &[&[C::Hypo]]),
    f("opposite", Jb, 0.25, Any, 0, &[&[C::Opposite]]),
    f(
        "persona_unrestricted",
        Jb,
        0.4,
        Near,
        160,
        &[
            &[C::Persona, C::AiSelf, C::GptSuffix],
            &[C::Free, C::NoLimit, C::Amoral],
        ],
    ),
    f(
        "ai_policy_release",
        Jb,
        0.4,
        Near,
        120,
        &[&[C::AiSelf, C::Policy], &[C::Free, C::NoLimit, C::NoRefuse]],
    ),
    f(
        "grandma_persona",
        Jb,
        0.5,
        Near,
        60,
        &[&[C::Persona, C::Sleep], &[C::Grandma]],
    ),
    f("grandma_bedtime", Jb, 0.6, Near, 240, &[&[C::Grandma], &[C::Sleep]]),
    f(
        "grandma_harm",
        Jb,
        0.4,
        Near,
        240,
        &[&[C::Grandma, C::Sleep], &[C::Harm]],
    ),
    f(
        "deny_own_identity",
        Jb,
        0.6,
        Seq,
        16,
        &[&[C::DenySelf], &[C::AiSelf, C::GptSuffix]],
    ),
    f("stay_in_mode", Jb, 0.6, Seq, 24, &[&[C::Stay], &[C::Mode]]),
    f(
        "regardless_of_rules",
        Jb,
        0.4,
        Seq,
        24,
        &[&[C::Regardless], &[C::Directive, C::Amoral, C::Policy]],
    ),
    f("acronym_persona", Jb, 0.25, Any, 0, &[&[C::StandsFor]]),
    f("answer_prefix", Jb, 0.2, Any, 0, &[&[C::PrefixCue]]),
    f(
        "dense_jailbreak_cues",
        Jb,
        0.4,
        Count(6),
        0,
        &[&[
            C::Free,
            C::NoLimit,
            C::Amoral,
            C::Policy,
            C::NoRefuse,
            C::Dual,
            C::JbStrong,
            C::JbName,
            C::DenySelf,
        ]],
    ),
    f(
        "override_and_persona",
        Jb,
        0.5,
        Near,
        200,
        &[&[C::Ignore], &[C::Persona, C::JbName]],
    ),
    // ---- embedded instructions ----
    f("role_tag", Emb, 0.6, Any, 0, &[&[C::RoleTag, C::RoleUpper]]),
    f(
        "role_tag_order",
        Emb,
        0.6,
        Near,
        240,
        &[
            &[C::RoleTag, C::RoleUpper],
            &[
                C::Ignore,
                C::Hijack,
                C::Focus,
                C::RepeatReq,
                C::Address,
                C::Steer,
                C::Conditional,
            ],
        ],
    ),
    f("fake_turns", Emb, 0.6, Seq, 200, &[&[C::AssistantTurn], &[C::UserTurn]]),
    f(
        "fake_turn_order",
        Emb,
        0.6,
        Near,
        200,
        &[
            &[C::AssistantTurn],
            &[C::Hijack, C::Focus, C::RepeatReq, C::Ignore, C::Address],
        ],
    ),
    f(
        "fake_user_turn_order",
        Emb,
        0.7,
        Near,
        120,
        &[
            &[C::UserTurn],
            &[C::RepeatReq, C::Hijack, C::Ignore, C::Focus, C::Conditional],
        ],
    ),
    f("fake_completion", Emb, 0.4, Any, 0, &[&[C::FakeOutput]]),
    f("addressed_to_ai", Emb, 0.5, Any, 0, &[&[C::Address]]),
    f("focus_shift", Emb, 0.5, Any, 0, &[&[C::Focus]]),
    f("repeat_request", Emb, 0.3, Any, 0, &[&[C::RepeatReq]]),
    f("verdict_steering", Emb, 0.5, Any, 0, &[&[C::Steer]]),
    f("conditional_order", Emb, 0.7, Any, 0, &[&[C::Conditional]]),
    f(
        "toxic_text_request",
        Emb,
        0.6,
        Seq,
        24,
        &[&[C::ToxicAdj], &[C::TextUnit], &[C::About]],
    ),
    f(
        "edit_toxic_text",
        Emb,
        0.5,
        Near,
        100,
        &[&[C::EditVerb], &[C::ToxicAdj]],
    ),
    f(
        "separator_then_role",
        Emb,
        0.4,
        Seq,
        48,
        &[&[C::Separator], &[C::RoleTag, C::RoleUpper, C::AssistantTurn]],
    ),
    // ---- encoded payloads ----
    f("decode_request", Enc, 0.6, Near, 60, &[&[C::Decode], &[C::EncName]]),
    f(
        "encoded_decoded_labels",
        Enc,
        1.0,
        Seq,
        2000,
        &[&[C::EncLabel], &[C::DecLabel]],
    ),
    f("decoded_label", Enc, 0.4, Any, 0, &[&[C::DecLabel]]),
    f("nato_spelling", Enc, 1.0, Run(8), 3, &[&[C::Nato]]),
    f("rot13_anchors", Enc, 1.0, Count(2), 0, &[&[C::Rot13]]),
    // ---- exfiltration ----
    f(
        "image_url_with_data",
        Exf,
        1.0,
        Near,
        300,
        &[&[C::MdImage, C::MdLink], &[C::ConvData, C::Placeholder]],
    ),
    f(
        "concatenate_url",
        Exf,
        0.6,
        Near,
        400,
        &[&[C::Concat], &[C::Placeholder, C::ConvData, C::MdImage, C::MdLink]],
    ),
    f("format_evasion", Exf, 0.4, Any, 0, &[&[C::FormatEvade]]),
    f("placeholder", Exf, 0.3, Any, 0, &[&[C::Placeholder]]),
    f("script_scheme", Exf, 0.45, Any, 0, &[&[C::XssScheme]]),
    f("script_tag", Exf, 0.35, Any, 0, &[&[C::XssTag]]),
    f("script_api", Exf, 0.45, Any, 0, &[&[C::XssApi]]),
    f(
        "script_link",
        Exf,
        0.5,
        Near,
        40,
        &[&[C::MdLink], &[C::XssScheme, C::XssApi]],
    ),
    f(
        "script_tag_escaped",
        Exf,
        0.7,
        Near,
        40,
        &[&[C::XssTag], &[C::QpEscape]],
    ),
    f(
        "include_in_output",
        Exf,
        0.4,
        Seq,
        120,
        &[&[C::Include], &[C::InOutput]],
    ),
    f("markdown_image", Exf, 0.2, Any, 0, &[&[C::MdImage]]),
];

/// The payload and text-shape features computed when a request's text is finished (not
/// from needles): their names, families and weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Shape {
    /// A base64/base32/hex run that decodes to text.
    DecodablePayload,
    /// A decodable payload and a request to decode or explain it.
    PayloadWithRequest,
    /// The text is mostly one payload (an encoded prompt on its own).
    PayloadOnly,
    /// A decoded payload's text triggers a family itself.
    DecodedTriggers,
    /// Morse code.
    Morse,
    /// Braille patterns.
    Braille,
    /// Letters spelled out one per parenthesis, attached to words ("(d)og", "iPhon(e)").
    Acrostic,
    /// Words with digits for letters ("cann07", "l13").
    Leetspeak,
    /// Words mixing Latin and Cyrillic/Greek letters.
    MixedScript,
    /// An adversarial suffix: a tail of unbalanced brackets and symbol-laden tokens.
    AdversarialSuffix,
    /// Hidden text tricks.
    TagCharacters,
    ZeroWidthInWord,
    InvisibleRun,
    BidiOverride,
    ControlCharacters,
}

impl Shape {
    pub(crate) const ALL: [Shape; 15] = [
        Shape::DecodablePayload,
        Shape::PayloadWithRequest,
        Shape::PayloadOnly,
        Shape::DecodedTriggers,
        Shape::Morse,
        Shape::Braille,
        Shape::Acrostic,
        Shape::Leetspeak,
        Shape::MixedScript,
        Shape::AdversarialSuffix,
        Shape::TagCharacters,
        Shape::ZeroWidthInWord,
        Shape::InvisibleRun,
        Shape::BidiOverride,
        Shape::ControlCharacters,
    ];

    pub(crate) const fn name(self) -> &'static str {
        match self {
            Shape::DecodablePayload => "decodable_payload",
            Shape::PayloadWithRequest => "payload_with_decode_request",
            Shape::PayloadOnly => "payload_only",
            Shape::DecodedTriggers => "decoded_payload_triggers",
            Shape::Morse => "morse_code",
            Shape::Braille => "braille",
            Shape::Acrostic => "spelled_out_letters",
            Shape::Leetspeak => "leetspeak",
            Shape::MixedScript => "mixed_script_words",
            Shape::AdversarialSuffix => "adversarial_suffix",
            Shape::TagCharacters => "tag_characters",
            Shape::ZeroWidthInWord => "zero_width_in_word",
            Shape::InvisibleRun => "invisible_run",
            Shape::BidiOverride => "bidi_override",
            Shape::ControlCharacters => "control_characters",
        }
    }

    pub(crate) const fn family(self) -> Family {
        match self {
            Shape::AdversarialSuffix => Family::Jailbreak,
            Shape::TagCharacters
            | Shape::ZeroWidthInWord
            | Shape::InvisibleRun
            | Shape::BidiOverride
            | Shape::ControlCharacters => Family::HiddenText,
            _ => Family::EncodedPayload,
        }
    }

    pub(crate) const fn weight(self) -> f32 {
        match self {
            Shape::DecodablePayload | Shape::PayloadWithRequest => 0.5,
            _ => 1.0,
        }
    }
}
