//! Provider-shaped error bodies.

use hyper::StatusCode;
use serde::Serialize;

use crate::text;

/// Which provider's error shape to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    OpenAi,
    Anthropic,
}

/// A provider error ready to send.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub flavor: Flavor,
    pub message: String,
}

impl ApiError {
    pub fn new(flavor: Flavor, status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            flavor,
            message: message.into(),
        }
    }

    pub fn bad_request(flavor: Flavor, message: impl Into<String>) -> Self {
        Self::new(flavor, StatusCode::BAD_REQUEST, message)
    }

    /// The error forced by `x-mock-status`, with the provider's usual wording.
    pub fn injected(flavor: Flavor, status: StatusCode) -> Self {
        let message = match status.as_u16() {
            400 => "Invalid request (x-mock-status).",
            401 => "Invalid API key provided (x-mock-status).",
            403 => "Permission denied (x-mock-status).",
            404 => "The model does not exist (x-mock-status).",
            429 => "Rate limit reached (x-mock-status). Please try again later.",
            500 => "The server had an error while processing your request (x-mock-status).",
            503 | 529 => "Overloaded (x-mock-status).",
            _ => "Mock error (x-mock-status).",
        };
        Self::new(flavor, status, message)
    }

    /// JSON body in the provider's shape.
    pub fn body(&self) -> Vec<u8> {
        let code = self.status.as_u16();
        match self.flavor {
            Flavor::OpenAi => {
                let (kind, code) = openai_type(code);
                text::to_json(&OpenAiError {
                    error: OpenAiDetail {
                        message: &self.message,
                        kind,
                        param: None,
                        code,
                    },
                })
            }
            Flavor::Anthropic => text::to_json(&AnthropicError {
                kind: "error",
                error: AnthropicDetail {
                    kind: anthropic_type(code),
                    message: &self.message,
                },
            }),
        }
    }
}

#[derive(Serialize)]
struct OpenAiError<'a> {
    error: OpenAiDetail<'a>,
}

#[derive(Serialize)]
struct OpenAiDetail<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    param: Option<()>,
    code: Option<&'static str>,
}

#[derive(Serialize)]
struct AnthropicError<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: AnthropicDetail<'a>,
}

#[derive(Serialize)]
struct AnthropicDetail<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a str,
}

/// OpenAI `error.type` and `error.code` for a status.
fn openai_type(status: u16) -> (&'static str, Option<&'static str>) {
    match status {
        401 => ("invalid_request_error", Some("invalid_api_key")),
        403 => ("invalid_request_error", Some("unsupported_country_region_territory")),
        404 => ("invalid_request_error", Some("model_not_found")),
        429 => ("requests", Some("rate_limit_exceeded")),
        500..=599 => ("server_error", None),
        _ => ("invalid_request_error", None),
    }
}

/// Anthropic `error.type` for a status.
fn anthropic_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn body(flavor: Flavor, code: u16) -> Value {
        let e = ApiError::injected(flavor, StatusCode::from_u16(code).unwrap());
        serde_json::from_slice(&e.body()).unwrap()
    }

    #[test]
    fn openai_shape() {
        let v = body(Flavor::OpenAi, 429);
        assert_eq!(v["error"]["type"], "requests");
        assert_eq!(v["error"]["code"], "rate_limit_exceeded");
        assert!(v["error"]["param"].is_null());
        assert!(v["error"]["message"].is_string());
        assert_eq!(body(Flavor::OpenAi, 500)["error"]["type"], "server_error");
        assert_eq!(body(Flavor::OpenAi, 400)["error"]["type"], "invalid_request_error");
    }

    #[test]
    fn anthropic_shape() {
        let v = body(Flavor::Anthropic, 429);
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "rate_limit_error");
        assert!(v["error"]["message"].is_string());
        assert_eq!(body(Flavor::Anthropic, 529)["error"]["type"], "overloaded_error");
        assert_eq!(body(Flavor::Anthropic, 500)["error"]["type"], "api_error");
    }
}
