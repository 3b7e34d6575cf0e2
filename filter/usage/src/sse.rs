//! Incremental Server-Sent Events parser following the WHATWG eventsource rules, fed arbitrary
//! byte chunks. Besides each event's type and data it reports the byte range the event occupied
//! in the stream, so a caller can cut an event out of the bytes it forwards.
//!
//! Lines are collected as raw bytes and decoded only once complete: CR and LF never occur inside
//! a multi-byte UTF-8 sequence, so a character split across chunks needs no special handling.

use std::borrow::Cow;

/// Default cap on one pending event (its unfinished line, data and type together).
pub const DEFAULT_MAX_EVENT_BYTES: usize = 1 << 20;

/// A complete event, owned. See [`SseEventRef`] for the fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; `None` when absent or empty (the spec's default type, "message").
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// Stream offset of the event's first field line.
    pub start: u64,
    /// Stream offset just past the blank line that ended the event.
    pub end: u64,
}

/// A complete event, borrowed from the parser's buffers for the duration of a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseEventRef<'a> {
    /// The `event:` field; `None` when absent or empty.
    pub event: Option<&'a str>,
    /// The `data:` lines joined with `\n`.
    pub data: &'a str,
    /// Stream offset of the event's first field line (comment lines before it are not part of it).
    pub start: u64,
    /// Stream offset just past the blank line that ended the event (at end of stream: its end).
    /// When that line ends in a CR that is the last byte of a chunk, the event ends there,
    /// before any LF the next chunk starts with: the parser cannot wait to see it.
    pub end: u64,
}

impl SseEventRef<'_> {
    /// Copies the event out of the parser.
    pub fn to_event(&self) -> SseEvent {
        SseEvent {
            event: self.event.map(str::to_owned),
            data: self.data.to_owned(),
            start: self.start,
            end: self.end,
        }
    }
}

/// The event being assembled.
#[derive(Debug, Default)]
struct Pending {
    data: String,
    event: String,
    data_lines: usize,
    /// Offset of the first field line of the event, once there is one.
    start: Option<u64>,
    /// The event outgrew the cap: ignore its lines until the blank line that ends it.
    discarding: bool,
}

impl Pending {
    fn reset(&mut self) {
        self.data.clear();
        self.event.clear();
        self.data_lines = 0;
        self.start = None;
        self.discarding = false;
    }

    fn size(&self) -> usize {
        self.data.len().saturating_add(self.event.len())
    }
}

/// Incremental SSE parser. Feed chunks with [`SseParser::feed_with`] (no allocation per event)
/// or [`SseParser::feed`], and call [`SseParser::finish`] at end of stream.
#[derive(Debug)]
pub struct SseParser {
    max_event_bytes: usize,
    /// An unfinished line carried over from earlier chunks.
    line: Vec<u8>,
    /// Offset of the carried line's first byte.
    line_start: u64,
    /// While discarding, a carried line had bytes (they are not kept).
    line_nonempty: bool,
    pending: Pending,
    /// Offset of the next byte to be fed.
    pos: u64,
    /// The last byte fed was a CR: an LF right after it completes the same line ending.
    after_cr: bool,
    /// The first line has been seen (a UTF-8 BOM is stripped from it only).
    seen_first_line: bool,
    errors: u64,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl SseParser {
    /// A parser with the default 1 MiB cap per event.
    pub fn new() -> Self {
        Self::with_max_event_bytes(DEFAULT_MAX_EVENT_BYTES)
    }

    /// A parser that drops (and counts as an error) any event larger than `max` bytes.
    pub fn with_max_event_bytes(max: usize) -> Self {
        Self {
            max_event_bytes: max,
            line: Vec::new(),
            line_start: 0,
            line_nonempty: false,
            pending: Pending::default(),
            pos: 0,
            after_cr: false,
            seen_first_line: false,
            errors: 0,
        }
    }

    /// Events dropped for outgrowing the cap.
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// Total bytes fed so far (the offset of the next byte).
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Offset from which the fed bytes may still belong to an event not yet dispatched: bytes
    /// before it are settled. While an oversized event is being discarded, nothing is pending.
    pub fn pending_start(&self) -> u64 {
        if self.pending.discarding {
            return self.pos;
        }
        match self.pending.start {
            Some(start) => start,
            None if !self.line.is_empty() => self.line_start,
            None => self.pos,
        }
    }

    /// Feeds a chunk and collects the events it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        self.feed_with(chunk, |ev| out.push(ev.to_event()));
        out
    }

    /// Feeds a chunk, calling `on_event` for every event it completes.
    pub fn feed_with<F: FnMut(SseEventRef<'_>)>(&mut self, chunk: &[u8], mut on_event: F) {
        let base = self.pos;
        let mut i = 0usize;
        if self.after_cr && !chunk.is_empty() {
            self.after_cr = false;
            if chunk.first() == Some(&b'\n') {
                i = 1;
            }
        }
        while let Some(rest) = chunk.get(i..) {
            let Some(rel) = memchr::memchr2(b'\r', b'\n', rest) else {
                self.carry(rest, base.saturating_add(i as u64));
                break;
            };
            let j = i.saturating_add(rel);
            let term = match (chunk.get(j), chunk.get(j.saturating_add(1))) {
                (Some(b'\r'), Some(b'\n')) => 2,
                (Some(b'\r'), None) => {
                    self.after_cr = true;
                    1
                }
                _ => 1,
            };
            let next = j.saturating_add(term);
            let line_end = base.saturating_add(next as u64);
            let here = rest.get(..rel).unwrap_or_default();
            if self.line.is_empty() && !self.line_nonempty {
                self.line_start = base.saturating_add(i as u64);
                self.process_line(here, line_end, &mut on_event);
            } else {
                let mut line = std::mem::take(&mut self.line);
                if !self.pending.discarding {
                    line.extend_from_slice(here);
                }
                if !self.over_cap(line.len()) {
                    self.process_line(&line, line_end, &mut on_event);
                } else {
                    self.process_line(b"-", line_end, &mut on_event);
                }
                line.clear();
                self.line = line;
                self.line_nonempty = false;
            }
            i = next;
        }
        self.pos = base.saturating_add(chunk.len() as u64);
    }

    /// Ends the stream. Unlike the WHATWG rules, which discard an event not closed by a blank
    /// line, an unterminated last event that has data is dispatched: a provider cut off right
    /// after its final usage event has still reported that usage.
    pub fn finish<F: FnMut(SseEventRef<'_>)>(&mut self, mut on_event: F) {
        if !self.line.is_empty() || self.line_nonempty {
            let line = std::mem::take(&mut self.line);
            let end = self.pos;
            if self.pending.discarding {
                self.process_line(b"-", end, &mut on_event);
            } else {
                self.process_line(&line, end, &mut on_event);
            }
        }
        // An empty line dispatches whatever is pending.
        let end = self.pos;
        self.process_line(b"", end, &mut on_event);
        self.line.clear();
        self.line_nonempty = false;
        self.after_cr = false;
    }

    /// Keeps the start of an unfinished line for the next chunk.
    fn carry(&mut self, bytes: &[u8], offset: u64) {
        if bytes.is_empty() {
            return;
        }
        if self.line.is_empty() && !self.line_nonempty {
            self.line_start = offset;
        }
        if self.pending.discarding {
            self.line_nonempty = true;
            return;
        }
        self.line.extend_from_slice(bytes);
        if self.over_cap(self.line.len()) {
            self.line.clear();
            self.line_nonempty = true;
        }
    }

    /// Checks the cap with an unfinished line of `line_len` bytes; past it, starts discarding.
    fn over_cap(&mut self, line_len: usize) -> bool {
        if self.pending.discarding {
            return true;
        }
        if self.pending.size().saturating_add(line_len) <= self.max_event_bytes {
            return false;
        }
        self.errors = self.errors.saturating_add(1);
        self.pending.reset();
        self.pending.discarding = true;
        true
    }

    fn process_line<F: FnMut(SseEventRef<'_>)>(&mut self, mut line: &[u8], line_end: u64, on_event: &mut F) {
        if !self.seen_first_line {
            self.seen_first_line = true;
            if let Some(rest) = line.strip_prefix(b"\xEF\xBB\xBF") {
                line = rest;
            }
        }
        let p = &mut self.pending;
        if line.is_empty() {
            if p.data_lines > 0 && !p.discarding {
                on_event(SseEventRef {
                    event: (!p.event.is_empty()).then_some(p.event.as_str()),
                    data: &p.data,
                    start: p.start.unwrap_or(self.line_start),
                    end: line_end,
                });
            }
            p.reset();
            return;
        }
        if p.discarding || line.first() == Some(&b':') {
            return;
        }
        if p.start.is_none() {
            p.start = Some(self.line_start);
        }
        let (name, value) = match memchr::memchr(b':', line) {
            Some(c) => {
                let value = line.get(c.saturating_add(1)..).unwrap_or_default();
                let value = value.strip_prefix(b" ").unwrap_or(value);
                (line.get(..c).unwrap_or_default(), value)
            }
            None => (line, &b""[..]),
        };
        match name {
            b"data" => {
                if p.data_lines > 0 {
                    p.data.push('\n');
                }
                p.data.push_str(&decode(value));
                p.data_lines = p.data_lines.saturating_add(1);
            }
            b"event" => {
                p.event.clear();
                p.event.push_str(&decode(value));
            }
            // id and retry only matter to a reconnecting client; unknown fields are ignored.
            _ => {}
        }
        if p.size() > self.max_event_bytes {
            self.over_cap(0);
        }
    }
}

/// Decodes UTF-8, replacing invalid sequences. `from_utf8` first: it is several times faster
/// than `from_utf8_lossy` on the valid text that is the norm.
fn decode(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}
