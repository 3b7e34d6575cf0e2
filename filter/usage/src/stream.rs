//! Follows a streamed (SSE) response chunk by chunk: usage, first content, generated text, and
//! optionally removes the usage-only chunk the gateway asked for on the client's behalf.

use crate::estimate::{estimate, scale};
use crate::events::{self, TextSink, UsageUpdate};
use crate::sse::{SseParser, DEFAULT_MAX_EVENT_BYTES};
use crate::usage::AnthropicUsage;
use crate::{ApiFormat, Usage, UsageReport};

/// Default cap on the generated text kept for estimation (its length is counted past it).
pub const DEFAULT_MAX_TEXT_BYTES: usize = 1 << 20;

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

/// State fed by events; apart from the parser so a parser callback can borrow it.
#[derive(Debug)]
struct State {
    format: ApiFormat,
    reported: Reported,
    first_content: bool,
    text: TextSink,
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
    /// Strip mode: bytes of an unfinished event, held back from the client.
    held: Vec<u8>,
    /// Strip mode: byte ranges of this chunk's events to remove (reused between chunks).
    drops: Vec<(u64, u64)>,
    /// Strip mode: a removed event ended in CR at the end of a chunk; an LF at this offset
    /// completes its line ending and goes with it.
    drop_lf_at: Option<u64>,
}

impl StreamTracker {
    /// A tracker that only observes the stream: every chunk is forwarded unchanged.
    pub fn new(format: ApiFormat) -> Self {
        Self {
            parser: SseParser::with_max_event_bytes(DEFAULT_MAX_EVENT_BYTES),
            state: State {
                format,
                reported: Reported::None,
                first_content: false,
                text: TextSink::new(DEFAULT_MAX_TEXT_BYTES),
                model: None,
                bad_events: 0,
            },
            strip: false,
            held: Vec::new(),
            drops: Vec::new(),
            drop_lf_at: None,
        }
    }

    /// Removes the usage-only chunk (`"choices": []` with a non-null `usage`) from what is
    /// forwarded: for OpenAI chat streams where the gateway turned on
    /// `stream_options.include_usage` although the client did not ask for it.
    pub fn strip_forced_usage(mut self, strip: bool) -> Self {
        self.strip = strip;
        self
    }

    /// Caps one event (default 1 MiB); a larger one is skipped and counted in
    /// [`StreamTracker::bad_events`] (in strip mode it is still forwarded).
    pub fn max_event_bytes(mut self, max: usize) -> Self {
        self.parser = SseParser::with_max_event_bytes(max);
        self
    }

    /// Caps the generated text kept for estimation (default 1 MiB).
    pub fn max_text_bytes(mut self, max: usize) -> Self {
        self.state.text.cap = max;
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

    /// Generated text kept so far (at most the cap).
    pub fn output_text(&self) -> &str {
        &self.state.text.text
    }

    /// Bytes of generated text seen so far, including any past the cap.
    pub fn output_text_bytes(&self) -> u64 {
        self.state.text.total_bytes
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
        self.parser.feed_with(chunk, |ev| {
            if state.on_event(ev.event, ev.data) && strip {
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
        self.parser.finish(|ev| {
            // Read for usage but, like the rest of the tail, forwarded unchanged.
            state.on_event(ev.event, ev.data);
        });
        std::mem::take(&mut self.held)
    }

    /// The usage to report now: the provider's, or an estimate from `prompt_text` and the
    /// generated text where it reported none. Anthropic streams cut before `message_delta`
    /// keep the reported input and estimate the output.
    pub fn report(&self, prompt_text: &str) -> UsageReport {
        let model = self.state.model.as_deref().unwrap_or("");
        let estimated = || {
            let mut u = estimate(model, prompt_text, &self.state.text.text);
            u.output_tokens = scale(u.output_tokens, self.state.text.text.len(), self.state.text.total_bytes);
            u
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
                let guess = estimated();
                let mut usage = raw.normalise().unwrap_or(guess);
                usage.output_tokens = usage.output_tokens.max(guess.output_tokens);
                UsageReport { usage, estimated: true }
            }
            Reported::None => UsageReport {
                usage: estimated(),
                estimated: true,
            },
        }
    }

    /// Strip mode: the bytes to send for this chunk, given the events to drop.
    fn forward(&mut self, chunk: &[u8], chunk_start: u64) -> Forward {
        let chunk_end = chunk_start.saturating_add(chunk.len() as u64);
        let held_start = chunk_start.saturating_sub(self.held.len() as u64);
        let hold_from = self.parser.pending_start().clamp(held_start, chunk_end);
        if self.drops.is_empty() && self.held.is_empty() && hold_from == chunk_end {
            return Forward::Unchanged;
        }
        let stream = Window {
            held: &self.held,
            held_start,
            chunk,
            chunk_start,
        };
        // An event ending in CR may be followed by the LF of a CRLF: drop that too.
        for d in self.drops.iter_mut() {
            if stream.byte(d.1.saturating_sub(1)) == Some(b'\r') {
                if d.1 == chunk_end {
                    self.drop_lf_at = Some(chunk_end);
                } else if stream.byte(d.1) == Some(b'\n') {
                    d.1 = d.1.saturating_add(1);
                }
            }
        }
        let mut out = Vec::with_capacity(self.held.len().saturating_add(chunk.len()));
        let mut at = held_start;
        for &(start, end) in &self.drops {
            stream.copy(at, start.min(hold_from), &mut out);
            at = at.max(end);
        }
        stream.copy(at, hold_from, &mut out);
        let mut held = Vec::new();
        stream.copy(hold_from.max(at), chunk_end, &mut held);
        self.held = held;
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
    /// Reads one event; tells whether it is a usage-only chunk (to strip).
    fn on_event(&mut self, event: Option<&str>, data: &str) -> bool {
        let info = events::inspect(self.format, event, data, &mut self.text);
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
