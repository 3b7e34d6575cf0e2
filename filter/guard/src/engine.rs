//! The engine's single pass over a document's inspected text.
//!
//! 1. The automaton (built at configuration) reports every needle occurrence in one pass:
//!    secret prefixes, phrase anchors (custom keywords, markers, injection phrases),
//!    pattern literals.
//! 2. Each occurrence is a candidate for its owner: a secret validator, a phrase's small
//!    automaton, or a pattern region.
//! 3. The structured detectors make one pass over their trigger bytes (digit runs, `@`,
//!    `:`) and validate candidate windows (Luhn, mod-97, SSN ranges, IP parsing).
//! 4. Hidden-text tricks were recorded when the document's texts were normalised.
//!
//! Every step is linear in the text (see `detect` and `rules`), and nothing is built here
//! that could have been built at configuration: the per-call state is a few vectors.

use aho_corasick::automaton::Automaton;
use aho_corasick::dfa::DFA;
use aho_corasick::Anchored;

use crate::detect::secret::{at_prefix, Prefix, Runs};
use crate::detect::{self, Hit};
use crate::document::Document;
use crate::injection::InjectionPass;
use crate::kind::{Builtin, Classification, CustomId, Kind};
use crate::overlap;
use crate::rules::hidden;
use crate::rules::pattern::Pattern;
use crate::rules::phrase::{char_before, is_word_char, word_end, Phrase, Tokens};
use crate::rules::{FamilyId, InjectionRule, RuleId};

/// What an automaton hit stands for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Action {
    Secret(Prefix),
    /// An anchor of phrase `phrase` (its piece `anchor`).
    Phrase {
        phrase: u32,
        anchor: u16,
    },
    /// The literal of pattern `.0`.
    Pattern(u32),
    /// Needle `.0` of the prompt-injection detector.
    Injection(u32),
}

/// Whose a phrase or pattern is.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Owner {
    Custom(CustomId),
    Marker(Classification),
    Rule(RuleId),
}

/// A compiled [`crate::GuardConfig`]. Cheap to share; all methods take `&self`.
#[derive(Debug, Clone)]
pub struct Engine {
    pub(crate) enabled: u8,
    /// The built-in kinds whose values the caller replaces by placeholders (a mask of
    /// [`Builtin::bit`]; all of them unless [`Engine::set_redacted`] says otherwise): the
    /// others stay in the forwarded text, and [`detect::reveal`] judges neighbours in the
    /// text as redaction leaves it.
    pub(crate) redacted: u8,
    /// Every needle, ASCII case-insensitive; a DFA walked by [`Engine::inspect`]'s own loop
    /// (one table look-up per byte, all overlapping matches).
    pub(crate) automaton: Option<DFA>,
    /// Per automaton pattern id, what a hit means.
    pub(crate) actions: Vec<Vec<Action>>,
    pub(crate) phrases: Vec<(Phrase, Owner)>,
    pub(crate) patterns: Vec<(Pattern, Owner)>,
    /// Custom detector names, by [`CustomId`].
    pub(crate) names: Vec<String>,
    pub(crate) injection: Vec<InjectionRule>,
    pub(crate) families: Vec<String>,
    pub(crate) hidden_rules: bool,
    /// The prompt-injection detector whose needles are in the automaton (issue 15).
    pub(crate) detector: Option<std::sync::Arc<genai_injection::Detector>>,
    /// The longest number and string texts in which nothing can be found ([`Engine::inert`]).
    pub(crate) inert: Inert,
}

/// How long a value that is a text of its own may be and still be unable to produce any
/// finding, injection hit or payload verdict under this configuration: no needle fits in it
/// (the shortest needle made only of a number's bytes, for numbers), no built-in value is
/// that short (the shortest, an IPv4 address, takes seven bytes), and a string of one byte
/// is below what the injection detector judges. Decided at configuration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Inert {
    /// A JSON number's text of at most this many bytes.
    pub number: usize,
    /// A string's content, ASCII without escapes, of at most this many bytes.
    pub string: usize,
}

/// One detected value or marker. Offsets are a byte range of the document's inspected
/// text ([`Document::shares`] maps them to the source); the value itself is not held, so
/// `Debug` is safe to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Finding {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

/// A matched injection rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InjectionHit {
    pub rule: RuleId,
    pub family: FamilyId,
    pub score: f32,
}

/// Everything one pass found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inspection {
    /// Values and markers, sorted by start. Built-in findings never overlap each other
    /// (the longest, then the most sensitive, wins: an IBAN is not also a card number);
    /// custom detector and marker findings are separate signals and may overlap anything.
    pub findings: Vec<Finding>,
    /// Matched injection rules, each once, in rule order.
    pub injection: Vec<InjectionHit>,
    /// The prompt-injection detector's verdict (per-family scores, features that fired),
    /// merged over the document's content and value texts; `None` without a detector.
    pub families: Option<genai_injection::Verdict>,
}

impl Inspection {
    /// Each family that fired, with the sum of its matched rules' scores, in family order.
    pub fn family_scores(&self) -> Vec<(FamilyId, f32)> {
        let mut out: Vec<(FamilyId, f32)> = Vec::new();
        for h in &self.injection {
            match out.iter_mut().find(|(f, _)| *f == h.family) {
                Some((_, s)) => *s += h.score,
                None => out.push((h.family, h.score)),
            }
        }
        out.sort_by_key(|(f, _)| *f);
        out
    }
}

/// Sorts a sequence whose elements are at most a small distance from their place (the
/// automaton reports matches by end, and starts differ by at most the needle length):
/// insertion sort, linear for such input.
fn sort_nearly_sorted<T: Copy>(v: &mut [T], key: impl Fn(&T) -> usize) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 {
            let (Some(a), Some(b)) = (v.get(j - 1), v.get(j)) else {
                break;
            };
            if key(a) <= key(b) {
                break;
            }
            v.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// Secret prefixes held before they are measured: a batch is measured when this many wait.
const SECRET_BATCH: usize = 4096;

/// Measures the waiting secret prefixes that start before `horizon`, in text order (each token
/// run once, through `runs`), and keeps the others waiting.
fn secrets_before(
    b: &[u8],
    secrets: &mut Vec<(usize, Prefix)>,
    horizon: usize,
    runs: &mut Runs,
    next: &mut usize,
    builtin: &mut Vec<Hit>,
) {
    sort_nearly_sorted(secrets, |c| c.0);
    let ready = secrets.partition_point(|c| c.0 < horizon);
    for &(i, prefix) in secrets.get(..ready).unwrap_or_default() {
        if i < *next {
            continue;
        }
        if let Some((s, e)) = at_prefix(b, i, prefix, runs) {
            builtin.push(Hit {
                kind: Builtin::Secret,
                start: s,
                end: e,
            });
            *next = e;
        }
    }
    secrets.drain(..ready);
}

impl Engine {
    /// The name of a finding's kind (`email`, a custom detector's name, `marker:restricted`).
    pub fn kind_name(&self, kind: Kind) -> &str {
        match kind {
            Kind::Builtin(b) => b.name(),
            Kind::Marker(c) => c.marker_kind(),
            Kind::Custom(CustomId(i)) => self.names.get(usize::from(i)).map_or("custom", String::as_str),
        }
    }

    /// Which values can be added to a [`Document`] with [`Document::inert`]: their bytes
    /// are inspected in place, but they get no record of their own (a million small JSON
    /// numbers then cost what their bytes cost).
    pub fn inert(&self) -> Inert {
        self.inert
    }

    /// Which built-in kinds the caller redacts (the policy's `action: redact`, not in shadow
    /// mode); the values of the others stay in the text it forwards. Detection then does not
    /// depend on it: a value next to one that stays (an allowed IP address inside a phone
    /// number) is judged against that value as the forwarded text holds it, so a second
    /// inspection of the redacted text finds nothing more to redact.
    pub fn set_redacted(&mut self, kinds: impl IntoIterator<Item = Builtin>) {
        self.redacted = kinds.into_iter().fold(0, |m, b| m | b.bit());
    }

    /// The custom detectors, by [`CustomId`].
    pub fn custom_names(&self) -> &[String] {
        &self.names
    }

    /// An injection rule's name.
    pub fn rule_name(&self, rule: RuleId) -> &str {
        self.injection.get(usize::from(rule.0)).map_or("", |r| r.name.as_str())
    }

    /// An injection family's name (its trigger name).
    pub fn family_name(&self, family: FamilyId) -> &str {
        self.families.get(usize::from(family.0)).map_or("", String::as_str)
    }

    /// The injection families, by [`FamilyId`].
    pub fn families(&self) -> &[String] {
        &self.families
    }

    /// The single pass over `doc`'s inspected text.
    pub fn inspect(&self, doc: &Document<'_>) -> Inspection {
        let bytes = doc.inspected();
        let lossy;
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(_) => {
                // Cannot happen for text assembled from valid JSON; never panic anyway.
                lossy = String::from_utf8_lossy(bytes).into_owned();
                lossy.as_str()
            }
        };
        let b = text.as_bytes();
        let mut out = Inspection::default();
        let mut rule_hit = vec![false; self.injection.len()];
        let mut builtin: Vec<Hit> = Vec::new();
        let mut secrets: Vec<(usize, Prefix)> = Vec::new();
        // The secrets' state across batches: the token runs measured, and the end of the last
        // secret found (a prefix inside it starts none).
        let mut runs = Runs::default();
        let mut next = 0;
        let mut occurrences: Vec<Vec<usize>> = vec![Vec::new(); self.patterns.len()];
        let mut tokens = Tokens::default();
        let mut families = self.detector.as_deref().map(|d| InjectionPass::new(d, doc, text));

        // 1-2: the automaton and the phrase candidates.
        if let Some(dfa) = &self.automaton {
            if let Ok(mut sid) = dfa.start_state(Anchored::No) {
                let mut bytes = b.iter().enumerate();
                'scan: loop {
                    // The hot loop: one transition per byte, nothing written but the state.
                    let i = loop {
                        let Some((i, &byte)) = bytes.next() else {
                            break 'scan;
                        };
                        sid = dfa.next_state(Anchored::No, sid, byte);
                        if dfa.is_match(sid) {
                            break i;
                        }
                    };
                    for k in 0..dfa.match_len(sid) {
                        let pid = dfa.match_pattern(sid, k);
                        let (ms, me) = (i + 1 - dfa.pattern_len(pid).min(i + 1), i + 1);
                        let Some(actions) = self.actions.get(pid.as_usize()) else {
                            continue;
                        };
                        for &action in actions {
                            match action {
                                Action::Secret(p) => secrets.push((ms, p)),
                                Action::Pattern(q) => {
                                    if let Some(o) = occurrences.get_mut(q as usize) {
                                        o.push(ms);
                                    }
                                }
                                Action::Phrase { phrase, anchor } => {
                                    let hit = (ms, me, phrase, anchor);
                                    self.phrase_hit(text, hit, &mut tokens, &mut out.findings, &mut rule_hit);
                                }
                                Action::Injection(n) => {
                                    if let Some(p) = &mut families {
                                        p.on_match(n as usize, ms, me);
                                    }
                                }
                            }
                        }
                    }
                    if secrets.len() >= SECRET_BATCH {
                        // No later match starts before this horizon: what starts before it
                        // is measured now, so a body of prefixes (`sk-sk-…`) holds a few
                        // thousand, not a vector of a million (22 MB, in and out of cache).
                        let horizon = (i + 1).saturating_sub(dfa.max_pattern_len());
                        secrets_before(b, &mut secrets, horizon, &mut runs, &mut next, &mut builtin);
                    }
                }
            }
        }

        out.families = families.map(InjectionPass::finish);

        // The secrets left.
        secrets_before(b, &mut secrets, usize::MAX, &mut runs, &mut next, &mut builtin);

        // Patterns, by regions of their literal's occurrences.
        for (q, occ) in occurrences.iter_mut().enumerate() {
            if occ.is_empty() {
                continue;
            }
            sort_nearly_sorted(occ, |&o| o);
            let Some((pattern, owner)) = self.patterns.get(q) else {
                continue;
            };
            if let Owner::Rule(RuleId(r)) = owner {
                if rule_hit.get(usize::from(*r)).copied().unwrap_or(true) {
                    continue;
                }
            }
            let mut hits = Vec::new();
            pattern.find(text, occ, &mut |s, e| hits.push((s, e)));
            for (s, e) in hits {
                self.own(*owner, s, e, &mut out.findings, &mut rule_hit);
            }
        }

        // 3: the structured detectors.
        detect::structured(b, self.enabled, &mut builtin);
        let builtin = overlap::resolve(builtin, |h| (h.start, h.end), |h| h.kind.rank());
        let builtin = detect::reveal(b, self.enabled, self.redacted, builtin);
        out.findings.extend(builtin.into_iter().map(|h| Finding {
            kind: Kind::Builtin(h.kind),
            start: h.start,
            end: h.end,
        }));

        // 4: hidden-text tricks.
        if self.hidden_rules && doc.tricks() != 0 {
            for (r, rule) in self.injection.iter().enumerate() {
                if let (Some(kind), Some(h)) = (rule.hidden, rule_hit.get_mut(r)) {
                    *h |= doc.tricks() & hidden::bit(kind) != 0;
                }
            }
        }

        out.findings
            .sort_unstable_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)).then(a.kind.cmp(&b.kind)));
        out.findings.dedup();
        for (r, hit) in rule_hit.iter().enumerate() {
            if let (true, Some(rule)) = (*hit, self.injection.get(r)) {
                out.injection.push(InjectionHit {
                    rule: RuleId(u16::try_from(r).unwrap_or(u16::MAX)),
                    family: rule.family,
                    score: rule.score,
                });
            }
        }
        out
    }

    /// An anchor of phrase `phrase` at `s..e`: a candidate if it is a whole word.
    fn phrase_hit(
        &self,
        text: &str,
        (s, e, phrase, anchor): (usize, usize, u32, u16),
        tokens: &mut Tokens,
        findings: &mut Vec<Finding>,
        rule_hit: &mut [bool],
    ) {
        let whole = !char_before(text, s).is_some_and(is_word_char) && word_end(text, s) == e;
        if !whole {
            return;
        }
        let Some((p, owner)) = self.phrases.get(phrase as usize) else {
            return;
        };
        if let Owner::Rule(RuleId(r)) = owner {
            if rule_hit.get(usize::from(*r)).copied().unwrap_or(true) {
                return;
            }
        }
        if let Some((fs, fe)) = p.match_at(text, s, e, usize::from(anchor), tokens) {
            self.own(*owner, fs, fe, findings, rule_hit);
        }
    }

    fn own(&self, owner: Owner, s: usize, e: usize, findings: &mut Vec<Finding>, rule_hit: &mut [bool]) {
        match owner {
            Owner::Custom(id) => findings.push(Finding {
                kind: Kind::Custom(id),
                start: s,
                end: e,
            }),
            Owner::Marker(c) => findings.push(Finding {
                kind: Kind::Marker(c),
                start: s,
                end: e,
            }),
            Owner::Rule(RuleId(r)) => {
                if let Some(h) = rule_hit.get_mut(usize::from(r)) {
                    *h = true;
                }
            }
        }
    }

    /// Findings in one plain `text`, with offsets in `text` (for tools and tests).
    pub fn scan(&self, text: &str) -> Vec<Finding> {
        let doc = Document::plain(text);
        let found = self.inspect(&doc);
        found
            .findings
            .into_iter()
            .filter_map(|f| {
                let shares = doc.shares(f.start, f.end);
                let first = shares.first()?;
                Some(Finding {
                    kind: f.kind,
                    start: first.start,
                    end: shares.last().map_or(first.end, |l| l.end),
                })
            })
            .collect()
    }

    /// Names of the injection rules that match one plain `text`, in rule order.
    pub fn injection(&self, text: &str) -> Vec<&str> {
        let doc = Document::plain(text);
        self.inspect(&doc)
            .injection
            .iter()
            .map(|h| self.rule_name(h.rule))
            .collect()
    }
}
