//! The prompt-injection detector (genai-injection) inside the engine's single pass.
//!
//! The detector's needles are in the engine's automaton; each hit of one is handed here
//! with its offsets in the inspected text. Every content or value text of the document
//! (not keys, not numbers) gets its own accumulator, so a feature never joins words of two
//! texts; a text's verdict takes the tricks of its original (hidden text, mixed scripts),
//! recorded when the document normalised it. The request's verdict is the texts' verdicts
//! merged (per family the highest score, every feature that fired).
//!
//! Linear: the automaton's hits arrive in order of their end, so the texts are walked once;
//! each text is finished once (its payload shapes, one pass over it); a text without a hit
//! skips the accumulator's per-feature state.

use genai_injection::{Accumulator, Detector, Verdict};

use crate::document::{Document, TextKind};

/// ASCII texts shorter than this carry no attack (and no payload).
pub(crate) const MIN_TEXT: usize = 2;

pub(crate) struct InjectionPass<'a> {
    det: &'a Detector,
    doc: &'a Document<'a>,
    /// The inspected text (all texts, NUL-separated).
    text: &'a str,
    /// The text being accumulated (index into the document's texts), its span and whether
    /// it is judged, and its accumulator, created on its first hit.
    current: usize,
    bounds: Option<(usize, usize, bool)>,
    acc: Option<Accumulator<'a>>,
    merged: Option<Verdict>,
}

impl<'a> InjectionPass<'a> {
    pub(crate) fn new(det: &'a Detector, doc: &'a Document<'a>, text: &'a str) -> Self {
        let mut p = InjectionPass {
            det,
            doc,
            text,
            current: 0,
            bounds: None,
            acc: None,
            merged: None,
        };
        p.bounds = p.bounds_of(0);
        p
    }

    fn bounds_of(&self, k: usize) -> Option<(usize, usize, bool)> {
        let (s, e, kind, tricks) = self.doc.injection_text(k)?;
        // A text normalised to (almost) nothing may still hide something: judge it by the
        // tricks of its original.
        let judged = matches!(kind, TextKind::Content | TextKind::Value) && (e >= s + MIN_TEXT || tricks.is_some());
        Some((s, e, judged))
    }

    /// Finishes the current text and moves to the next.
    fn close_current(&mut self) {
        let k = self.current;
        let acc = self.acc.take();
        self.current += 1;
        let next = self.bounds_of(self.current);
        let bounds = std::mem::replace(&mut self.bounds, next);
        let (Some((s, e, true)), Some((_, _, _, tricks))) = (bounds, self.doc.injection_text(k)) else {
            return;
        };
        let slice = self.text.get(s..e).unwrap_or_default();
        let tricks = tricks.unwrap_or_else(|| genai_injection::tricks(slice));
        let v = match acc {
            Some(acc) => acc.finish(tricks),
            None => self.det.verdict_without_hits(slice, tricks),
        };
        if v == Verdict::default() {
            return;
        }
        match &mut self.merged {
            Some(m) => m.merge(&v),
            None => self.merged = Some(v),
        }
    }

    /// A hit of detector needle `needle` at `start..end` of the inspected text.
    pub(crate) fn on_match(&mut self, needle: usize, start: usize, end: usize) {
        let (s, e) = loop {
            let Some((s, e, judged)) = self.bounds else {
                return;
            };
            if start < e {
                if !judged || start < s || end > e {
                    return;
                }
                break (s, e);
            }
            self.close_current();
        };
        let acc = match &mut self.acc {
            Some(acc) => acc,
            None => self
                .acc
                .insert(self.det.accumulator(self.text.get(s..e).unwrap_or_default())),
        };
        acc.on_match(needle, start - s, end - s);
    }

    /// Finishes every remaining text; the merged verdict.
    pub(crate) fn finish(mut self) -> Verdict {
        while self.bounds.is_some() {
            self.close_current();
        }
        self.merged.unwrap_or_default()
    }
}
