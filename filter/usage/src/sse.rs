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
    /// The event outgrew the cap: `data` is only its last bytes, raw (field names included).
    pub truncated: bool,
    /// The number of `data:` lines joined in `data`.
    pub data_lines: usize,
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
    /// The event outgrew the cap: `data` is only its last bytes, raw (field names included,
    /// lines joined with `\n`, the same however the stream was split), as kept by
    /// [`SseParser::keep_oversized_tail`].
    pub truncated: bool,
    /// The number of `data:` lines joined in `data` (0 for a truncated event).
    pub data_lines: usize,
}

/// A complete event as [`SseParser::feed_raw`] hands it over: its data not decoded (the
/// bytes of its `data:` values joined with `\n`, as they came). A consumer that only searches
/// the data for a few bytes need not validate or decode it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseRawEventRef<'a> {
    /// The `event:` field; `None` when absent or empty.
    pub event: Option<&'a str>,
    /// The `data:` values joined with `\n`, undecoded (a truncated event: its last bytes).
    pub data: &'a [u8],
    /// As [`SseEventRef::start`].
    pub start: u64,
    /// As [`SseEventRef::end`].
    pub end: u64,
    /// As [`SseEventRef::truncated`].
    pub truncated: bool,
    /// As [`SseEventRef::data_lines`].
    pub data_lines: usize,
}

impl SseRawEventRef<'_> {
    /// The event with its data decoded (UTF-8, invalid sequences replaced), for `f`.
    pub fn decoded<R>(&self, f: impl FnOnce(SseEventRef<'_>) -> R) -> R {
        let data = decode(self.data);
        f(SseEventRef {
            event: self.event,
            data: &data,
            start: self.start,
            end: self.end,
            truncated: self.truncated,
            data_lines: self.data_lines,
        })
    }
}

impl SseEventRef<'_> {
    /// Copies the event out of the parser.
    pub fn to_event(&self) -> SseEvent {
        SseEvent {
            event: self.event.map(str::to_owned),
            data: self.data.to_owned(),
            start: self.start,
            end: self.end,
            truncated: self.truncated,
            data_lines: self.data_lines,
        }
    }
}

/// The event being assembled.
#[derive(Debug, Default)]
struct Pending {
    /// The data lines copied so far, raw (decoded only when dispatched to a consumer that
    /// asks for text): what the cap counts, so an event is judged the same whether its lines
    /// were read in place (borrowed) or copied (found by fuzzing).
    data: Vec<u8>,
    /// The event's only data line so far, still in the chunk being fed: its value's range
    /// there. Dispatched from the chunk without a copy; copied into `data` only if the event
    /// continues (another data line, or past the chunk's end).
    borrowed: Option<(usize, usize)>,
    event: String,
    data_lines: usize,
    /// Field lines of the event so far, of any name.
    lines: usize,
    /// Offset of the first field line of the event, once there is one.
    start: Option<u64>,
    /// The event outgrew the cap: ignore its lines until the blank line that ends it.
    discarding: bool,
    /// While discarding: the event's last bytes (at most twice the parser's `tail_cap`).
    tail: Vec<u8>,
    /// While discarding: a line of the tail has ended; a line break goes in before the next
    /// bytes. Written lazily, so the tail is the same byte sequence however the lines were
    /// split (a break after the line that went over the cap was written only when that line
    /// was carried across chunks: usage at the very end of the tail was found whole but not
    /// split; found by fuzzing) and never ends in a break that would push out a byte of data.
    tail_break: bool,
}

impl Pending {
    fn reset(&mut self) {
        self.data.clear();
        self.borrowed = None;
        self.event.clear();
        self.data_lines = 0;
        self.lines = 0;
        self.start = None;
        self.discarding = false;
        self.tail.clear();
        self.tail_break = false;
    }

    fn size(&self) -> usize {
        let borrowed = self.borrowed.map_or(0, |(a, b)| b.saturating_sub(a));
        self.data
            .len()
            .saturating_add(self.event.len())
            .saturating_add(borrowed)
    }

    /// Copies a borrowed data line out of `chunk` (the chunk it was borrowed from).
    fn own(&mut self, chunk: &[u8]) {
        if let Some((a, b)) = self.borrowed.take() {
            self.data.extend_from_slice(chunk.get(a..b).unwrap_or_default());
        }
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
    /// Bytes kept of an oversized event's end (0: none, the event is dropped).
    tail_cap: usize,
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
            tail_cap: 0,
        }
    }

    /// Instead of dropping an event over the cap, dispatch it at its end with its last
    /// `bytes` bytes as `data` and `truncated` set: what a large event says last (a Responses
    /// API `response.completed` ends with the usage) can still be read, in bounded memory.
    pub fn keep_oversized_tail(mut self, bytes: usize) -> Self {
        self.tail_cap = bytes;
        self
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

    /// Complete field lines (`data:`, `event:`, `id:` or any other) of the event not yet
    /// dispatched; 0 while nothing is pending or an oversized event is being discarded.
    pub fn pending_lines(&self) -> usize {
        if self.pending.discarding {
            0
        } else {
            self.pending.lines
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
        self.feed_raw(chunk, |ev| ev.decoded(&mut on_event));
    }

    /// Feeds a chunk, calling `on_event` for every event it completes, its data undecoded:
    /// an event whose one data line is in the chunk is handed over in place, neither copied
    /// nor validated.
    pub fn feed_raw<F: FnMut(SseRawEventRef<'_>)>(&mut self, chunk: &[u8], mut on_event: F) {
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
                self.pending.own(chunk);
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
            if self.line.is_empty() && !self.line_nonempty {
                // The whole line is in this chunk: read it in place.
                self.line_start = base.saturating_add(i as u64);
                let whole_line = chunk.get(i..j).unwrap_or_default();
                // The same cap as a line carried across chunks meets (`over_cap` on the raw
                // line, whatever its field): otherwise an event over the cap would be parsed
                // or cut depending on where the chunks happened to split it (found by fuzzing).
                if !self.pending.discarding
                    && self.pending.size().saturating_add(whole_line.len()) > self.max_event_bytes
                {
                    // Its data must be owned before it becomes the tail.
                    self.pending.own(chunk);
                    self.over_cap(whole_line);
                    self.end_tail_line();
                    self.process_line(Line::Skipped, chunk, line_end, &mut on_event);
                    i = next;
                    continue;
                }
                self.process_line(Line::InChunk(i, j), chunk, line_end, &mut on_event);
            } else {
                // A line carried from earlier chunks ends here (only ever the chunk's first).
                let mut line = std::mem::take(&mut self.line);
                let here = rest.get(..rel).unwrap_or_default();
                if self.pending.discarding {
                    self.push_tail(here);
                } else {
                    line.extend_from_slice(here);
                }
                if !self.over_cap(&line) {
                    self.process_line(Line::Carried(&line), chunk, line_end, &mut on_event);
                } else {
                    // Over the cap before this line or with it: either way the line has ended.
                    self.end_tail_line();
                    self.process_line(Line::Skipped, chunk, line_end, &mut on_event);
                }
                line.clear();
                self.line = line;
                self.line_nonempty = false;
            }
            i = next;
        }
        // An event still open at the chunk's end keeps its data: the chunk goes away.
        self.pending.own(chunk);
        self.pos = base.saturating_add(chunk.len() as u64);
    }

    /// Ends the stream. Unlike the WHATWG rules, which discard an event not closed by a blank
    /// line, an unterminated last event that has data is dispatched: a provider cut off right
    /// after its final usage event has still reported that usage.
    pub fn finish<F: FnMut(SseEventRef<'_>)>(&mut self, mut on_event: F) {
        self.finish_raw(|ev| ev.decoded(&mut on_event));
    }

    /// As [`SseParser::finish`], the data undecoded.
    pub fn finish_raw<F: FnMut(SseRawEventRef<'_>)>(&mut self, mut on_event: F) {
        if !self.line.is_empty() || self.line_nonempty {
            let line = std::mem::take(&mut self.line);
            let end = self.pos;
            if self.pending.discarding {
                self.process_line(Line::Skipped, b"", end, &mut on_event);
            } else {
                self.process_line(Line::Carried(&line), b"", end, &mut on_event);
            }
        }
        // An empty line dispatches whatever is pending.
        let end = self.pos;
        self.process_line(Line::Carried(b""), b"", end, &mut on_event);
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
            self.push_tail(bytes);
            return;
        }
        self.line.extend_from_slice(bytes);
        let line = std::mem::take(&mut self.line);
        if self.over_cap(&line) {
            self.line_nonempty = true;
            let mut line = line;
            line.clear();
            self.line = line;
        } else {
            self.line = line;
        }
    }

    /// Checks the cap with an unfinished line `line`; past it, starts discarding (keeping the
    /// end of what was seen, if asked to).
    fn over_cap(&mut self, line: &[u8]) -> bool {
        if self.pending.discarding {
            return true;
        }
        if self.pending.size().saturating_add(line.len()) <= self.max_event_bytes {
            return false;
        }
        self.start_discarding(line);
        true
    }

    /// The pending event is over the cap: its data so far (owned: no line of it is borrowed
    /// here) and `extra` become the tail, a line apart; its type and start are kept for the
    /// dispatch.
    fn start_discarding(&mut self, extra: &[u8]) {
        self.errors = self.errors.saturating_add(1);
        let cap = self.tail_cap;
        let p = &mut self.pending;
        let mut tail = std::mem::take(&mut p.tail);
        tail.clear();
        if cap > 0 {
            let data = p.data.as_slice();
            tail.extend_from_slice(data.get(data.len().saturating_sub(cap)..).unwrap_or_default());
        }
        // The data lines so far (their field names gone) are the tail's first line.
        p.tail_break = p.data_lines > 0;
        p.data.clear();
        p.borrowed = None;
        p.data_lines = 0;
        p.discarding = true;
        p.tail = tail;
        self.push_tail(extra.get(extra.len().saturating_sub(cap)..).unwrap_or_default());
    }

    /// Appends to an oversized event's tail, keeping at most twice `tail_cap` bytes; after
    /// a line that ended, a line break first.
    fn push_tail(&mut self, bytes: &[u8]) {
        if self.tail_cap == 0 || bytes.is_empty() {
            return;
        }
        let tail = &mut self.pending.tail;
        if std::mem::take(&mut self.pending.tail_break) {
            tail.push(b'\n');
        }
        tail.extend_from_slice(bytes);
        if tail.len() > self.tail_cap.saturating_mul(2) {
            let cut = tail.len().saturating_sub(self.tail_cap);
            tail.drain(..cut);
        }
    }

    /// One complete line. `chunk` is the chunk being fed: a line in it (`Line::InChunk`) is
    /// read in place, and a lone data line is dispatched from it without a copy.
    fn process_line<F: FnMut(SseRawEventRef<'_>)>(
        &mut self,
        line: Line<'_>,
        chunk: &[u8],
        line_end: u64,
        on_event: &mut F,
    ) {
        // The line's bytes, and where they start in `chunk` (if they are in it).
        let (mut bytes, mut at) = match line {
            Line::InChunk(a, b) => (chunk.get(a..b).unwrap_or_default(), Some(a)),
            Line::Carried(l) => (l, None),
            // Not kept (the event is being discarded); not blank either.
            Line::Skipped => (&b"-"[..], None),
        };
        if !self.seen_first_line {
            self.seen_first_line = true;
            if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
                bytes = rest;
                at = at.map(|a| a.saturating_add(3));
            }
        }
        if self.pending.discarding && !bytes.is_empty() {
            if matches!(line, Line::InChunk(..)) {
                self.push_tail(bytes);
                self.end_tail_line();
            }
            return;
        }
        let p = &mut self.pending;
        if bytes.is_empty() {
            if p.discarding && !p.tail.is_empty() {
                let tail = p
                    .tail
                    .get(p.tail.len().saturating_sub(self.tail_cap)..)
                    .unwrap_or_default();
                on_event(SseRawEventRef {
                    event: (!p.event.is_empty()).then_some(p.event.as_str()),
                    data: tail,
                    start: p.start.unwrap_or(self.line_start),
                    end: line_end,
                    truncated: true,
                    data_lines: 0,
                });
            } else if p.data_lines > 0 && !p.discarding {
                let borrowed = p.borrowed.and_then(|(a, b)| chunk.get(a..b));
                on_event(SseRawEventRef {
                    event: (!p.event.is_empty()).then_some(p.event.as_str()),
                    data: borrowed.unwrap_or(p.data.as_slice()),
                    start: p.start.unwrap_or(self.line_start),
                    end: line_end,
                    truncated: false,
                    data_lines: p.data_lines,
                });
            }
            p.reset();
            return;
        }
        if bytes.first() == Some(&b':') {
            return;
        }
        if p.start.is_none() {
            p.start = Some(self.line_start);
        }
        p.lines = p.lines.saturating_add(1);
        let (name, value_at) = match memchr::memchr(b':', bytes) {
            Some(c) => {
                let v = c.saturating_add(1);
                let v = if bytes.get(v) == Some(&b' ') {
                    v.saturating_add(1)
                } else {
                    v
                };
                (bytes.get(..c).unwrap_or_default(), v)
            }
            None => (bytes, bytes.len()),
        };
        let value = bytes.get(value_at..).unwrap_or_default();
        match name {
            b"data" => {
                match at {
                    // The first data line, in the chunk: remember where, copy nothing.
                    Some(a) if p.data_lines == 0 => {
                        let start = a.saturating_add(value_at);
                        p.borrowed = Some((start, start.saturating_add(value.len())));
                    }
                    _ => {
                        p.own(chunk);
                        if p.data_lines > 0 {
                            p.data.push(b'\n');
                        }
                        p.data.extend_from_slice(value);
                    }
                }
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
            p.own(chunk);
            self.start_discarding(b"");
            self.end_tail_line();
        }
    }

    /// A line of an event being discarded has ended (its bytes, if any, are in the tail).
    fn end_tail_line(&mut self) {
        if self.pending.discarding {
            self.pending.tail_break = true;
        }
    }
}

/// A complete line handed to `process_line`: its range in the chunk being fed, bytes
/// carried over from earlier chunks (joined with this one's start), or a line of an event
/// being discarded whose bytes were not kept.
#[derive(Clone, Copy)]
enum Line<'a> {
    InChunk(usize, usize),
    Carried(&'a [u8]),
    Skipped,
}

/// Decodes UTF-8, replacing invalid sequences. `from_utf8` first: it is several times faster
/// than `from_utf8_lossy` on the valid text that is the norm. Shared by the stream tracker
/// and the JSON body's text capture.
pub(crate) fn decode(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}
