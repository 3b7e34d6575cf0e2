//! Errors the gateway answers itself, in the shape of the API the client called: Anthropic's
//! on `/v1/messages`, OpenAI's everywhere else, so each official SDK reads its own error.
//!
//! Every code is stable (clients and alerts match on it) and has a runbook at
//! `docs/runbooks/<code>.md`; the response links it. Envoy's own local replies (timeouts,
//! unreachable providers) are mapped to the same two shapes by `local_reply_config`, which
//! `scripts/render-envoy` writes.

use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Missing, malformed or unknown team key.
    Unauthorized,
    /// The model is not in the catalog.
    ModelNotFound,
    /// The body or headers are not a valid request.
    InvalidRequest,
    /// The body is larger than `max_request_body_bytes`.
    RequestTooLarge,
    /// The path is not one the gateway serves.
    UnsupportedEndpoint,
    /// A served path called with the wrong method.
    MethodNotAllowed,
    /// The model is served through the other API (chat completions vs messages).
    ModelApiMismatch,
    /// The gateway could not complete its own work; the request was not forwarded.
    GatewayInternalError,
    /// The prompt carries data above the classifications the model is approved for.
    ClassificationMismatch,
    /// The prompt matches a prompt-injection rule whose action is `block`.
    PromptInjectionBlocked,
    /// The team's `allowed_models` does not list the model.
    ModelNotAllowed,
    /// Over a requests- or tokens-per-minute limit (answered by the rate limit service).
    RateLimited,
    /// Over a daily or monthly spend budget (answered by the rate limit service).
    TeamBudgetExceeded,
    /// The rate limit service could not answer and the limit fails closed.
    RateLimitUnavailable,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 14] = [
        ErrorCode::Unauthorized,
        ErrorCode::ModelNotFound,
        ErrorCode::InvalidRequest,
        ErrorCode::RequestTooLarge,
        ErrorCode::UnsupportedEndpoint,
        ErrorCode::MethodNotAllowed,
        ErrorCode::ModelApiMismatch,
        ErrorCode::GatewayInternalError,
        ErrorCode::ClassificationMismatch,
        ErrorCode::PromptInjectionBlocked,
        ErrorCode::ModelNotAllowed,
        ErrorCode::RateLimited,
        ErrorCode::TeamBudgetExceeded,
        ErrorCode::RateLimitUnavailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::ModelNotFound => "model_not_found",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::RequestTooLarge => "request_too_large",
            ErrorCode::UnsupportedEndpoint => "unsupported_endpoint",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::ModelApiMismatch => "model_api_mismatch",
            ErrorCode::GatewayInternalError => "gateway_internal_error",
            ErrorCode::ClassificationMismatch => "classification_mismatch",
            ErrorCode::PromptInjectionBlocked => "prompt_injection_blocked",
            ErrorCode::ModelNotAllowed => "model_not_allowed",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::TeamBudgetExceeded => "team_budget_exceeded",
            ErrorCode::RateLimitUnavailable => "rate_limit_unavailable",
        }
    }

    pub fn status(self) -> u32 {
        match self {
            ErrorCode::Unauthorized => 401,
            ErrorCode::ModelNotFound => 404,
            ErrorCode::InvalidRequest => 400,
            ErrorCode::RequestTooLarge => 413,
            ErrorCode::UnsupportedEndpoint => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::ModelApiMismatch => 400,
            ErrorCode::GatewayInternalError => 500,
            ErrorCode::ClassificationMismatch | ErrorCode::PromptInjectionBlocked | ErrorCode::ModelNotAllowed => 403,
            ErrorCode::RateLimited | ErrorCode::TeamBudgetExceeded => 429,
            ErrorCode::RateLimitUnavailable => 503,
        }
    }

    /// Anthropic's `error.type` for the same status (docs.anthropic.com/en/api/errors).
    pub fn anthropic_type(self) -> &'static str {
        match self {
            ErrorCode::Unauthorized => "authentication_error",
            ErrorCode::ModelNotFound | ErrorCode::UnsupportedEndpoint => "not_found_error",
            ErrorCode::RequestTooLarge => "request_too_large",
            ErrorCode::GatewayInternalError => "api_error",
            ErrorCode::ClassificationMismatch | ErrorCode::PromptInjectionBlocked | ErrorCode::ModelNotAllowed => {
                "permission_error"
            }
            ErrorCode::InvalidRequest | ErrorCode::MethodNotAllowed | ErrorCode::ModelApiMismatch => {
                "invalid_request_error"
            }
            ErrorCode::RateLimited | ErrorCode::TeamBudgetExceeded => "rate_limit_error",
            ErrorCode::RateLimitUnavailable => "overloaded_error",
        }
    }

    /// OpenAI's `error.type`.
    pub fn error_type(self) -> &'static str {
        match self {
            ErrorCode::Unauthorized => "authentication_error",
            ErrorCode::GatewayInternalError | ErrorCode::RateLimitUnavailable => "server_error",
            ErrorCode::ClassificationMismatch | ErrorCode::PromptInjectionBlocked | ErrorCode::ModelNotAllowed => {
                "permission_error"
            }
            // OpenAI's own type for 429s (`requests` for rate limits, `insufficient_quota` codes).
            ErrorCode::RateLimited | ErrorCode::TeamBudgetExceeded => "rate_limit_error",
            _ => "invalid_request_error",
        }
    }
}

/// Whose error shape a reply takes: the calling SDK must be able to read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// `{"error": {"message", "type", "param", "code", "runbook_url"}}`.
    #[default]
    OpenAi,
    /// `{"type": "error", "error": {"type", "message", "code", "runbook_url", "details":
    /// {"error_code"}}, "message", "request_id"}`; the SDKs read `error.details.error_code`
    /// as the stable code (`APIStatusError.error_code` in Python, `.errorCode` in Node). The
    /// top-level `message` (the same text) is an addition: Anthropic's Node SDK builds its
    /// `err.message` from it, and would show the body's JSON without it.
    Anthropic,
}

impl Dialect {
    /// Anthropic's shape for `/v1/messages` and every path under it (`/v1/messages/batches`,
    /// `/v1/messages/count_tokens`), whatever the method; OpenAI's for every other path.
    pub fn for_path(path: &[u8]) -> Dialect {
        let path = path.split(|b| *b == b'?').next().unwrap_or_default();
        match path.strip_prefix(b"/v1/messages".as_slice()) {
            Some(rest) if rest.is_empty() || rest.starts_with(b"/") => Dialect::Anthropic,
            _ => Dialect::OpenAi,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayError {
    pub code: ErrorCode,
    /// Human-readable; never contains a key, a credential or prompt text.
    pub message: String,
    /// The request field at fault, where there is one (OpenAI's `error.param`).
    pub param: Option<&'static str>,
}

impl GatewayError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        GatewayError {
            code,
            message: message.into(),
            param: None,
        }
    }

    pub fn with_param(mut self, param: &'static str) -> Self {
        self.param = Some(param);
        self
    }

    pub fn status(&self) -> u32 {
        self.code.status()
    }

    pub fn runbook_url(&self, runbook_base_url: &str) -> String {
        format!("{}{}.md", runbook_base_url, self.code.as_str())
    }

    /// The message as the client reads it: what went wrong, then the runbook link.
    pub fn client_message(&self, runbook_base_url: &str) -> String {
        format!("{} (runbook: {})", self.message, self.runbook_url(runbook_base_url))
    }

    /// The response body in OpenAI's shape:
    /// `{"error": {"message", "type", "param", "code", "runbook_url"}}`.
    pub fn body(&self, runbook_base_url: &str) -> Vec<u8> {
        self.body_for(Dialect::OpenAi, runbook_base_url, None)
    }

    /// The response body in `dialect`'s shape. `request_id` (Envoy's `x-request-id`) goes
    /// into Anthropic's top-level `request_id`, as Anthropic's API sends one.
    pub fn body_for(&self, dialect: Dialect, runbook_base_url: &str, request_id: Option<&str>) -> Vec<u8> {
        let runbook = self.runbook_url(runbook_base_url);
        let message = self.client_message(runbook_base_url);
        let code = self.code.as_str();
        let body = match dialect {
            Dialect::OpenAi => json!({
                "error": {
                    "message": message,
                    "type": self.code.error_type(),
                    "param": self.param,
                    "code": code,
                    "runbook_url": runbook,
                }
            }),
            Dialect::Anthropic => {
                let mut body = json!({
                    "type": "error",
                    "error": {
                        "type": self.code.anthropic_type(),
                        "message": message,
                        "code": code,
                        "runbook_url": runbook,
                        "details": {"error_code": code},
                    },
                    "message": message,
                });
                if let (Some(id), Some(map)) = (request_id, body.as_object_mut()) {
                    map.insert("request_id".into(), id.into());
                }
                body
            }
        };
        body.to_string().into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_openai_shape_with_runbook() {
        let e = GatewayError::new(ErrorCode::ModelNotFound, "model 'x' is not in the catalog").with_param("model");
        let v: serde_json::Value = serde_json::from_slice(&e.body("https://rb/")).unwrap();
        assert_eq!(v["error"]["code"], "model_not_found");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["param"], "model");
        assert_eq!(v["error"]["runbook_url"], "https://rb/model_not_found.md");
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with("(runbook: https://rb/model_not_found.md)"));
        assert_eq!(e.status(), 404);
    }

    #[test]
    fn body_has_anthropic_shape_on_messages() {
        let e = GatewayError::new(ErrorCode::ClassificationMismatch, "confidential data").with_param("messages");
        let v: serde_json::Value =
            serde_json::from_slice(&e.body_for(Dialect::Anthropic, "https://rb/", Some("req-1"))).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["request_id"], "req-1");
        assert_eq!(v["error"]["type"], "permission_error");
        assert_eq!(v["error"]["code"], "classification_mismatch");
        assert_eq!(v["error"]["details"]["error_code"], "classification_mismatch");
        assert_eq!(v["error"]["runbook_url"], "https://rb/classification_mismatch.md");
        assert_eq!(
            v["error"]["message"],
            "confidential data (runbook: https://rb/classification_mismatch.md)"
        );
        assert_eq!(v["message"], v["error"]["message"]);
        assert!(
            v["error"].get("param").is_none(),
            "OpenAI's param is not part of Anthropic's shape"
        );
        let without_id: serde_json::Value =
            serde_json::from_slice(&e.body_for(Dialect::Anthropic, "https://rb/", None)).unwrap();
        assert!(without_id.get("request_id").is_none());
    }

    #[test]
    fn every_code_has_an_anthropic_type_of_its_status() {
        for c in ErrorCode::ALL {
            let expected = match c.status() {
                400 | 405 => "invalid_request_error",
                401 => "authentication_error",
                403 => "permission_error",
                404 => "not_found_error",
                413 => "request_too_large",
                429 => "rate_limit_error",
                500 => "api_error",
                // Anthropic's own is 529 `overloaded_error`; the gateway's 503 (the rate limit
                // service cannot answer) is the same condition for a client.
                503 => "overloaded_error",
                other => panic!("no Anthropic type for status {other}"),
            };
            assert_eq!(c.anthropic_type(), expected, "{}", c.as_str());
        }
    }

    #[test]
    fn dialect_follows_the_path() {
        for p in [
            "/v1/messages",
            "/v1/messages/",
            "/v1/messages?beta=true",
            "/v1/messages/count_tokens",
        ] {
            assert_eq!(Dialect::for_path(p.as_bytes()), Dialect::Anthropic, "{p}");
        }
        for p in [
            "/v1/chat/completions",
            "/v1/messagesx",
            "/v1/models",
            "/",
            "",
            "/v1/responses?x=/v1/messages",
        ] {
            assert_eq!(Dialect::for_path(p.as_bytes()), Dialect::OpenAi, "{p}");
        }
    }

    #[test]
    fn codes_are_distinct_and_4xx_or_5xx() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()), "duplicate code {}", c.as_str());
            assert!((400..600).contains(&c.status()));
        }
    }
}
