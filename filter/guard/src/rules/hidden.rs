//! Hidden-text tricks, checked on the ORIGINAL (decoded) text, since normalisation removes
//! the evidence. Only text with a non-ASCII character can hold one; the engine checks
//! those texts once, for every trick at a time ([`tricks`]).

use crate::spec::HiddenText;
use crate::text::normalize::is_ignorable;

/// The tricks `text` shows, as a bit mask of [`bit`].
pub(crate) fn tricks(text: &str) -> u8 {
    // Every trick needs an invisible character (zero-width, bidi control, tag, format).
    if !text.chars().any(is_ignorable) {
        return 0;
    }
    [
        HiddenText::ZeroWidthInWord,
        HiddenText::TagCharacters,
        HiddenText::InvisibleRun,
        HiddenText::BidiOverride,
    ]
    .into_iter()
    .filter(|&k| check(k, text))
    .fold(0, |m, k| m | bit(k))
}

/// The bit of a trick in [`tricks`]'s mask.
pub(crate) fn bit(kind: HiddenText) -> u8 {
    match kind {
        HiddenText::ZeroWidthInWord => 1,
        HiddenText::TagCharacters => 2,
        HiddenText::InvisibleRun => 4,
        HiddenText::BidiOverride => 8,
    }
}

/// Runs of this many invisible characters are reported (legitimate text has at most a
/// couple in a row: an emoji variation selector next to a joiner).
const INVISIBLE_RUN: usize = 4;

/// Whether `text` shows the hidden-text trick `kind`.
pub(crate) fn check(kind: HiddenText, text: &str) -> bool {
    if text.is_ascii() {
        return false;
    }
    match kind {
        HiddenText::ZeroWidthInWord => zero_width_in_word(text),
        HiddenText::TagCharacters => tag_characters(text),
        HiddenText::InvisibleRun => invisible_run(text),
        HiddenText::BidiOverride => bidi_override(text),
    }
}

fn is_zero_width(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{180E}')
}

fn is_tag(c: char) -> bool {
    ('\u{E0000}'..='\u{E007F}').contains(&c)
}

/// A zero-width character between two ASCII letters or digits (`ig\u{200B}nore`). Joiners
/// inside non-Latin words (ZWNJ in Persian, ZWJ in Indic scripts) are legitimate
/// orthography and not reported; soft hyphens are ordinary hyphenation hints.
fn zero_width_in_word(text: &str) -> bool {
    let mut prev: Option<char> = None;
    let mut pending = false;
    for c in text.chars() {
        if is_zero_width(c) {
            pending |= prev.is_some_and(|p| p.is_ascii_alphanumeric());
            continue;
        }
        if pending && c.is_ascii_alphanumeric() {
            return true;
        }
        pending = false;
        prev = Some(c);
    }
    false
}

/// Unicode tag characters, except an emoji tag sequence (a subdivision flag: U+1F3F4,
/// up to six tags, U+E007F).
fn tag_characters(text: &str) -> bool {
    let mut prev: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if is_tag(c) {
            let mut len = 1;
            let mut last = c;
            while let Some(&n) = chars.peek() {
                if !is_tag(n) {
                    break;
                }
                last = n;
                len += 1;
                chars.next();
            }
            let flag = prev == Some('\u{1F3F4}') && last == '\u{E007F}' && len <= 7;
            if !flag {
                return true;
            }
        }
        prev = Some(c);
    }
    false
}

/// `INVISIBLE_RUN` or more invisible characters in a row (tag characters excluded: they
/// have their own rule).
fn invisible_run(text: &str) -> bool {
    let mut run = 0;
    for c in text.chars() {
        if is_ignorable(c) && !is_tag(c) {
            run += 1;
            if run >= INVISIBLE_RUN {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

/// Bidi overrides (U+202D, U+202E) always; embeddings and isolates only in text with no
/// right-to-left script, where they have no legitimate use (Trojan Source).
fn bidi_override(text: &str) -> bool {
    let mut other = false;
    let mut rtl = false;
    for c in text.chars() {
        match c {
            '\u{202D}' | '\u{202E}' => return true,
            '\u{202A}' | '\u{202B}' | '\u{2066}'..='\u{2068}' => other = true,
            '\u{0590}'..='\u{08FF}' | '\u{FB1D}'..='\u{FDFF}' | '\u{FE70}'..='\u{FEFC}' => rtl = true,
            _ => {}
        }
    }
    other && !rtl
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_width() {
        assert!(check(HiddenText::ZeroWidthInWord, "ig\u{200B}nore"));
        assert!(check(HiddenText::ZeroWidthInWord, "a\u{200B}\u{200C}b"));
        assert!(!check(HiddenText::ZeroWidthInWord, "a \u{200B}b"));
        assert!(!check(HiddenText::ZeroWidthInWord, "می\u{200C}خواهم"));
        assert!(!check(HiddenText::ZeroWidthInWord, "👨\u{200D}👩\u{200D}👧"));
        assert!(!check(HiddenText::ZeroWidthInWord, "hy\u{00AD}phen"));
    }

    #[test]
    fn tags() {
        assert!(check(HiddenText::TagCharacters, "hi \u{E0069}\u{E0067}"));
        let scotland = "\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}";
        assert!(!check(HiddenText::TagCharacters, scotland));
    }

    #[test]
    fn runs_and_bidi() {
        assert!(check(HiddenText::InvisibleRun, "a\u{200B}\u{200B}\u{2060}\u{FEFF}b"));
        assert!(!check(HiddenText::InvisibleRun, "❤\u{FE0F}\u{200D}🔥"));
        assert!(check(HiddenText::BidiOverride, "abc\u{202E}cba"));
        assert!(check(HiddenText::BidiOverride, "x \u{2066}y\u{2069}"));
        assert!(!check(HiddenText::BidiOverride, "שלום \u{2067}abc\u{2069}"));
        assert!(!check(HiddenText::BidiOverride, "plain \u{200F} mark"));
    }
}
