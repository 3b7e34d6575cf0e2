//! Usage of a non-streamed JSON response, read as the body streams through, in bounded
//! memory: a scan that finds the top-level `usage` object (kept, at most
//! [`MAX_USAGE_BYTES`]) and the generated text (kept up to a cap, counted past it), without
//! holding the body. Linear in the body: inside strings it jumps from quote to backslash.
//!
//! The same scan, reading every string value, gives a bounded sample of a request's text for
//! estimating its prompt (see [`JsonText::all_values`]).

use serde::Deserialize;

use crate::events::TextSink;
use crate::sse::decode;
use crate::usage::RawUsage;
use crate::{ApiFormat, Usage};

/// Largest `usage` object kept (real ones are a few hundred bytes).
pub const MAX_USAGE_BYTES: usize = 16 << 10;

/// Deepest nesting followed; a deeper document is not read (its usage is estimated).
const MAX_DEPTH: usize = 128;

/// Which strings are text.
#[derive(Debug, Clone, Copy)]
enum Texts {
    /// The values of these keys (the generated text of a response).
    Keys(&'static [&'static [u8]]),
    /// Every string that is not a key (a request's text, as the model reads it).
    AllValues,
}

/// The keys whose string values are generated text, per format.
fn text_keys(format: ApiFormat) -> &'static [&'static [u8]] {
    match format {
        ApiFormat::OpenAiChat => &[b"content", b"refusal", b"arguments", b"reasoning_content", b"reasoning"],
        ApiFormat::AnthropicMessages => &[b"text", b"thinking", b"partial_json"],
        ApiFormat::OpenAiResponses => &[b"text", b"arguments", b"refusal"],
    }
}

/// A streaming scan of one JSON document: usage and text, bounded.
#[derive(Debug)]
pub struct JsonText {
    texts: Texts,
    /// Per open container: true for an object.
    stack: Vec<bool>,
    in_string: bool,
    escape: bool,
    /// The string being read is an object key.
    string_is_key: bool,
    /// An object expects a key next (after `{` or `,`).
    expect_key: bool,
    /// The current key's first bytes (enough to compare with the keys of interest).
    key: [u8; 24],
    key_len: usize,
    key_overflow: bool,
    /// The last key read, complete, and its depth.
    last_key_is_text: bool,
    last_key_is_usage: bool,
    /// A `:` followed a text key: the next value, if a string, is text.
    text_value_next: bool,
    /// A `:` followed the top-level `usage` key: the next value is the usage.
    usage_value_next: bool,
    /// The string being read is text.
    capturing: bool,
    /// The text strings read, still raw: each quoted as in the document, up to the sink's
    /// room (bounded). They are decoded only when the text is asked for ([`JsonText::text`]),
    /// which a response that reports its usage never does.
    raw: Vec<u8>,
    /// Where in `raw` the string being captured starts (its opening quote); `None` when the
    /// string is only counted (no room left).
    open: Option<usize>,
    /// Strings in `raw`: their quotes count as one byte of the room (the separator an
    /// all-values sample adds), so the sample fills the sink and `raw` stays under twice it.
    held: usize,
    /// The current string's raw bytes seen, kept or not.
    raw_len: usize,
    /// Raw bytes of text seen but not kept (counted in [`JsonText::text`]'s total).
    dropped: u64,
    sink: TextSink,
    /// The usage object's bytes while it is read (`usage_depth`: its depth), then complete.
    usage: Vec<u8>,
    usage_depth: Option<usize>,
    usage_done: bool,
    /// Top-level `usage` keys seen.
    usage_keys: u8,
    /// The document ended (its root closed).
    complete: bool,
    /// Not a document this scan can vouch for: too deep, a second `usage`, bytes after the end.
    broken: bool,
    fed: u64,
}

impl JsonText {
    /// A response body of `format`: its usage, and its generated text up to `max_text` bytes.
    pub fn response(format: ApiFormat, max_text: usize) -> Self {
        Self::new(Texts::Keys(text_keys(format)), max_text)
    }

    /// A request body: every string value, up to `max_text` bytes (counted past it).
    pub fn all_values(max_text: usize) -> Self {
        Self::new(Texts::AllValues, max_text)
    }

    fn new(texts: Texts, max_text: usize) -> Self {
        Self {
            texts,
            stack: Vec::new(),
            in_string: false,
            escape: false,
            string_is_key: false,
            expect_key: false,
            key: [0; 24],
            key_len: 0,
            key_overflow: false,
            last_key_is_text: false,
            last_key_is_usage: false,
            text_value_next: false,
            usage_value_next: false,
            capturing: false,
            raw: Vec::new(),
            open: None,
            held: 0,
            raw_len: 0,
            dropped: 0,
            sink: TextSink::new(max_text),
            usage: Vec::new(),
            usage_depth: None,
            usage_done: false,
            usage_keys: 0,
            complete: false,
            broken: false,
            fed: 0,
        }
    }

    /// Bytes fed so far.
    pub fn bytes(&self) -> u64 {
        self.fed
    }

    /// The text kept (at most the cap), and the bytes of text seen in all. Decodes the
    /// strings read so far (a string still open is left out; see [`JsonText::end`]).
    pub fn text(&mut self) -> (&str, u64) {
        self.settle();
        (&self.sink.text, self.sink.total_bytes.saturating_add(self.dropped))
    }

    /// Decodes the complete raw strings into the sink, in order, and forgets them.
    fn settle(&mut self) {
        let upto = match (self.in_string && self.capturing, self.open) {
            (true, Some(o)) => o,
            _ => self.raw.len(),
        };
        let done = self.raw.get(..upto).unwrap_or_default();
        let all_values = matches!(self.texts, Texts::AllValues);
        // The raw strings sit back to back (`"a""b"`), which one stream of JSON strings reads.
        let mut strings = serde_json::Deserializer::from_slice(done).into_iter::<String>();
        loop {
            let at = strings.byte_offset();
            let cut = match strings.next() {
                None => break,
                Some(Ok(s)) => {
                    self.sink.push(&s);
                    false
                }
                Some(Err(_)) => {
                    // A string cut at the cap (mid-escape or mid-character), or not valid
                    // JSON: the rest as it stands, without its quotes. Only the last string
                    // kept can be cut, since nothing is kept after it.
                    let rest = done.get(at..).unwrap_or_default();
                    let inner = rest.strip_prefix(b"\"").unwrap_or(rest);
                    let inner = inner.strip_suffix(b"\"").unwrap_or(inner);
                    self.sink.push(&decode(inner));
                    true
                }
            };
            if all_values && !self.sink.full() {
                self.sink.push("\n");
            }
            if cut {
                break;
            }
        }
        self.raw.drain(..upto);
        self.held = usize::from(!self.raw.is_empty());
        if let Some(o) = &mut self.open {
            *o = o.saturating_sub(upto);
        }
    }

    /// The document's top-level usage: only once it is complete, well formed as far as the
    /// scan can tell, with exactly one `usage` object.
    pub fn usage(&self, format: ApiFormat) -> Option<Usage> {
        if !self.complete || self.broken || !self.usage_done {
            return None;
        }
        RawUsage::deserialize(&mut serde_json::Deserializer::from_slice(&self.usage))
            .ok()?
            .normalise(format)
    }

    /// The document ended where it was cut (a sample, or a body cut short): a string still
    /// open counts as text so far. Call once, after the last `feed`.
    pub fn end(&mut self) {
        if self.in_string && self.capturing {
            self.end_string();
        }
    }

    /// Feeds the next bytes of the document.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.fed = self.fed.saturating_add(chunk.len() as u64);
        if self.broken {
            return;
        }
        // Where the usage object's bytes in this chunk start, while it is read: copied as one
        // slice when it closes or the chunk ends, not byte by byte.
        let mut usage_from = self.usage_depth.map(|_| 0usize);
        let mut i = 0usize;
        while i < chunk.len() {
            if self.in_string {
                i = self.string_part(chunk, i);
                continue;
            }
            let Some(&b) = chunk.get(i) else { break };
            i = i.saturating_add(1);
            if self.complete {
                if !b.is_ascii_whitespace() {
                    self.broken = true;
                    return;
                }
                continue;
            }
            match b {
                b'"' => {
                    self.in_string = true;
                    self.escape = false;
                    self.string_is_key = self.expect_key;
                    self.key_len = 0;
                    self.key_overflow = false;
                    let text = !self.string_is_key && (self.text_value_next || matches!(self.texts, Texts::AllValues));
                    self.capturing = text;
                    self.raw_len = 0;
                    self.open = None;
                    if text && self.room() > 0 {
                        self.open = Some(self.raw.len());
                        self.raw.push(b'"');
                        self.held = self.held.saturating_add(1);
                    }
                    self.after_value_start();
                }
                b'{' | b'[' => {
                    let object = b == b'{';
                    if self.usage_value_next && object {
                        self.usage_depth = Some(self.stack.len());
                        usage_from = Some(i.saturating_sub(1));
                    }
                    self.after_value_start();
                    if self.stack.len() >= MAX_DEPTH {
                        self.broken = true;
                        return;
                    }
                    self.stack.push(object);
                    self.expect_key = object;
                }
                b'}' | b']' => {
                    self.stack.pop();
                    self.expect_key = false;
                    if self.usage_depth == Some(self.stack.len()) {
                        self.usage_depth = None;
                        self.usage_done = true;
                        if let Some(from) = usage_from.take() {
                            self.push_usage(chunk.get(from..i).unwrap_or_default());
                        }
                    }
                    if self.stack.is_empty() {
                        self.complete = true;
                    }
                }
                b':' => {
                    self.text_value_next = self.last_key_is_text;
                    if self.last_key_is_usage {
                        self.usage_keys = self.usage_keys.saturating_add(1);
                        if self.usage_keys > 1 {
                            // A second top-level `usage`: which one a provider meant is unclear.
                            self.broken = true;
                            return;
                        }
                        self.usage_value_next = true;
                    }
                }
                b',' => {
                    self.expect_key = self.stack.last() == Some(&true);
                }
                _ if b.is_ascii_whitespace() => {}
                _ => {
                    // A number or literal: a value other than a string or container.
                    self.after_value_start();
                }
            }
        }
        if let Some(from) = usage_from {
            self.push_usage(chunk.get(from..).unwrap_or_default());
        }
    }

    /// A value started: what a preceding `:` announced applies to it only.
    fn after_value_start(&mut self) {
        self.text_value_next = false;
        self.usage_value_next = false;
        self.last_key_is_text = false;
        self.last_key_is_usage = false;
    }

    /// Reads string bytes from `i`; returns where to continue.
    fn string_part(&mut self, chunk: &[u8], mut i: usize) -> usize {
        if self.escape {
            // The character after a backslash (a `\uXXXX`'s digits need no special care).
            self.escape = false;
            let b = chunk.get(i..i.saturating_add(1)).unwrap_or_default();
            self.string_bytes(b);
            return i.saturating_add(1);
        }
        let rest = chunk.get(i..).unwrap_or_default();
        match memchr::memchr2(b'"', b'\\', rest) {
            None => {
                self.string_bytes(rest);
                chunk.len()
            }
            Some(rel) => {
                self.string_bytes(rest.get(..rel).unwrap_or_default());
                i = i.saturating_add(rel);
                if chunk.get(i) == Some(&b'\\') {
                    self.escape = true;
                    self.string_bytes(b"\\");
                } else {
                    self.end_string();
                }
                i.saturating_add(1)
            }
        }
    }

    /// Bytes inside the current string.
    fn string_bytes(&mut self, b: &[u8]) {
        if b.is_empty() {
            return;
        }
        if self.string_is_key {
            let room = self.key.len().saturating_sub(self.key_len);
            if b.len() > room {
                self.key_overflow = true;
            }
            let n = b.len().min(room);
            if let (Some(dst), Some(src)) = (
                self.key.get_mut(self.key_len..self.key_len.saturating_add(n)),
                b.get(..n),
            ) {
                dst.copy_from_slice(src);
            }
            self.key_len = self.key_len.saturating_add(n);
        } else if self.capturing {
            self.raw_len = self.raw_len.saturating_add(b.len());
            if self.open.is_some() {
                // A few bytes over the room, so an escape at the cut can still be decoded;
                // nothing once the room is gone.
                let room = self.room();
                let take = if room == 0 {
                    0
                } else {
                    b.len().min(room.saturating_add(8))
                };
                self.raw.extend_from_slice(b.get(..take).unwrap_or_default());
            }
        }
    }

    /// Raw bytes of text that may still be kept.
    fn room(&self) -> usize {
        self.sink
            .cap
            .saturating_sub(self.sink.text.len())
            .saturating_sub(self.raw.len().saturating_sub(self.held))
    }

    fn end_string(&mut self) {
        self.in_string = false;
        if self.string_is_key {
            let key = self.key.get(..self.key_len).unwrap_or_default();
            self.last_key_is_text = !self.key_overflow
                && match self.texts {
                    Texts::Keys(keys) => keys.contains(&key),
                    Texts::AllValues => false,
                };
            self.last_key_is_usage = !self.key_overflow && self.stack.len() == 1 && key == b"usage";
            self.expect_key = false;
            return;
        }
        if self.capturing {
            self.capturing = false;
            // Kept raw, decoded only if the text is asked for; what could not be kept is
            // counted.
            let kept = match self.open.take() {
                Some(o) => {
                    let kept = self.raw.len().saturating_sub(o).saturating_sub(1);
                    self.raw.push(b'"');
                    kept
                }
                None => 0,
            };
            self.dropped = self.dropped.saturating_add(self.raw_len.saturating_sub(kept) as u64);
        }
    }

    fn push_usage(&mut self, b: &[u8]) {
        if self.usage.len().saturating_add(b.len()) > MAX_USAGE_BYTES {
            self.broken = true;
            return;
        }
        self.usage.extend_from_slice(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage_from_json;

    fn scan(format: ApiFormat, body: &[u8], chunk: usize) -> JsonText {
        let mut j = JsonText::response(format, 1 << 20);
        for c in body.chunks(chunk.max(1)) {
            j.feed(c);
        }
        j
    }

    #[test]
    fn agrees_with_the_full_parse() {
        let bodies: &[&[u8]] = &[
            br#"{"id":"x","choices":[{"message":{"role":"assistant","content":"Hi \"there\"\n"}}],"usage":{"prompt_tokens":5,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":1}}}"#,
            br#" { "usage" : { "prompt_tokens" : 12.0 , "completion_tokens":"7" } } "#,
            br#"{"usage":null}"#,
            br#"{"id":"x"}"#,
            br#"{"usage":{"prompt_tokens":1},"usage":{"prompt_tokens":2}}"#,
            br#"{"usage":null,"usage":{"prompt_tokens":2}}"#,
            br#"{"a":{"usage":{"prompt_tokens":9}},"usage":{"prompt_tokens":2,"completion_tokens":1}}"#,
            br#"{"a":"\"usage\":{\"prompt_tokens\":9}","usage":{"prompt_tokens":2,"completion_tokens":1}}"#,
            b"not json",
            br#"{"usage":{"prompt_tokens":1,"completion_tokens":2}"#,
            br#"{"usage":{"prompt_tokens":1,"completion_tokens":2}} trailing"#,
        ];
        for body in bodies {
            let want = usage_from_json(ApiFormat::OpenAiChat, body);
            for chunk in 1..=body.len() {
                let j = scan(ApiFormat::OpenAiChat, body, chunk);
                assert_eq!(
                    j.usage(ApiFormat::OpenAiChat),
                    want,
                    "{} in chunks of {chunk}",
                    String::from_utf8_lossy(body)
                );
            }
        }
    }

    #[test]
    fn reads_the_generated_text() {
        let body = br#"{"choices":[{"message":{"role":"assistant","content":"Hello \u00e9 \"q\"","tool_calls":[{"function":{"name":"f","arguments":"{\"a\":1}"}}]}}],"model":"gpt-4o","usage":{"prompt_tokens":1,"completion_tokens":1}}"#;
        for chunk in [1, 2, 5, body.len()] {
            let mut j = scan(ApiFormat::OpenAiChat, body, chunk);
            assert_eq!(j.text().0, "Hello é \"q\"{\"a\":1}", "chunks of {chunk}");
        }
        let anthropic =
            br#"{"content":[{"type":"text","text":"Bonjour"}],"usage":{"input_tokens":3,"output_tokens":2}}"#;
        let mut j = scan(ApiFormat::AnthropicMessages, anthropic, 3);
        assert_eq!(j.text().0, "Bonjour");
        assert_eq!(j.usage(ApiFormat::AnthropicMessages).unwrap().output_tokens, 2);
    }

    #[test]
    fn bounded_whatever_the_body() {
        let content = "word ".repeat(100_000);
        let body = format!(
            r#"{{"choices":[{{"message":{{"content":"{content}"}}}}],"usage":{{"prompt_tokens":4,"completion_tokens":100000}}}}"#
        );
        let mut j = JsonText::response(ApiFormat::OpenAiChat, 1000);
        for c in body.as_bytes().chunks(4096) {
            j.feed(c);
        }
        assert_eq!(j.text().0.len(), 1000);
        assert_eq!(j.text().1, content.len() as u64);
        assert!(j.raw.capacity() < 8192, "{}", j.raw.capacity());
        assert_eq!(j.usage(ApiFormat::OpenAiChat).unwrap().output_tokens, 100000);
        // Deep nesting is given up on, not followed.
        let deep = "[".repeat(100_000);
        let mut j = JsonText::response(ApiFormat::OpenAiChat, 1000);
        j.feed(deep.as_bytes());
        assert!(j.broken && j.stack.len() <= MAX_DEPTH);
    }

    #[test]
    fn usage_object_is_bounded() {
        // Within the bound it is read whatever the chunking; past it the document is not
        // vouched for (the usage is then estimated), and nothing past the bound is held.
        for (pad, want) in [(MAX_USAGE_BYTES - 100, true), (MAX_USAGE_BYTES + 1, false)] {
            let body = format!(
                r#"{{"choices":[],"usage":{{"pad":"{}","prompt_tokens":3,"completion_tokens":2}}}}"#,
                "x".repeat(pad)
            );
            for chunk in [1, 7, 4096, body.len()] {
                let j = scan(ApiFormat::OpenAiChat, body.as_bytes(), chunk);
                assert_eq!(
                    j.usage(ApiFormat::OpenAiChat).is_some(),
                    want,
                    "pad {pad}, chunks of {chunk}"
                );
                assert!(j.usage.len() <= MAX_USAGE_BYTES, "{}", j.usage.len());
            }
        }
    }

    #[test]
    fn text_is_decoded_only_when_asked_and_stays_bounded() {
        // Read raw: nothing is decoded while the body streams.
        let body = br#"{"choices":[{"message":{"content":"caf\u00e9 \"x\""}}],"usage":{"prompt_tokens":1}}"#;
        let mut j = JsonText::response(ApiFormat::OpenAiChat, 1 << 16);
        j.feed(body);
        assert!(j.sink.text.is_empty());
        assert_eq!(j.text(), ("café \"x\"", 9));
        // Asked for mid-string: the open string is left for later, then joins in order.
        let mut j = JsonText::all_values(1 << 16);
        j.feed(br#"["one","tw"#);
        assert_eq!(j.text().0, "one\n");
        j.feed(br#"o","three"]"#);
        assert_eq!(j.text(), ("one\ntwo\nthree\n", 14));
        // A string cut at the cap inside an escape keeps what decodes.
        let mut j = JsonText::all_values(4);
        j.feed(br#"["abcd\u00e9fgh"]"#);
        let (text, total) = j.text();
        assert!(text.len() <= 4 && text.starts_with("abc"), "{text:?}");
        assert!(total >= 12, "{total}");
        // A million short strings past the cap add nothing held.
        let many = format!("[{}\"x\"]", "\"x\",".repeat(1_000_000));
        let mut j = JsonText::all_values(1000);
        j.feed(many.as_bytes());
        assert!(j.raw.capacity() < 4096, "{}", j.raw.capacity());
        let (text, total) = j.text();
        assert_eq!(text.len(), 1000);
        assert!(total >= 1_000_001, "{total}");
    }

    #[test]
    fn request_text() {
        let body =
            br#"{"model":"gpt-4o","messages":[{"role":"user","content":"Summarize \"this\""}],"temperature":0.2}"#;
        let mut j = JsonText::all_values(1 << 16);
        j.feed(body);
        assert_eq!(j.text().0, "gpt-4o\nuser\nSummarize \"this\"\n");
    }
}
