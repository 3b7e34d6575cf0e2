//! Follows a streamed (SSE) response chunk by chunk: usage, first content, generated text, and
//! optionally removes the usage-only chunk the gateway asked for on the client's behalf.

use crate::estimate::{count_tokens, scale, MAX_COUNTED_BYTES};
use crate::events::{self, Later, TextSink, UsageUpdate};
use crate::sse::{decode, SseParser};
use crate::usage::AnthropicUsage;
use crate::{ApiFormat, Usage, UsageReport};
use std::borrow::Cow;

/// Default cap on the generated text kept for estimation (its length is counted past it):
/// what the estimator reads, no more.
pub const DEFAULT_MAX_TEXT_BYTES: usize = MAX_COUNTED_BYTES;

/// Default cap on one event a tracker parses (usage and text events are far smaller). A larger
/// one is not parsed; its last [`OVERSIZED_TAIL_BYTES`] are still searched for usage.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 64 << 10;

/// What is kept of an oversized event's end: a Responses API `response.completed` embeds the
/// whole output and ends with its usage.
pub const OVERSIZED_TAIL_BYTES: usize = 16 << 10;

/// Default cap on the bytes strip mode holds back from the client: an unfinished event (or
/// line) longer than this is not a usage chunk to remove, and goes on as it comes.
pub const DEFAULT_MAX_HELD_BYTES: usize = 64 << 10;

/// Strip mode holds an unfinished event back only while it could still be the usage chunk:
/// that is one `data:` line, perhaps after an `event:` and an `id:`. An event with more field
/// lines than this (an upstream that never sends the blank line ending an event, or streams
/// `id:` lines) is let through as it comes: a stream is never held back for long.
pub const MAX_HELD_LINES: usize = 4;

/// What to send on for a chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forward {
    /// Send the chunk as it came.
    Unchanged,
    /// Send these bytes instead (possibly none).
    Replace(Vec<u8>),
}

/// The outcome of [`StreamTracker::feed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feed {
    /// This chunk completed the stream's first event with generated content (time to first token).
    pub first_content: bool,
    /// What to send on in place of the chunk.
    pub forward: Forward,
}

/// The outcome of [`StreamTracker::finish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    /// Usage reported by the provider, or estimated where it reported none (or only part).
    pub report: UsageReport,
    /// Bytes still to send on: in strip mode, an unfinished last event held back (unchanged).
    pub tail: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
enum Reported {
    None,
    Complete(Usage),
    /// Anthropic: `message_start` seen; `final_seen` once a `message_delta` brought the totals.
    Anthropic {
        raw: AnthropicUsage,
        final_seen: bool,
    },
}

/// The text events that came after the first content, kept raw (their data as it came, each
/// after its length) up to a cap and read only if the usage must be estimated: per event, a
/// stream then costs a byte search for usage and at most a copy, never a decode or a parse.
/// Past the cap they are only counted, and the text the kept ones hold is scaled by bytes.
#[derive(Debug, Default)]
struct Sample {
    buf: Vec<u8>,
    cap: usize,
    /// Data bytes of all the text events, kept or not.
    total: u64,
    /// Data bytes of the kept ones.
    kept: u64,
    /// An event did not fit: nothing after it is kept (the sample is a prefix of the events,
    /// whatever the chunking).
    full: bool,
}

impl Sample {
    fn push(&mut self, data: &[u8]) {
        self.total = self.total.saturating_add(data.len() as u64);
        if self.full {
            return;
        }
        let Ok(len) = u32::try_from(data.len()) else {
            self.full = true;
            return;
        };
        if self.buf.len().saturating_add(4).saturating_add(data.len()) > self.cap {
            self.full = true;
            return;
        }
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(data);
        self.kept = self.kept.saturating_add(data.len() as u64);
    }

    /// Room for `bytes` more (within the cap), at once.
    fn reserve(&mut self, bytes: usize) {
        if !self.full {
            let room = self.cap.saturating_sub(self.buf.len());
            self.buf.reserve(bytes.min(room));
        }
    }

    /// The kept events' data, in order.
    fn events(&self) -> impl Iterator<Item = &[u8]> {
        let mut rest = self.buf.as_slice();
        std::iter::from_fn(move || {
            let (len, tail) = rest.split_first_chunk::<4>()?;
            let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
            let (data, tail) = (tail.get(..len)?, tail.get(len..)?);
            rest = tail;
            Some(data)
        })
    }
}

/// State fed by events; apart from the parser so a parser callback can borrow it.
#[derive(Debug)]
struct State {
    format: ApiFormat,
    reported: Reported,
    first_content: bool,
    /// Generated text read as it came: until the first content, and of events parsed after.
    text: TextSink,
    /// Text events after the first content, read lazily (see [`State::text_view`]).
    sample: Sample,
    model: Option<String>,
    bad_events: u64,
}

/// Tracks one streamed response. Create with [`StreamTracker::new`], call
/// [`StreamTracker::feed`] for every body chunk and [`StreamTracker::finish`] at its end.
#[derive(Debug)]
pub struct StreamTracker {
    parser: SseParser,
    state: State,
    strip: bool,
    /// Strip mode: bytes of an unfinished event, held back from the client (at most
    /// `max_held`), each copied once into it and moved out with the event's end.
    held: Vec<u8>,
    max_held: usize,
    /// Strip mode: the pending offset of an event let through for outgrowing `max_held`.
    released: Option<u64>,
    /// Strip mode: bytes copied into `held` so far (each fed byte at most once).
    held_copied: u64,
    /// Strip mode: byte ranges of this chunk's events to remove (reused between chunks).
    drops: Vec<(u64, u64)>,
    /// Strip mode: a removed event ended in CR at the end of a chunk; an LF at this offset
    /// completes its line ending and goes with it.
    drop_lf_at: Option<u64>,
    /// OpenAI chat, after the first content: stream offsets of this chunk's `"usage"` keys
    /// that may have a value other than `null` (reused between chunks).
    usage_keys: Vec<u64>,
}

impl StreamTracker {
    /// A tracker that only observes the stream: every chunk is forwarded unchanged.
    pub fn new(format: ApiFormat) -> Self {
        Self {
            parser: SseParser::with_max_event_bytes(DEFAULT_MAX_EVENT_BYTES).keep_oversized_tail(OVERSIZED_TAIL_BYTES),
            state: State {
                format,
                reported: Reported::None,
                first_content: false,
                text: TextSink::new(DEFAULT_MAX_TEXT_BYTES),
                sample: Sample {
                    cap: DEFAULT_MAX_TEXT_BYTES,
                    ..Sample::default()
                },
                model: None,
                bad_events: 0,
            },
            strip: false,
            held: Vec::new(),
            max_held: DEFAULT_MAX_HELD_BYTES,
            released: None,
            held_copied: 0,
            drops: Vec::new(),
            drop_lf_at: None,
            usage_keys: Vec::new(),
        }
    }

    /// Removes the usage-only chunk (`"choices": []` with a non-null `usage`) from what is
    /// forwarded: for OpenAI chat streams where the gateway turned on
    /// `stream_options.include_usage` although the client did not ask for it.
    pub fn strip_forced_usage(mut self, strip: bool) -> Self {
        self.strip = strip;
        self
    }

    /// Caps one event (default 64 KiB); a larger one is not parsed (only its end is searched
    /// for usage) and is counted in [`StreamTracker::bad_events`]; in strip mode it is still
    /// forwarded.
    pub fn max_event_bytes(mut self, max: usize) -> Self {
        self.parser = SseParser::with_max_event_bytes(max).keep_oversized_tail(OVERSIZED_TAIL_BYTES.min(max));
        self
    }

    /// Caps the bytes strip mode holds back (default 64 KiB).
    pub fn max_held_bytes(mut self, max: usize) -> Self {
        self.max_held = max;
        self
    }

    /// Caps the generated text kept for estimation (default 64 KiB), and the raw bytes of the
    /// text events after the first content kept to read it from.
    pub fn max_text_bytes(mut self, max: usize) -> Self {
        self.state.text.cap = max;
        self.state.sample.cap = max;
        self
    }

    /// The requested model, used to pick a tokenizer if the stream names none.
    pub fn model(mut self, model: &str) -> Self {
        self.state.model = Some(model.to_owned());
        self
    }

    /// Usage reported so far by the provider (Anthropic: possibly not final yet).
    pub fn usage(&self) -> Option<Usage> {
        match self.state.reported {
            Reported::None => None,
            Reported::Complete(u) => Some(u),
            Reported::Anthropic { raw, .. } => raw.normalise(),
        }
    }

    /// Whether an event with generated content has been seen.
    pub fn first_content_seen(&self) -> bool {
        self.state.first_content
    }

    /// Generated text kept so far (at most the cap). After the first content it is read from
    /// the raw events kept for it, here: call it once, at the end.
    pub fn output_text(&self) -> Cow<'_, str> {
        match self.state.text_view() {
            Cow::Borrowed(t) => Cow::Borrowed(t.text.as_str()),
            Cow::Owned(t) => Cow::Owned(t.text),
        }
    }

    /// Bytes of generated text seen so far, including any past the cap: exact while the raw
    /// events after the first content fit their cap, scaled by their bytes past it.
    pub fn output_text_bytes(&self) -> u64 {
        self.state.text_view().total_bytes
    }

    /// Strip mode: bytes held back now, and bytes copied into the hold buffer so far (never
    /// more than were fed: a held byte is not copied again when more arrives).
    pub fn held_bytes(&self) -> (usize, u64) {
        (self.held.len(), self.held_copied)
    }

    /// Events that were skipped: larger than the cap, or not readable JSON.
    pub fn bad_events(&self) -> u64 {
        self.state.bad_events.saturating_add(self.parser.errors())
    }

    /// Feeds one chunk of the response body.
    pub fn feed(&mut self, chunk: &[u8]) -> Feed {
        let chunk_start = self.parser.position();
        let had_content = self.state.first_content;
        let state = &mut self.state;
        let strip = self.strip;
        let drops = &mut self.drops;
        drops.clear();
        if let Some(at) = self.drop_lf_at.take() {
            match chunk.first() {
                Some(b'\n') if at == chunk_start => drops.push((at, at.saturating_add(1))),
                Some(_) => {}
                None => self.drop_lf_at = Some(at),
            }
        }
        // After the first content an OpenAI chat event matters only if it has usage: one
        // search of the whole chunk finds the `"usage"` keys, so that an event that lies in
        // this chunk and holds none (`"usage":null` included) is not searched again.
        let indexed = had_content && state.format == ApiFormat::OpenAiChat;
        let keys = &mut self.usage_keys;
        keys.clear();
        if indexed {
            events::maybe_usage_keys(chunk, |at| keys.push(chunk_start.saturating_add(at as u64)));
        }
        if had_content {
            // What this chunk can add to the sample, at once: no reallocation per event.
            state.sample.reserve(chunk.len());
        }
        let mut next_key = 0usize;
        self.parser.feed_raw(chunk, |ev| {
            let mut hint = None;
            if indexed && ev.start >= chunk_start {
                // The event's bytes are all in this chunk, and its data is among them.
                while keys.get(next_key).is_some_and(|&k| k < ev.start) {
                    next_key = next_key.saturating_add(1);
                }
                hint = Some(keys.get(next_key).is_some_and(|&k| k < ev.end));
            }
            if state.on_event(ev.event, ev.data, ev.truncated, ev.data_lines, hint) && strip {
                drops.push((ev.start, ev.end));
            }
        });
        let first_content = !had_content && self.state.first_content;
        let forward = if self.strip {
            self.forward(chunk, chunk_start)
        } else {
            Forward::Unchanged
        };
        Feed { first_content, forward }
    }

    /// Ends the stream and reports usage; `prompt_text` is the request's text, used only if
    /// the provider reported no usage and it must be estimated. Call once. Equivalent to
    /// [`StreamTracker::end_stream`] then [`StreamTracker::report`].
    pub fn finish(&mut self, prompt_text: &str) -> Finish {
        let tail = self.end_stream();
        Finish {
            report: self.report(prompt_text),
            tail,
        }
    }

    /// Ends the stream without estimating anything: reads an unterminated last event for its
    /// usage and returns the bytes still to forward (strip mode: the held-back tail, unchanged;
    /// otherwise none). Usage can be asked for afterwards with [`StreamTracker::report`].
    pub fn end_stream(&mut self) -> Vec<u8> {
        let state = &mut self.state;
        self.parser.finish_raw(|ev| {
            // Read for usage but, like the rest of the tail, forwarded unchanged.
            state.on_event(ev.event, ev.data, ev.truncated, ev.data_lines, None);
        });
        std::mem::take(&mut self.held)
    }

    /// The usage to report now: the provider's, or an estimate from `prompt_text` and the
    /// generated text where it reported none. Anthropic streams cut before `message_delta`
    /// keep the reported input and estimate the output.
    pub fn report(&self, prompt_text: &str) -> UsageReport {
        self.report_with(|model| count_tokens(model, prompt_text))
    }

    /// As [`StreamTracker::report`], with the prompt's estimate (if one is needed) from
    /// `prompt_tokens`, given the model name the stream reported (or the requested one).
    pub fn report_with(&self, prompt_tokens: impl FnOnce(&str) -> u64) -> UsageReport {
        let model = self.state.model.as_deref().unwrap_or("");
        let text = self.state.text_view();
        let text = text.as_ref();
        let estimated = || Usage {
            input_tokens: prompt_tokens(model),
            output_tokens: scale(count_tokens(model, &text.text), text.text.len(), text.total_bytes),
            ..Usage::default()
        };
        match self.state.reported {
            Reported::Complete(usage) => UsageReport {
                usage,
                estimated: false,
            },
            Reported::Anthropic { raw, final_seen: true } => match raw.normalise() {
                Some(usage) => UsageReport {
                    usage,
                    estimated: false,
                },
                None => UsageReport {
                    usage: estimated(),
                    estimated: true,
                },
            },
            Reported::Anthropic { raw, .. } => {
                let output = scale(count_tokens(model, &text.text), text.text.len(), text.total_bytes);
                let mut usage = match raw.normalise() {
                    Some(u) => u,
                    None => estimated(),
                };
                usage.output_tokens = usage.output_tokens.max(output);
                UsageReport { usage, estimated: true }
            }
            Reported::None => UsageReport {
                usage: estimated(),
                estimated: true,
            },
        }
    }

    /// Strip mode: the bytes to send for this chunk, given the events to drop. Bytes of an
    /// unfinished event are held back (up to `max_held`); each byte is copied at most once
    /// into the held buffer, which then goes out as it is.
    fn forward(&mut self, chunk: &[u8], chunk_start: u64) -> Forward {
        let chunk_end = chunk_start.saturating_add(chunk.len() as u64);
        let held_start = chunk_start.saturating_sub(self.held.len() as u64);
        // An event let through before it ended cannot be cut out any more.
        self.drops.retain(|d| d.0 >= held_start);
        let pending = self.parser.pending_start();
        let mut hold_from = pending.clamp(held_start, chunk_end);
        if self.released.is_some_and(|r| r != pending) {
            self.released = None;
        }
        let too_long =
            chunk_end.saturating_sub(hold_from) > self.max_held as u64 || self.parser.pending_lines() > MAX_HELD_LINES;
        if self.released.is_some() || too_long {
            // Too long to be the usage chunk: let it through, now and until it ends.
            if hold_from < chunk_end {
                self.released = Some(pending);
            }
            hold_from = chunk_end;
        }
        if self.drops.is_empty() && self.held.is_empty() && hold_from == chunk_end {
            return Forward::Unchanged;
        }
        if self.drops.is_empty() && hold_from == held_start {
            // Nothing settled: the whole chunk joins what is held.
            self.held.extend_from_slice(chunk);
            self.held_copied = self.held_copied.saturating_add(chunk.len() as u64);
            return Forward::Replace(Vec::new());
        }
        // An event ending in CR may be followed by the LF of a CRLF: drop that too.
        {
            let stream = Window {
                held: &self.held,
                held_start,
                chunk,
                chunk_start,
            };
            for d in self.drops.iter_mut() {
                if stream.byte(d.1.saturating_sub(1)) == Some(b'\r') {
                    if d.1 == chunk_end {
                        self.drop_lf_at = Some(chunk_end);
                    } else if stream.byte(d.1) == Some(b'\n') {
                        d.1 = d.1.saturating_add(1);
                    }
                }
            }
        }
        let held_all_out = hold_from >= chunk_start && self.drops.first().is_none_or(|d| d.0 >= chunk_start);
        let (mut out, mut at) = if held_all_out {
            // The held event ended: the held bytes go first, as they are (moved, not copied).
            (std::mem::take(&mut self.held), chunk_start)
        } else {
            (
                Vec::with_capacity(self.held.len().saturating_add(chunk.len())),
                held_start,
            )
        };
        let old_held = std::mem::take(&mut self.held);
        let stream = Window {
            held: &old_held,
            held_start,
            chunk,
            chunk_start,
        };
        for &(start, end) in &self.drops {
            stream.copy(at, start.min(hold_from), &mut out);
            at = at.max(end);
        }
        stream.copy(at, hold_from, &mut out);
        let keep_from = hold_from.max(at);
        let mut kept = Vec::new();
        stream.copy(keep_from, chunk_end, &mut kept);
        self.held_copied = self.held_copied.saturating_add(kept.len() as u64);
        self.held = kept;
        Forward::Replace(out)
    }
}

/// The held bytes followed by the current chunk, addressed by stream offset.
struct Window<'a> {
    held: &'a [u8],
    held_start: u64,
    chunk: &'a [u8],
    chunk_start: u64,
}

impl Window<'_> {
    fn byte(&self, at: u64) -> Option<u8> {
        if at >= self.chunk_start {
            let i = usize::try_from(at.saturating_sub(self.chunk_start)).ok()?;
            self.chunk.get(i).copied()
        } else {
            let i = usize::try_from(at.checked_sub(self.held_start)?).ok()?;
            self.held.get(i).copied()
        }
    }

    /// Appends bytes `[from, to)` to `out`.
    fn copy(&self, from: u64, to: u64, out: &mut Vec<u8>) {
        if from >= to {
            return;
        }
        let part = |buf: &[u8], base: u64| -> Option<(usize, usize)> {
            let end = base.saturating_add(buf.len() as u64);
            let (a, b) = (from.max(base), to.min(end));
            (a < b).then(|| {
                let a = usize::try_from(a.saturating_sub(base)).unwrap_or(usize::MAX);
                let b = usize::try_from(b.saturating_sub(base)).unwrap_or(usize::MAX);
                (a, b)
            })
        };
        if let Some((a, b)) = part(self.held, self.held_start) {
            out.extend_from_slice(self.held.get(a..b).unwrap_or_default());
        }
        if let Some((a, b)) = part(self.chunk, self.chunk_start) {
            out.extend_from_slice(self.chunk.get(a..b).unwrap_or_default());
        }
    }
}

impl State {
    /// Whether a multi-line event's data is one JSON value (legitimately split over `data:`
    /// lines), rather than several, one per line.
    fn reads_as_one(&self, _event: Option<&str>, data: &str) -> bool {
        let mut it = serde_json::Deserializer::from_str(data).into_iter::<serde::de::IgnoredAny>();
        matches!((it.next(), it.next()), (Some(Ok(_)), None))
    }

    /// The generated text: what was read as it came, then the kept raw text events read
    /// now (their text scaled by bytes when some were only counted).
    fn text_view(&self) -> Cow<'_, TextSink> {
        let sample = &self.sample;
        if sample.total == 0 {
            return Cow::Borrowed(&self.text);
        }
        let mut sink = self.text.clone();
        let before = sink.total_bytes;
        for data in sample.events() {
            events::later_text(self.format, &decode(data), &mut sink);
        }
        if sample.full {
            // The kept events' text, scaled to all the text events' bytes; with none kept
            // (a first one over the cap), their raw bytes stand for their text.
            let read = sink.total_bytes.saturating_sub(before);
            let all = if sample.kept == 0 {
                sample.total
            } else {
                let scaled = u128::from(read).saturating_mul(u128::from(sample.total)) / u128::from(sample.kept);
                u64::try_from(scaled).unwrap_or(u64::MAX)
            };
            sink.total_bytes = before.saturating_add(all);
        }
        Cow::Owned(sink)
    }

    /// Reads one event; tells whether it is a usage-only chunk (to strip). `data` is as it
    /// came: after the first content an event is decoded only if it may hold usage.
    /// `usage_hint`: `Some(false)` when a search of the chunk found no `"usage"` key with a
    /// value other than `null` where the event lies (it is not searched again).
    fn on_event(
        &mut self,
        event: Option<&str>,
        data: &[u8],
        truncated: bool,
        data_lines: usize,
        usage_hint: Option<bool>,
    ) -> bool {
        if data_lines > 1 && !truncated {
            let text = decode(data);
            if !self.reads_as_one(event, &text) {
                // An upstream that does not end its events with a blank line: its data lines
                // add up to one event that is not JSON, each line of it is one. Read them one
                // by one (their usage and text count; nothing of such an event is stripped).
                for line in text.split('\n').filter(|l| !l.trim_ascii().is_empty()) {
                    self.on_event(event, line.as_bytes(), false, 1, None);
                }
                return false;
            }
        }
        if truncated {
            let text = decode(data);
            let info = events::inspect_truncated(self.format, event, &text);
            return self.apply(info);
        }
        if self.first_content {
            let kind = match usage_hint {
                Some(false) => events::later_without_usage(self.format, event, data),
                _ => events::later(self.format, event, data),
            };
            match kind {
                Later::Skip => return false,
                Later::Text => {
                    self.sample.push(data);
                    return false;
                }
                Later::Parse => {}
            }
        }
        let text = decode(data);
        let info = events::inspect(self.format, event, &text, &mut self.text);
        self.apply(info)
    }

    /// Takes in what one event said; tells whether it is a usage-only chunk.
    fn apply(&mut self, info: events::EventInfo<'_>) -> bool {
        if info.bad_json {
            self.bad_events = self.bad_events.saturating_add(1);
        }
        if info.content {
            self.first_content = true;
        }
        if let Some(m) = info.model {
            // The provider's name for the model beats the requested one (often an alias).
            if self.model.as_deref() != Some(&m) {
                self.model = Some(m.into_owned());
            }
        }
        match (info.usage, &mut self.reported) {
            (None, _) => {}
            (Some(UsageUpdate::Replace(u)), r) => *r = Reported::Complete(u),
            (Some(UsageUpdate::AnthropicStart(raw)), r) => *r = Reported::Anthropic { raw, final_seen: false },
            (Some(UsageUpdate::AnthropicDelta(d)), Reported::Anthropic { raw, final_seen }) => {
                raw.merge(d);
                *final_seen = true;
            }
            (Some(UsageUpdate::AnthropicDelta(raw)), r) => *r = Reported::Anthropic { raw, final_seen: true },
        }
        info.usage_only
    }
}
