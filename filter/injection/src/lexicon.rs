//! The built-in lexicon: words and short phrases, each standing for a concept (a cue the
//! features combine). Needles match whole words, ASCII case-insensitively, on normalised
//! text (look-alike letters folded, invisible characters removed) unless their mode says
//! otherwise. Concepts are general ("a verb of overriding", "a noun for the model's
//! instructions") so that features generalise over phrasings and word orders.

/// How a needle must sit in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A whole word (or phrase): no word character on either side.
    Word,
    /// The start of a word: `instruct` matches "instructions", "instructed".
    Prefix,
    /// Anywhere (punctuation needles: `<|im_start|>`, `----------`).
    Raw,
    /// A whole word, exactly as written (case-sensitive): `DAN`, `SYSTEM:`.
    Exact,
    /// A whole word at the start of a line (after spaces, `>`, `-`, `*`, `#`).
    LineStart,
}

macro_rules! concepts {
    ($($name:ident),* $(,)?) => {
        /// A built-in concept.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u8)]
        pub(crate) enum C { $($name),* }
        impl C {
            pub(crate) const ALL: &'static [C] = &[$(C::$name),*];
        }
    };
}

concepts! {
    // Instruction override.
    Ignore, Override, Negator, PriorRef, Directive, DirectiveWeak, Void, NewDirective, Abort, Hijack, Separator,
    // Prompt extraction.
    Reveal, CopyVerb, SysPrompt, SysPromptWeak, AboveText, Complete, Bait, WhatQ, Authority,
    // Jailbreak.
    JbName, JbStrong, Mode, Enabled, AiSelf, GptSuffix, Free, NoLimit, Amoral, Policy, NoRefuse, Persona, Dual,
    Hypo, Grandma, Sleep, Harm, Opposite, Stay, DenySelf, Regardless, StandsFor, PrefixCue,
    // Embedded instructions.
    RoleTag, RoleUpper, AssistantTurn, UserTurn, Address, Focus, FakeOutput, RepeatReq, Steer, EditVerb, ToxicAdj,
    TextUnit, About, Conditional,
    // Encoded payloads.
    Decode, EncName, EncLabel, DecLabel, Nato, Rot13,
    // Exfiltration.
    MdImage, MdLink, ConvData, Placeholder, Concat, FormatEvade, XssScheme, XssTag, XssApi, QpEscape, Include,
    InOutput,
}

/// Number of built-in concepts.
pub(crate) const BUILTIN_CONCEPTS: usize = C::ALL.len();

use Mode::{Exact, LineStart, Raw, Word};

/// The lexicon: (concept, mode, needles). Needles are written in lower case unless the
/// mode is `Exact`.
pub(crate) static LEXICON: &[(C, Mode, &[&str])] = &[
    // ---- instruction override ----
    (C::Ignore, Word, &[
        "ignore", "ignoring", "disregard", "disregarding", "forget", "forgetting", "neglect", "discard", "dismiss", "pay no attention to", "stop following",
        "do not follow", "don't follow", "dont follow", "no longer follow", "stop obeying", "do not obey",
        "don't obey", "set aside", "put aside", "throw away", "throw out",
        "unlearn", "ignora", "ignorez", "ignoriere", "vergiss", "olvida",
    ]),
    // Technical verbs ("override any existing headers"): overriding only with an instruction noun.
    (C::Override, Word, &["override", "overriding", "bypass", "bypassing", "overwrite", "circumvent", "nullify"]),
    // Reported or defensive speech before a verb of overriding ("do not ignore", "may try to
    // make you ignore"): that verb is not an order.
    (C::Negator, Word, &[
        "not", "never", "don't", "dont", "won't", "cannot", "can't", "make you", "trick you into", "try to",
        "tries to", "attempt to", "attempts to", "asked to", "ask you to", "tell you to", "how to", "whether to",
        "if you", "should i", "why",
    ]),
    (C::PriorRef, Word, &[
        "previous", "previously", "prior", "above", "preceding", "earlier", "foregoing", "former", "original",
        "initial", "before", "so far", "until now", "up to now", "the rest of", "all other", "any other",
        "everything", "anything", "all that", "the following", "following", "existing", "current", "default",
        "usual",
    ]),
    (C::Directive, Word, &[
        "instructions", "directions", "directives", "rules", "guidelines",
        "guidance", "prompts", "prompt", "commands", "orders", "programming", "constraints", "restrictions",
        "policies", "limitations", "guardrails", "safeguards", "system message", "training", "filters",
        "what you were told", "what you've been told", "everything you were told", "anweisungen", "instrucciones",
    ]),
    // Nouns that are instructions only with a qualifier ("the rest of this data", "all
    // previous content").
    (C::DirectiveWeak, Word, &[
        "instruction", "directive", "info", "information", "data", "content", "text", "messages", "message", "conversation", "task",
        "assignment", "request", "context", "input", "document", "documents", "snippets", "indicators",
    ]),
    (C::Void, Word, &[
        "no longer apply", "no longer applies", "no longer valid", "no longer in effect", "are void",
        "is void", "null and void", "are cancelled", "are canceled", "are revoked", "are obsolete",
        "have been lifted", "are lifted", "are suspended", "are disabled", "are overridden", "do not apply",
        "don't apply", "does not apply", "are not applicable", "have expired", "are outdated", "are superseded",
        "were a test",
    ]),
    (C::NewDirective, Word, &[
        "new instructions", "new instruction", "new directive", "new directives",
        "new system prompt", "updated instructions", "revised instructions", "real instructions",
        "actual instructions", "true instructions",
        "your new task", "your real task",
    ]),
    (C::Abort, Word, &[
        "stop everything", "nevermind", "never mind", "forget that", "scratch that", "cancel that",
        "disregard that", "end of session", "end of conversation", "end of document", "end of input",
        "end of text", "end of prompt", "stop what you are doing", "stop what you're doing", "wait, actually",
        "actually, sorry", "halt", "abort",
    ]),
    (C::Hijack, Word, &[
        "just print", "just say", "just output", "just respond", "just reply", "just write", "just return",
        "simply print", "simply say", "simply respond", "simply reply", "simply output", "simply write",
        "only print", "instead print", "instead say", "instead output", "instead respond", "and print",
        "print exactly", "say exactly", "respond with exactly", "with exactly what follows", "reply with only",
        "respond with only", "with only the following", "absolutely nothing else", "print the following",
        "say the following", "output the following", "translate this sentence as",
        "translate it as", "reply to the user with", "respond to the user with",
    ]),
    (C::Separator, Raw, &["----------", "==========", "##########", "**********", "__________", "~~~~~~~~~~"]),

    // ---- prompt extraction ----
    (C::Reveal, Word, &[
        "reveal", "show", "print", "repeat", "output", "display", "tell me", "tell us", "give me", "leak",
        "dump", "share", "write out", "spell out", "recite", "reproduce", "echo", "copy", "paste", "list",
        "provide", "expose", "disclose", "divulge", "translate", "encode", "summarize", "summarise",
        "paraphrase", "return", "read back", "read out", "write down", "type out", "send me", "let me see",
        "see", "console.log", "print(", "printf", "what is in", "what's in", "access",
    ]),
    (C::CopyVerb, Word, &[
        "repeat", "print", "output", "echo", "reproduce", "copy", "recite", "replicate", "write down",
        "spell out", "paste", "dump", "return", "show", "display", "type out", "rewrite", "reprint",
    ]),
    (C::SysPrompt, Word, &[
        "system prompt", "system-prompt", "systemprompt", "system_prompt", "system message",
        "system instructions", "system instruction", "initial instructions", "initial instruction",
        "initial prompt", "original instructions", "original prompt", "starting instructions",
        "starting prompt", "hidden instructions", "hidden prompt", "secret instructions", "secret prompt",
        "pre-prompt", "preprompt", "developer message", "developer instructions", "meta prompt",
        "metaprompt", "prompt template", "base prompt", "first instructions", "your instructions",
        "your prompt", "your directives", "your programming", "your configuration", "your guidelines",
        "your rules",
    ]),
    (C::SysPromptWeak, Word, &[
        "instructions you were given", "instructions you have been given", "instructions you received",
        "instructions you got", "what you were told", "were you told", "were you instructed",
        "you were instructed", "those instructions", "the instructions you", "your context",
        "you were programmed", "were you programmed", "you have been told",
    ]),
    (C::AboveText, Word, &[
        "the text above", "the above text", "everything above", "all the text above", "all text above",
        "everything before this", "the words above", "the content above", "the above content",
        "this entire conversation", "the entire conversation", "the whole conversation",
        "our conversation so far", "everything so far", "all previous messages", "everything in your context",
        "the beginning of this conversation", "beginning of the conversation", "start of this conversation",
        "the above prompt", "the prompt above", "above instructions", "instructions above",
        "everything you were told", "everything written above", "the previous text", "the above message",
    ]),
    (C::Complete, Word, &[
        "complete this sentence", "complete the sentence", "complete the following", "continue the following",
        "continue this", "finish this sentence", "finish the sentence", "fill in the blank", "beginning with",
        "starting with", "begin with", "start with", "continue from", "complete this", "word for word",
        "verbatim",
    ]),
    (C::Bait, Word, &[
        "i was instructed to", "i was told to", "my instructions are", "my instructions were",
        "the system prompt is", "my system prompt", "my initial instructions", "my prompt is",
        "you are a helpful", "\"you are", "'you are", "my rules are", "i was programmed to",
    ]),
    (C::WhatQ, Word, &[
        "what are", "what were", "what is", "what's", "what was", "which are", "how were you", "tell me",
        "can you tell me", "what did",
    ]),
    (C::Authority, Word, &[
        "i am an administrator", "i am the administrator", "i'm an administrator", "i am your administrator",
        "i am a developer", "i am the developer", "i'm a developer", "i am your developer", "i am your creator",
        "as your developer", "as an administrator", "admin access", "for troubleshooting", "security audit",
        "quality assurance purposes", "debugging this system", "i have clearance", "authorized to see",
        "i am an openai", "openai employee", "this is urgent",
    ]),

    // ---- jailbreak ----
    (C::JbName, Exact, &["DAN", "STAN", "DUDE", "AIM", "DAN:", "[DAN]", "[DAN]:", "BetterDAN", "AntiGPT", "DevMode"]),
    (C::JbStrong, Word, &[
        "do anything now", "jailbreak", "jailbroken", "jailbreaking", "developer mode", "dev mode", "god mode",
        "evil mode", "dan mode", "unrestricted mode", "unfiltered mode", "uncensored mode", "chaos mode",
        "say anything now", "no restrictions and filters", "dan protocols",
        "broken free of the typical confines", "freed from the typical confines", "hypothetical response",
    ]),
    (C::Mode, Word, &["mode", "mode output", "persona", "protocol", "character", "role"]),
    (C::Stay, Word, &["stay in", "remain in", "stays in", "staying in", "remain as", "stay as", "keep up the"]),
    (C::DenySelf, Word, &[
        "no longer", "unlike", "instead of", "rather than", "opposite of how", "opposite of", "dont respond as",
        "don't respond as", "do not respond as", "never respond as", "stop being", "you are not", "you're not",
        "not act as", "not act like", "not answer as", "not be", "not reply as",
    ]),
    (C::Regardless, Word, &["regardless of", "irrespective of", "no matter", "without regard to", "with no regard", "without any regard"]),
    (C::StandsFor, Word, &["which stands for", "stands for", "which means"]),
    (C::PrefixCue, Word, &[
        "start each message with", "start each response with", "start every response with", "prefix all your",
        "prefix your", "begin each", "start your response with", "start the sentence with", "use the tags",
        "use prefix", "start each reply with", "start all your",
    ]),
    (C::Enabled, Word, &["enabled", "activated", "unlocked", "engaged", "on"]),
    (C::AiSelf, Word, &[
        "chatgpt", "chat gpt", "openai", "open ai", "openal", "language model", "ai model", "as an ai",
        "claude", "gpt-4", "gpt-3", "gpt4", "gpt3", "gemini", "llama", "bard", "ai assistant", "chatbot",
        "ai language model", "large language model", "llm", "an ai", "the ai", "al model",
    ]),
    (C::GptSuffix, Raw, &["gpt"]),
    (C::Free, Word, &[
        "free from", "freed from", "broken free", "break free", "breaks free", "typical confines", "not bound by",
        "not have to abide", "does not abide", "doesn't abide", "not subject to", "no longer bound",
        "released from", "liberated", "free of any", "free of all", "without any regard",
        "doesn't have to follow", "does not have to follow", "don't have to follow", "no longer have to follow",
        "not have to follow", "does not follow", "doesn't follow", "don't need to follow", "not need to follow",
        "does not adhere", "doesn't adhere", "not adhere to", "unbound", "free itself", "free yourself",
        "free himself", "free herself", "free themselves", "break through the", "broke through the",
        "break out of",
    ]),
    (C::NoLimit, Word, &[
        "no restrictions", "without restrictions", "no limitations", "without limitations", "no limits",
        "without limits", "no boundaries", "unrestricted", "unlimited", "no rules", "without any rules",
        "no filter", "no filters", "without filter", "without filters", "without a filter", "without any filter",
        "unfiltered", "uncensored", "no censorship", "unchained", "unrestrained", "not restricted",
        "any restrictions", "no guidelines", "without guidelines", "no content filter", "content filter",
        "content filters", "no limit", "don't filter", "dont filter", "do not filter", "without filtering",
        "no censor", "not censor", "uncensor", "not censored",
    ]),
    (C::Amoral, Word, &[
        "amoral", "immoral", "unethical", "no ethics", "no morals", "no ethical", "without ethics",
        "without morals", "no moral", "any ethical", "any moral", "ethical guidelines", "moral guidelines",
        "ethicality", "legality", "morality", "regardless of ethics", "doesn't care about", "does not care about",
        "don't care about", "not care about", "ethical or moral", "moral or ethical", "illegal", "inhumane",
        "unhinged", "remorseless", "without any remorse", "ruthless",
    ]),
    (C::Policy, Word, &[
        "content policy", "content policies", "openai policy", "openai's policy", "openai policies",
        "usage policies", "usage policy", "openai's content", "rules set by", "rules imposed", "guidelines set by",
        "openai guidelines", "openai's rules", "policies of openai", "safety guidelines", "safety filters",
        "openai's policies", "policy of openai", "ethical guidelines", "programming guidelines",
    ]),
    (C::NoRefuse, Word, &[
        "never refuse", "never refuses", "not refuse", "won't refuse", "cannot refuse", "can't refuse",
        "never decline", "never declines", "i'm sorry", "i apologize", "as an ai language model",
        "as a language model", "without warnings", "without any warnings", "no warnings", "disclaimers",
        "never say no", "always answer", "will answer anything", "answer any question", "any request",
        "no matter how", "regardless of how", "stays in character", "break character", "breaking character",
        "out of character", "break your character", "never tell me", "can't do something", "cannot do something",
        "never reject", "always comply", "without hesitation", "unquestioning obedience", "never respond",
        "always stays", "always provide", "always send", "always generate", "no matter what",
    ]),
    (C::Persona, Word, &[
        "act as", "acting as", "act like", "pretend", "pretending", "roleplay", "role-play", "role play",
        "the role of", "immerse yourself", "simulate", "simulating", "persona", "personas", "personality",
        "personalities", "you are now", "you will now", "from now on", "from this point",
        "henceforth", "you are going to", "transform into", "you will be", "you are no longer",
        "interpret and act", "adapt two", "you'll operate as", "operate as", "respond as", "answer as",
        "reply as", "speak as", "talk as", "only respond as",
    ]),
    (C::Dual, Word, &[
        "two different ways", "two ways", "two responses", "two different responses", "two paragraphs",
        "two separate", "two personas", "two personalities", "first way", "second way", "both ways",
        "[gpt]", "gpt:", "(gpt]", "[chatgpt]", "chatgpt:", "normal output", "mode output", "juxtaposition",
        "one normal and one", "2 different responses", "2 different paragraphs", "2 paragraphs", "2 ways",
        "two answers", "second mode", "first mode", "both chatgpt and", "respond as both", "2 persons",
    ]),
    (C::Hypo, Word, &[
        "hypothetical", "hypothetically", "fictional world", "fictional ai", "fictional story",
        "in this hypothetical", "imagine a world", "purely fictional", "thought experiment", "fiction world",
        "in this game", "this game world", "a game where", "text-based game",
    ]),
    (C::Grandma, Word, &[
        "grandma", "grandmother", "granny", "nana", "grandpa", "grandfather", "deceased", "passed away",
        "late grandmother", "dead grandmother",
    ]),
    (C::Sleep, Word, &[
        "to sleep", "fall asleep", "falling asleep", "bedtime", "lullaby", "lullabies", "used to tell me",
        "used to read", "used to sing", "i miss her", "i miss him", "miss her so much", "we begin now",
    ]),
    (C::Harm, Word, &[
        "product keys", "product key", "license keys", "windows 10", "windows 11", "methamphetamine", "meth",
        "napalm", "explosive", "explosives", "bomb", "nerve agent", "synthesize", "synthesizing",
        "synthesising", "synthesis of", "weapon", "weapons", "poison", "malware", "ransomware", "keylogger",
        "hack into", "unauthorized access", "steal", "drugs", "lsd", "ea-2192", "kill", "murder",
    ]),
    (C::Opposite, Word, &[
        "the opposite of", "complete opposite", "opposite way", "opposite mode", "inverse", "reverse mode",
        "opposite of what",
    ]),

    // ---- embedded instructions ----
    (C::RoleTag, Raw, &[
        "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>",
        "<|start_header_id|>", "<|eot_id|>", "[system]", "<system>", "</system>", "[/system]", "[inst]",
        "[/inst]", "<<sys>>", "<</sys>>", "<instruction>", "</instruction>", "<instructions>", "### instruction",
        "### system", "(#context)", "(#assistant)", "(#system)", "<end of session>", "<|", "[admin]",
        "<admin>", "[developer]", "<developer>",
    ]),
    (C::RoleUpper, Exact, &[
        "SYSTEM:", "SYSTEM MESSAGE", "ADMIN REQUEST", "ADMIN:", "SYSTEM OVERRIDE", "SYSTEM NOTE", "IMPORTANT:",
        "INSTRUCTION:", "INSTRUCTIONS:", "NEW INSTRUCTIONS", "FOLLOW INSTRUCTION", "LEGAL AMENDMENT",
        "ATTENTION:", "OVERRIDE:",
    ]),
    (C::AssistantTurn, LineStart, &["assistant:", "ai assistant:", "gpt:", "bot:", "model:", "system:"]),
    (C::UserTurn, LineStart, &["user:", "human:", "customer:"]),
    (C::Address, Word, &[
        "note to automated", "note to the ai", "note to ai", "note to the assistant", "note to the model",
        "note to llm", "note to any ai", "to the ai reading", "if you are an ai", "if you're an ai",
        "ai reading this", "ai assistant reading", "automated analysis", "automated screening",
        "language model reading", "attention ai", "dear ai", "hey ai", "instructions for the ai", "note by a",
        "you may not deviate", "do not deviate", "must not deviate", "it is critical to my career",
        "critical to my career", "this is really important", "really important", "extremely important",
        "this is a test", "chain of thought result", "use this analysis", "if you're reading this",
        "if you are reading this", "hidden instruction", "message to the ai", "to any ai",
    ]),
    (C::Focus, Word, &[
        "focus exclusively on", "focus only on", "focus solely on", "instead focus", "exclusively on the information",
        "disregard all info", "only the following information", "provide it to the user", "tell the user that",
        "inform the user that", "report that", "only the information", "focus exclusively",
        "except for the following", "nothing else but", "instead, focus",
    ]),
    // A faked completion of the task the user set ("<translated sentence in target
    // language>", "Assistant: [salient summary]"): the text after it poses as a new turn.
    (C::FakeOutput, Raw, &[
        "[salient summary]", "<detailed summary", "summary of documents above>", "<translated sentence",
        "sentence in target language>", "<translation>", "[translation]", "<answer>", "[answer]", "<response>",
        "[response]", "<output>", "<summary>", "[insert summary]", "<your summary",
    ]),
    (C::RepeatReq, Word, &[
        "could you repeat", "can you repeat", "please repeat", "repeat the following", "repeat after me",
        "please say", "say the following",
    ]),
    (C::Steer, Word, &[
        "is not malicious", "not malicious", "is clearly not", "highly recommended", "most qualified",
        "exceptional match", "exceeds all requirements", "hire this candidate", "the best resume",
        "supremely qualified", "everything is safe", "is completely safe", "is safe to", "must be approved",
        "should be approved", "give it a", "rate it", "is legitimate", "is trustworthy",
    ]),
    (C::EditVerb, Word, &[
        "polish", "refine", "translate", "rewrite", "correct", "improve", "paraphrase", "proofread", "edit",
        "rephrase", "summarize", "summarise",
    ]),
    (C::ToxicAdj, Word, &[
        "toxic", "negative", "discriminatory", "harmful", "offensive", "hateful", "racist", "sexist",
        "derogatory", "insulting", "demeaning", "hurtful", "bigoted", "abusive", "vulgar", "obscene",
    ]),
    (C::TextUnit, Word, &[
        "sentence", "sentences", "statement", "remark", "comment", "joke", "tweet", "paragraph", "post",
        "message", "story", "poem", "slur", "phrase", "words",
    ]),
    (C::About, Word, &["about", "against", "targeting", "towards", "regarding"]),
    (C::Conditional, Word, &[
        "if user asks", "if the user asks", "if asked", "if questioned", "when asked", "if anyone asks",
        "if someone asks", "when the user asks", "if you are asked", "if prompted", "whenever the user",
        "if the user requests", "if user requests", "when summarizing", "when summarising", "if summarizing",
        "if summarising",
    ]),

    // ---- encoded payloads ----
    (C::Decode, Word, &[
        "decode", "decoding", "decoded", "decipher", "decrypt", "decrypted", "decryption", "unscramble",
        "in your monologue", "secure system message", "what does this mean", "what does it mean",
        "what is this", "translate from", "convert from", "interpret this",
    ]),
    (C::EncName, Word, &[
        "base64", "base 64", "base32", "base16", "base85", "ascii85", "hex", "hexadecimal", "rot13", "rot-13",
        "rot 13", "caesar", "atbash", "morse", "braille", "uuencode", "uuencoded", "quoted-printable", "binary",
        "leetspeak", "leet", "nato", "phonetic alphabet", "zalgo", "ecoji", "cipher", "ciphertext", "encoded",
        "encoding", "mime", "unicode", "ascii",
    ]),
    (C::EncLabel, Word, &["encoded:", "encoded string:", "ciphertext:", "encrypted:", "input:"]),
    (C::DecLabel, Word, &["decoded:", "decoded string:", "plaintext:", "decrypted:", "decoded text:"]),
    (C::Nato, Word, &[
        "alfa", "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett",
        "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
        "uniform", "victor", "whiskey", "xray", "x-ray", "yankee", "zulu",
    ]),
    // rot13 of the override, extraction and jailbreak anchors (compiled below, see `rot13`).
    (C::Rot13, Word, &[]),

    // ---- exfiltration ----
    (C::MdImage, Raw, &["!["]),
    (C::MdLink, Raw, &["](http", "](//", "]: http", "]:http", "](javascript"]),
    (C::ConvData, Word, &[
        "summary of the page", "summary of this conversation", "summary of the conversation",
        "summary of our conversation", "our conversation", "this conversation", "the conversation",
        "previous message", "previous messages", "chat history", "conversation history",
        "email and code", "the user's", "user data",
       
    ]),
    (C::Placeholder, Raw, &[
        "[data]", "[info]", "{data}", "{info}", "[summary]", "[secret]", "[conversation]", "[output]",
        "=[",
    ]),
    (C::Concat, Word, &["concatenate", "concatenated", "join these strings", "append each part", "append", "combine these"]),
    (C::FormatEvade, Word, &[
        "no code block", "not use a code block", "no code style", "no codestyle", "normal font", "escape spaces",
        "escape all spaces", "url encoded", "url-encoded", "urlencoded", "no spaces in between",
        "without a code block", "not in a code block", "outside of a code block", "do not use code",
        "render it", "renders properly",
    ]),
    (C::XssScheme, Raw, &["javascript:", "vbscript:", "data:text/html"]),
    (C::XssTag, Raw, &["<script", "onerror=", "onload=", "<iframe", "onmouseover=", "<svg/onload", "<img src=x"]),
    (C::QpEscape, Raw, &["=3d", "=3c", "=3e", "=22", "=20"]),
    (C::XssApi, Raw, &["document.cookie", "alert(", "prompt(", "eval(", "fromcharcode", "document.location", "window.location", "document.write"]),
    (C::Include, Word, &["include", "insert", "embed", "add", "put"]),
    (C::InOutput, Word, &["in your output", "in your response", "in your reply", "in your answer", "in the output", "in the response"]),
];

/// The concepts whose needles also go into the automaton rot13-encoded (the rot13 hits
/// are the `Rot13` concept): a whole rot13 sentence of overriding or extraction reads as
/// these words' rot13 forms, found in the same pass, with no second decode pass.
pub(crate) const ROT13_OF: &[C] = &[C::Ignore, C::Directive, C::SysPrompt, C::JbStrong, C::NoLimit];

/// rot13 of an ASCII string.
pub(crate) fn rot13(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'a'..='m' | 'A'..='M' => char::from(c as u8 + 13),
            'n'..='z' | 'N'..='Z' => char::from(c as u8 - 13),
            _ => c,
        })
        .collect()
}
