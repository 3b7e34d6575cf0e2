//! Admin-written regular expressions (custom detectors, injection rules), held to a rule
//! that keeps matching linear in the prompt whatever it holds.
//!
//! **The rule**, checked at configuration time (the error names the pattern's field):
//! a pattern must start with a literal of at least two characters (after an optional
//! `(?i)` and `\b`), must not use `^`, `$`, `\A` or `\z` (a prompt is scanned as one text),
//! and must have a bounded match length of at most [`MAX_MATCH_LEN`] bytes: no `*`, `+` or
//! `{n,}`; use `{m,n}`. The bound is computed conservatively from the syntax (`.`,
//! negated classes and classes with non-ASCII members count four bytes).
//!
//! **Why that is linear.** The literal goes into the engine's one automaton, which reports
//! every occurrence in one pass. Every match starts at an occurrence and ends within
//! `MAX_MATCH_LEN` bytes of it, so occurrences are grouped into regions (an occurrence
//! closer than that to the previous one extends its region) and regex-lite (a PikeVM:
//! O(regex × text) per search, no backtracking) searches each region once, starting at
//! its first occurrence and cut at its last occurrence plus the bound. Regions do not
//! overlap, and each is at most its occurrences' span plus one bound, so the total work is
//! at most (text length + occurrences × bound) × regex size… and, since a region absorbs
//! every occurrence within one bound of it, at most 2 × text length × regex size.

use crate::spec::GuardConfigError;
use regex_lite::{Regex, RegexBuilder};

/// Longest match a pattern may have (bytes).
pub const MAX_MATCH_LEN: usize = 256;
/// Longest accepted pattern source, and the compiled-size cap passed to regex-lite.
const MAX_SOURCE_LEN: usize = 1024;
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A compiled pattern and the literal every match starts with.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    regex: Regex,
    /// The literal prefix (lowercase when `ci`).
    literal: String,
    ci: bool,
    max_len: usize,
}

impl Pattern {
    /// Checks `source` against the rule and compiles it. `force_ci` makes it
    /// case-insensitive (injection rules).
    pub(crate) fn compile(source: &str, force_ci: bool, field: &str) -> Result<Pattern, GuardConfigError> {
        let err = |m: String| GuardConfigError::new(field, m);
        if source.is_empty() {
            return Err(err("must not be empty".into()));
        }
        if source.len() > MAX_SOURCE_LEN {
            return Err(err(format!("is longer than {MAX_SOURCE_LEN} bytes")));
        }
        let source = if force_ci && !source.starts_with("(?i)") {
            format!("(?i){source}")
        } else {
            source.to_owned()
        };
        let regex = RegexBuilder::new(&source)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| err(format!("invalid regex: {e}")))?;
        let max_len = max_match_len(&source).map_err(|why| {
            err(format!(
                "{why}; a pattern's matches must be at most {MAX_MATCH_LEN} bytes long (use {{m,n}} rather than \
                 *, + or {{n,}}) so that matching stays linear in the prompt"
            ))
        })?;
        if max_len > MAX_MATCH_LEN {
            return Err(err(format!(
                "can match up to {max_len} bytes; at most {MAX_MATCH_LEN} are allowed, so that matching stays linear \
                 in the prompt"
            )));
        }
        let Some((literal, ci)) = literal_prefix(&source) else {
            return Err(err(
                "must start with a literal of at least two characters (after an optional (?i) and \\b), which the \
                 engine finds in its one pass over the prompt"
                    .into(),
            ));
        };
        Ok(Pattern {
            regex,
            literal,
            ci,
            max_len,
        })
    }

    /// The literal every match starts with, and whether it is case-insensitive.
    pub(crate) fn literal(&self) -> (&str, bool) {
        (&self.literal, self.ci)
    }

    /// Calls `found(start, end)` for each non-empty match, non-overlapping, leftmost-first,
    /// given the sorted starts of the literal's occurrences in `text` (found
    /// case-insensitively by the automaton).
    pub(crate) fn find(&self, text: &str, occurrences: &[usize], found: &mut dyn FnMut(usize, usize)) {
        let b = text.as_bytes();
        let reach = self.max_len + 4;
        let mut k = 0;
        let mut next = 0;
        while let Some(&first) = occurrences.get(k) {
            k += 1;
            if first < next || !self.case_ok(b, first) {
                continue;
            }
            // The region: occurrences each within `reach` of the previous one.
            let mut last = first;
            while let Some(&o) = occurrences.get(k) {
                if o > last + reach {
                    break;
                }
                last = o;
                k += 1;
            }
            let mut end = (last + reach).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            let Some(hay) = text.get(..end) else {
                continue;
            };
            let mut at = first;
            while at < end {
                let Some(m) = self.regex.find_at(hay, at) else {
                    break;
                };
                if m.is_empty() {
                    at = m.end() + 1;
                    while at < end && !text.is_char_boundary(at) {
                        at += 1;
                    }
                    continue;
                }
                found(m.start(), m.end());
                next = m.end();
                at = m.end();
            }
        }
    }

    fn case_ok(&self, b: &[u8], at: usize) -> bool {
        self.ci
            || b.get(at..at + self.literal.len())
                .is_some_and(|s| s == self.literal.as_bytes())
    }
}

/// The longest match `source` can have (bytes), or why it cannot be bounded.
fn max_match_len(source: &str) -> Result<usize, String> {
    let chars: Vec<char> = source.chars().collect();
    let mut p = Parser { chars, i: 0 };
    let n = p.alternation()?;
    if p.i < p.chars.len() {
        return Err("has an unbalanced `)`".into());
    }
    Ok(n)
}

struct Parser {
    chars: Vec<char>,
    i: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn alternation(&mut self) -> Result<usize, String> {
        let mut best = self.sequence()?;
        while self.peek() == Some('|') {
            self.i += 1;
            best = best.max(self.sequence()?);
        }
        Ok(best)
    }

    fn sequence(&mut self) -> Result<usize, String> {
        let mut total: usize = 0;
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            let n = self.quantified(atom)?;
            total = total.saturating_add(n);
        }
        Ok(total)
    }

    fn atom(&mut self) -> Result<usize, String> {
        let Some(c) = self.peek() else {
            return Ok(0);
        };
        self.i += 1;
        match c {
            '^' | '$' => Err("uses `^` or `$` (a prompt is scanned as one text)".into()),
            '.' => Ok(4),
            '[' => self.class(),
            '(' => self.group(),
            '\\' => self.escape(),
            '*' | '+' | '?' | '{' => Err(format!("has a `{c}` with nothing to repeat")),
            c => Ok(c.len_utf8().max(if c.is_ascii() { 1 } else { 4 })),
        }
    }

    fn escape(&mut self) -> Result<usize, String> {
        let Some(e) = self.peek() else {
            return Err("ends with `\\`".into());
        };
        self.i += 1;
        match e {
            'b' | 'B' => Ok(0),
            'A' | 'z' => Err("uses `\\A` or `\\z` (a prompt is scanned as one text)".into()),
            // regex-lite's Perl classes are ASCII: one byte; their negations any character.
            'd' | 'w' | 's' => Ok(1),
            'D' | 'W' | 'S' => Ok(4),
            'n' | 't' | 'r' | 'f' | 'v' | 'a' | '0' => Ok(1),
            'x' | 'u' | 'U' => {
                if self.peek() == Some('{') {
                    while let Some(c) = self.peek() {
                        self.i += 1;
                        if c == '}' {
                            break;
                        }
                    }
                } else {
                    let digits = match e {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    self.i += digits;
                }
                Ok(4)
            }
            'p' | 'P' => Err("uses a Unicode class `\\p`, which regex-lite does not support".into()),
            c if c.is_ascii_punctuation() || c == ' ' => Ok(1),
            c => Err(format!("uses the escape `\\{c}`, which is not supported here")),
        }
    }

    fn class(&mut self) -> Result<usize, String> {
        // A character class matches one character: one byte if every member is ASCII and
        // the class is not negated, else up to four.
        let mut first = true;
        let mut wide = false;
        loop {
            let Some(c) = self.peek() else {
                return Err("has an unclosed `[`".into());
            };
            self.i += 1;
            match c {
                '\\' => {
                    wide |= matches!(self.peek(), Some('D' | 'W' | 'S' | 'x' | 'u' | 'U'));
                    self.i += 1;
                }
                '[' if self.peek() == Some(':') => {
                    while let Some(c) = self.peek() {
                        self.i += 1;
                        if c == ']' {
                            break;
                        }
                    }
                }
                ']' if !first => return Ok(if wide { 4 } else { 1 }),
                '^' if first => {
                    wide = true;
                    continue;
                }
                c => wide |= !c.is_ascii(),
            }
            first = false;
        }
    }

    fn group(&mut self) -> Result<usize, String> {
        if self.peek() == Some('?') {
            self.i += 1;
            // Flags `(?i)`, `(?i:…)`, a non-capturing `(?:…)`, a name `(?P<n>…)` / `(?<n>…)`.
            match self.peek() {
                Some('P') | Some('<') => {
                    while let Some(c) = self.peek() {
                        self.i += 1;
                        if c == '>' {
                            break;
                        }
                    }
                }
                _ => {
                    while let Some(c) = self.peek() {
                        if c == ':' {
                            self.i += 1;
                            break;
                        }
                        if c == ')' {
                            self.i += 1;
                            return Ok(0);
                        }
                        if !(c.is_ascii_alphabetic() || c == '-') {
                            return Err(format!("has an unknown group flag `{c}`"));
                        }
                        if c == 'm' {
                            return Err("uses the multi-line flag `m` (a prompt is scanned as one text)".into());
                        }
                        self.i += 1;
                    }
                }
            }
        }
        let n = self.alternation()?;
        if self.peek() != Some(')') {
            return Err("has an unclosed `(`".into());
        }
        self.i += 1;
        Ok(n)
    }

    fn quantified(&mut self, atom: usize) -> Result<usize, String> {
        let n = match self.peek() {
            Some('*') | Some('+') => {
                return Err("repeats without bound (`*` or `+`)".into());
            }
            Some('?') => {
                self.i += 1;
                atom
            }
            Some('{') => {
                let start = self.i;
                let mut body = String::new();
                self.i += 1;
                loop {
                    match self.peek() {
                        Some('}') => {
                            self.i += 1;
                            break;
                        }
                        Some(c) => {
                            body.push(c);
                            self.i += 1;
                        }
                        None => {
                            // Not a repetition: regex-lite reads a lone `{` as a literal.
                            self.i = start + 1;
                            return Ok(atom.saturating_add(1));
                        }
                    }
                }
                let max = match body.split_once(',') {
                    None => body.trim().parse::<usize>().ok(),
                    Some((_, hi)) if hi.trim().is_empty() => {
                        return Err("repeats without bound (`{n,}`)".into());
                    }
                    Some((_, hi)) => hi.trim().parse::<usize>().ok(),
                };
                let Some(max) = max else {
                    return Err(format!("has a repetition `{{{body}}}` that is not understood"));
                };
                atom.saturating_mul(max)
            }
            _ => return Ok(atom),
        };
        // A lazy or possessive suffix changes nothing about the length.
        if self.peek() == Some('?') {
            self.i += 1;
        }
        if matches!(self.peek(), Some('*' | '+' | '{')) {
            return Err("stacks repetitions".into());
        }
        Ok(n)
    }
}

/// The literal prefix of a pattern source, if every match must start with it:
/// `(literal, case_insensitive)`. Conservative: any construct it does not understand means
/// no literal.
fn literal_prefix(source: &str) -> Option<(String, bool)> {
    if has_top_level_alternation(source) {
        return None;
    }
    let (rest, ci) = match source.strip_prefix("(?i)") {
        Some(r) => (r, true),
        None => (source, false),
    };
    let (rest, word_boundary) = match rest.strip_prefix("\\b") {
        Some(r) => (r, true),
        None => (rest, false),
    };
    let mut literal = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(&c) = chars.peek() {
        let lit = match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '-' | ':' | '@' | '#' | '/' | '=' | ' ' => c,
            '\\' => {
                // An escaped punctuation character is itself; `\d`, `\w`, `\b`… are not.
                let mut look = chars.clone();
                look.next();
                match look.next() {
                    Some(e) if e.is_ascii_punctuation() => {
                        chars.next();
                        e
                    }
                    _ => break,
                }
            }
            _ => break,
        };
        chars.next();
        // A quantifier makes the last character optional or repeated: drop it.
        if matches!(chars.peek(), Some('?' | '*' | '+' | '{')) {
            break;
        }
        literal.push(lit);
    }
    if literal.len() < 2 {
        return None;
    }
    let starts_with_word = literal
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    if word_boundary && !starts_with_word {
        return None;
    }
    if ci {
        literal.make_ascii_lowercase();
    }
    Some((literal, ci))
}

/// Whether `|` occurs outside any group or class (then matches may start differently).
fn has_top_level_alternation(source: &str) -> bool {
    let mut depth = 0i32;
    let mut in_class = false;
    let mut chars = source.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '(' if !in_class => depth += 1,
            ')' if !in_class => depth -= 1,
            '|' if !in_class && depth <= 0 => return true,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(src: &str) -> Pattern {
        Pattern::compile(src, false, "p").unwrap()
    }

    fn occurrences(text: &str, p: &Pattern) -> Vec<usize> {
        let (lit, _) = p.literal();
        let lower = text.to_ascii_lowercase();
        (0..text.len())
            .filter(|&i| lower.as_bytes()[i..].starts_with(lit.to_ascii_lowercase().as_bytes()))
            .collect()
    }

    fn matches(src: &str, text: &str) -> Vec<(usize, usize)> {
        let p = pattern(src);
        let mut got = vec![];
        p.find(text, &occurrences(text, &p), &mut |s, e| got.push((s, e)));
        got
    }

    #[test]
    fn the_rule() {
        for ok in [
            r"\bEMP-[0-9]{6}\b",
            "PROJ-[A-Z]{3}-\\d{4}",
            "(?i)acme_[a-z0-9]{16,32}",
            r"ab\.cd(x|yz)?",
            "EMP-(?:[0-9]{2}){3}",
        ] {
            assert!(Pattern::compile(ok, false, "p").is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("EMP-[0-9]+", "without bound"),
            ("EMP-.*", "without bound"),
            ("EMP-[0-9]{6,}", "without bound"),
            ("EMP-[0-9]{300}", "at most 256"),
            ("[A-Z]{3}-[0-9]{4}", "literal"),
            ("^EMP-1", "`^`"),
            ("EMP-1$", "`^`"),
            ("ab|cd", "literal"),
            ("(?m)EMP-1", "multi-line"),
            ("a", "literal"),
        ] {
            let e = Pattern::compile(bad, false, "custom_detectors[0].patterns[0]").unwrap_err();
            assert_eq!(e.field, "custom_detectors[0].patterns[0]");
            assert!(e.problem.contains(why), "{bad}: {}", e.problem);
        }
    }

    /// The region search finds exactly what `find_iter` finds.
    #[test]
    fn same_matches_as_find_iter() {
        let texts = [
            "EMP-123456 xEMP-123456 EMP-12345 EMP-1234567 EMP-000001EMP-000002 émp-123456",
            "PROJ-12 proj-34 PROJ-x _PROJ-5 éPROJ-6 PROJ-PROJ-7",
            "ACME_1 acme_22 AcMe_333 acme_ aCME_4a",
            "ab.cd abxcd ab.cdab.cd",
        ];
        for src in [
            "EMP-[0-9]{6}",
            r"\bEMP-[0-9]{6}\b",
            r"\bPROJ-\d{1,9}",
            "(?i)acme_[0-9]{1,5}",
            r"ab\.cd",
            "abc?d",
            "PROJ-(PROJ-)?[0-9]",
        ] {
            let re = Regex::new(src).unwrap();
            for t in texts {
                let want: Vec<(usize, usize)> = re
                    .find_iter(t)
                    .filter(|m| !m.is_empty())
                    .map(|m| (m.start(), m.end()))
                    .collect();
                assert_eq!(matches(src, t), want, "{src} on {t}");
            }
        }
    }

    /// Random texts over the patterns' alphabet: still the same matches.
    #[test]
    fn same_matches_on_random_text() {
        let alphabet: Vec<char> = "EMPemp-_0129 xé.PROJacAC".chars().collect();
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let sources = [r"\bEMP-[0-9]{2}\b", "(?i)emp-[0-9]{1,3}", "PROJ-?[0-9]{0,4}", r"\bac_?"];
        for _ in 0..2000 {
            let len = (next() % 60) as usize;
            let t: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            for src in sources {
                let re = Regex::new(src).unwrap();
                let want: Vec<(usize, usize)> = re
                    .find_iter(&t)
                    .filter(|m| !m.is_empty())
                    .map(|m| (m.start(), m.end()))
                    .collect();
                assert_eq!(matches(src, &t), want, "{src} on {t:?}");
            }
        }
    }

    /// Dense occurrences of the literal with a pattern whose attempts live long: the work is
    /// bounded by the regions, not occurrences × bound.
    #[test]
    fn dense_occurrences_are_linear() {
        let p = pattern("EMP-[A-Z-]{0,200}Q");
        let text = "EMP-".repeat(50_000);
        let occ = occurrences(&text, &p);
        let t = std::time::Instant::now();
        let mut n = 0;
        p.find(&text, &occ, &mut |_, _| n += 1);
        assert_eq!(n, 0);
        assert!(t.elapsed().as_secs_f64() < 5.0, "{:?}", t.elapsed());
    }
}
