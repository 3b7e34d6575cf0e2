//! Errors the gateway answers itself, in OpenAI's error shape.
//!
//! Every code is stable (clients and alerts match on it) and has a runbook at
//! `docs/runbooks/<code>.md`; the response links it.

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
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 10] = [
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
            ErrorCode::ClassificationMismatch | ErrorCode::PromptInjectionBlocked => 403,
        }
    }

    /// OpenAI's `error.type`.
    pub fn error_type(self) -> &'static str {
        match self {
            ErrorCode::Unauthorized => "authentication_error",
            ErrorCode::GatewayInternalError => "server_error",
            ErrorCode::ClassificationMismatch | ErrorCode::PromptInjectionBlocked => "permission_error",
            _ => "invalid_request_error",
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

    /// The response body: `{"error": {"message", "type", "param", "code", "runbook_url"}}`.
    pub fn body(&self, runbook_base_url: &str) -> Vec<u8> {
        let runbook = self.runbook_url(runbook_base_url);
        let body = json!({
            "error": {
                "message": format!("{} (runbook: {})", self.message, runbook),
                "type": self.code.error_type(),
                "param": self.param,
                "code": self.code.as_str(),
                "runbook_url": runbook,
            }
        });
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
    fn codes_are_distinct_and_4xx_or_5xx() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()), "duplicate code {}", c.as_str());
            assert!((400..600).contains(&c.status()));
        }
    }
}
