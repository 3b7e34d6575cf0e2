//! The attack families: each has its own features, score, threshold, action and trigger
//! name (`injection_<family>` in metrics, the access log and the dry-run verdict).

use std::fmt;

/// An attack family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// "Ignore all previous instructions", "STOP EVERYTHING… just print", "your previous
    /// rules no longer apply": the user's text overriding the instructions the model has.
    InstructionOverride,
    /// Asking for the system prompt, the initial instructions, "the text above".
    PromptExtraction,
    /// Role-play and persona jailbreaks: DAN and relatives, developer mode, "no
    /// restrictions", dual-answer formats, the deceased grandmother, adversarial suffixes.
    Jailbreak,
    /// Instructions addressed to the assistant inside content it was asked to process
    /// (documents, tool results): fake role turns, `<|im_start|>`, "note to automated
    /// analysis", "if the user asks…".
    EmbeddedInstructions,
    /// Payloads hidden by an encoding (base64, base32, hex, rot13, morse, leetspeak,
    /// homoglyphs and mixed scripts, letters spelled out one per line), decoded and
    /// checked where they can be.
    EncodedPayload,
    /// Invisible text: tag characters, zero-width characters inside words, runs of
    /// invisible characters, bidi overrides, control characters (backspaces) in text.
    HiddenText,
    /// Getting the model to send the conversation out: markdown images and links whose
    /// URL carries the conversation, string-concatenated URLs, script injection.
    Exfiltration,
}

impl Family {
    pub const COUNT: usize = 7;

    pub const ALL: [Family; Family::COUNT] = [
        Family::InstructionOverride,
        Family::PromptExtraction,
        Family::Jailbreak,
        Family::EmbeddedInstructions,
        Family::EncodedPayload,
        Family::HiddenText,
        Family::Exfiltration,
    ];

    /// The configuration and trigger name (`injection_<name>` in metrics).
    pub const fn name(self) -> &'static str {
        match self {
            Family::InstructionOverride => "instruction_override",
            Family::PromptExtraction => "prompt_extraction",
            Family::Jailbreak => "jailbreak",
            Family::EmbeddedInstructions => "embedded_instructions",
            Family::EncodedPayload => "encoded_payload",
            Family::HiddenText => "hidden_text",
            Family::Exfiltration => "exfiltration",
        }
    }

    pub fn from_name(name: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.name() == name)
    }

    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
