//! Normalisation for detection: the text the detectors see.
//!
//! Detection runs on a folded copy of the text so that the usual evasions do not work:
//! invisible characters are removed (zero-width spaces, soft hyphens, bidi controls, tag
//! characters, variation selectors — Unicode `Cf` plus `Default_Ignorable_Code_Point`),
//! NFKC folds compatibility forms (fullwidth `４１１１` → `4111`, `＠` → `@`, ligatures,
//! circled and mathematical digits/letters, no-break spaces → space), Unicode dashes
//! (en dash, minus sign, …) become `-`, decimal digits of other scripts (Arabic-Indic
//! `٤١١١`, Devanagari, Thai, …) become ASCII digits, Cyrillic and Greek look-alikes of
//! Latin letters become those letters (`іgnоre`), and combining marks left on an ASCII
//! character after NFKC (`4\u{0301}`) are dropped. It runs only on text with a non-ASCII
//! byte (after JSON decoding); ASCII text is its own normal form.
//!
//! Every byte of the folded text remembers the byte range of the original "cluster" (a
//! starter plus its combining marks) it came from, so a finding can be mapped back and the
//! whole original value — including invisible characters inside it — redacted.
//!
//! NFKC is applied per cluster, not across starters; that differs from full NFKC only for
//! conjoining Hangul jamo sequences, which do not occur in the values we detect.

use super::fold::confusable;
use std::borrow::Cow;
use std::sync::OnceLock;
use unicode_normalization::char::canonical_combining_class;
use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// The normalised form of a text plus the map back to the original.
#[derive(Debug)]
pub struct Normalized<'a> {
    text: Cow<'a, str>,
    /// Where each run of `text` came from, by start in `text`; `None` when `text` is the
    /// original itself (pure ASCII, or already normal — most prompts).
    map: Option<Vec<Segment>>,
}

/// A run of the normalised text and its origin.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Segment {
    /// Start in the normalised text.
    norm: u32,
    /// Byte range in the original.
    orig: u32,
    orig_end: u32,
    /// Copied verbatim (byte `k` of the run is byte `orig + k` of the original); otherwise
    /// the whole run came from the one cluster `orig..orig_end`.
    verbatim: bool,
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
    /// original text (always on character boundaries when `start..end` is). `None` for an
    /// empty or out-of-range input.
    pub fn to_original(&self, start: usize, end: usize) -> Option<(usize, usize)> {
        if start >= end || end > self.text.len() {
            return None;
        }
        match &self.map {
            None => Some((start, end)),
            Some(map) => to_original(map, start, end),
        }
    }
}

/// Maps `start..end` of a normalised text whose segments are `map` to the original.
pub(crate) fn to_original(map: &[Segment], start: usize, end: usize) -> Option<(usize, usize)> {
    if start >= end {
        return None;
    }
    Some((locate(map, start)?.0, locate(map, end - 1)?.1))
}

/// The original byte range that normalised byte `x` came from.
fn locate(map: &[Segment], x: usize) -> Option<(usize, usize)> {
    let k = map.partition_point(|g| g.norm as usize <= x).checked_sub(1)?;
    let g = map.get(k)?;
    if g.verbatim {
        let o = g.orig as usize + (x - g.norm as usize);
        Some((o, o + 1))
    } else {
        Some((g.orig as usize, g.orig_end as usize))
    }
}

/// Builds the normalised text (appended to `out`, offsets relative to where it started)
/// and its segments.
struct Builder<'o> {
    out: &'o mut Vec<u8>,
    base: usize,
    map: &'o mut Vec<Segment>,
    first: usize,
}

impl Builder<'_> {
    fn len(&self) -> usize {
        self.out.len() - self.base
    }

    /// Appends `s`, which is `original[at..at + s.len()]`.
    fn verbatim(&mut self, s: &str, at: usize) {
        let norm = offset(self.len());
        let (orig, orig_end) = (offset(at), offset(at + s.len()));
        self.out.extend_from_slice(s.as_bytes());
        if self.map.len() > self.first {
            if let Some(last) = self.map.last_mut() {
                if last.verbatim && last.orig_end == orig {
                    last.orig_end = orig_end;
                    return;
                }
            }
        }
        self.map.push(Segment {
            norm,
            orig,
            orig_end,
            verbatim: true,
        });
    }

    /// Starts a run that came from the cluster `orig..orig_end`; push its text after.
    fn cluster(&mut self, orig: usize, orig_end: usize) {
        self.map.push(Segment {
            norm: offset(self.len()),
            orig: offset(orig),
            orig_end: offset(orig_end),
            verbatim: false,
        });
    }

    fn push(&mut self, c: char) {
        let mut tmp = [0u8; 4];
        self.out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
    }
}

/// Normalises `text` for detection (see the module documentation).
pub fn normalize(text: &str) -> Normalized<'_> {
    if !needs_normalizing(text) {
        return Normalized {
            text: Cow::Borrowed(text),
            map: None,
        };
    }
    let mut out = Vec::with_capacity(text.len());
    let mut map = Vec::new();
    normalize_into(text, &mut out, &mut map);
    let text = match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    Normalized {
        text: Cow::Owned(text),
        map: Some(map),
    }
}

/// Whether `text` changes under normalisation (pure ASCII and already-normal text do not).
pub(crate) fn needs_normalizing(text: &str) -> bool {
    !(text.is_ascii() || is_already_normal(text))
}

/// Appends the normalised form of `text` to `out` and its segments to `map` (offsets
/// relative to the start of this text in `out`, and to `text`).
pub(crate) fn normalize_into(text: &str, out: &mut Vec<u8>, map: &mut Vec<Segment>) {
    let bytes = text.as_bytes();
    let mut b = Builder {
        base: out.len(),
        out,
        first: map.len(),
        map,
    };
    let mut buf = String::new();
    let mut pos = 0;
    while pos < text.len() {
        // ASCII runs are copied whole, except their last character, which a combining
        // mark may follow.
        let rest = bytes.get(pos..).unwrap_or_default();
        let run = rest.iter().position(|&c| c >= 0x80).unwrap_or(rest.len());
        let take = if run == rest.len() { run } else { run.saturating_sub(1) };
        if take > 0 {
            b.verbatim(text.get(pos..pos + take).unwrap_or_default(), pos);
            pos += take;
            continue;
        }
        let Some(c) = char_at(text, pos) else {
            break;
        };
        let next = pos + c.len_utf8();
        if may_extend(c) && is_ignorable(c) {
            pos = next;
            continue;
        }
        // The cluster: `c` plus following combining marks, with invisible characters in
        // between. Trailing invisible characters not followed by a mark are not part of it.
        let mut end = next;
        let mut scan = next;
        while let Some(n) = char_at(text, scan) {
            // Most characters after a starter are starters themselves (one table look-up,
            // not the library's combining-class hash and the invisible ranges).
            if !may_extend(n) {
                break;
            }
            if is_ignorable(n) {
                scan += n.len_utf8();
            } else if canonical_combining_class(n) != 0 {
                scan += n.len_utf8();
                end = scan;
            } else {
                break;
            }
        }
        if end == next && is_stable(c) {
            b.verbatim(text.get(pos..next).unwrap_or_default(), pos);
        } else if let (true, Some(folded)) = (end == next, simple_fold(c)) {
            // Fullwidth forms, dashes, other scripts' digits, look-alike letters: one
            // character each, without the general NFKC machinery.
            b.cluster(pos, end);
            b.push(folded);
        } else {
            let cluster = text.get(pos..end).unwrap_or_default();
            let visible = || cluster.chars().filter(|&c| !is_ignorable(c));
            buf.clear();
            buf.extend(visible().nfkc().take(MAX_EXPANSION + 1));
            if buf.chars().count() > MAX_EXPANSION {
                // U+FDFA and friends expand to up to 18 characters; none of them matter
                // for detection, and keeping them bounds the output for hostile input.
                buf.clear();
                buf.extend(visible());
            }
            b.cluster(pos, end);
            let mut ascii_base = false;
            for n in buf.chars() {
                // A mark NFKC could not compose onto an ASCII base only hides that base.
                if ascii_base && canonical_combining_class(n) != 0 {
                    continue;
                }
                let n = fold_char(n);
                ascii_base = n.is_ascii();
                b.push(n);
            }
        }
        pos = end;
    }
}

/// Single characters whose normalised form is known without NFKC: fullwidth ASCII, and
/// what [`fold_char`] folds (dashes, digits of other scripts, look-alike letters).
fn simple_fold(c: char) -> Option<char> {
    let cp = c as u32;
    if (0xFF01..=0xFF5E).contains(&cp) {
        return char::from_u32(cp - 0xFEE0);
    }
    let f = fold_char(c);
    // Only characters NFKC leaves alone may be folded directly.
    (f != c && is_nfkc_quick(std::iter::once(c)) == IsNormalized::Yes && canonical_combining_class(c) == 0).then_some(f)
}

/// Longest NFKC expansion of one cluster that is applied (characters).
const MAX_EXPANSION: usize = 8;

fn offset(n: usize) -> u32 {
    // Bodies are far below 4 GiB (Envoy buffers them); saturate rather than wrap.
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn char_at(text: &str, pos: usize) -> Option<char> {
    text.get(pos..)?.chars().next()
}

fn is_already_normal(text: &str) -> bool {
    let mut prev_ascii = false;
    let mut all_stable = true;
    for c in text.chars() {
        if c.is_ascii() {
            prev_ascii = true;
            continue;
        }
        if is_stable(c) {
            prev_ascii = false;
            continue;
        }
        let mark_on_ascii = prev_ascii && canonical_combining_class(c) != 0;
        if mark_on_ascii || is_ignorable(c) || fold_char(c) != c {
            return false;
        }
        // A character NFKC never leaves in place (fullwidth forms, ligatures) settles it
        // here; without this, a text of them was walked twice more before normalising.
        if is_nfkc_quick(std::iter::once(c)) == IsNormalized::No {
            return false;
        }
        all_stable = false;
        prev_ascii = false;
    }
    all_stable || is_nfkc_quick(text.chars()) == IsNormalized::Yes
}

/// Whether `c` is left alone by normalisation whatever surrounds it: not invisible, not
/// folded, a starter (combining class 0) and NFKC quick-check `Yes` (so it neither
/// changes nor composes with what precedes it). Answered from a bitmap of the BMP built
/// on first use (8 KiB, ~65k library look-ups once) because the library's per-character
/// quick check costs ~80 ns, which dominates on CJK or Cyrillic text.
fn is_stable(c: char) -> bool {
    if c.is_ascii() {
        return true;
    }
    let cp = c as usize;
    if cp > 0xFFFF {
        return false;
    }
    let bits = &BMP.get_or_init(build_bmp).unstable;
    bits.get(cp / 64).is_some_and(|w| w & (1 << (cp % 64)) == 0)
}

/// Whether `c` may belong to the cluster before it: invisible, or a combining mark
/// (combining class not 0). False means `c` starts a cluster of its own. From a BMP bitmap
/// built with [`is_stable`]'s; the other planes are asked directly.
fn may_extend(c: char) -> bool {
    if c.is_ascii() {
        return false;
    }
    let cp = c as usize;
    if cp > 0xFFFF {
        return is_ignorable(c) || canonical_combining_class(c) != 0;
    }
    let bits = &BMP.get_or_init(build_bmp).extends;
    bits.get(cp / 64).is_none_or(|w| w & (1 << (cp % 64)) != 0)
}

/// Per BMP code point, one bit each: see [`is_stable`] and [`may_extend`].
struct BmpBits {
    unstable: Vec<u64>,
    extends: Vec<u64>,
}

static BMP: OnceLock<BmpBits> = OnceLock::new();

fn build_bmp() -> BmpBits {
    let mut unstable = vec![0u64; 0x10000 / 64];
    let mut extends = vec![0u64; 0x10000 / 64];
    let set = |bits: &mut Vec<u64>, cp: u32| {
        if let Some(w) = bits.get_mut(cp as usize / 64) {
            *w |= 1 << (cp % 64);
        }
    };
    for cp in 0x80..=0xFFFFu32 {
        let (is_unstable, is_extending) = match char::from_u32(cp) {
            // Surrogates cannot occur in a str.
            None => (true, true),
            Some(c) => {
                let ignorable = is_ignorable(c);
                let mark = canonical_combining_class(c) != 0;
                let unstable =
                    ignorable || mark || fold_char(c) != c || is_nfkc_quick(std::iter::once(c)) != IsNormalized::Yes;
                (unstable, ignorable || mark)
            }
        };
        if is_unstable {
            set(&mut unstable, cp);
        }
        if is_extending {
            set(&mut extends, cp);
        }
    }
    BmpBits { unstable, extends }
}

/// Folds what NFKC leaves alone: Unicode dashes and minus signs to `-` (so `123–45–6789`
/// with en dashes is still an SSN), decimal digits of other scripts to ASCII, and
/// Cyrillic and Greek look-alikes of Latin letters to those letters.
fn fold_char(c: char) -> char {
    if c.is_ascii() {
        return c;
    }
    match c {
        '\u{2010}'..='\u{2015}' | '\u{2043}' | '\u{2212}' | '\u{058A}' | '\u{2E3A}' | '\u{2E3B}' => '-',
        _ => fold_digit(c).or_else(|| confusable(c)).unwrap_or(c),
    }
}

/// First code points of the Unicode blocks of ten decimal digits (`Nd`) outside ASCII
/// that NFKC does not fold (fullwidth and mathematical digits it does).
const DIGIT_ZEROS: &[u32] = &[
    0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66, 0x0DE6, 0x0E50,
    0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50,
    0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0,
    0x112F0, 0x11450, 0x114D0, 0x11650, 0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60,
    0x16AC0, 0x16B50, 0x1E140, 0x1E2F0, 0x1E950,
];

fn fold_digit(c: char) -> Option<char> {
    let cp = c as u32;
    // The block whose zero is the last one <= cp (the table is sorted).
    let k = DIGIT_ZEROS.partition_point(|&z| z <= cp).checked_sub(1)?;
    let zero = *DIGIT_ZEROS.get(k)?;
    if cp - zero < 10 {
        char::from_digit(cp - zero, 10)
    } else {
        None
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
    fn expansion_is_bounded() {
        let t = "\u{FDFA}\u{200B}".repeat(1000);
        let n = normalize(&t);
        assert!(n.as_str().len() <= t.len());
        assert_eq!(normalize("\u{2474}x\u{FB03}").as_str(), "(1)xffi");
    }

    #[test]
    fn the_cluster_table_agrees_with_the_library_everywhere() {
        for cp in (0x80..=0x10FFFFu32).filter(|cp| !(0xD800..=0xDFFF).contains(cp)) {
            let c = char::from_u32(cp).unwrap();
            let expected = is_ignorable(c) || canonical_combining_class(c) != 0;
            assert_eq!(may_extend(c), expected, "U+{cp:04X}");
        }
        assert!(!may_extend('a'));
    }

    #[test]
    fn fullwidth_text_is_settled_at_its_first_character() {
        assert!(!is_already_normal("４１１１ １１１１"));
        assert!(!is_already_normal("abc ﬁ"));
        assert!(is_already_normal("東京 é я"));
    }

    #[test]
    fn stable_characters() {
        for c in ['a', 'é', '東', 'я', '€'] {
            assert!(is_stable(c), "{c}");
        }
        for c in [
            '\u{0301}',
            '\u{200B}',
            'ﬁ',
            '４',
            '–',
            '٤',
            '\u{1161}',
            '\u{212B}',
            '\u{1F600}',
        ] {
            assert!(!is_stable(c), "{c}");
        }
    }

    #[test]
    fn digit_table_is_sorted_and_folds() {
        assert!(DIGIT_ZEROS.windows(2).all(|w| w[0] + 10 <= w[1]));
        for &z in DIGIT_ZEROS {
            let zero = char::from_u32(z).unwrap();
            let nine = char::from_u32(z + 9).unwrap();
            assert!(zero.is_numeric() && nine.is_numeric(), "{z:x}");
            assert_eq!((fold_digit(zero), fold_digit(nine)), (Some('0'), Some('9')));
            assert_eq!(fold_digit(char::from_u32(z + 10).unwrap_or('x')), None);
        }
        assert_eq!(fold_digit('a'), None);
    }

    #[test]
    fn other_script_digits_and_marks_on_ascii() {
        let t = "٤١١١ ११११ 4\u{0301}1\u{0332}1";
        let n = normalize(t);
        assert_eq!(n.as_str(), "4111 1111 411");
        assert_eq!(orig(t, &n, "4111 1111"), "٤١١١ ११११");
        let (a, b) = n.to_original(10, 13).unwrap();
        assert_eq!(&t[a..b], "4\u{0301}1\u{0332}1");
        assert_eq!(normalize("cafe\u{0301}").as_str(), "café");
        assert!(normalize("x\u{0301}").as_str() == "x");
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
