//! Reading and rewriting a chat request body.
//!
//! Only the fields the gateway needs are parsed; everything else passes through byte for
//! byte. Rewriting `model` splices the new value into the original bytes, so the provider
//! gets exactly what the client sent but for that one value. A body naming `model` twice
//! is rejected: the gateway must never judge one model while the provider serves another.

pub mod json;
pub mod strings;
pub mod visible;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::api::Api;
use crate::error::{ErrorCode, GatewayError};
use strings::{encode, Edit};

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    model: Option<&'a RawValue>,
    #[serde(borrow, default)]
    messages: Option<&'a RawValue>,
    /// The Responses API's prompt: a string or a list of input items.
    #[serde(borrow, default)]
    input: Option<&'a RawValue>,
    #[serde(default)]
    stream: Option<bool>,
    /// Output caps: chat completions (`max_tokens`, `max_completion_tokens`), Anthropic
    /// messages (`max_tokens`), Responses (`max_output_tokens`). They bound a request's
    /// worst-case cost; a repeated one is refused like a repeated `model`.
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    max_completion_tokens: Option<u64>,
    #[serde(default)]
    max_output_tokens: Option<u64>,
    /// Kept raw, `null` included (a plain `Option` would read `null` as absent, and the
    /// gateway would then add a second `stream_options` key).
    #[serde(borrow, default, deserialize_with = "raw_keeping_null")]
    stream_options: Option<&'a RawValue>,
}

fn raw_keeping_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// The parts of a chat request the gateway acts on.
#[derive(Debug, PartialEq, Eq)]
pub struct ChatRequest {
    /// `model` as the client sent it (decoded).
    pub model: String,
    /// Byte range of the `model` value (quotes included) in the body.
    model_span: (usize, usize),
    pub stream: bool,
    /// Where `stream_options` sits, if the client sent it (and it is not `null`).
    stream_options: Option<(usize, usize)>,
    /// The client asked for usage in the stream (`stream_options.include_usage: true`).
    pub client_asked_usage: bool,
    /// The most output tokens the request allows (the smallest cap it sets), if any.
    pub max_output_tokens: Option<u64>,
}

fn invalid(msg: impl Into<String>) -> GatewayError {
    GatewayError::new(ErrorCode::InvalidRequest, msg)
}

/// Parses and checks a request body for `api`.
pub fn parse(api: Api, body: &[u8]) -> Result<ChatRequest, GatewayError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(invalid("the request body is empty; send a JSON object"));
    }
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(invalid("the request body must be a JSON object"));
    }
    // JSON text is UTF-8; the inspection relies on it (serde_json does not check the
    // strings it only skips).
    let text = std::str::from_utf8(body).map_err(|_| invalid("the request body is not valid UTF-8"))?;
    // From the checked text: `from_slice` would check the UTF-8 of every string it borrows
    // (the raw values hold most of the body) a second time.
    let envelope: Envelope<'_> =
        serde_json::from_str(text).map_err(|e| invalid(format!("the request body is not valid JSON: {e}")))?;

    let raw_model = envelope
        .model
        .ok_or_else(|| invalid("`model` is required").with_param("model"))?;
    let model: String =
        serde_json::from_str(raw_model.get()).map_err(|_| invalid("`model` must be a string").with_param("model"))?;
    if model.is_empty() {
        return Err(invalid("`model` must not be empty").with_param("model"));
    }

    // The body is valid JSON (parsed above): the shape of `input` / `messages` is read from
    // their raw text, without parsing them a second time.
    if api == Api::Responses {
        // `input` is a string or a list of items.
        let input = envelope
            .input
            .ok_or_else(|| invalid("`input` is required").with_param("input"))?;
        if !non_empty(input.get(), true) {
            return Err(invalid("`input` must be a non-empty string or array").with_param("input"));
        }
    } else {
        let messages = envelope
            .messages
            .ok_or_else(|| invalid("`messages` is required").with_param("messages"))?;
        let raw = messages.get().trim_start();
        if !raw.starts_with('[') {
            return Err(invalid("`messages` must be an array").with_param("messages"));
        }
        if !non_empty(raw, false) {
            return Err(invalid("`messages` must not be empty").with_param("messages"));
        }
    }

    let locate = |raw: &RawValue, what: &str| {
        span_of(body, raw.get()).ok_or_else(|| {
            GatewayError::new(
                ErrorCode::GatewayInternalError,
                format!("could not locate `{what}` in the body"),
            )
        })
    };
    let model_span = locate(raw_model, "model")?;
    let (stream_options, client_asked_usage) = match envelope.stream_options {
        Some(raw) => {
            let asked = serde_json::from_str::<serde_json::Value>(raw.get())
                .ok()
                .and_then(|v| v.get("include_usage").and_then(serde_json::Value::as_bool))
                .unwrap_or(false);
            (Some(locate(raw, "stream_options")?), asked)
        }
        None => (None, false),
    };
    let max_output_tokens = [
        envelope.max_tokens,
        envelope.max_completion_tokens,
        envelope.max_output_tokens,
    ]
    .into_iter()
    .flatten()
    .min();
    Ok(ChatRequest {
        model,
        model_span,
        stream: envelope.stream.unwrap_or(false),
        stream_options,
        client_asked_usage,
        max_output_tokens,
    })
}

/// Whether the raw JSON value `raw` is a non-empty array (or, if `string_ok`, a non-empty
/// string).
fn non_empty(raw: &str, string_ok: bool) -> bool {
    let raw = raw.trim();
    if let Some(inner) = raw.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return !inner.trim().is_empty();
    }
    string_ok && raw.starts_with('"') && raw != "\"\""
}

/// Where `part`, a slice borrowed from `whole`, sits in it.
fn span_of(whole: &[u8], part: &str) -> Option<(usize, usize)> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (whole.get(start..end)? == part.as_bytes()).then_some((start, end))
}

impl ChatRequest {
    /// The byte range of the `model` value (quotes included).
    pub fn model_span(&self) -> (usize, usize) {
        self.model_span
    }

    /// The edit that puts `upstream_model` in place of `model`, unless they are the same.
    pub fn model_edit(&self, upstream_model: &str) -> Option<Edit> {
        if self.model == upstream_model {
            return None;
        }
        let (start, end) = self.model_span;
        Some(Edit {
            start,
            end,
            with: encode(upstream_model),
        })
    }

    /// For an OpenAI-style stream whose client did not ask for usage: the edit that turns
    /// `stream_options.include_usage` on, so the provider reports what it counted. The
    /// gateway then removes the extra usage chunk from the stream, so the client sees what
    /// it asked for.
    pub fn force_usage_edit(&self, body: &[u8]) -> Option<Edit> {
        if !self.stream || self.client_asked_usage {
            return None;
        }
        match self.stream_options {
            None => {
                // Insert as the object's first member: right after the opening brace.
                let brace = body.iter().position(|b| *b == b'{')?;
                Some(Edit {
                    start: brace + 1,
                    end: brace + 1,
                    with: br#""stream_options":{"include_usage":true},"#.to_vec(),
                })
            }
            Some((start, end)) => {
                let mut options = match serde_json::from_slice::<serde_json::Value>(body.get(start..end)?).ok()? {
                    serde_json::Value::Object(map) => map,
                    serde_json::Value::Null => serde_json::Map::new(),
                    _ => return None, // not ours to fix; the provider will say what is wrong
                };
                options.insert("include_usage".into(), serde_json::Value::Bool(true));
                Some(Edit {
                    start,
                    end,
                    with: serde_json::Value::Object(options).to_string().into_bytes(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::strings::apply_edits;
    use super::*;

    fn forced(body: &str) -> Option<String> {
        let r = ok(body);
        let edit = r.force_usage_edit(body.as_bytes())?;
        Some(String::from_utf8(apply_edits(body.as_bytes(), vec![edit]).unwrap()).unwrap())
    }

    #[test]
    fn forces_include_usage_only_where_the_client_did_not_ask() {
        let v = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        let out = forced(r#"{"model":"m","messages":[1],"stream":true}"#).unwrap();
        assert_eq!(
            v(&out),
            v(r#"{"stream_options":{"include_usage":true},"model":"m","messages":[1],"stream":true}"#)
        );
        let out =
            forced(r#"{"model":"m","messages":[1],"stream":true,"stream_options":{"include_usage":false,"x":1}}"#)
                .unwrap();
        assert_eq!(v(&out)["stream_options"], v(r#"{"include_usage":true,"x":1}"#));
        let out = forced(r#"{"model":"m","messages":[1],"stream":true,"stream_options":null}"#).unwrap();
        assert_eq!(v(&out)["stream_options"], v(r#"{"include_usage":true}"#));
        assert!(
            ok(r#"{"model":"m","messages":[1],"stream":true,"stream_options":{"include_usage":true}}"#)
                .client_asked_usage
        );
        assert_eq!(
            forced(r#"{"model":"m","messages":[1],"stream":true,"stream_options":{"include_usage":true}}"#),
            None
        );
        assert_eq!(forced(r#"{"model":"m","messages":[1]}"#), None, "not streaming");
        assert_eq!(
            forced(r#"{"model":"m","messages":[1],"stream":true,"stream_options":"odd"}"#),
            None
        );
    }

    fn ok(body: &str) -> ChatRequest {
        parse(Api::ChatCompletions, body.as_bytes()).unwrap()
    }

    fn err(body: &[u8]) -> GatewayError {
        parse(Api::ChatCompletions, body).unwrap_err()
    }

    #[test]
    fn parses_model_and_stream() {
        let r = ok(r#"{"model":"default-chat","messages":[{"role":"user","content":"hi"}],"stream":true}"#);
        assert_eq!(r.model, "default-chat");
        assert!(r.stream);
        let r = ok(r#" {"messages":[{"role":"user","content":"hi"}], "model" : "gpt\u002d4o"} "#);
        assert_eq!(r.model, "gpt-4o");
        assert!(!r.stream);
    }

    #[test]
    fn rewrite_changes_only_the_model_value() {
        let body = r#"{"messages":[{"role":"user","content":"model: keep \"default-chat\""}], "model" : "default-chat","x":{"model":"inner"}}"#;
        let r = ok(body);
        let out = apply_edits(body.as_bytes(), vec![r.model_edit("gpt-4o-2024-08-06").unwrap()]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            body.replace(r#""model" : "default-chat""#, r#""model" : "gpt-4o-2024-08-06""#)
        );
        assert!(r.model_edit("default-chat").is_none());
    }

    #[test]
    fn rewrite_escapes_the_new_name() {
        let body = r#"{"model":"a","messages":[1]}"#;
        let out = apply_edits(body.as_bytes(), vec![ok(body).model_edit("we\"ird").unwrap()]).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"model":"we\"ird","messages":[1]}"#);
    }

    #[test]
    fn rejects_bad_bodies_with_invalid_request() {
        let cases: [&[u8]; 13] = [
            b"",
            b"   ",
            b"not json",
            b"[1,2]",
            b"\"model\"",
            b"{\"model\":\"m\",\"messages\":[1]",
            b"{\"messages\":[{}]}",
            b"{\"model\":5,\"messages\":[{}]}",
            b"{\"model\":\"\",\"messages\":[{}]}",
            b"{\"model\":\"m\"}",
            b"{\"model\":\"m\",\"messages\":{}}",
            b"{\"model\":\"m\",\"messages\":[]}",
            b"{\"model\":\"m\",\"messages\":[{}],\"stream\":\"yes\"}",
        ];
        for body in cases {
            let e = err(body);
            assert_eq!(e.code, ErrorCode::InvalidRequest, "{:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn responses_api_takes_input_not_messages() {
        let r = |b: &str| parse(Api::Responses, b.as_bytes());
        assert_eq!(r(r#"{"model":"m","input":"hi"}"#).unwrap().model, "m");
        assert!(
            r(r#"{"model":"m","input":[{"role":"user","content":"hi"}],"stream":true}"#)
                .unwrap()
                .stream
        );
        for bad in [
            r#"{"model":"m"}"#,
            r#"{"model":"m","input":""}"#,
            r#"{"model":"m","input":[]}"#,
            r#"{"model":"m","input":4}"#,
        ] {
            assert_eq!(r(bad).unwrap_err().param, Some("input"), "{bad}");
        }
        assert!(
            r(r#"{"model":"m","messages":[1]}"#).is_err(),
            "messages is not the Responses API"
        );
    }

    #[test]
    fn rejects_duplicate_model_and_invalid_utf8() {
        assert_eq!(
            err(br#"{"model":"cheap","messages":[{}],"model":"expensive"}"#).code,
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            err(b"{\"model\":\"m\xff\",\"messages\":[{}]}").code,
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            err(b"{\"model\":\"m\",\"messages\":[{}]} trailing").code,
            ErrorCode::InvalidRequest
        );
    }
}
