//! OpenAI chat completions (also the Azure OpenAI path form) and the model list.

use bytes::Bytes;
use serde::Serialize;

use crate::body::SseSource;
use crate::request;
use crate::text::{self, push_json_str, push_u64, Completion};

/// What the mock needs from a chat completions request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatRequest {
    pub model: String,
    pub stream: bool,
    pub include_usage: bool,
    pub prompt_tokens: u64,
}

/// Validates a chat completions body. `deployment` is the Azure deployment, if any.
pub fn parse(body: &[u8], deployment: Option<&str>) -> Result<ChatRequest, String> {
    let obj = request::parse_object(body)?;
    let model = match (request::opt_str(&obj, "model")?, deployment) {
        (Some(m), _) => m.to_owned(),
        (None, Some(d)) => d.to_owned(),
        (None, None) => return Err("you must provide a model parameter".to_owned()),
    };
    let messages = request::required_array(&obj, "messages")?;
    let stream = request::opt_bool(&obj, "stream")?;
    let include_usage = match obj.get("stream_options") {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::Object(opts)) if stream => request::opt_bool(opts, "include_usage")?,
        Some(serde_json::Value::Object(_)) => {
            return Err("The 'stream_options' parameter is only allowed when 'stream' is enabled.".to_owned())
        }
        Some(_) => return Err("Invalid type for 'stream_options': expected an object.".to_owned()),
    };
    Ok(ChatRequest {
        model,
        stream,
        include_usage,
        prompt_tokens: text::estimate_tokens(&[Some(messages)]),
    })
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: PromptDetails,
    completion_tokens_details: CompletionDetails,
}

#[derive(Debug, Clone, Copy, Serialize)]
struct PromptDetails {
    cached_tokens: u64,
    audio_tokens: u64,
}

#[derive(Debug, Clone, Copy, Serialize)]
struct CompletionDetails {
    reasoning_tokens: u64,
    audio_tokens: u64,
    accepted_prediction_tokens: u64,
    rejected_prediction_tokens: u64,
}

impl Usage {
    pub fn new(prompt: u64, completion: u64) -> Self {
        Self {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt.saturating_add(completion),
            prompt_tokens_details: PromptDetails {
                cached_tokens: 0,
                audio_tokens: 0,
            },
            completion_tokens_details: CompletionDetails {
                reasoning_tokens: 0,
                audio_tokens: 0,
                accepted_prediction_tokens: 0,
                rejected_prediction_tokens: 0,
            },
        }
    }
}

#[derive(Serialize)]
struct ChatCompletion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [Choice<'a>; 1],
    usage: Usage,
    service_tier: &'static str,
    system_fingerprint: &'static str,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: Message<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: &'a str,
    refusal: Option<()>,
    annotations: [(); 0],
}

/// The non-streaming `chat.completion` body.
pub fn completion_body(req: &ChatRequest, completion: &Completion) -> serde_json::Result<Vec<u8>> {
    let id = text::next_id("chatcmpl-");
    let content = completion.text();
    serde_json::to_vec(&ChatCompletion {
        id: &id,
        object: "chat.completion",
        created: text::unix_now(),
        model: &req.model,
        choices: [Choice {
            index: 0,
            message: Message {
                role: "assistant",
                content: &content,
                refusal: None,
                annotations: [],
            },
            logprobs: None,
            finish_reason: "stop",
        }],
        usage: Usage::new(req.prompt_tokens, completion.tokens_u64()),
        service_tier: "default",
        system_fingerprint: "fp_mock",
    })
}

/// The `chat.completion.chunk` stream, laid out like OpenAI's.
pub struct ChatStream {
    /// `data: {"id":…,"choices":[` shared by every chunk.
    prefix: Vec<u8>,
    completion: Completion,
    /// `Some` when the request asked for `stream_options.include_usage`.
    usage: Option<Usage>,
}

impl ChatStream {
    pub fn new(req: &ChatRequest, completion: Completion) -> Self {
        let mut prefix = Vec::with_capacity(192 + req.model.len());
        prefix.extend_from_slice(b"data: {\"id\":");
        push_json_str(&mut prefix, &text::next_id("chatcmpl-"));
        prefix.extend_from_slice(b",\"object\":\"chat.completion.chunk\",\"created\":");
        push_u64(&mut prefix, text::unix_now());
        prefix.extend_from_slice(b",\"model\":");
        push_json_str(&mut prefix, &req.model);
        prefix.extend_from_slice(b",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_mock\",\"choices\":[");
        let usage = req
            .include_usage
            .then(|| Usage::new(req.prompt_tokens, completion.tokens_u64()));
        Self {
            prefix,
            completion,
            usage,
        }
    }

    /// A chunk with one choice: `delta` is raw JSON, `finish` raw JSON (`null` or a string).
    fn chunk(&self, delta: impl FnOnce(&mut Vec<u8>), finish: &[u8]) -> Bytes {
        let mut b = Vec::with_capacity(self.prefix.len() + 96);
        b.extend_from_slice(&self.prefix);
        b.extend_from_slice(b"{\"index\":0,\"delta\":");
        delta(&mut b);
        b.extend_from_slice(b",\"finish_reason\":");
        b.extend_from_slice(finish);
        b.extend_from_slice(b"}]");
        if self.usage.is_some() {
            b.extend_from_slice(b",\"usage\":null");
        }
        b.extend_from_slice(b"}\n\n");
        b.into()
    }
}

impl SseSource for ChatStream {
    fn head(&mut self) -> Vec<Bytes> {
        let role = self.chunk(
            |b| b.extend_from_slice(br#"{"role":"assistant","content":"","refusal":null}"#),
            b"null",
        );
        vec![role]
    }

    fn token(&mut self, i: usize) -> Bytes {
        let token = self.completion.token(i);
        self.chunk(
            |b| {
                b.extend_from_slice(b"{\"content\":");
                push_json_str(b, token);
                b.push(b'}');
            },
            b"null",
        )
    }

    fn tail(&mut self) -> Vec<Bytes> {
        let mut out = vec![self.chunk(|b| b.extend_from_slice(b"{}"), b"\"stop\"")];
        if let Some(usage) = &self.usage {
            let mut b = self.prefix.clone();
            b.extend_from_slice(b"],\"usage\":");
            // Serializing plain integers cannot fail; fall back to null rather than panic.
            match serde_json::to_vec(usage) {
                Ok(u) => b.extend_from_slice(&u),
                Err(_) => b.extend_from_slice(b"null"),
            }
            b.extend_from_slice(b"}\n\n");
            out.push(b.into());
        }
        out.push(Bytes::from_static(b"data: [DONE]\n\n"));
        out
    }

    /// What OpenAI sends when a stream fails after it started: a `data:` line with an
    /// `error` object (the SDKs raise it as an `APIError`), and nothing after it.
    fn error(&mut self) -> Bytes {
        Bytes::from_static(
            b"data: {\"error\":{\"message\":\"The server had an error while processing your request (x-mock-error-after).\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n",
        )
    }
}

#[derive(Serialize)]
struct ModelList {
    object: &'static str,
    data: Vec<Model>,
}

#[derive(Serialize)]
struct Model {
    id: &'static str,
    object: &'static str,
    created: u64,
    owned_by: &'static str,
}

/// `GET /v1/models`.
pub fn models_body() -> Vec<u8> {
    let data = ["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "gpt-5-nano"]
        .into_iter()
        .map(|id| Model {
            id,
            object: "model",
            created: 1_700_000_000,
            owned_by: "mock-provider",
        })
        .collect();
    text::to_json(&ModelList { object: "list", data })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::{tests::drain, MockBody, Pacing};
    use serde_json::Value;

    fn req(body: &str) -> ChatRequest {
        parse(body.as_bytes(), None).unwrap()
    }

    async fn events(r: &ChatRequest, tokens: usize) -> Vec<String> {
        let c = Completion::new(tokens, None);
        let pacing = Pacing {
            tokens,
            ..Pacing::default()
        };
        let (ev, aborted) = drain(MockBody::sse(Box::new(ChatStream::new(r, c)), pacing)).await;
        assert!(!aborted);
        ev
    }

    fn data(event: &str) -> Value {
        let json = event.strip_prefix("data: ").unwrap().strip_suffix("\n\n").unwrap();
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn parses_requests() {
        let r = req(r#"{"model":"gpt-x","messages":[{"role":"user","content":"12345678"}]}"#);
        assert_eq!(r.model, "gpt-x");
        assert_eq!(r.prompt_tokens, 2);
        assert!(!r.stream && !r.include_usage);
        let r = req(
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,
                       "stream_options":{"include_usage":true}}"#,
        );
        assert!(r.stream && r.include_usage);
        let az = parse(br#"{"messages":[{"role":"user","content":"x"}]}"#, Some("dep1")).unwrap();
        assert_eq!(az.model, "dep1");
        for bad in [
            "not json",
            "[]",
            r#"{"messages":[{"role":"user","content":"x"}]}"#,
            r#"{"model":"m"}"#,
            r#"{"model":"m","messages":"x"}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}}"#,
        ] {
            assert!(parse(bad.as_bytes(), None).is_err(), "{bad}");
        }
    }

    #[test]
    fn non_stream_shape() {
        let r = req(r#"{"model":"gpt-x","messages":[{"role":"user","content":"12345678"}]}"#);
        let body = completion_body(&r, &Completion::new(8, None)).unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["model"], "gpt-x");
        assert_eq!(v["system_fingerprint"], "fp_mock");
        let choice = &v["choices"][0];
        assert_eq!(choice["index"], 0);
        assert_eq!(choice["message"]["role"], "assistant");
        assert_eq!(choice["message"]["content"], "This is a mock reply from the provider. ");
        assert!(choice["message"]["refusal"].is_null());
        assert!(choice["logprobs"].is_null());
        assert_eq!(choice["finish_reason"], "stop");
        let u = &v["usage"];
        assert_eq!(u["prompt_tokens"], 2);
        assert_eq!(u["completion_tokens"], 8);
        assert_eq!(u["total_tokens"], 10);
        assert_eq!(u["prompt_tokens_details"]["cached_tokens"], 0);
        assert_eq!(u["completion_tokens_details"]["reasoning_tokens"], 0);
        assert_eq!(u["completion_tokens_details"]["rejected_prediction_tokens"], 0);
    }

    #[tokio::test]
    async fn stream_with_include_usage() {
        let r = req(r#"{"model":"m\"q","messages":[{"role":"user","content":"12345678"}],
                        "stream":true,"stream_options":{"include_usage":true}}"#);
        let ev = events(&r, 3).await;
        // role, 3 tokens, finish, usage, [DONE]
        assert_eq!(ev.len(), 7);
        assert_eq!(ev.last().unwrap(), "data: [DONE]\n\n");
        let chunks: Vec<Value> = ev[..6].iter().map(|e| data(e)).collect();
        for c in &chunks {
            assert_eq!(c["object"], "chat.completion.chunk");
            assert_eq!(c["model"], "m\"q");
            assert_eq!(c["id"], chunks[0]["id"]);
        }
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(chunks[0]["choices"][0]["delta"]["content"], "");
        let text: String = chunks[1..4]
            .iter()
            .map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(text, "This is a ");
        assert_eq!(chunks[4]["choices"][0]["delta"], serde_json::json!({}));
        assert_eq!(chunks[4]["choices"][0]["finish_reason"], "stop");
        for c in &chunks[..5] {
            assert!(c["usage"].is_null());
            assert!(c.as_object().unwrap().contains_key("usage"));
        }
        let last = &chunks[5];
        assert_eq!(last["choices"], serde_json::json!([]));
        assert_eq!(last["usage"]["prompt_tokens"], 2);
        assert_eq!(last["usage"]["completion_tokens"], 3);
        assert_eq!(last["usage"]["total_tokens"], 5);
    }

    #[tokio::test]
    async fn stream_without_include_usage_has_no_usage_key() {
        let r = req(r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true}"#);
        let ev = events(&r, 8).await;
        assert_eq!(ev.len(), 11);
        assert_eq!(ev.last().unwrap(), "data: [DONE]\n\n");
        for e in &ev[..10] {
            assert!(!data(e).as_object().unwrap().contains_key("usage"), "{e}");
        }
        assert_eq!(data(&ev[9])["choices"][0]["finish_reason"], "stop");
    }

    #[test]
    fn models_list() {
        let v: Value = serde_json::from_slice(&models_body()).unwrap();
        assert_eq!(v["object"], "list");
        assert_eq!(v["data"][0]["object"], "model");
    }
}
