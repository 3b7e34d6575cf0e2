//! The text the engine inspects: what the model will read, assembled from a request.
//!
//! The caller (the policy, which knows the APIs' shapes) opens a *text* per message and per
//! other model-visible value, and adds its *parts* in order: JSON string literals (decoded
//! here), numbers and other verbatim spans of the source bytes. A text's parts are joined
//! as the model reads them (content parts of one message side by side), so a value split
//! across parts is one value. Texts are separated by a NUL byte, which no detector or
//! phrase crosses. A text with a non-ASCII byte after decoding is normalised (and checked
//! for hidden-text tricks) when it is closed; ASCII text is not touched.
//!
//! Every byte of the inspected text maps back to the source: a finding becomes one share
//! per part it covers, each a byte range of the source aligned to whole escapes and whole
//! normalisation clusters, so redaction splices only the value's own bytes.

use crate::rules::hidden;
use crate::text::json::{decode_into, raw_offsets_from};
use crate::text::normalize::{needs_normalizing, normalize_into, to_original, Segment};

/// What a part is, in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartKind {
    /// A JSON string literal without an escape (`raw` is its opening quote).
    JsonString,
    /// A JSON string literal with an escape: decoded offsets map to raw ones by a scan.
    EscapedString,
    /// A JSON number: its text, verbatim.
    Number,
    /// Verbatim text.
    Verbatim,
}

/// What a text is, for the callers that treat them differently (the prompt log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TextKind {
    /// A message's content, a system prompt: what the model reads as the prompt.
    Content,
    /// Any other string value.
    #[default]
    Value,
    /// A number's text.
    Number,
    /// An object key.
    Key,
}

#[derive(Debug, Clone, Copy)]
struct Part {
    /// Offset of the part's decoded text within its text's decoded string.
    dec_start: u32,
    /// The part's span in the source.
    raw_start: u32,
    raw_end: u32,
    kind: PartKind,
}

#[derive(Debug, Clone)]
struct Text {
    /// Span in the inspected text.
    start: u32,
    end: u32,
    /// Length of the decoded (not normalised) text.
    dec_len: u32,
    parts: (u32, u32),
    /// Normalisation segments, if the text was normalised.
    norm: Option<(u32, u32)>,
    kind: TextKind,
    /// The prompt-injection detector's tricks of the original (decoded) text, for a text
    /// with a non-ASCII byte; `None` for ASCII text, which is inspected as it is.
    injection_tricks: Option<genai_injection::Tricks>,
}

/// One part's share of a finding: the source bytes to replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// Byte range in the source.
    pub start: usize,
    pub end: usize,
    /// The share is a whole JSON number: a replacement must be a JSON string (quoted).
    pub bare_number: bool,
}

/// The inspected text of one request, and the map back to its source.
#[derive(Debug)]
pub struct Document<'s> {
    source: &'s [u8],
    buf: Vec<u8>,
    texts: Vec<Text>,
    parts: Vec<Part>,
    segments: Vec<Segment>,
    /// Hidden-text tricks seen in any text (mask of [`hidden::bit`]).
    tricks: u8,
    open: Option<Text>,
    scratch: Vec<u8>,
    /// Where the last share of an escaped string was mapped: (part, raw, decoded) offsets
    /// within it, so the next value of the same string continues from there.
    cursor: std::cell::Cell<(usize, usize, usize)>,
}

fn off(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl<'s> Document<'s> {
    /// An empty document over `source` (a request body).
    pub fn new(source: &'s [u8]) -> Self {
        Document {
            source,
            buf: Vec::with_capacity(source.len() + 16),
            texts: Vec::new(),
            parts: Vec::new(),
            segments: Vec::new(),
            tricks: 0,
            open: None,
            scratch: Vec::new(),
            cursor: std::cell::Cell::new((usize::MAX, 0, 0)),
        }
    }

    /// A document of one plain text (for tools and tests).
    pub fn plain(text: &'s str) -> Self {
        let mut d = Document::new(text.as_bytes());
        d.begin_text();
        d.verbatim(0, text.len());
        d.end_text();
        d
    }

    /// Opens a new text of any string value (closing the previous one).
    pub fn begin_text(&mut self) {
        self.begin(TextKind::Value);
    }

    /// Opens a new text of `kind` (closing the previous one).
    pub fn begin(&mut self, kind: TextKind) {
        self.end_text();
        if !self.buf.is_empty() {
            self.buf.push(0);
        }
        self.open = Some(Text {
            start: off(self.buf.len()),
            end: 0,
            dec_len: 0,
            parts: (off(self.parts.len()), 0),
            norm: None,
            kind,
            injection_tricks: None,
        });
    }

    fn ensure_open(&mut self) {
        if self.open.is_none() {
            self.begin_text();
        }
    }

    fn dec_offset(&self) -> u32 {
        let start = self.open.as_ref().map_or(0, |t| t.start as usize);
        off(self.buf.len() - start)
    }

    /// Adds the JSON string literal at `start..end` of the source (quotes included) to the
    /// open text.
    pub fn json_string(&mut self, start: usize, end: usize) {
        self.ensure_open();
        let Some(content) = self.source.get(start + 1..end.saturating_sub(1)) else {
            return;
        };
        // Whether it has an escape is found once here: a finding's share is mapped per
        // finding, and a scan of the whole string per finding is quadratic in a long
        // string of many values (4 MiB of e-mail addresses to redact).
        let kind = if memchr::memchr(b'\\', content).is_some() {
            PartKind::EscapedString
        } else {
            PartKind::JsonString
        };
        self.parts.push(Part {
            dec_start: self.dec_offset(),
            raw_start: off(start),
            raw_end: off(end),
            kind,
        });
        decode_into(content, &mut self.buf);
    }

    /// Adds `start..end` of the source as it is (a number's text: `number` true).
    pub fn source_span(&mut self, start: usize, end: usize, number: bool) {
        self.ensure_open();
        let Some(bytes) = self.source.get(start..end) else {
            return;
        };
        self.parts.push(Part {
            dec_start: self.dec_offset(),
            raw_start: off(start),
            raw_end: off(end),
            kind: if number { PartKind::Number } else { PartKind::Verbatim },
        });
        if bytes.len() <= 8 {
            // A short number (a million of them is a hostile body): byte pushes, not the
            // `memcpy` call `extend_from_slice` makes.
            for &c in bytes {
                self.buf.push(c);
            }
        } else {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Adds `start..end` of the source as a text of its own that nothing can be found in
    /// (a value no longer than [`crate::Engine::inert`] allows: a short number, a one-byte
    /// string's content, ASCII without escapes): its bytes are in the inspected text as
    /// any text's are, NUL-separated, so what is around them reads the same, but it gets no
    /// record (no finding can fall in it to be mapped back).
    pub fn inert(&mut self, start: usize, end: usize) {
        self.end_text();
        let Some(bytes) = self.source.get(start..end) else {
            return;
        };
        if bytes.is_empty() {
            return;
        }
        if !self.buf.is_empty() {
            self.buf.push(0);
        }
        for &c in bytes {
            self.buf.push(c);
        }
    }

    /// Adds `start..end` of the source verbatim.
    pub fn verbatim(&mut self, start: usize, end: usize) {
        self.source_span(start, end, false);
    }

    /// Closes the open text: normalises it if it has a non-ASCII byte.
    pub fn end_text(&mut self) {
        let Some(mut t) = self.open.take() else {
            return;
        };
        let start = t.start as usize;
        t.parts.1 = off(self.parts.len());
        let decoded = self.buf.get(start..).unwrap_or_default();
        t.dec_len = off(decoded.len());
        if !decoded.is_ascii() {
            self.scratch.clear();
            self.scratch.extend_from_slice(decoded);
            let lossy;
            let text = match std::str::from_utf8(&self.scratch) {
                Ok(t) => t,
                Err(_) => {
                    lossy = String::from_utf8_lossy(&self.scratch).into_owned();
                    lossy.as_str()
                }
            };
            self.tricks |= hidden::tricks(text);
            t.injection_tricks = Some(genai_injection::tricks(text));
            if needs_normalizing(text) {
                self.buf.truncate(start);
                let first = self.segments.len();
                normalize_into(text, &mut self.buf, &mut self.segments);
                t.norm = Some((off(first), off(self.segments.len())));
            }
        }
        t.end = off(self.buf.len());
        if t.end > t.start || t.parts.1 > t.parts.0 {
            self.texts.push(t);
        } else if !self.buf.is_empty() && self.buf.last() == Some(&0) && start == self.buf.len() {
            // An empty text: drop its separator.
            self.buf.pop();
        }
    }

    /// The inspected text (all texts, NUL-separated). Call after the last `end_text`.
    pub fn inspected(&self) -> &[u8] {
        &self.buf
    }

    pub(crate) fn tricks(&self) -> u8 {
        self.tricks
    }

    /// The inspected (normalised) text of `start..end`.
    pub fn slice(&self, start: usize, end: usize) -> &str {
        self.buf
            .get(start..end)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or_default()
    }

    /// The index of the text holding `pos` of the inspected text.
    pub fn text_of(&self, pos: usize) -> Option<usize> {
        let k = self.texts.partition_point(|t| t.start as usize <= pos).checked_sub(1)?;
        let t = self.texts.get(k)?;
        (pos < t.end as usize || (pos == t.end as usize && t.start == t.end)).then_some(k)
    }

    /// The texts in order: span in the inspected text, kind, and for a non-ASCII text the
    /// injection detector's tricks of its original.
    pub(crate) fn injection_text(&self, k: usize) -> Option<(usize, usize, TextKind, Option<genai_injection::Tricks>)> {
        self.texts
            .get(k)
            .map(|t| (t.start as usize, t.end as usize, t.kind, t.injection_tricks))
    }

    /// The texts' spans in the inspected text and their kinds, in order.
    pub fn text_spans(&self) -> impl Iterator<Item = (usize, usize, TextKind)> + '_ {
        self.texts.iter().map(|t| (t.start as usize, t.end as usize, t.kind))
    }

    /// The source bytes behind `start..end` of the inspected text: one share per part it
    /// covers, in order. Empty if the range is not inside one text.
    pub fn shares(&self, start: usize, end: usize) -> Vec<Share> {
        let mut out = Vec::new();
        self.shares_into(start, end, &mut out);
        out
    }

    /// [`Document::shares`] appended to `out`, so a caller mapping many values back reuses
    /// one buffer (a body of 300,000 redacted values made as many vectors).
    pub fn shares_into(&self, start: usize, end: usize, out: &mut Vec<Share>) {
        let Some(k) = self.text_of(start) else {
            return;
        };
        let Some(t) = self.texts.get(k) else {
            return;
        };
        if end > t.end as usize || start >= end {
            return;
        }
        let (rs, re) = (start - t.start as usize, end - t.start as usize);
        let (ds, de) = match t.norm {
            None => (rs, re),
            Some((a, b)) => {
                let segs = self.segments.get(a as usize..b as usize).unwrap_or_default();
                match to_original(segs, rs, re) {
                    Some(r) => r,
                    None => return,
                }
            }
        };
        let parts = self
            .parts
            .get(t.parts.0 as usize..t.parts.1 as usize)
            .unwrap_or_default();
        for (i, p) in parts.iter().enumerate() {
            let p_start = p.dec_start as usize;
            let p_end = parts.get(i + 1).map_or(t.dec_len as usize, |n| n.dec_start as usize);
            let (s, e) = (ds.max(p_start), de.min(p_end));
            if s >= e {
                continue;
            }
            let (s, e) = (s - p_start, e - p_start);
            let (raw_start, raw_end) = (p.raw_start as usize, p.raw_end as usize);
            let share = match p.kind {
                PartKind::Number => Share {
                    start: raw_start,
                    end: raw_end,
                    bare_number: true,
                },
                PartKind::Verbatim => Share {
                    start: raw_start + s,
                    end: raw_start + e,
                    bare_number: false,
                },
                PartKind::JsonString => Share {
                    start: raw_start + 1 + s,
                    end: raw_start + 1 + e,
                    bare_number: false,
                },
                PartKind::EscapedString => {
                    let content = raw_start + 1;
                    let raw = self.source.get(content..raw_end.saturating_sub(1)).unwrap_or_default();
                    let idx = t.parts.0 as usize + i;
                    let (cp, cr, cd) = self.cursor.get();
                    let from = if cp == idx && cd <= s { (cr, cd) } else { (0, 0) };
                    let (m, stop) = raw_offsets_from(raw, from, &[(s, false), (e, true)]);
                    self.cursor.set((idx, stop.0, stop.1));
                    let (a, b) = (m.first().copied().unwrap_or(s), m.get(1).copied().unwrap_or(e));
                    Share {
                        start: content + a,
                        end: content + b,
                        bare_number: false,
                    }
                }
            };
            out.push(share);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_join_and_map_back() {
        let body = br#"{"a":["card 4111 1111 ","1111 1111 x"],"n":4111111111111111,"e":"x\u0040y.com"}"#;
        let s = std::str::from_utf8(body).unwrap();
        let mut d = Document::new(body);
        let q = |needle: &str| s.find(needle).unwrap();
        d.begin_text();
        d.json_string(q("\"card"), q(",\"1111"));
        d.json_string(q("\"1111 1111 x"), q("],\"n"));
        d.begin_text();
        d.source_span(q("4111111111111111"), q(",\"e"), true);
        d.begin_text();
        d.json_string(q("\"x\\u"), q("}"));
        d.end_text();
        let text = std::str::from_utf8(d.inspected()).unwrap();
        assert_eq!(text, "card 4111 1111 1111 1111 x\u{0}4111111111111111\u{0}x@y.com");
        let card = text.find("4111 1111 1111").unwrap();
        let shares = d.shares(card, card + 19);
        let got: Vec<&str> = shares.iter().map(|sh| &s[sh.start..sh.end]).collect();
        assert_eq!(got, ["4111 1111 ", "1111 1111"]);
        let n = text.find("\u{0}4111").unwrap() + 1;
        let sh = d.shares(n, n + 16);
        assert_eq!(
            (sh.len(), sh[0].bare_number, &s[sh[0].start..sh[0].end]),
            (1, true, "4111111111111111")
        );
        let e = text.find("x@").unwrap();
        let sh = d.shares(e, e + 7);
        assert_eq!(&s[sh[0].start..sh[0].end], "x\\u0040y.com");
        assert_eq!(d.shares(card, n + 2), vec![], "a range across texts maps to nothing");
    }

    #[test]
    fn normalised_text_maps_to_whole_escapes_and_clusters() {
        let body = "[\"mail jo\\u200bhn@exa\u{00AD}mple.com ok\"]";
        let mut d = Document::new(body.as_bytes());
        d.begin_text();
        d.json_string(1, body.len() - 1);
        d.end_text();
        let text = std::str::from_utf8(d.inspected()).unwrap();
        assert_eq!(text, "mail john@example.com ok");
        let sh = d.shares(5, 21);
        assert_eq!(&body[sh[0].start..sh[0].end], "jo\\u200bhn@exa\u{00AD}mple.com");
    }
}
