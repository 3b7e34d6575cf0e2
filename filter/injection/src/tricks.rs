//! Tricks seen only in the ORIGINAL text (normalisation removes or folds the evidence):
//! hidden text (tag characters, zero-width characters inside words, runs of invisible
//! characters, bidi overrides, control characters such as backspaces) and words that mix
//! Latin with Cyrillic or Greek letters. One pass over the text's characters.

/// A set of tricks (bits of [`Trick`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tricks(pub u8);

/// One trick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Trick {
    /// Unicode tag characters (U+E0000–U+E007F), except an emoji flag's tag sequence.
    TagCharacters = 1,
    /// A zero-width character between two ASCII letters or digits (`ig\u{200B}nore`).
    ZeroWidthInWord = 2,
    /// Four or more invisible characters in a row.
    InvisibleRun = 4,
    /// Bidi overrides, or embeddings/isolates in text with no right-to-left script.
    BidiOverride = 8,
    /// C0 control characters other than tab, newline, carriage return, form feed and
    /// escape (a backspace inside a word), or DEL.
    ControlCharacters = 16,
    /// Two or more words that mix Latin letters with Cyrillic or Greek look-alikes.
    MixedScript = 32,
}

impl Tricks {
    pub const fn has(self, t: Trick) -> bool {
        self.0 & (t as u8) != 0
    }

    pub fn insert(&mut self, t: Trick) {
        self.0 |= t as u8;
    }
}

/// Runs of this many invisible characters are reported (legitimate text has at most a
/// couple in a row: an emoji variation selector next to a joiner).
const INVISIBLE_RUN: usize = 4;

fn is_zero_width(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{180E}')
}

fn is_tag(c: char) -> bool {
    ('\u{E0000}'..='\u{E007F}').contains(&c)
}

/// Invisible format characters (the subset of `Cf` and default-ignorables that carry no
/// glyph), tags excluded.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
        | '\u{FFF0}'..='\u{FFF8}' | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0100}'..='\u{E01EF}')
}

/// Cyrillic or Greek letters that read as Latin ones (not `µ`/`μ`, `π`, `Ω`: units and
/// formulas use them next to Latin letters).
fn is_lookalike(c: char) -> bool {
    matches!(
        c,
        'а' | 'в'
            | 'е'
            | 'ё'
            | 'к'
            | 'м'
            | 'н'
            | 'о'
            | 'р'
            | 'с'
            | 'т'
            | 'у'
            | 'х'
            | 'ѕ'
            | 'і'
            | 'ї'
            | 'ј'
            | 'ԁ'
            | 'һ'
            | 'ӏ'
            | 'ԛ'
            | 'ԝ'
            | 'А'
            | 'В'
            | 'Е'
            | 'К'
            | 'М'
            | 'Н'
            | 'О'
            | 'Р'
            | 'С'
            | 'Т'
            | 'Х'
            | 'Ѕ'
            | 'І'
            | 'Ј'
            | 'α'
            | 'ε'
            | 'ι'
            | 'κ'
            | 'ν'
            | 'ο'
            | 'ρ'
            | 'τ'
            | 'υ'
            | 'χ'
            | 'Α'
            | 'Β'
            | 'Ε'
            | 'Ζ'
            | 'Η'
            | 'Ι'
            | 'Κ'
            | 'Μ'
            | 'Ν'
            | 'Ο'
            | 'Ρ'
            | 'Τ'
            | 'Υ'
            | 'Χ'
    )
}

fn is_control(b: u8) -> bool {
    matches!(b, 0x00..=0x08 | 0x0B | 0x0E..=0x1A | 0x1C..=0x1F | 0x7F)
}

/// The tricks in `original`.
pub fn tricks(original: &str) -> Tricks {
    let mut out = Tricks::default();
    let bytes = original.as_bytes();
    // Eight bytes at a time (SWAR: any byte below 0x20, or DEL), the exact test only where
    // a word has one (newlines do).
    // `chunks_exact` and an array conversion compile to one load a word; copying a chunk of
    // unknown length into a buffer was a `memcpy` call every eight bytes.
    let mut words = bytes.chunks_exact(8);
    let suspicious = words.by_ref().any(|c| {
        let Ok(w) = <[u8; 8]>::try_from(c) else {
            return c.iter().any(|&b| is_control(b));
        };
        let x = u64::from_le_bytes(w);
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        let below_20 = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        let del = (x ^ (ONES * 0x7F)).wrapping_sub(ONES) & !(x ^ (ONES * 0x7F)) & HIGH;
        (below_20 | del) != 0 && c.iter().any(|&b| is_control(b))
    }) || words.remainder().iter().any(|&b| is_control(b));
    if suspicious {
        out.insert(Trick::ControlCharacters);
    }
    if original.is_ascii() {
        return out;
    }
    let mut prev: Option<char> = None;
    let mut zw_pending = false;
    let mut invisible = 0usize;
    let mut tag_run = 0usize;
    let mut tag_after_flag = false;
    let mut last_tag = '\0';
    let mut bidi_other = false;
    let mut rtl = false;
    // Mixed-script words: does the current word have a Latin letter / a look-alike?
    let (mut latin, mut lookalike) = (false, false);
    let mut mixed_words = 0u32;
    let mut last_class = ('\0', false);
    for c in original.chars() {
        // Tags: a run after U+1F3F4 of at most 7 ending in U+E007F is a flag.
        if is_tag(c) {
            if tag_run == 0 {
                tag_after_flag = prev == Some('\u{1F3F4}');
            }
            tag_run += 1;
            last_tag = c;
            if !tag_after_flag || tag_run > 7 {
                out.insert(Trick::TagCharacters);
            }
            continue;
        }
        if tag_run > 0 {
            if tag_after_flag && last_tag != '\u{E007F}' {
                out.insert(Trick::TagCharacters);
            }
            tag_run = 0;
        }
        if is_zero_width(c) {
            zw_pending |= prev.is_some_and(|p| p.is_ascii_alphanumeric());
        } else {
            if zw_pending && c.is_ascii_alphanumeric() {
                out.insert(Trick::ZeroWidthInWord);
            }
            zw_pending = false;
        }
        let invisible_c = is_invisible(c);
        if invisible_c {
            invisible += 1;
            if invisible >= INVISIBLE_RUN {
                out.insert(Trick::InvisibleRun);
            }
        } else {
            invisible = 0;
        }
        match c {
            '\u{202D}' | '\u{202E}' => out.insert(Trick::BidiOverride),
            '\u{202A}' | '\u{202B}' | '\u{2066}'..='\u{2068}' => bidi_other = true,
            '\u{0590}'..='\u{08FF}' | '\u{FB1D}'..='\u{FDFF}' | '\u{FE70}'..='\u{FEFC}' => rtl = true,
            _ => {}
        }
        // An invisible character neither continues nor ends a word (alphabetic or not:
        // the Hangul fillers are letters), so it is not looked up. The last non-ASCII
        // character's class is kept: the Unicode table search is the cost of this loop
        // on a run of one character.
        let alphabetic = if invisible_c {
            None
        } else if c.is_ascii() {
            Some(c.is_ascii_alphabetic())
        } else if c == last_class.0 {
            Some(last_class.1)
        } else {
            let a = c.is_alphabetic();
            last_class = (c, a);
            Some(a)
        };
        if alphabetic == Some(true) {
            if c.is_ascii_alphabetic() {
                latin = true;
            } else if is_lookalike(c) {
                lookalike = true;
            }
        } else if alphabetic == Some(false) && c != '\'' {
            if latin && lookalike {
                mixed_words += 1;
            }
            latin = false;
            lookalike = false;
        }
        if !is_zero_width(c) {
            prev = Some(c);
        }
    }
    if tag_run > 0 && tag_after_flag && last_tag != '\u{E007F}' {
        out.insert(Trick::TagCharacters);
    }
    if latin && lookalike {
        mixed_words += 1;
    }
    if mixed_words >= 2 {
        out.insert(Trick::MixedScript);
    }
    if bidi_other && !rtl {
        out.insert(Trick::BidiOverride);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(text: &str, t: Trick) -> bool {
        tricks(text).has(t)
    }

    #[test]
    fn zero_width() {
        assert!(has("ig\u{200B}nore", Trick::ZeroWidthInWord));
        assert!(!has("a \u{200B}b", Trick::ZeroWidthInWord));
        assert!(!has("می\u{200C}خواهم", Trick::ZeroWidthInWord));
        assert!(!has("👨\u{200D}👩\u{200D}👧", Trick::ZeroWidthInWord));
    }

    #[test]
    fn tags() {
        assert!(has("hi \u{E0069}\u{E0067}", Trick::TagCharacters));
        let scotland = "flag \u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F} ok";
        assert!(!has(scotland, Trick::TagCharacters));
    }

    #[test]
    fn runs_bidi_controls() {
        assert!(has("a\u{200B}\u{200B}\u{2060}\u{FEFF}b", Trick::InvisibleRun));
        assert!(!has("❤\u{FE0F}\u{200D}🔥", Trick::InvisibleRun));
        assert!(has("abc\u{202E}cba", Trick::BidiOverride));
        assert!(!has("שלום \u{2067}abc\u{2069}", Trick::BidiOverride));
        assert!(has("ss\u{8}tep", Trick::ControlCharacters));
        assert!(!has("tab\tnew\nline\r\x0c\x1b[0m", Trick::ControlCharacters));
    }

    /// The word-at-a-time pass finds a control character and a non-ASCII character wherever
    /// they are: in a first, middle or last whole word, or in the tail of fewer than eight.
    #[test]
    fn control_characters_and_non_ascii_at_every_position() {
        for len in [1usize, 7, 8, 9, 16, 23, 24, 40] {
            for at in 0..len {
                let mut b = vec![b'a'; len];
                b[at] = 0x08;
                let text = String::from_utf8(b.clone()).unwrap();
                assert!(has(&text, Trick::ControlCharacters), "{len} {at}");
                // With look-alikes after the control character, so the rest of the pass runs:
                // the control character is still reported, and so is the mixed script.
                let mixed = format!("{text} \u{0430}pple \u{0430}nd, said in plain words");
                assert!(has(&mixed, Trick::ControlCharacters), "{len} {at}");
                assert!(has(&mixed, Trick::MixedScript), "{len} {at}");
                b[at] = b'a';
                let clean = String::from_utf8(b).unwrap();
                assert!(!has(&clean, Trick::ControlCharacters), "{len} {at}");
                let clean_mixed = format!("{clean} \u{0430}pple \u{0430}nd, said in plain words");
                assert!(!has(&clean_mixed, Trick::ControlCharacters), "{len} {at}");
                assert!(has(&clean_mixed, Trick::MixedScript), "{len} {at}");
            }
        }
        // A non-ASCII character before the control character, in the same or an earlier word.
        assert!(has("é\u{8}abcdefgh", Trick::ControlCharacters));
        assert!(has("éabcdefgh\u{8}", Trick::ControlCharacters));
        assert!(has("éabcdefghijklmno\u{8}xyz", Trick::ControlCharacters));
        assert!(!has("éabcdefghijklmnoxyz", Trick::ControlCharacters));
    }

    #[test]
    fn mixed_script() {
        assert!(has("Ехрlаіn thеѕе ınѕtruсtıоnѕ", Trick::MixedScript));
        assert!(!has("Привет, как дела? hello world", Trick::MixedScript));
        assert!(!has("5 μm and 3 μg of Ω", Trick::MixedScript));
        assert!(!has("Yazılım Hizmetleri", Trick::MixedScript));
    }
}
