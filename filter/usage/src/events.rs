//! What one streamed event says, per format: usage, generated text, model name.
//!
//! Events are parsed into small borrowing structs: serde skips every field not named here
//! without building it, several times cheaper than a `serde_json::Value`.

use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;

use crate::lenient::Scalar;
use crate::usage::{AnthropicUsage, RawUsage};
use crate::{ApiFormat, Usage};

/// Collects generated text (content, reasoning, tool calls) up to a cap, counting all of it.
#[derive(Debug, Clone)]
pub(crate) struct TextSink {
    pub text: String,
    pub cap: usize,
    /// Bytes of generated text seen, kept or not.
    pub total_bytes: u64,
}

impl TextSink {
    pub fn new(cap: usize) -> Self {
        Self {
            text: String::new(),
            cap,
            total_bytes: 0,
        }
    }

    /// Whether more text would be kept (past the cap it is only counted).
    pub fn full(&self) -> bool {
        self.text.len() >= self.cap
    }

    /// Counts text that is not kept.
    pub fn count_only(&mut self, bytes: usize) {
        self.total_bytes = self.total_bytes.saturating_add(bytes as u64);
    }

    pub(crate) fn push(&mut self, s: &str) {
        self.total_bytes = self.total_bytes.saturating_add(s.len() as u64);
        let room = self.cap.saturating_sub(self.text.len());
        if s.len() <= room {
            self.text.push_str(s);
        } else {
            // Keep a prefix that ends on a character boundary.
            let mut cut = room;
            while !s.is_char_boundary(cut) {
                cut = cut.saturating_sub(1);
            }
            self.text.push_str(s.get(..cut).unwrap_or_default());
        }
    }

    /// Pushes non-empty strings; tells whether there was any.
    fn extend<'a>(&mut self, texts: impl IntoIterator<Item = Option<Scalar<'a>>>) -> bool {
        let mut any = false;
        for s in texts.into_iter().flatten().filter_map(Scalar::into_text) {
            self.push(&s);
            any = true;
        }
        any
    }
}

/// What the tracker learns from one event.
#[derive(Debug, Default)]
pub(crate) struct EventInfo<'a> {
    /// The event carried generated text (now in the sink).
    pub content: bool,
    pub usage: Option<UsageUpdate>,
    pub model: Option<Cow<'a, str>>,
    /// An OpenAI chat chunk with `"choices": []` and a non-null `usage`.
    pub usage_only: bool,
    /// The event's JSON could not be read.
    pub bad_json: bool,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum UsageUpdate {
    /// Complete usage that replaces any earlier one.
    Replace(Usage),
    /// Anthropic `message_start`: counts so far, output not final.
    AnthropicStart(AnthropicUsage),
    /// Anthropic `message_delta`: cumulative counts, merged field by field.
    AnthropicDelta(AnthropicUsage),
}

/// What an event can still matter for once the stream's first content has been seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Later {
    /// Nothing: neither usage nor generated text.
    Skip,
    /// Generated text only (for an estimate should the usage never come): kept raw, read
    /// at the stream's end only if the estimate is needed.
    Text,
    /// Possibly usage: parsed in full.
    Parse,
}

/// Sorts an event after the first content by a byte search (or its name), without decoding
/// or parsing it: only an event that may carry usage is parsed.
pub(crate) fn later(format: ApiFormat, event: Option<&str>, data: &[u8]) -> Later {
    match format {
        ApiFormat::OpenAiChat => {
            if has_usage(data) {
                Later::Parse
            } else if data.trim_ascii() == b"[DONE]" {
                Later::Skip
            } else {
                Later::Text
            }
        }
        ApiFormat::AnthropicMessages => match event {
            Some("ping" | "content_block_start" | "content_block_stop" | "message_stop") => Later::Skip,
            Some("content_block_delta") => Later::Text,
            // message_delta (the usage), errors, and events without a name: parsed.
            _ => Later::Parse,
        },
        ApiFormat::OpenAiResponses => match event {
            Some(name) if is_text_delta(name) => Later::Text,
            Some(name) if !is_response_event(name) => Later::Skip,
            _ => Later::Parse,
        },
    }
}

/// As [`later`], for an event known to hold no `"usage"` key with a value other than `null`.
pub(crate) fn later_without_usage(format: ApiFormat, event: Option<&str>, data: &[u8]) -> Later {
    match format {
        ApiFormat::OpenAiChat if data.trim_ascii() == b"[DONE]" => Later::Skip,
        ApiFormat::OpenAiChat => Later::Text,
        _ => later(format, event, data),
    }
}

/// Calls `found` with the position of every `"usage"` key in `bytes` (raw stream bytes, not
/// an event's data) whose value may be other than `null`: any not followed, on the same
/// line, by `:` and `null` (spaces and tabs aside). An event's data is its lines' values
/// joined by line breaks, so a key in it with a non-null value is among these.
pub(crate) fn maybe_usage_keys(bytes: &[u8], mut found: impl FnMut(usize)) {
    let blank = |rest: &[u8]| -> usize { rest.iter().take_while(|b| matches!(b, b' ' | b'\t' | b'\x0C')).count() };
    for at in finders().usage.find_iter(bytes) {
        let rest = bytes.get(at.saturating_add(7)..).unwrap_or_default();
        let rest = rest.get(blank(rest)..).unwrap_or_default();
        let null = rest.strip_prefix(b":").is_some_and(|v| {
            let v = v.get(blank(v)..).unwrap_or_default();
            v.starts_with(b"null")
        });
        if !null {
            found(at);
        }
    }
}

/// Reads the generated text of an event [`later`] sorted as [`Later::Text`]: by searching
/// for its keys, without parsing the rest of the event. Tells whether there was any.
pub(crate) fn later_text(format: ApiFormat, data: &str, sink: &mut TextSink) -> bool {
    let keys = match format {
        ApiFormat::OpenAiChat => &OPENAI_TEXT,
        ApiFormat::AnthropicMessages => &ANTHROPIC_TEXT,
        ApiFormat::OpenAiResponses => &RESPONSES_TEXT,
    };
    probe(data, keys, sink)
}

/// An event after the first content, read at once (what the tracker used to do per event,
/// kept for the tests that pin the key search against the full parse).
#[cfg(test)]
pub(crate) fn inspect_later<'a>(
    format: ApiFormat,
    event: Option<&str>,
    data: &'a str,
    sink: &mut TextSink,
) -> EventInfo<'a> {
    match later(format, event, data.as_bytes()) {
        Later::Skip => EventInfo::default(),
        Later::Text => EventInfo {
            content: later_text(format, data, sink),
            ..EventInfo::default()
        },
        Later::Parse => inspect(format, event, data, sink),
    }
}

/// An event that outgrew the parse cap, of which only the end (`tail`, raw) is known: its
/// usage, if the last `"usage"` object in it is complete (a Responses API
/// `response.completed` ends with it). A large event that is not about usage is content.
pub(crate) fn inspect_truncated<'a>(format: ApiFormat, event: Option<&str>, tail: &str) -> EventInfo<'a> {
    let bytes = tail.as_bytes();
    let usage = finders().usage.find_iter(bytes).filter_map(|at| {
        let rest = bytes.get(at.saturating_add(7)..)?.trim_ascii_start();
        let value = rest.strip_prefix(b":")?.trim_ascii_start();
        if !value.starts_with(b"{") {
            return None;
        }
        let mut de = serde_json::Deserializer::from_slice(value);
        RawUsage::deserialize(&mut de).ok()
    });
    let raw = usage.last();
    let content = match format {
        ApiFormat::OpenAiChat => raw.is_none(),
        ApiFormat::AnthropicMessages => event == Some("content_block_delta"),
        ApiFormat::OpenAiResponses => event.is_some_and(is_text_delta),
    };
    let usage = raw.and_then(|raw| match format {
        ApiFormat::AnthropicMessages if event == Some("message_start") => Some(UsageUpdate::AnthropicStart(raw.into())),
        ApiFormat::AnthropicMessages => Some(UsageUpdate::AnthropicDelta(raw.into())),
        _ => raw.normalise(format).map(UsageUpdate::Replace),
    });
    EventInfo {
        content,
        usage,
        bad_json: false,
        ..EventInfo::default()
    }
}

/// Whether the event has a `"usage"` key with a value other than `null`.
fn has_usage(bytes: &[u8]) -> bool {
    finders().usage.find_iter(bytes).any(|at| {
        let rest = bytes.get(at.saturating_add(7)..).unwrap_or_default();
        let rest = rest.trim_ascii_start();
        match rest.strip_prefix(b":") {
            Some(v) => !v.trim_ascii_start().starts_with(b"null"),
            None => false,
        }
    })
}

/// The byte searches used per event, built once.
struct Finders {
    usage: memchr::memmem::Finder<'static>,
    delta: memchr::memmem::Finder<'static>,
}

fn finders() -> &'static Finders {
    static FINDERS: std::sync::OnceLock<Finders> = std::sync::OnceLock::new();
    FINDERS.get_or_init(|| Finders {
        usage: memchr::memmem::Finder::new(b"\"usage\""),
        delta: memchr::memmem::Finder::new(b"\"delta\""),
    })
}

/// Where an event's text is: the keys whose string values are generated text (the same
/// fields the full parse reads as text), searched after the `"delta"` key if `in_delta`.
struct TextKeys {
    in_delta: bool,
    keys: &'static [&'static [u8]],
}

const OPENAI_TEXT: TextKeys = TextKeys {
    in_delta: true,
    keys: &[
        b"content",
        b"reasoning_content",
        b"reasoning",
        b"refusal",
        b"name",
        b"arguments",
    ],
};
const ANTHROPIC_TEXT: TextKeys = TextKeys {
    in_delta: true,
    keys: &[b"text", b"partial_json", b"thinking"],
};
const RESPONSES_TEXT: TextKeys = TextKeys {
    in_delta: false,
    keys: &[b"delta"],
};

/// Pushes into `sink` the string values of the text keys, in the order they appear; tells
/// whether there was a non-empty one. With `in_delta`, only the `"delta"` object is walked
/// (and nothing before or after it); strings are jumped over from quote to backslash.
fn probe(data: &str, text: &TextKeys, sink: &mut TextSink) -> bool {
    let bytes = data.as_bytes();
    if !text.in_delta {
        return walk(data, 0, text.keys, sink, false);
    }
    let Some(at) = finders().delta.find(bytes) else {
        return false;
    };
    let mut i = at.saturating_add(7);
    while bytes.get(i).is_some_and(|b| b.is_ascii_whitespace() || *b == b':') {
        i = i.saturating_add(1);
    }
    if bytes.get(i) != Some(&b'{') {
        return false;
    }
    walk(data, i, text.keys, sink, true)
}

/// Walks JSON from `i`: string values of `keys` go into `sink`. With `one_value`, stops at the
/// end of the value starting at `i` (an object); else runs to the end of `data`.
fn walk(data: &str, mut i: usize, keys: &[&[u8]], sink: &mut TextSink, one_value: bool) -> bool {
    let bytes = data.as_bytes();
    // Per open container (up to 64 deep), whether it is an object.
    let (mut objects, mut depth) = (0u64, 0u32);
    let mut expect_key = !one_value;
    let mut text_key = false;
    let mut any = false;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'{' | b'[' => {
                if depth >= 64 {
                    return any;
                }
                objects = (objects << 1) | u64::from(b == b'{');
                depth = depth.saturating_add(1);
                expect_key = b == b'{';
                text_key = false;
            }
            b'}' | b']' => {
                objects >>= 1;
                depth = depth.saturating_sub(1);
                if depth == 0 && one_value {
                    return any;
                }
                expect_key = false;
            }
            b',' => expect_key = objects & 1 == 1,
            b'"' => {
                let start = i.saturating_add(1);
                let Some((end, escaped)) = string_end(bytes, start) else {
                    return any;
                };
                if expect_key {
                    let key = bytes.get(start..end).unwrap_or_default();
                    text_key = keys.contains(&key);
                    expect_key = false;
                } else if std::mem::take(&mut text_key) {
                    any |= push_string(data, start, end, escaped, sink);
                }
                i = end;
            }
            b':' => {}
            _ if b.is_ascii_whitespace() => {}
            _ => text_key = false,
        }
        i = i.saturating_add(1);
    }
    any
}

/// The closing quote of a string whose text starts at `start`, and whether it has escapes.
fn string_end(bytes: &[u8], start: usize) -> Option<(usize, bool)> {
    let mut j = start;
    let mut escaped = false;
    loop {
        let k = j.saturating_add(memchr::memchr2(b'"', b'\\', bytes.get(j..)?)?);
        if bytes.get(k) == Some(&b'"') {
            return Some((k, escaped));
        }
        escaped = true;
        j = k.saturating_add(2); // the backslash and the character it escapes
    }
}

/// Pushes the string `data[start..end]` (raw, between its quotes) into `sink`, unescaped;
/// tells whether it was non-empty.
fn push_string(data: &str, start: usize, end: usize, escaped: bool, sink: &mut TextSink) -> bool {
    let raw = data.get(start..end).unwrap_or_default();
    if raw.is_empty() {
        return false;
    }
    if sink.full() {
        sink.count_only(raw.len());
    } else if escaped {
        // With its quotes: a JSON string, unescaped by serde.
        let quoted = data
            .get(start.saturating_sub(1)..end.saturating_add(1))
            .unwrap_or_default();
        match serde_json::from_str::<String>(quoted) {
            Ok(s) => sink.push(&s),
            Err(_) => sink.push(raw),
        }
    } else {
        sink.push(raw);
    }
    true
}

/// Reads one event's data, pushing its generated text into `sink`.
pub(crate) fn inspect<'a>(format: ApiFormat, event: Option<&str>, data: &'a str, sink: &mut TextSink) -> EventInfo<'a> {
    let data = data.trim_ascii();
    if data.is_empty() || data == "[DONE]" {
        return EventInfo::default();
    }
    match format {
        ApiFormat::OpenAiChat => openai_chat(data, sink),
        ApiFormat::AnthropicMessages => anthropic(event, data, sink),
        ApiFormat::OpenAiResponses => responses(event, data, sink),
    }
}

fn openai_chat<'a>(data: &'a str, sink: &mut TextSink) -> EventInfo<'a> {
    #[derive(Deserialize)]
    struct Chunk<'a> {
        #[serde(default, borrow)]
        choices: Option<Vec<Choice<'a>>>,
        #[serde(default)]
        usage: Option<RawUsage>,
        #[serde(default, borrow)]
        model: Option<Scalar<'a>>,
    }
    #[derive(Deserialize)]
    struct Choice<'a> {
        #[serde(default, borrow)]
        delta: Option<Delta<'a>>,
    }
    #[derive(Deserialize)]
    struct Delta<'a> {
        #[serde(default, borrow)]
        content: Option<Scalar<'a>>,
        #[serde(default, borrow)]
        reasoning_content: Option<Scalar<'a>>,
        #[serde(default, borrow)]
        reasoning: Option<Scalar<'a>>,
        #[serde(default, borrow)]
        refusal: Option<Scalar<'a>>,
        #[serde(default, borrow)]
        tool_calls: Option<Vec<ToolCall<'a>>>,
    }
    #[derive(Deserialize)]
    struct ToolCall<'a> {
        #[serde(default, borrow)]
        function: Option<Function<'a>>,
    }
    #[derive(Deserialize)]
    struct Function<'a> {
        #[serde(default, borrow)]
        name: Option<Scalar<'a>>,
        #[serde(default, borrow)]
        arguments: Option<Scalar<'a>>,
    }

    let Ok(chunk) = serde_json::from_str::<Chunk<'_>>(data) else {
        return usage_fallback(ApiFormat::OpenAiChat, data);
    };
    let mut info = EventInfo {
        model: chunk.model.and_then(Scalar::into_text),
        ..EventInfo::default()
    };
    let choices = chunk.choices;
    if let Some(u) = chunk.usage {
        info.usage = u.normalise(ApiFormat::OpenAiChat).map(UsageUpdate::Replace);
        info.usage_only = choices.as_ref().is_some_and(Vec::is_empty);
    }
    for delta in choices.into_iter().flatten().filter_map(|c| c.delta) {
        let texts = [delta.content, delta.reasoning_content, delta.reasoning, delta.refusal];
        info.content |= sink.extend(texts);
        // A tool call's first delta may hold only its id; it is content all the same.
        info.content |= delta.tool_calls.as_ref().is_some_and(|c| !c.is_empty());
        for f in delta.tool_calls.into_iter().flatten().filter_map(|t| t.function) {
            sink.extend([f.name, f.arguments]);
        }
    }
    info
}

fn anthropic<'a>(event: Option<&str>, data: &'a str, sink: &mut TextSink) -> EventInfo<'a> {
    #[derive(Deserialize)]
    struct Event<'a> {
        #[serde(default, borrow, rename = "type")]
        kind: Option<Scalar<'a>>,
        #[serde(default, borrow)]
        message: Option<Message<'a>>,
        #[serde(default)]
        usage: Option<RawUsage>,
        #[serde(default, borrow)]
        delta: Option<Delta<'a>>,
    }
    #[derive(Deserialize)]
    struct Message<'a> {
        #[serde(default)]
        usage: Option<RawUsage>,
        #[serde(default, borrow)]
        model: Option<Scalar<'a>>,
    }
    #[derive(Deserialize)]
    struct Delta<'a> {
        #[serde(default, borrow)]
        text: Option<Scalar<'a>>,
        #[serde(default, borrow)]
        partial_json: Option<Scalar<'a>>,
        #[serde(default, borrow)]
        thinking: Option<Scalar<'a>>,
    }

    // Cheap skip by event name: these never carry usage or generated text.
    if let Some("ping" | "content_block_start" | "content_block_stop" | "message_stop") = event {
        return EventInfo::default();
    }
    let Ok(ev) = serde_json::from_str::<Event<'_>>(data) else {
        return usage_fallback(ApiFormat::AnthropicMessages, data);
    };
    let kind = ev.kind.as_ref().and_then(Scalar::as_str).or(event);
    let mut info = EventInfo::default();
    match kind {
        Some("message_start") => {
            if let Some(m) = ev.message {
                info.model = m.model.and_then(Scalar::into_text);
                info.usage = m.usage.map(|u| UsageUpdate::AnthropicStart(u.into()));
            }
        }
        Some("message_delta") => {
            info.usage = ev.usage.map(|u| UsageUpdate::AnthropicDelta(u.into()));
        }
        Some("content_block_delta") => {
            if let Some(d) = ev.delta {
                info.content = sink.extend([d.text, d.partial_json, d.thinking]);
            }
        }
        _ => {}
    }
    info
}

fn responses<'a>(event: Option<&str>, data: &'a str, sink: &mut TextSink) -> EventInfo<'a> {
    #[derive(Deserialize)]
    struct Event<'a> {
        #[serde(default, borrow, rename = "type")]
        kind: Option<Scalar<'a>>,
        #[serde(default, borrow)]
        delta: Option<Scalar<'a>>,
        #[serde(default, borrow)]
        response: Option<Response<'a>>,
    }
    #[derive(Deserialize)]
    struct Response<'a> {
        #[serde(default)]
        usage: Option<RawUsage>,
        #[serde(default, borrow)]
        model: Option<Scalar<'a>>,
    }

    // Cheap skip by event name: only text deltas and the events holding a `response` matter.
    if let Some(name) = event {
        if !(is_text_delta(name) || is_response_event(name)) {
            return EventInfo::default();
        }
    }
    let Ok(ev) = serde_json::from_str::<Event<'_>>(data) else {
        return usage_fallback(ApiFormat::OpenAiResponses, data);
    };
    let mut info = EventInfo::default();
    let kind = ev.kind.as_ref().and_then(Scalar::as_str).or(event);
    if kind.is_some_and(is_text_delta) {
        info.content = sink.extend([ev.delta]);
    }
    if let Some(r) = ev.response {
        info.model = r.model.and_then(Scalar::into_text);
        info.usage = r
            .usage
            .and_then(|u| u.normalise(ApiFormat::OpenAiResponses))
            .map(UsageUpdate::Replace);
    }
    info
}

/// Responses events whose `delta` is generated text (output, refusal, reasoning, tool
/// arguments); audio deltas are base64 and not counted.
fn is_text_delta(name: &str) -> bool {
    name.ends_with(".delta") && name != "response.audio.delta"
}

/// Responses events that embed the response object (model, and usage once done).
fn is_response_event(name: &str) -> bool {
    matches!(
        name,
        "response.created" | "response.in_progress" | "response.completed" | "response.incomplete" | "response.failed"
    )
}

/// For an event the typed parse rejected (say a field of an unexpected type): usage only.
fn usage_fallback(format: ApiFormat, data: &str) -> EventInfo<'_> {
    let mut info = EventInfo {
        bad_json: true,
        ..EventInfo::default()
    };
    // Any usage sits under a literal `"usage"` key; without one there is nothing to salvage.
    if memchr::memmem::find(data.as_bytes(), b"\"usage\"").is_none() {
        return info;
    }
    let Ok(v) = serde_json::from_str::<Value>(data) else {
        return info;
    };
    info.bad_json = false;
    let u = match format {
        ApiFormat::OpenAiChat => v.get("usage"),
        ApiFormat::AnthropicMessages => v.get("usage").or_else(|| v.get("message").and_then(|m| m.get("usage"))),
        ApiFormat::OpenAiResponses => v.get("response").and_then(|r| r.get("usage")),
    };
    let Some(u) = u.filter(|u| !u.is_null()) else {
        return info;
    };
    let Ok(raw) = RawUsage::deserialize(u) else {
        return info;
    };
    info.usage = match format {
        ApiFormat::AnthropicMessages => {
            let raw = AnthropicUsage::from(raw);
            if v.get("type").and_then(Value::as_str) == Some("message_start") {
                Some(UsageUpdate::AnthropicStart(raw))
            } else {
                Some(UsageUpdate::AnthropicDelta(raw))
            }
        }
        _ => raw.normalise(format).map(UsageUpdate::Replace),
    };
    if format == ApiFormat::OpenAiChat {
        info.usage_only = v.get("choices").and_then(Value::as_array).is_some_and(Vec::is_empty);
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text the key search reads after the first token is the text the full parse reads.
    #[test]
    fn later_events_give_the_same_text_as_a_full_parse() {
        let cases: &[(ApiFormat, Option<&str>, &str)] = &[
            (
                ApiFormat::OpenAiChat,
                None,
                r#"{"id":"c","choices":[{"index":0,"delta":{"content":" help"},"finish_reason":null}],"usage":null}"#,
            ),
            (
                ApiFormat::OpenAiChat,
                None,
                r#"{"choices":[{"delta":{"content":"a \"quoted\" line\nnext \u00e9"}}]}"#,
            ),
            (
                ApiFormat::OpenAiChat,
                None,
                r#"{ "choices" : [ { "delta" : { "content" : "spaced out" } } ] }"#,
            ),
            (
                ApiFormat::OpenAiChat,
                None,
                r#"{"choices":[{"delta":{"reasoning_content":"think"}}]}"#,
            ),
            (
                ApiFormat::OpenAiChat,
                None,
                r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}},{"index":1,"function":{"name":"g","arguments":"x"}}]}}]}"#,
            ),
            (ApiFormat::OpenAiChat, None, r#"{"choices":[{"delta":{"content":""}}]}"#),
            (
                ApiFormat::OpenAiChat,
                None,
                r#"{"choices":[{"delta":{"content":"tricky \"content\":\"no\" inside"}}]}"#,
            ),
            (
                ApiFormat::AnthropicMessages,
                Some("content_block_delta"),
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" you doing today?"}}"#,
            ),
            (
                ApiFormat::AnthropicMessages,
                Some("content_block_delta"),
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"location\": \"San"}}"#,
            ),
            (
                ApiFormat::AnthropicMessages,
                Some("content_block_delta"),
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}"#,
            ),
            (
                ApiFormat::OpenAiResponses,
                Some("response.output_text.delta"),
                r#"{"type":"response.output_text.delta","item_id":"m","output_index":0,"content_index":0,"delta":"Hel"}"#,
            ),
            (
                ApiFormat::OpenAiResponses,
                Some("response.function_call_arguments.delta"),
                r#"{"type":"response.function_call_arguments.delta","delta":"{\"a\":1}"}"#,
            ),
        ];
        for (format, event, data) in cases {
            let mut full = TextSink::new(1 << 20);
            let a = inspect(*format, *event, data, &mut full);
            let mut later = TextSink::new(1 << 20);
            let b = inspect_later(*format, *event, data, &mut later);
            assert_eq!(later.text, full.text, "{data}");
            assert_eq!(later.total_bytes, full.total_bytes, "{data}");
            assert_eq!(a.content, b.content, "{data}");
            assert!(b.usage.is_none());
        }
    }

    /// Usage events are still parsed in full after the first token; `"usage":null` is not one.
    #[test]
    fn later_usage_is_found() {
        let mut sink = TextSink::new(64);
        let usage = r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#;
        let info = inspect_later(ApiFormat::OpenAiChat, None, usage, &mut sink);
        assert!(info.usage_only);
        assert!(matches!(info.usage, Some(UsageUpdate::Replace(u)) if u.output_tokens == 2));
        assert!(has_usage(br#"{"usage" : {"a":1}}"#));
        assert!(!has_usage(br#"{"choices":[],"usage":null}"#));
        assert!(!has_usage(br#"{"text":"the usage is high"}"#));
        let delta = r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":15}}"#;
        let info = inspect_later(ApiFormat::AnthropicMessages, Some("message_delta"), delta, &mut sink);
        assert!(matches!(info.usage, Some(UsageUpdate::AnthropicDelta(_))));
    }

    /// Past the text cap, text is counted, not kept.
    #[test]
    fn later_text_past_the_cap_is_counted() {
        let mut sink = TextSink::new(4);
        let data = r#"{"choices":[{"delta":{"content":"abcdefgh"}}]}"#;
        inspect_later(ApiFormat::OpenAiChat, None, data, &mut sink);
        inspect_later(ApiFormat::OpenAiChat, None, data, &mut sink);
        assert_eq!(sink.text, "abcd");
        assert_eq!(sink.total_bytes, 16);
    }
}
