//! The compiled scanner: runs the detectors over normalised text and maps findings back.

use crate::detect;
use crate::finding::{Builtin, Classification, Finding};
use crate::injection::Injection;
use crate::normalize::{normalize, Normalized};
use crate::overlap;
use crate::pattern::Pattern;
use crate::phrase::PhraseSet;

/// What a phrase match stands for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Tag {
    /// A custom detector keyword (index into the names).
    Custom(usize),
    /// A classification marker.
    Marker(Classification),
}

/// A compiled [`crate::GuardConfig`]. Cheap to share; all methods take `&self`.
#[derive(Debug, Clone)]
pub struct Scanner {
    pub(crate) enabled: u8,
    pub(crate) phrases: PhraseSet,
    pub(crate) tags: Vec<Tag>,
    pub(crate) names: Vec<String>,
    pub(crate) regexes: Vec<(usize, Pattern)>,
    pub(crate) injection: Injection,
}

/// Everything [`Scanner::inspect`] finds in one text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection<'s> {
    /// Detected values and markers (see [`Scanner::scan`]).
    pub findings: Vec<Finding>,
    /// Names of the injection rules that matched.
    pub injection: Vec<&'s str>,
}

impl Scanner {
    /// Finds PII, secrets, custom detector matches and classification markers in `text`
    /// (a decoded JSON string). Offsets are byte ranges of `text`, sorted by start.
    ///
    /// Built-in findings never overlap each other (the longest, then the most sensitive,
    /// wins: an IBAN is not also a card number). Custom detector and marker findings are
    /// separate signals and may overlap anything; [`crate::redact`] resolves those.
    pub fn scan(&self, text: &str) -> Vec<Finding> {
        self.scan_normalized(&normalize(text))
    }

    /// Names of the injection rules that match `text`, in rule order.
    pub fn injection(&self, text: &str) -> Vec<&str> {
        let norm = normalize(text);
        self.injection.matches(text, &norm)
    }

    /// [`Scanner::scan`] and [`Scanner::injection`] with one normalisation.
    pub fn inspect(&self, text: &str) -> Inspection<'_> {
        let norm = normalize(text);
        Inspection {
            findings: self.scan_normalized(&norm),
            injection: self.injection.matches(text, &norm),
        }
    }

    fn scan_normalized(&self, norm: &Normalized<'_>) -> Vec<Finding> {
        let t = norm.as_str();
        let mut hits = Vec::new();
        detect::scan(t, self.enabled, &mut hits);
        let hits = overlap::resolve(hits, |h| (h.start, h.end), |h| h.kind.rank());

        let mut out = Vec::with_capacity(hits.len());
        let mut push = |kind: &str, s: usize, e: usize| {
            if let Some((start, end)) = norm.to_original(s, e) {
                out.push(Finding {
                    kind: kind.to_owned(),
                    start,
                    end,
                });
            }
        };
        for h in &hits {
            push(Builtin::name(h.kind), h.start, h.end);
        }
        self.phrases.find(t, &mut |tag, s, e| {
            let kind = match self.tags.get(tag) {
                Some(Tag::Custom(d)) => self.names.get(*d).map(String::as_str),
                Some(Tag::Marker(c)) => Some(c.marker_kind()),
                None => None,
            };
            if let Some(kind) = kind {
                push(kind, s, e);
            }
        });
        let lower = self
            .regexes
            .iter()
            .any(|(_, p)| p.wants_lowercase())
            .then(|| t.to_ascii_lowercase());
        for (d, pattern) in &self.regexes {
            let Some(name) = self.names.get(*d) else {
                continue;
            };
            pattern.find(t, lower.as_deref(), &mut |s, e| push(name, s, e));
        }
        out.sort_unstable_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)).then(a.kind.cmp(&b.kind)));
        out.dedup();
        out
    }
}
