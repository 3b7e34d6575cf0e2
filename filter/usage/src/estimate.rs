//! Token estimates for responses whose provider reported no usage.
//!
//! With the `tokenizer` feature (default), text is counted with OpenAI's BPE vocabularies
//! (tiktoken-rs) once they are loaded; until then, without the feature, or should a
//! vocabulary fail to load, with a per-character heuristic. Nothing here loads a vocabulary
//! but [`preload`]: loading takes about a second inside a wasm VM, so the filter does it when
//! its VM starts, never on a request's path.

use crate::Usage;

/// Text past this many bytes is not tokenized: its count is extrapolated from the part that
/// was. BPE runs at about 5 MB/s in V8, so this bounds one count to ~15 ms of a worker's time.
pub const MAX_COUNTED_BYTES: usize = 64 << 10;

/// The tokenizer vocabulary used for a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// gpt-4o, gpt-4.1, gpt-4.5, gpt-5, o1/o3/o4, gpt-oss; also the stand-in for non-OpenAI models.
    O200k,
    /// gpt-4, gpt-3.5 and older OpenAI models.
    Cl100k,
}

/// Picks the vocabulary for a model name (provider prefixes such as `openai/` are ignored).
pub fn encoding_for_model(model: &str) -> Encoding {
    let name = model.rsplit('/').next().unwrap_or(model).trim();
    let name = name.strip_prefix("ft:").unwrap_or(name).to_ascii_lowercase();
    let family = |prefix: &str| {
        name.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['-', '.', ':', '_']))
    };
    let o200k = ["gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "gpt-oss"]
        .iter()
        .any(|p| name.starts_with(p))
        || ["o1", "o3", "o4"].iter().any(|p| family(p));
    let older_openai = ["gpt-", "text-", "davinci", "babbage", "curie", "ada", "code-"]
        .iter()
        .any(|p| name.starts_with(p));
    if !o200k && older_openai {
        Encoding::Cl100k
    } else {
        Encoding::O200k
    }
}

/// Estimates usage from the prompt and the generated text. Pair it with
/// `UsageReport { estimated: true, .. }`. Reasoning a provider did not stream is not seen, so
/// reasoning models are undercounted.
pub fn estimate(model: &str, prompt_text: &str, output_text: &str) -> Usage {
    Usage {
        input_tokens: count_tokens(model, prompt_text),
        output_tokens: count_tokens(model, output_text),
        ..Usage::default()
    }
}

/// Estimates usage with the heuristic only, whether or not a vocabulary is loaded: for
/// requests that never reached the provider, whose estimate is not worth a BPE pass.
pub fn estimate_heuristic(prompt_text: &str, output_text: &str) -> Usage {
    let count = |text: &str| {
        if text.is_empty() {
            return 0;
        }
        let counted = prefix(text, MAX_COUNTED_BYTES);
        scale(heuristic_tokens(counted), counted.len(), text.len() as u64).max(1)
    };
    Usage {
        input_tokens: count(prompt_text),
        output_tokens: count(output_text),
        ..Usage::default()
    }
}

/// Tokens in `text` for `model`: at least 1 for non-empty text. Exact (BPE) if the model's
/// vocabulary is loaded, else the heuristic.
pub fn count_tokens(model: &str, text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    let counted = prefix(text, MAX_COUNTED_BYTES);
    let tokens = bpe_count(encoding_for_model(model), counted).unwrap_or_else(|| heuristic_tokens(counted));
    scale(tokens, counted.len(), text.len() as u64).max(1)
}

/// Estimate without a vocabulary, in thousandths of a token per character, fitted to o200k_base
/// on sample prose: ASCII 4 characters a token (English measures 0.21 a character, code 0.39);
/// CJK ideographs and kana 0.75 (Chinese 0.70, Japanese 0.81); Hangul 0.6; other scripts
/// 0.3 (Cyrillic, Arabic, Devanagari: 0.26 to 0.34); emoji and other astral characters 1.
pub fn heuristic_tokens(text: &str) -> u64 {
    if text.is_ascii() {
        // Most prompts, and the budget check's whole-body estimate: one pass of the standard
        // library's (optimised) ASCII check instead of a decode per character.
        return heuristic_ascii_tokens(text.len());
    }
    let milli: u64 = text
        .chars()
        .map(|c| match c as u32 {
            0..=0x7F => 250,
            0x3000..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3FFFF => 750,
            0xAC00..=0xD7AF => 600,
            0x10000.. => 1000,
            _ => 300,
        })
        .sum();
    milli.div_ceil(1000).max(u64::from(!text.is_empty()))
}

/// [`heuristic_tokens`] of an ASCII text of `len` bytes, for a caller that knows the text is
/// ASCII without a `&str` of it.
pub fn heuristic_ascii_tokens(len: usize) -> u64 {
    (len as u64).saturating_mul(250).div_ceil(1000).max(u64::from(len > 0))
}

/// Loads a vocabulary (if not yet loaded) and tells whether exact counts are available.
/// Loading takes about 0.5 s natively (1 s or more in V8) and 10-45 MB: a filter does it when
/// its VM starts. Until it is loaded, counts for that vocabulary use the heuristic.
pub fn preload(encoding: Encoding) -> bool {
    load(encoding).is_some()
}

/// Whether a vocabulary is loaded (exact counts for its models).
pub fn loaded(encoding: Encoding) -> bool {
    bpe(encoding).is_some()
}

#[cfg(feature = "tokenizer")]
fn cell(encoding: Encoding) -> &'static std::sync::OnceLock<Option<tiktoken_rs::CoreBPE>> {
    use std::sync::OnceLock;
    use tiktoken_rs::CoreBPE;
    static O200K: OnceLock<Option<CoreBPE>> = OnceLock::new();
    static CL100K: OnceLock<Option<CoreBPE>> = OnceLock::new();
    match encoding {
        Encoding::O200k => &O200K,
        Encoding::Cl100k => &CL100K,
    }
}

/// Loads the vocabulary (`None` if it failed to load).
#[cfg(feature = "tokenizer")]
fn load(encoding: Encoding) -> Option<&'static tiktoken_rs::CoreBPE> {
    cell(encoding)
        .get_or_init(|| match encoding {
            Encoding::O200k => tiktoken_rs::o200k_base().ok(),
            Encoding::Cl100k => tiktoken_rs::cl100k_base().ok(),
        })
        .as_ref()
}

#[cfg(not(feature = "tokenizer"))]
fn load(_: Encoding) -> Option<()> {
    None
}

/// The vocabulary if it is loaded; never loads it.
#[cfg(feature = "tokenizer")]
fn bpe(encoding: Encoding) -> Option<&'static tiktoken_rs::CoreBPE> {
    cell(encoding).get().and_then(Option::as_ref)
}

#[cfg(not(feature = "tokenizer"))]
fn bpe(_: Encoding) -> Option<()> {
    None
}

#[cfg(feature = "tokenizer")]
fn bpe_count(encoding: Encoding, text: &str) -> Option<u64> {
    let bpe = bpe(encoding)?;
    // tiktoken-rs unwraps its regex matches, and fancy-regex gives up (an error, so a panic)
    // on very long runs; byte-pair merging is also quadratic in a piece's length. Short pieces
    // avoid both, at the cost of a token split differently at a few piece boundaries.
    Some(pieces(text, 2048).map(|p| bpe.encode_ordinary(p).len() as u64).sum())
}

#[cfg(not(feature = "tokenizer"))]
fn bpe_count(_: Encoding, _: &str) -> Option<u64> {
    None
}

#[cfg_attr(not(feature = "tokenizer"), allow(dead_code))]
/// Splits `text` into pieces of at most `max` bytes (`max` >= 8), cutting before a space or
/// newline where there is one in the second half of the window, else at a character boundary.
fn pieces(text: &str, max: usize) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut cut = prefix(rest, max).len();
        if cut < rest.len() {
            let half = max / 2;
            let window = rest.as_bytes().get(half..cut).unwrap_or_default();
            if let Some(ws) = memchr::memrchr3(b' ', b'\n', b'\t', window) {
                cut = half.saturating_add(ws);
            }
            if cut == 0 {
                cut = rest.len();
            }
        }
        let (piece, tail) = rest.split_at_checked(cut).unwrap_or((rest, ""));
        rest = tail;
        Some(piece)
    })
}

/// The longest prefix of at most `max` bytes that ends on a character boundary.
fn prefix(text: &str, max: usize) -> &str {
    let mut cut = max.min(text.len());
    while !text.is_char_boundary(cut) {
        cut = cut.saturating_sub(1);
    }
    text.get(..cut).unwrap_or(text)
}

/// Scales a count for `part` bytes up to `whole` bytes.
pub(crate) fn scale(tokens: u64, part: usize, whole: u64) -> u64 {
    let part = part as u64;
    if part == 0 || whole <= part {
        return tokens;
    }
    let scaled = u128::from(tokens).saturating_mul(u128::from(whole)) / u128::from(part);
    u64::try_from(scaled).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        for m in [
            "gpt-4o",
            "gpt-4o-mini",
            "openai/gpt-4.1",
            "o1",
            "o3-mini",
            "o4-mini",
            "gpt-5-nano",
            "gpt-oss-20b",
            "ft:gpt-4o-mini:org::x",
            "claude-3-5-sonnet",
            "gemini-2.0-flash",
            "llama3",
        ] {
            assert_eq!(encoding_for_model(m), Encoding::O200k, "{m}");
        }
        for m in [
            "gpt-4",
            "gpt-4-turbo",
            "gpt-3.5-turbo",
            "GPT-4-0613",
            "text-embedding-3-small",
            "davinci-002",
        ] {
            assert_eq!(encoding_for_model(m), Encoding::Cl100k, "{m}");
        }
    }

    #[test]
    fn pieces_cover_text() {
        let text = "héllo wörld 😀 ".repeat(500) + &"x".repeat(5000);
        let joined: String = pieces(&text, 64).collect();
        assert_eq!(joined, text);
        assert!(pieces(&text, 64).all(|p| p.len() <= 64 && !p.is_empty()));
    }

    #[test]
    fn counts() {
        assert_eq!(count_tokens("gpt-4o", ""), 0);
        assert!(count_tokens("gpt-4o", "a") >= 1);
        assert_eq!(heuristic_tokens("abcdefgh"), 2);
        assert_eq!(heuristic_tokens("abcdefghi"), 3);
        assert_eq!(heuristic_tokens("a"), 1);
        assert_eq!(heuristic_tokens(""), 0);
        // The ASCII fast path and the per-character sum agree.
        assert_eq!(heuristic_tokens("abcdefgh你"), 3);
        assert_eq!(heuristic_tokens("你好吗"), 3);
        assert_eq!(heuristic_tokens("😀"), 1);
        assert_eq!(scale(10, 100, 1000), 100);
    }

    #[cfg(feature = "tokenizer")]
    #[test]
    fn bpe_matches_tiktoken() {
        assert!(preload(Encoding::O200k) && preload(Encoding::Cl100k));
        // "Hello, world!" is 4 tokens in both vocabularies.
        assert_eq!(count_tokens("gpt-4o", "Hello, world!"), 4);
        assert_eq!(count_tokens("gpt-4", "Hello, world!"), 4);
    }

    #[cfg(feature = "tokenizer")]
    #[test]
    fn pathological_input_does_not_panic() {
        assert!(preload(Encoding::O200k));
        for text in [
            "^".repeat(1 << 20),
            " ".repeat(1 << 20),
            "a".repeat(100_000),
            "\n".repeat(100_000),
        ] {
            // Past MAX_COUNTED_BYTES, counts are extrapolated.
            assert!(count_tokens("gpt-4o", &text) > 0);
        }
    }
}
