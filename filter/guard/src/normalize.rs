//! Normalisation for detection: the text the detectors see.
//!
//! Detection runs on a folded copy of the text so that the usual evasions do not work:
//! invisible characters are removed (zero-width spaces, soft hyphens, bidi controls, tag
//! characters, variation selectors — Unicode `Cf` plus `Default_Ignorable_Code_Point`),
//! NFKC folds compatibility forms (fullwidth `４１１１` → `4111`, `＠` → `@`, ligatures,
//! circled and mathematical digits/letters, no-break spaces → space), and Unicode dashes
//! (en dash, minus sign, …) become `-`.
//!
//! Every byte of the folded text remembers the byte range of the original "cluster" (a
//! starter plus its combining marks) it came from, so a finding can be mapped back and the
//! whole original value — including invisible characters inside it — redacted.
//!
//! NFKC is applied per cluster, not across starters; that differs from full NFKC only for
//! conjoining Hangul jamo sequences, which do not occur in the values we detect.

use std::borrow::Cow;
use unicode_normalization::char::canonical_combining_class;
use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// The normalised form of a text plus the map back to the original.
#[derive(Debug)]
pub struct Normalized<'a> {
    text: Cow<'a, str>,
    /// `(start, end)` in the original for each byte of `text`; `None` when `text` is the
    /// original itself (pure ASCII, or already normal — most prompts).
    map: Option<Vec<(u32, u32)>>,
}

impl Normalized<'_> {
    /// The normalised text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when no folding was needed and offsets are the original's.
    pub fn is_identity(&self) -> bool {
        self.map.is_none()
    }

    /// Maps the byte range `start..end` of the normalised text to a byte range of the
    /// original text (always on character boundaries). `None` for an empty or
    /// out-of-range input.
    pub fn to_original(&self, start: usize, end: usize) -> Option<(usize, usize)> {
        if start >= end || end > self.text.len() {
            return None;
        }
        match &self.map {
            None => Some((start, end)),
            Some(map) => {
                let (s, _) = *map.get(start)?;
                let (_, e) = *map.get(end - 1)?;
                Some((s as usize, e as usize))
            }
        }
    }
}

/// Normalises `text` for detection (see the module documentation).
pub fn normalize(text: &str) -> Normalized<'_> {
    if text.is_ascii() || is_already_normal(text) {
        return Normalized {
            text: Cow::Borrowed(text),
            map: None,
        };
    }
    let mut out = String::with_capacity(text.len());
    let mut map: Vec<(u32, u32)> = Vec::with_capacity(text.len());
    let mut pos = 0;
    while let Some(c) = char_at(text, pos) {
        let next = pos + c.len_utf8();
        if is_ignorable(c) {
            pos = next;
            continue;
        }
        // The cluster: `c` plus following combining marks, with invisible characters in
        // between. Trailing invisible characters not followed by a mark are not part of it.
        let mut end = next;
        let mut scan = next;
        while let Some(n) = char_at(text, scan) {
            if is_ignorable(n) {
                scan += n.len_utf8();
            } else if !n.is_ascii() && canonical_combining_class(n) != 0 {
                scan += n.len_utf8();
                end = scan;
            } else {
                break;
            }
        }
        if end == next && c.is_ascii() {
            out.push(c);
        } else {
            let cluster = text.get(pos..end).unwrap_or_default();
            for n in cluster.chars().filter(|&c| !is_ignorable(c)).nfkc() {
                out.push(fold_dash(n).unwrap_or(n));
            }
        }
        map.resize(out.len(), (offset(pos), offset(end)));
        pos = end;
    }
    Normalized {
        text: Cow::Owned(out),
        map: Some(map),
    }
}

fn offset(n: usize) -> u32 {
    // Bodies are far below 4 GiB (Envoy buffers them); saturate rather than wrap.
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn char_at(text: &str, pos: usize) -> Option<char> {
    text.get(pos..)?.chars().next()
}

fn is_already_normal(text: &str) -> bool {
    !text
        .chars()
        .any(|c| !c.is_ascii() && (is_ignorable(c) || fold_dash(c).is_some()))
        && is_nfkc_quick(text.chars()) == IsNormalized::Yes
}

/// Unicode dashes and minus signs that NFKC leaves alone, folded to `-` so that
/// `123–45–6789` (en dashes) is still an SSN.
fn fold_dash(c: char) -> Option<char> {
    match c {
        '\u{2010}'..='\u{2015}' | '\u{2043}' | '\u{2212}' | '\u{058A}' | '\u{2E3A}' | '\u{2E3B}' => {
            Some('-')
        }
        _ => None,
    }
}

/// Invisible characters removed before detection: general category `Cf` (format) and the
/// `Default_Ignorable_Code_Point` property (Unicode 15).
pub fn is_ignorable(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x06DD | 0x070F | 0x08E2 | 0x115F | 0x1160
        | 0x0600..=0x0605
        | 0x0890..=0x0891
        | 0x17B4..=0x17B5
        | 0x180B..=0x180F
        | 0x200B..=0x200F
        | 0x202A..=0x202E
        | 0x2060..=0x206F
        | 0x3164 | 0xFEFF | 0xFFA0
        | 0xFE00..=0xFE0F
        | 0xFFF0..=0xFFFB
        | 0x110BD | 0x110CD
        | 0x13430..=0x1343F
        | 0x1BCA0..=0x1BCA3
        | 0x1D173..=0x1D17A
        | 0xE0000..=0xE0FFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orig<'a>(text: &'a str, n: &Normalized, needle: &str) -> &'a str {
        let s = n.as_str().find(needle).unwrap();
        let (a, b) = n.to_original(s, s + needle.len()).unwrap();
        &text[a..b]
    }

    #[test]
    fn ascii_is_borrowed_without_map() {
        let n = normalize("plain ascii text 123");
        assert!(n.is_identity());
        assert_eq!(n.as_str(), "plain ascii text 123");
        assert_eq!(n.to_original(6, 11), Some((6, 11)));
        assert_eq!(n.to_original(3, 3), None);
        assert_eq!(n.to_original(3, 99), None);
    }

    #[test]
    fn normal_unicode_is_borrowed() {
        let t = "Grüße aus Köln — 東京";
        // The em dash is folded, so this one is not identity; without it, it is.
        assert!(!normalize(t).is_identity());
        assert!(normalize("Grüße aus Köln, 東京").is_identity());
    }

    #[test]
    fn removes_invisible_and_maps_back() {
        let t = "mail jo\u{200B}hn@exa\u{00AD}mple.com now";
        let n = normalize(t);
        assert_eq!(n.as_str(), "mail john@example.com now");
        assert_eq!(orig(t, &n, "john@example.com"), "jo\u{200B}hn@exa\u{00AD}mple.com");
    }

    #[test]
    fn nfkc_folds_fullwidth_ligatures_and_dashes() {
        let t = "card ４１１１ １１１１, ﬁle, 123–45–6789, x\u{00A0}y, ①②";
        let n = normalize(t);
        assert_eq!(n.as_str(), "card 4111 1111, file, 123-45-6789, x y, 12");
        assert_eq!(orig(t, &n, "4111 1111"), "４１１１ １１１１");
        assert_eq!(orig(t, &n, "fi"), "ﬁ");
        assert_eq!(orig(t, &n, "i"), "ﬁ");
    }

    #[test]
    fn combining_marks_compose_with_invisible_inside() {
        let t = "cafe\u{200B}\u{0301}!";
        let n = normalize(t);
        assert_eq!(n.as_str(), "café!");
        assert_eq!(orig(t, &n, "é"), "e\u{200B}\u{0301}");
    }

    #[test]
    fn tags_and_bidi_are_removed() {
        let t = "a\u{E0041}\u{E0042}b\u{202E}c\u{2066}d\u{FE0F}";
        assert_eq!(normalize(t).as_str(), "abcd");
    }
}
