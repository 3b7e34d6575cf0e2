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

use genai_injection::{Accumulator, Detector, Tricks, Verdict};

use crate::document::{Document, TextKind};

/// Texts shorter than this carry no attack (and no payload).
const MIN_TEXT: usize = 2;

pub(crate) struct InjectionPass<'a> {
    det: &'a Detector,
    doc: &'a Document<'a>,
    /// The inspected text (all texts, NUL-separated).
    text: &'a str,
    /// The text being accumulated (index into the document's texts) and its accumulator,
    /// created on its first hit.
    current: usize,
    acc: Option<Accumulator<'a>>,
    merged: Option<Verdict>,
}

impl<'a> InjectionPass<'a> {
    pub(crate) fn new(det: &'a Detector, doc: &'a Document<'a>, text: &'a str) -> Self {
        InjectionPass {
            det,
            doc,
            text,
            current: 0,
            acc: None,
            merged: None,
        }
    }

    fn inspected(&self, k: usize) -> Option<(usize, usize, Option<Tricks>)> {
        let (s, e, kind, tricks) = self.doc.injection_text(k)?;
        let wanted = matches!(kind, TextKind::Content | TextKind::Value) && e >= s + MIN_TEXT;
        Some((s, e, tricks)).filter(|_| wanted)
    }

    /// Finishes the current text and moves to the next.
    fn close_current(&mut self) {
        let k = self.current;
        self.current += 1;
        let acc = self.acc.take();
        let Some((s, e, tricks)) = self.inspected(k) else {
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
        loop {
            let Some((_, e, _, _)) = self.doc.injection_text(self.current) else {
                return;
            };
            if start < e {
                break;
            }
            self.close_current();
        }
        let Some((s, e, _)) = self.inspected(self.current) else {
            return;
        };
        if start < s || end > e {
            return;
        }
        if self.acc.is_none() {
            let slice = self.text.get(s..e).unwrap_or_default();
            self.acc = Some(self.det.accumulator(slice));
        }
        if let Some(acc) = &mut self.acc {
            acc.on_match(needle, start - s, end - s);
        }
    }

    /// Finishes every remaining text; the merged verdict.
    pub(crate) fn finish(mut self) -> Verdict {
        while self.doc.injection_text(self.current).is_some() {
            self.close_current();
        }
        self.merged.unwrap_or_default()
    }
}
