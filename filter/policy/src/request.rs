//! Reading and rewriting a chat request body.
//!
//! Only the fields the gateway needs are parsed; everything else passes through byte for
//! byte. Rewriting `model` splices the new value into the original bytes, so the provider
//! gets exactly what the client sent but for that one value. A body naming `model` twice
//! is rejected: the gateway must never judge one model while the provider serves another.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::api::Api;
use crate::error::{ErrorCode, GatewayError};

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    model: Option<&'a RawValue>,
    #[serde(borrow, default)]
    messages: Option<&'a RawValue>,
    #[serde(default)]
    stream: Option<bool>,
}

/// The parts of a chat request the gateway acts on.
#[derive(Debug, PartialEq, Eq)]
pub struct ChatRequest {
    /// `model` as the client sent it (decoded).
    pub model: String,
    /// Byte range of the `model` value (quotes included) in the body.
    model_span: (usize, usize),
    pub stream: bool,
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
    let envelope: Envelope<'_> = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("the request body is not valid JSON: {e}")))?;

    let raw_model = envelope
        .model
        .ok_or_else(|| invalid("`model` is required").with_param("model"))?;
    let model: String = serde_json::from_str(raw_model.get())
        .map_err(|_| invalid("`model` must be a string").with_param("model"))?;
    if model.is_empty() {
        return Err(invalid("`model` must not be empty").with_param("model"));
    }

    let messages = envelope
        .messages
        .ok_or_else(|| invalid("`messages` is required").with_param("messages"))?;
    let list: Vec<&RawValue> = serde_json::from_str(messages.get())
        .map_err(|_| invalid("`messages` must be an array").with_param("messages"))?;
    if list.is_empty() {
        return Err(invalid("`messages` must not be empty").with_param("messages"));
    }
    let _ = api; // both APIs share these checks; per-API checks join here as they grow

    let model_span = span_of(body, raw_model.get()).ok_or_else(|| {
        GatewayError::new(
            ErrorCode::GatewayInternalError,
            "could not locate `model` in the body",
        )
    })?;
    Ok(ChatRequest {
        model,
        model_span,
        stream: envelope.stream.unwrap_or(false),
    })
}

/// Where `part`, a slice borrowed from `whole`, sits in it.
fn span_of(whole: &[u8], part: &str) -> Option<(usize, usize)> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (whole.get(start..end)? == part.as_bytes()).then_some((start, end))
}

impl ChatRequest {
    /// The body with `model` replaced by `upstream_model`, or `None` when it is unchanged.
    pub fn rewrite_model(&self, body: &[u8], upstream_model: &str) -> Option<Vec<u8>> {
        if self.model == upstream_model {
            return None;
        }
        let (start, end) = self.model_span;
        let encoded = serde_json::Value::String(upstream_model.to_string()).to_string();
        let mut out = Vec::with_capacity(body.len() + encoded.len());
        out.extend_from_slice(body.get(..start)?);
        out.extend_from_slice(encoded.as_bytes());
        out.extend_from_slice(body.get(end..)?);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> ChatRequest {
        parse(Api::ChatCompletions, body.as_bytes()).unwrap()
    }

    fn err(body: &[u8]) -> GatewayError {
        parse(Api::ChatCompletions, body).unwrap_err()
    }

    #[test]
    fn parses_model_and_stream() {
        let r = ok(
            r#"{"model":"default-chat","messages":[{"role":"user","content":"hi"}],"stream":true}"#,
        );
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
        let out = r
            .rewrite_model(body.as_bytes(), "gpt-4o-2024-08-06")
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            body.replace(
                r#""model" : "default-chat""#,
                r#""model" : "gpt-4o-2024-08-06""#
            )
        );
        assert!(r.rewrite_model(body.as_bytes(), "default-chat").is_none());
    }

    #[test]
    fn rewrite_escapes_the_new_name() {
        let body = r#"{"model":"a","messages":[1]}"#;
        let out = ok(body).rewrite_model(body.as_bytes(), "we\"ird").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"model":"we\"ird","messages":[1]}"#
        );
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
            assert_eq!(
                e.code,
                ErrorCode::InvalidRequest,
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
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
