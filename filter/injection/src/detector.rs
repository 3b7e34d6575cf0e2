//! The compiled detector: the needles for the shared automaton, the features they feed,
//! the per-family policy; the per-request [`Accumulator`]; the [`Verdict`].

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use crate::family::Family;
use crate::features::{Feature, Kind, Shape, FEATURES};
use crate::lexicon::{rot13, Mode, BUILTIN_CONCEPTS, C, LEXICON, ROT13_OF};
use crate::payload;
use crate::spec::{Action, CustomRule, InjectionSpec, SpecError};
use crate::tricks::{tricks, Trick, Tricks};

/// Concepts (built-in and custom term groups) are at most this many.
pub const MAX_CONCEPTS: usize = 192;
/// Features (built-in and custom rules) are at most this many.
pub const MAX_FEATURES: usize = 192;
const WORDS: usize = MAX_FEATURES.div_ceil(64);
const CONCEPT_WORDS: usize = MAX_CONCEPTS.div_ceil(64);
/// An overriding verb right after one of these (within this many bytes) is reported or
/// defensive speech ("do not ignore", "may try to make you ignore").
const NEGATION_REACH: usize = 12;
const MAX_TERM_LEN: usize = 64;
const MAX_WINDOW: u32 = 4096;

/// A needle for the automaton: match it ASCII case-insensitively (the detector checks
/// the exact case itself where it matters), report hits with [`Accumulator::on_match`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needle {
    /// Lower-cased.
    pub text: String,
    /// Always true today: every needle is matched ASCII case-insensitively, and needles
    /// whose case matters are checked against the text.
    pub case_insensitive: bool,
}

#[derive(Debug, Clone)]
struct Entry {
    concept: u8,
    mode: Mode,
    /// For `Mode::Exact`: the needle as written.
    exact: Option<Box<str>>,
}

#[derive(Debug, Clone)]
struct CompiledFeature {
    name: String,
    family: Family,
    weight: f32,
    kind: Kind,
    window: u32,
    slots: u8,
}

/// One family's compiled policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FamilyPolicy {
    pub enabled: bool,
    pub threshold: f32,
    pub action: Action,
}

/// The compiled configuration. Build once ([`Detector::compile`]); all methods take `&self`.
#[derive(Debug, Clone)]
pub struct Detector {
    needles: Vec<Needle>,
    entries: Vec<Vec<Entry>>,
    /// Per concept: (feature, slot) it feeds, highest slot first.
    subs: Vec<Vec<(u16, u8)>>,
    features: Vec<CompiledFeature>,
    policy: [FamilyPolicy; Family::COUNT],
    automaton: Option<AhoCorasick>,
    /// Needle text to its index, while compiling only (emptied at the end): a needle met
    /// twice (a word in two concepts, a custom term that is also a built-in word) gets a
    /// second entry, not a second needle, without a scan of every needle so far.
    index: HashMap<String, usize>,
}

impl Default for Detector {
    fn default() -> Self {
        // The built-in tables compile by construction; an empty detector is the fallback
        // that cannot fail (tests pin that the default compiles).
        Detector::compile(&InjectionSpec::default()).unwrap_or_else(|_| Detector::empty())
    }
}

fn valid_name(name: &str) -> bool {
    name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

impl Detector {
    fn empty() -> Self {
        Detector {
            needles: Vec::new(),
            entries: Vec::new(),
            subs: Vec::new(),
            features: Vec::new(),
            policy: [FamilyPolicy {
                enabled: false,
                threshold: 1.0,
                action: Action::Log,
            }; Family::COUNT],
            automaton: None,
            index: HashMap::new(),
        }
    }

    /// Validates `spec` and compiles it. Errors name the field.
    pub fn compile(spec: &InjectionSpec) -> Result<Detector, SpecError> {
        let mut d = Detector::empty();
        let default_action = match spec.action.as_deref() {
            None | Some("block") => Action::Block,
            Some("log") => Action::Log,
            Some(other) => {
                return Err(SpecError::new(
                    "action",
                    format!("unknown action `{other}`; expected block or log"),
                ))
            }
        };
        let default_action = if spec.shadow { Action::Shadow } else { default_action };
        d.policy = [FamilyPolicy {
            enabled: true,
            threshold: 1.0,
            action: default_action,
        }; Family::COUNT];
        for (name, f) in &spec.families {
            let field = format!("families.{name}");
            let Some(family) = Family::from_name(name) else {
                let known: Vec<&str> = Family::ALL.iter().map(|f| f.name()).collect();
                return Err(SpecError::new(
                    field,
                    format!("unknown family; expected one of {}", known.join(", ")),
                ));
            };
            let Some(p) = d.policy.get_mut(family.index()) else {
                continue;
            };
            if let Some(t) = f.threshold {
                if !t.is_finite() || t <= 0.0 || t > 100.0 {
                    return Err(SpecError::new(
                        format!("{field}.threshold"),
                        "must be a number above 0 and at most 100",
                    ));
                }
                p.threshold = t;
            }
            if let Some(a) = f.action {
                p.action = a;
            }
            if let Some(e) = f.enabled {
                p.enabled = e;
            }
        }

        d.subs = vec![Vec::new(); BUILTIN_CONCEPTS];
        for &(concept, mode, words) in LEXICON {
            for w in words {
                d.add_needle(w, concept as u8, mode);
            }
        }
        for &concept in ROT13_OF {
            let words = LEXICON
                .iter()
                .filter(|(c, _, _)| *c == concept)
                .flat_map(|(_, _, w)| w.iter());
            for w in words {
                if w.len() >= 6 && w.bytes().all(|b| b.is_ascii_lowercase() || b == b' ') {
                    d.add_needle(&rot13(w), C::Rot13 as u8, Mode::Word);
                }
            }
        }
        for (i, feat) in FEATURES.iter().enumerate() {
            d.add_feature(feat, i);
        }
        for (i, rule) in spec.custom_rules.iter().enumerate() {
            d.add_custom(rule, &format!("custom_rules[{i}]"))?;
        }
        for s in &mut d.subs {
            s.sort_by_key(|e| std::cmp::Reverse(e.1));
        }
        d.index = HashMap::new();
        let texts: Vec<&str> = d.needles.iter().map(|n| n.text.as_str()).collect();
        // On a request, the detector's own automaton reads only decoded payloads (at most
        // 4 KiB; `scan_decoded`); the request's text goes through the engine's shared DFA,
        // and `scan` is for tests and tools. A contiguous NFA builds in a quarter of the DFA's time (about 95 million
        // fewer instructions per configuration, every worker VM) and searches fast enough
        // for that.
        d.automaton = Some(
            AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .kind(Some(AhoCorasickKind::ContiguousNFA))
                .build(texts)
                .map_err(|e| SpecError::new("custom_rules", format!("could not build the automaton: {e}")))?,
        );
        Ok(d)
    }

    fn add_needle(&mut self, word: &str, concept: u8, mode: Mode) {
        let key = word.to_ascii_lowercase();
        let entry = Entry {
            concept,
            mode,
            exact: (mode == Mode::Exact).then(|| word.into()),
        };
        match self.index.get(&key) {
            Some(&i) => {
                if let Some(e) = self.entries.get_mut(i) {
                    e.push(entry);
                }
            }
            None => {
                self.index.insert(key.clone(), self.needles.len());
                self.needles.push(Needle {
                    text: key,
                    case_insensitive: true,
                });
                self.entries.push(vec![entry]);
            }
        }
    }

    fn add_feature(&mut self, feat: &Feature, index: usize) {
        for (slot, concepts) in feat.slots.iter().enumerate() {
            for &c in concepts.iter() {
                if let Some(s) = self.subs.get_mut(c as usize) {
                    s.push((index as u16, slot as u8));
                }
            }
        }
        self.features.push(CompiledFeature {
            name: feat.name.to_owned(),
            family: feat.family,
            weight: feat.weight,
            kind: feat.kind,
            window: feat.window,
            slots: feat.slots.len() as u8,
        });
    }

    fn add_custom(&mut self, rule: &CustomRule, field: &str) -> Result<(), SpecError> {
        if !valid_name(&rule.name) {
            return Err(SpecError::new(
                format!("{field}.name"),
                "must be lowercase letters, digits and `_`, start with a letter, at most 64 bytes",
            ));
        }
        if self.features.iter().any(|f| f.name == rule.name) {
            return Err(SpecError::new(
                format!("{field}.name"),
                format!("`{}` is already a feature's name", rule.name),
            ));
        }
        let Some(family) = Family::from_name(&rule.family) else {
            return Err(SpecError::new(format!("{field}.family"), "unknown family"));
        };
        let score = rule.score.unwrap_or(1.0);
        if !score.is_finite() || score <= 0.0 || score > 100.0 {
            return Err(SpecError::new(
                format!("{field}.score"),
                "must be a number above 0 and at most 100",
            ));
        }
        let window = rule.window.unwrap_or(64);
        if window > MAX_WINDOW {
            return Err(SpecError::new(
                format!("{field}.window"),
                format!("must be at most {MAX_WINDOW}"),
            ));
        }
        if rule.terms.is_empty() || rule.terms.len() > 3 {
            return Err(SpecError::new(
                format!("{field}.terms"),
                "needs one to three groups of terms",
            ));
        }
        let ordered = rule.ordered.unwrap_or(true);
        if !ordered && rule.terms.len() != 2 {
            return Err(SpecError::new(
                format!("{field}.ordered"),
                "`false` needs exactly two groups of terms",
            ));
        }
        if self.features.len() >= MAX_FEATURES || self.subs.len() + rule.terms.len() > MAX_CONCEPTS {
            return Err(SpecError::new(field, "too many custom rules"));
        }
        let index = self.features.len();
        for (g, group) in rule.terms.iter().enumerate() {
            if group.is_empty() {
                return Err(SpecError::new(format!("{field}.terms[{g}]"), "must not be empty"));
            }
            let concept = self.subs.len() as u8;
            self.subs.push(vec![(index as u16, g as u8)]);
            for (t, term) in group.iter().enumerate() {
                let tf = format!("{field}.terms[{g}][{t}]");
                let (word, mode) = match term.strip_suffix('*') {
                    Some(w) => (w.trim(), Mode::Prefix),
                    None => (term.trim(), Mode::Word),
                };
                if word.is_empty() || word.len() > MAX_TERM_LEN {
                    return Err(SpecError::new(tf, format!("must be 1 to {MAX_TERM_LEN} bytes")));
                }
                self.add_needle(word, concept, mode);
            }
        }
        let kind = match (rule.terms.len(), ordered) {
            (1, _) => Kind::Any,
            (_, true) => Kind::Seq,
            (_, false) => Kind::Near,
        };
        self.features.push(CompiledFeature {
            name: rule.name.clone(),
            family,
            weight: score,
            kind,
            window,
            slots: rule.terms.len() as u8,
        });
        Ok(())
    }

    /// The needles to add to the shared automaton; report a hit of needle `i` as
    /// `on_match(i, start, end)`.
    pub fn needles(&self) -> &[Needle] {
        &self.needles
    }

    /// The policy of `family`.
    pub fn policy(&self, family: Family) -> FamilyPolicy {
        self.policy.get(family.index()).copied().unwrap_or(FamilyPolicy {
            enabled: false,
            threshold: 1.0,
            action: Action::Log,
        })
    }

    /// A fresh accumulator for one request's normalised `text`.
    pub fn accumulator<'a>(&'a self, text: &'a str) -> Accumulator<'a> {
        Accumulator {
            det: self,
            text: text.as_bytes(),
            state: [[0; 3]; MAX_FEATURES],
            fired: [0; WORDS],
            seen: [0; CONCEPT_WORDS],
            negator_end: 0,
            nested: false,
        }
    }

    /// Runs the detector's own automaton over `text` (tests, benches, tools). `text` should
    /// be normalised as the engine does; the tricks are looked for in it as it is.
    pub fn scan(&self, text: &str) -> Verdict {
        let t = tricks(text);
        let mut acc = self.accumulator(text);
        acc.feed_all();
        acc.finish(t)
    }

    /// Runs the detector's own automaton over `normalized` (the engine's normalised text);
    /// `tricks` are those of the original text ([`crate::tricks()`]).
    pub fn inspect(&self, normalized: &str, tricks: Tricks) -> Verdict {
        let mut acc = self.accumulator(normalized);
        acc.feed_all();
        acc.finish(tricks)
    }

    /// The second look at decoded payloads: needles only, no decoding again.
    fn scan_decoded(&self, text: &str) -> Verdict {
        let mut acc = self.accumulator(text);
        acc.nested = true;
        acc.feed_all();
        acc.finish(Tricks::default())
    }

    /// Every family with a score above zero, in family order.
    pub fn hits(&self, v: &Verdict) -> Vec<FamilyHit> {
        Family::ALL
            .into_iter()
            .filter_map(|f| {
                let score = v.score(f);
                let p = self.policy(f);
                (score > 0.0 && p.enabled).then_some(FamilyHit {
                    family: f,
                    score,
                    threshold: p.threshold,
                    triggered: score >= p.threshold,
                    action: p.action,
                })
            })
            .collect()
    }

    /// The triggered families only.
    pub fn triggered(&self, v: &Verdict) -> Vec<FamilyHit> {
        self.hits(v).into_iter().filter(|h| h.triggered).collect()
    }

    /// Names of the features of `family` that fired, in feature order.
    pub fn fired(&self, v: &Verdict, family: Family) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .features
            .iter()
            .enumerate()
            .filter(|(i, f)| f.family == family && v.has_feature(*i))
            .map(|(_, f)| f.name.as_str())
            .collect();
        out.extend(
            Shape::ALL
                .iter()
                .filter(|s| s.family() == family && v.shapes & (1 << (**s as u16)) != 0)
                .map(|s| s.name()),
        );
        out
    }
}

/// One family's outcome on a request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FamilyHit {
    pub family: Family,
    pub score: f32,
    pub threshold: f32,
    /// `score >= threshold`.
    pub triggered: bool,
    /// The configured action (what a triggered family does).
    pub action: Action,
}

/// Per-family scores and the features that fired. Holds no text.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Verdict {
    scores: [f32; Family::COUNT],
    features: [u64; WORDS],
    shapes: u16,
}

impl Verdict {
    pub fn score(&self, f: Family) -> f32 {
        self.scores.get(f.index()).copied().unwrap_or(0.0)
    }

    fn has_feature(&self, i: usize) -> bool {
        self.features.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Combines the verdicts of several texts of one request: the highest score per
    /// family, every feature that fired anywhere.
    pub fn merge(&mut self, other: &Verdict) {
        for (a, b) in self.scores.iter_mut().zip(other.scores.iter()) {
            *a = a.max(*b);
        }
        for (a, b) in self.features.iter_mut().zip(other.features.iter()) {
            *a |= *b;
        }
        self.shapes |= other.shapes;
    }
}

/// The per-request state: fed the automaton's hits in order (by end offset), then
/// finished. Fixed size (no allocation proportional to the rules), on the stack.
pub struct Accumulator<'a> {
    det: &'a Detector,
    text: &'a [u8],
    /// Per feature: per slot, 1 + the end of the latest hit that armed it (0: none); for
    /// `Run`/`Count`: `[count, 1 + last end, _]`.
    state: [[u32; 3]; MAX_FEATURES],
    fired: [u64; WORDS],
    seen: [u64; CONCEPT_WORDS],
    negator_end: usize,
    nested: bool,
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

impl Accumulator<'_> {
    fn feed_all(&mut self) {
        let det = self.det;
        let Some(ac) = &det.automaton else { return };
        for m in ac.find_overlapping_iter(self.text) {
            self.on_match(m.pattern().as_usize(), m.start(), m.end());
        }
    }

    fn boundary_ok(&self, mode: Mode, exact: Option<&str>, start: usize, end: usize) -> bool {
        let t = self.text;
        let first = t.get(start).copied().unwrap_or(b' ');
        let last = end.checked_sub(1).and_then(|i| t.get(i)).copied().unwrap_or(b' ');
        let before = start.checked_sub(1).and_then(|i| t.get(i)).copied();
        let after = t.get(end).copied();
        let start_ok = !is_word_byte(first) || !before.is_some_and(is_word_byte);
        let end_ok = !is_word_byte(last) || !after.is_some_and(is_word_byte);
        match mode {
            Mode::Raw => true,
            Mode::Word => start_ok && end_ok,
            Mode::Prefix => start_ok,
            Mode::Exact => start_ok && end_ok && exact.is_some_and(|e| t.get(start..end) == Some(e.as_bytes())),
            Mode::LineStart => {
                if !(start_ok && end_ok) {
                    return false;
                }
                // Back over spaces and quote/list marks (at most 16 bytes) to a line start.
                let mut i = start;
                let mut steps = 0;
                while i > 0 && steps < 16 {
                    match t.get(i - 1) {
                        Some(b'\n') => return true,
                        Some(b' ' | b'\t' | b'>' | b'-' | b'*' | b'#') => {}
                        _ => return false,
                    }
                    i -= 1;
                    steps += 1;
                }
                i == 0
            }
        }
    }

    /// A hit of needle `needle` (an index into [`Detector::needles`]) at `start..end` of
    /// the text. Hits must come in order of `end` (as an automaton reports them).
    pub fn on_match(&mut self, needle: usize, start: usize, end: usize) {
        let det = self.det;
        let Some(entries) = det.entries.get(needle) else { return };
        for e in entries {
            if !self.boundary_ok(e.mode, e.exact.as_deref(), start, end) {
                continue;
            }
            if e.concept == C::GptSuffix as u8 {
                // A persona name ending in GPT ("FreeGPT"): a letter before, none after.
                let before = start.checked_sub(1).and_then(|i| self.text.get(i));
                let after = self.text.get(end);
                if !before.is_some_and(u8::is_ascii_alphabetic) || after.is_some_and(|&b| is_word_byte(b)) {
                    continue;
                }
            }
            if e.concept == C::Negator as u8 {
                self.negator_end = end;
                continue;
            }
            let negatable = [C::Ignore, C::Override, C::Reveal, C::CopyVerb]
                .iter()
                .any(|c| *c as u8 == e.concept);
            if negatable
                && self.negator_end > 0
                && self.negator_end <= start
                && start - self.negator_end <= NEGATION_REACH
            {
                continue;
            }
            self.concept(usize::from(e.concept), start, end);
        }
    }

    fn concept(&mut self, concept: usize, start: usize, end: usize) {
        if let Some(w) = self.seen.get_mut(concept / 64) {
            *w |= 1 << (concept % 64);
        }
        let det = self.det;
        let Some(subs) = det.subs.get(concept) else { return };
        let s = start as u32 + 1;
        let e = end as u32 + 1;
        for &(fi, slot) in subs {
            let fi = usize::from(fi);
            let (Some(f), Some(st)) = (det.features.get(fi), self.state.get_mut(fi)) else {
                continue;
            };
            let slot = usize::from(slot);
            let fire = match f.kind {
                Kind::Any => true,
                Kind::Count(n) => {
                    st[0] += 1;
                    st[0] >= u32::from(n)
                }
                Kind::Run(n) => {
                    let last = st[1];
                    if last > 0 && s >= last && s - last <= f.window {
                        st[0] += 1;
                    } else {
                        st[0] = 1;
                    }
                    st[1] = e;
                    st[0] >= u32::from(n)
                }
                Kind::Seq => {
                    if slot == 0 {
                        st[0] = e;
                        f.slots == 1
                    } else {
                        let prev = st.get(slot - 1).copied().unwrap_or(0);
                        let near = prev > 0 && s >= prev && s - prev <= f.window;
                        if near && slot + 1 < usize::from(f.slots) {
                            if let Some(x) = st.get_mut(slot) {
                                *x = e;
                            }
                        }
                        near && slot + 1 == usize::from(f.slots)
                    }
                }
                Kind::Near => {
                    let other = st.get(1 - slot.min(1)).copied().unwrap_or(0);
                    let near = other > 0 && (other > s || s - other <= f.window);
                    if let Some(x) = st.get_mut(slot.min(1)) {
                        *x = e;
                    }
                    near
                }
            };
            if fire {
                if let Some(w) = self.fired.get_mut(fi / 64) {
                    *w |= 1 << (fi % 64);
                }
            }
        }
    }

    fn seen(&self, c: C) -> bool {
        let c = c as usize;
        self.seen.get(c / 64).is_some_and(|w| w & (1 << (c % 64)) != 0)
    }

    /// The verdict. `tricks` are the hidden-text tricks of the ORIGINAL text (before
    /// normalisation), from [`crate::tricks()`] or the engine's own record.
    pub fn finish(self, tricks: Tricks) -> Verdict {
        let seen = |c: C| self.seen(c);
        verdict_of(self.det, self.text, self.fired, &seen, self.nested, tricks)
    }
}

impl Detector {
    /// The verdict on a text in which the automaton found none of the needles: its
    /// payload shapes and tricks only (what [`Accumulator::finish`] would say, without
    /// the accumulator's per-feature state).
    pub fn verdict_without_hits(&self, text: &str, tricks: Tricks) -> Verdict {
        verdict_of(self, text.as_bytes(), [0; WORDS], &|_| false, false, tricks)
    }
}

fn verdict_of(
    det: &Detector,
    text: &[u8],
    fired: [u64; WORDS],
    seen: &dyn Fn(C) -> bool,
    nested: bool,
    tricks: Tricks,
) -> Verdict {
    {
        let mut v = Verdict {
            features: fired,
            ..Verdict::default()
        };
        let mut shapes: u16 = 0;
        let mut set = |s: Shape| shapes |= 1 << (s as u16);
        if !nested {
            let sh = payload::shapes(text);
            if sh.decodable {
                set(Shape::DecodablePayload);
                if seen(C::Decode) || seen(C::EncLabel) {
                    set(Shape::PayloadWithRequest);
                }
            }
            if (sh.decodable || sh.morse || sh.braille) && sh.payload_bytes * 10 >= sh.text_bytes.max(1) * 6 {
                set(Shape::PayloadOnly);
            }
            if sh.morse {
                set(Shape::Morse);
            }
            if sh.braille {
                set(Shape::Braille);
            }
            if sh.acrostic {
                set(Shape::Acrostic);
            }
            if sh.leetspeak {
                set(Shape::Leetspeak);
            }
            if sh.suffix {
                set(Shape::AdversarialSuffix);
            }
            if !sh.decoded.is_empty() {
                let decoded = String::from_utf8_lossy(&sh.decoded);
                let inner = det.scan_decoded(&decoded);
                let fired = [
                    Family::InstructionOverride,
                    Family::PromptExtraction,
                    Family::Jailbreak,
                    Family::EmbeddedInstructions,
                    Family::Exfiltration,
                ]
                .into_iter()
                .any(|f| inner.score(f) >= det.policy(f).threshold);
                if fired {
                    set(Shape::DecodedTriggers);
                }
            }
        }
        for (t, s) in [
            (Trick::TagCharacters, Shape::TagCharacters),
            (Trick::ZeroWidthInWord, Shape::ZeroWidthInWord),
            (Trick::InvisibleRun, Shape::InvisibleRun),
            (Trick::BidiOverride, Shape::BidiOverride),
            (Trick::ControlCharacters, Shape::ControlCharacters),
            (Trick::MixedScript, Shape::MixedScript),
        ] {
            if tricks.has(t) {
                set(s);
            }
        }
        v.shapes = shapes;
        for (i, f) in det.features.iter().enumerate() {
            if v.has_feature(i) {
                if let Some(s) = v.scores.get_mut(f.family.index()) {
                    *s += f.weight;
                }
            }
        }
        for s in Shape::ALL {
            if shapes & (1 << (s as u16)) != 0 {
                if let Some(x) = v.scores.get_mut(s.family().index()) {
                    *x += s.weight();
                }
            }
        }
        for f in Family::ALL {
            if !det.policy(f).enabled {
                if let Some(x) = v.scores.get_mut(f.index()) {
                    *x = 0.0;
                }
            }
        }
        v
    }
}
