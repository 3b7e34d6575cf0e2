//! OpenAI Responses API (`POST /v1/responses`).

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use crate::body::SseSource;
use crate::request;
use crate::text::{self, push_json_str, push_u64, Completion};

/// What the mock needs from a Responses request.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponsesRequest {
    pub model: String,
    pub stream: bool,
    pub prompt_tokens: u64,
    pub instructions: Option<String>,
    pub max_output_tokens: Option<u64>,
}

/// Validates a Responses body (`model` and `input` are required).
pub fn parse(body: &[u8]) -> Result<ResponsesRequest, String> {
    let obj = request::parse_object(body)?;
    let model = request::opt_str(&obj, "model")?
        .ok_or_else(|| "Missing required parameter: 'model'.".to_owned())?
        .to_owned();
    let input = match obj.get("input") {
        Some(v @ Value::String(_)) => v,
        Some(_) => request::required_array(&obj, "input")?,
        None => return Err("Missing required parameter: 'input'.".to_owned()),
    };
    let instructions = request::opt_str(&obj, "instructions")?.map(str::to_owned);
    Ok(ResponsesRequest {
        model,
        stream: request::opt_bool(&obj, "stream")?,
        prompt_tokens: text::estimate_tokens(&[obj.get("instructions"), Some(input)]),
        instructions,
        max_output_tokens: request::opt_u64(&obj, "max_output_tokens")?,
    })
}

/// Ids and numbers shared by the body and every event of one response.
struct Ids {
    resp: String,
    msg: String,
    created: u64,
}

impl Ids {
    fn new() -> Self {
        Self {
            resp: text::next_id("resp_"),
            msg: text::next_id("msg_"),
            created: text::unix_now(),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
struct Usage {
    input_tokens: u64,
    input_tokens_details: InputDetails,
    output_tokens: u64,
    output_tokens_details: OutputDetails,
    total_tokens: u64,
}

#[derive(Debug, Clone, Copy, Serialize)]
struct InputDetails {
    cached_tokens: u64,
}

#[derive(Debug, Clone, Copy, Serialize)]
struct OutputDetails {
    reasoning_tokens: u64,
}

fn usage(input: u64, output: u64) -> Usage {
    Usage {
        input_tokens: input,
        input_tokens_details: InputDetails { cached_tokens: 0 },
        output_tokens: output,
        output_tokens_details: OutputDetails { reasoning_tokens: 0 },
        total_tokens: input.saturating_add(output),
    }
}

#[derive(Serialize)]
struct TextPart<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    annotations: [(); 0],
    logprobs: [(); 0],
    text: &'a str,
}

fn text_part(text: &str) -> TextPart<'_> {
    TextPart {
        kind: "output_text",
        annotations: [],
        logprobs: [],
        text,
    }
}

#[derive(Serialize)]
struct MessageItem<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    status: &'static str,
    content: Vec<TextPart<'a>>,
    role: &'static str,
}

fn message_item<'a>(ids: &'a Ids, status: &'static str, text: Option<&'a str>) -> MessageItem<'a> {
    MessageItem {
        id: &ids.msg,
        kind: "message",
        status,
        content: text.map(text_part).into_iter().collect(),
        role: "assistant",
    }
}

#[derive(Serialize)]
struct Reasoning {
    effort: Option<()>,
    summary: Option<()>,
}

#[derive(Serialize)]
struct TextFormat {
    format: FormatType,
}

#[derive(Serialize)]
struct FormatType {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct Empty {}

/// The `response` object.
#[derive(Serialize)]
struct ResponseObject<'a> {
    id: &'a str,
    object: &'static str,
    created_at: u64,
    status: &'static str,
    background: bool,
    completed_at: Option<u64>,
    error: Option<()>,
    incomplete_details: Option<()>,
    instructions: Option<&'a str>,
    max_output_tokens: Option<u64>,
    model: &'a str,
    output: Vec<MessageItem<'a>>,
    parallel_tool_calls: bool,
    previous_response_id: Option<()>,
    reasoning: Reasoning,
    service_tier: &'static str,
    store: bool,
    temperature: f64,
    text: TextFormat,
    tool_choice: &'static str,
    tools: [(); 0],
    top_p: f64,
    truncation: &'static str,
    usage: Option<Usage>,
    user: Option<()>,
    metadata: Empty,
}

/// `text` is `Some` (and `usage` set) once completed; `None` while in progress.
fn response_object<'a>(
    req: &'a ResponsesRequest,
    ids: &'a Ids,
    text: Option<&'a str>,
    usage: Option<Usage>,
) -> ResponseObject<'a> {
    let completed = text.is_some();
    ResponseObject {
        id: &ids.resp,
        object: "response",
        created_at: ids.created,
        status: if completed { "completed" } else { "in_progress" },
        background: false,
        completed_at: completed.then_some(ids.created),
        error: None,
        incomplete_details: None,
        instructions: req.instructions.as_deref(),
        max_output_tokens: req.max_output_tokens,
        model: &req.model,
        output: text
            .map(|t| message_item(ids, "completed", Some(t)))
            .into_iter()
            .collect(),
        parallel_tool_calls: true,
        previous_response_id: None,
        reasoning: Reasoning {
            effort: None,
            summary: None,
        },
        service_tier: "default",
        store: true,
        temperature: 1.0,
        text: TextFormat {
            format: FormatType { kind: "text" },
        },
        tool_choice: "auto",
        tools: [],
        top_p: 1.0,
        truncation: "disabled",
        usage,
        user: None,
        metadata: Empty {},
    }
}

/// The non-streaming `response` body.
pub fn response_body(req: &ResponsesRequest, completion: &Completion) -> Vec<u8> {
    let ids = Ids::new();
    let text = completion.text();
    let usage = usage(req.prompt_tokens, completion.tokens_u64());
    text::to_json(&response_object(req, &ids, Some(&text), Some(usage)))
}

/// An event payload: `type` and `sequence_number` first, then the event's own fields.
#[derive(Serialize)]
struct Event<'a, T> {
    #[serde(rename = "type")]
    kind: &'a str,
    sequence_number: u64,
    #[serde(flatten)]
    data: T,
}

#[derive(Serialize)]
struct ResponseEvent<'a> {
    response: ResponseObject<'a>,
}

#[derive(Serialize)]
struct ItemEvent<'a> {
    output_index: u32,
    item: MessageItem<'a>,
}

#[derive(Serialize)]
struct PartEvent<'a> {
    item_id: &'a str,
    output_index: u32,
    content_index: u32,
    part: TextPart<'a>,
}

#[derive(Serialize)]
struct TextDoneEvent<'a> {
    item_id: &'a str,
    output_index: u32,
    content_index: u32,
    text: &'a str,
    logprobs: [(); 0],
}

fn event<T: Serialize>(name: &str, seq: u64, data: T) -> Bytes {
    let json = text::to_json(&Event {
        kind: name,
        sequence_number: seq,
        data,
    });
    let mut b = Vec::with_capacity(name.len() + json.len() + 16);
    b.extend_from_slice(b"event: ");
    b.extend_from_slice(name.as_bytes());
    b.extend_from_slice(b"\ndata: ");
    b.extend_from_slice(&json);
    b.extend_from_slice(b"\n\n");
    b.into()
}

/// The Responses event stream: created, in_progress, item/part added, text deltas,
/// text/part/item done, completed (with usage).
pub struct ResponsesStream {
    req: ResponsesRequest,
    ids: Ids,
    completion: Completion,
    /// Token events sent so far (numbers an error event that cuts the stream short).
    sent: u64,
}

/// Sequence number of the first `response.output_text.delta`.
const FIRST_DELTA_SEQ: u64 = 4;

impl ResponsesStream {
    pub fn new(req: &ResponsesRequest, completion: Completion) -> Self {
        Self {
            req: req.clone(),
            ids: Ids::new(),
            completion,
            sent: 0,
        }
    }
}

impl SseSource for ResponsesStream {
    fn head(&mut self) -> Vec<Bytes> {
        let (req, ids) = (&self.req, &self.ids);
        let pending = || ResponseEvent {
            response: response_object(req, ids, None, None),
        };
        vec![
            event("response.created", 0, pending()),
            event("response.in_progress", 1, pending()),
            event(
                "response.output_item.added",
                2,
                ItemEvent {
                    output_index: 0,
                    item: message_item(ids, "in_progress", None),
                },
            ),
            event(
                "response.content_part.added",
                3,
                PartEvent {
                    item_id: &ids.msg,
                    output_index: 0,
                    content_index: 0,
                    part: text_part(""),
                },
            ),
        ]
    }

    fn token(&mut self, i: usize) -> Bytes {
        const NAME: &[u8] =
            b"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":";
        let token = self.completion.token(i);
        self.sent = (i as u64).saturating_add(1);
        let mut b = Vec::with_capacity(NAME.len() + self.ids.msg.len() + token.len() + 96);
        b.extend_from_slice(NAME);
        push_u64(&mut b, FIRST_DELTA_SEQ.saturating_add(i as u64));
        b.extend_from_slice(b",\"item_id\":");
        push_json_str(&mut b, &self.ids.msg);
        b.extend_from_slice(b",\"output_index\":0,\"content_index\":0,\"delta\":");
        push_json_str(&mut b, token);
        b.extend_from_slice(b",\"logprobs\":[]}\n\n");
        b.into()
    }

    fn tail(&mut self) -> Vec<Bytes> {
        let (req, ids) = (&self.req, &self.ids);
        let text = self.completion.text();
        let seq = FIRST_DELTA_SEQ.saturating_add(self.completion.tokens_u64());
        let usage = usage(req.prompt_tokens, self.completion.tokens_u64());
        vec![
            event(
                "response.output_text.done",
                seq,
                TextDoneEvent {
                    item_id: &ids.msg,
                    output_index: 0,
                    content_index: 0,
                    text: &text,
                    logprobs: [],
                },
            ),
            event(
                "response.content_part.done",
                seq + 1,
                PartEvent {
                    item_id: &ids.msg,
                    output_index: 0,
                    content_index: 0,
                    part: text_part(&text),
                },
            ),
            event(
                "response.output_item.done",
                seq + 2,
                ItemEvent {
                    output_index: 0,
                    item: message_item(ids, "completed", Some(&text)),
                },
            ),
            event(
                "response.completed",
                seq + 3,
                ResponseEvent {
                    response: response_object(req, ids, Some(&text), Some(usage)),
                },
            ),
        ]
    }

    /// The Responses API's mid-stream failure: an `error` event, then nothing.
    fn error(&mut self) -> Bytes {
        event(
            "error",
            FIRST_DELTA_SEQ.saturating_add(self.sent),
            ErrorEvent {
                code: "server_error",
                message: "The server had an error while processing your request (x-mock-error-after).",
                param: None,
            },
        )
    }
}

#[derive(Serialize)]
struct ErrorEvent {
    code: &'static str,
    message: &'static str,
    param: Option<()>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::{tests::drain, MockBody, Pacing};

    fn split(e: &str) -> (&str, Value) {
        let rest = e.strip_prefix("event: ").unwrap().strip_suffix("\n\n").unwrap();
        let (name, data) = rest.split_once("\ndata: ").unwrap();
        (name, serde_json::from_str(data).unwrap())
    }

    #[test]
    fn parses_requests() {
        let r = parse(br#"{"model":"gpt-x","input":"12345678","instructions":"abcd"}"#).unwrap();
        assert_eq!(r.prompt_tokens, 3);
        assert_eq!(r.instructions.as_deref(), Some("abcd"));
        let r = parse(br#"{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"12345678"}]}],"stream":true}"#).unwrap();
        assert_eq!(r.prompt_tokens, 2);
        assert!(r.stream);
        assert!(parse(br#"{"model":"m"}"#).is_err());
        assert!(parse(br#"{"input":"x"}"#).is_err());
        assert!(parse(br#"{"model":"m","input":5}"#).is_err());
    }

    #[test]
    fn non_stream_shape() {
        let r = parse(br#"{"model":"gpt-x","input":"12345678"}"#).unwrap();
        let v: Value = serde_json::from_slice(&response_body(&r, &Completion::new(8, None))).unwrap();
        assert!(v["id"].as_str().unwrap().starts_with("resp_"));
        assert_eq!(v["object"], "response");
        assert_eq!(v["status"], "completed");
        assert_eq!(v["model"], "gpt-x");
        assert_eq!(v["output"][0]["type"], "message");
        assert_eq!(v["output"][0]["content"][0]["type"], "output_text");
        assert_eq!(
            v["output"][0]["content"][0]["text"],
            "This is a mock reply from the provider. "
        );
        assert_eq!(v["usage"], serde_json::to_value(usage(2, 8)).unwrap());
    }

    #[tokio::test]
    async fn stream_events() {
        let r = parse(br#"{"model":"gpt-x","input":"12345678","stream":true}"#).unwrap();
        let pacing = Pacing {
            tokens: 3,
            ..Pacing::default()
        };
        let stream = ResponsesStream::new(&r, Completion::new(3, None));
        let (ev, aborted) = drain(MockBody::sse(Box::new(stream), pacing)).await;
        assert!(!aborted);
        let parsed: Vec<(&str, Value)> = ev.iter().map(|e| split(e)).collect();
        let names: Vec<&str> = parsed.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed"
            ]
        );
        for (i, (name, data)) in parsed.iter().enumerate() {
            assert_eq!(data["type"], *name);
            let lead = format!("\ndata: {{\"type\":\"{name}\",\"sequence_number\":{i},");
            assert!(ev[i].contains(&lead), "{}", ev[i]);
            assert_eq!(data["sequence_number"], i as u64);
        }
        assert!(parsed[0].1["response"]["usage"].is_null());
        assert_eq!(parsed[4].1["delta"], "This ");
        assert_eq!(parsed[7].1["text"], "This is a ");
        let done = &parsed[10].1["response"];
        assert_eq!(done["status"], "completed");
        assert_eq!(done["usage"], serde_json::to_value(usage(2, 3)).unwrap());
        assert_eq!(done["output"][0]["content"][0]["text"], "This is a ");
    }
}
