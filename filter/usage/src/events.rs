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
#[derive(Debug)]
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

    fn push(&mut self, s: &str) {
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
