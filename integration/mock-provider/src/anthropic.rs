//! Anthropic Messages (`POST /v1/messages`).

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use crate::body::SseSource;
use crate::request;
use crate::text::{self, push_json_str, Completion};

/// What the mock needs from a Messages request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagesRequest {
    pub model: String,
    pub stream: bool,
    pub prompt_tokens: u64,
}

/// Validates a Messages body (`model`, `messages` and `max_tokens` are required, as upstream).
pub fn parse(body: &[u8]) -> Result<MessagesRequest, String> {
    let obj = request::parse_object(body)?;
    let model = request::opt_str(&obj, "model")?
        .ok_or_else(|| "model: Field required".to_owned())?
        .to_owned();
    if obj.get("messages").is_none_or(Value::is_null) {
        return Err("messages: Field required".to_owned());
    }
    let messages = request::required_array(&obj, "messages")?;
    if request::opt_u64(&obj, "max_tokens")?.is_none() {
        return Err("max_tokens: Field required".to_owned());
    }
    let system = obj.get("system");
    if system.is_some_and(|s| !(s.is_string() || s.is_array() || s.is_null())) {
        return Err("system: Input should be a valid string or list".to_owned());
    }
    Ok(MessagesRequest {
        model,
        stream: request::opt_bool(&obj, "stream")?,
        prompt_tokens: text::estimate_tokens(&[system, Some(messages)]),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
struct Usage {
    input_tokens: u64,
    cache_creation_input_tokens: u64,
    cache_read_input_tokens: u64,
    output_tokens: u64,
}

fn usage(input: u64, output: u64) -> Usage {
    Usage {
        input_tokens: input,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        output_tokens: output,
    }
}

#[derive(Serialize)]
struct TextBlock<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

#[derive(Serialize)]
struct Message<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<TextBlock<'a>>,
    stop_reason: Option<&'static str>,
    stop_sequence: Option<()>,
    usage: Usage,
}

#[derive(Serialize)]
struct MessageStart<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: Message<'a>,
}

#[derive(Serialize)]
struct StopDelta {
    stop_reason: &'static str,
    stop_sequence: Option<()>,
}

#[derive(Serialize)]
struct MessageDelta {
    #[serde(rename = "type")]
    kind: &'static str,
    delta: StopDelta,
    usage: Usage,
}

/// The non-streaming `message` body.
pub fn message_body(req: &MessagesRequest, completion: &Completion) -> Vec<u8> {
    let id = text::next_id("msg_");
    let content = completion.text();
    text::to_json(&Message {
        id: &id,
        kind: "message",
        role: "assistant",
        model: &req.model,
        content: vec![TextBlock {
            kind: "text",
            text: &content,
        }],
        stop_reason: Some("end_turn"),
        stop_sequence: None,
        usage: usage(req.prompt_tokens, completion.tokens_u64()),
    })
}

/// One SSE record: `event: NAME\ndata: JSON\n\n`.
fn event(name: &str, data: &[u8]) -> Bytes {
    let mut b = Vec::with_capacity(name.len() + data.len() + 16);
    b.extend_from_slice(b"event: ");
    b.extend_from_slice(name.as_bytes());
    b.extend_from_slice(b"\ndata: ");
    b.extend_from_slice(data);
    b.extend_from_slice(b"\n\n");
    b.into()
}

/// The Messages event stream, in Anthropic's order.
pub struct MessagesStream {
    id: String,
    model: String,
    prompt_tokens: u64,
    completion: Completion,
}

impl MessagesStream {
    pub fn new(req: &MessagesRequest, completion: Completion) -> Self {
        Self {
            id: text::next_id("msg_"),
            model: req.model.clone(),
            prompt_tokens: req.prompt_tokens,
            completion,
        }
    }
}

impl SseSource for MessagesStream {
    fn head(&mut self) -> Vec<Bytes> {
        let start = text::to_json(&MessageStart {
            kind: "message_start",
            message: Message {
                id: &self.id,
                kind: "message",
                role: "assistant",
                model: &self.model,
                content: Vec::new(),
                stop_reason: None,
                stop_sequence: None,
                usage: usage(self.prompt_tokens, 1),
            },
        });
        vec![
            event("message_start", &start),
            event(
                "content_block_start",
                br#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            ),
            // Anthropic really sends this one with a space.
            event("ping", br#"{"type": "ping"}"#),
        ]
    }

    fn token(&mut self, i: usize) -> Bytes {
        const HEAD: &[u8] = b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":";
        let token = self.completion.token(i);
        let mut b = Vec::with_capacity(HEAD.len() + token.len() + 8);
        b.extend_from_slice(HEAD);
        push_json_str(&mut b, token);
        b.extend_from_slice(b"}}\n\n");
        b.into()
    }

    fn tail(&mut self) -> Vec<Bytes> {
        let delta = text::to_json(&MessageDelta {
            kind: "message_delta",
            delta: StopDelta {
                stop_reason: "end_turn",
                stop_sequence: None,
            },
            usage: usage(self.prompt_tokens, self.completion.tokens_u64()),
        });
        vec![
            event("content_block_stop", br#"{"type":"content_block_stop","index":0}"#),
            event("message_delta", &delta),
            event("message_stop", br#"{"type":"message_stop"}"#),
        ]
    }

    /// Anthropic's mid-stream failure: an `error` event (the SDKs raise it), then nothing.
    fn error(&mut self) -> Bytes {
        event(
            "error",
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded (x-mock-error-after)"}}"#,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::{tests::drain, MockBody, Pacing};
    use serde_json::json;

    const BODY: &str = r#"{"model":"claude-x","max_tokens":64,"system":"12345678",
        "messages":[{"role":"user","content":[{"type":"text","text":"abcd"}]}]}"#;

    fn split(e: &str) -> (&str, Value) {
        let rest = e.strip_prefix("event: ").unwrap().strip_suffix("\n\n").unwrap();
        let (name, data) = rest.split_once("\ndata: ").unwrap();
        (name, serde_json::from_str(data).unwrap())
    }

    #[test]
    fn parses_requests() {
        let r = parse(BODY.as_bytes()).unwrap();
        assert_eq!(r.model, "claude-x");
        assert_eq!(r.prompt_tokens, 3);
        assert!(!r.stream);
        assert_eq!(
            parse(br#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#),
            Err("max_tokens: Field required".to_owned())
        );
        assert_eq!(
            parse(br#"{"model":"m","max_tokens":1}"#),
            Err("messages: Field required".to_owned())
        );
        assert!(parse(br#"{"max_tokens":1,"messages":[{"role":"user","content":"x"}]}"#).is_err());
    }

    #[test]
    fn non_stream_shape() {
        let r = parse(BODY.as_bytes()).unwrap();
        let v: Value = serde_json::from_slice(&message_body(&r, &Completion::new(8, None))).unwrap();
        assert!(v["id"].as_str().unwrap().starts_with("msg_"));
        assert_eq!(v["type"], "message");
        assert_eq!(v["role"], "assistant");
        assert_eq!(v["model"], "claude-x");
        assert_eq!(v["content"][0]["type"], "text");
        assert_eq!(v["content"][0]["text"], "This is a mock reply from the provider. ");
        assert_eq!(v["stop_reason"], "end_turn");
        assert!(v["stop_sequence"].is_null());
        assert_eq!(v["usage"], serde_json::to_value(usage(3, 8)).unwrap());
    }

    #[tokio::test]
    async fn stream_event_order() {
        let r = parse(BODY.as_bytes()).unwrap();
        let c = Completion::new(2, Some("z\"".into()));
        let pacing = Pacing {
            tokens: 2,
            ..Pacing::default()
        };
        let (ev, aborted) = drain(MockBody::sse(Box::new(MessagesStream::new(&r, c)), pacing)).await;
        assert!(!aborted);
        let parsed: Vec<(&str, Value)> = ev.iter().map(|e| split(e)).collect();
        let names: Vec<&str> = parsed.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "ping",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        for ((name, data), raw) in parsed.iter().zip(&ev) {
            assert_eq!(data["type"], *name);
            // `type` leads every payload, as upstream.
            assert!(raw.contains("\ndata: {\"type\":") || *name == "ping", "{raw}");
        }
        let start = &parsed[0].1["message"];
        assert_eq!(start["model"], "claude-x");
        assert_eq!(start["usage"]["input_tokens"], 3);
        assert_eq!(start["usage"]["output_tokens"], 1);
        assert_eq!(parsed[3].1["delta"], json!({"type": "text_delta", "text": "z\""}));
        let delta = &parsed[6].1;
        assert_eq!(delta["delta"]["stop_reason"], "end_turn");
        assert_eq!(delta["usage"]["output_tokens"], 2);
    }
}
