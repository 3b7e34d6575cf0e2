//! Per-request state, advanced by each Envoy callback.
//!
//! Headers: recognise the endpoint, authenticate, decide what to strip, then hold the
//! request (Envoy keeps the headers back) until the whole body has arrived. Body: parse,
//! resolve the model, and produce the [`ForwardPlan`] the host applies before letting the
//! request go. Every refusal is a [`LocalResponse`] made before anything goes upstream.

use std::fmt;
use std::sync::Arc;

use serde_json::json;

use crate::api::{endpoint, Api, Endpoint};
use crate::auth::authenticate;
use crate::config::{Compiled, ProviderKind};
use crate::error::{ErrorCode, GatewayError};
use crate::headers::{Headers, UPSTREAM_HEADER};
use crate::request;
use crate::secret::Secret;

/// A response the gateway sends itself instead of forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalResponse {
    pub status: u32,
    pub body: Vec<u8>,
    /// The error code, for logs; `None` for a successful local answer.
    pub code: Option<ErrorCode>,
}

impl LocalResponse {
    fn error(config: &Compiled, err: &GatewayError) -> Self {
        LocalResponse {
            status: err.status(),
            body: err.body(&config.runbook_base_url),
            code: Some(err.code),
        }
    }
}

#[derive(Debug)]
pub enum HeadersOutcome {
    /// Remove these headers now, then hold the request until the body is complete.
    HoldForBody {
        strip: Vec<String>,
    },
    Respond(LocalResponse),
}

#[derive(Debug)]
pub enum BodyOutcome {
    /// More body is coming; keep buffering.
    Buffer,
    Forward(ForwardPlan),
    Respond(LocalResponse),
}

/// A header value to set; secrets stay redacted in `Debug`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    Plain(String),
    Secret(Secret),
}

impl HeaderValue {
    pub fn as_str(&self) -> &str {
        match self {
            HeaderValue::Plain(s) => s,
            HeaderValue::Secret(s) => s.expose(),
        }
    }
}

/// What to change before the request may leave for the provider.
pub struct ForwardPlan {
    pub set_headers: Vec<(&'static str, HeaderValue)>,
    pub remove_headers: Vec<&'static str>,
    /// The whole new body, when it changed.
    pub new_body: Option<Vec<u8>>,
    pub team: String,
    pub model: String,
    pub provider: String,
    pub upstream_model: String,
    pub stream: bool,
}

impl fmt::Debug for ForwardPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForwardPlan")
            .field("set_headers", &self.set_headers)
            .field("remove_headers", &self.remove_headers)
            .field("new_body_len", &self.new_body.as_ref().map(Vec::len))
            .field("team", &self.team)
            .field("model", &self.model)
            .field("provider", &self.provider)
            .finish()
    }
}

enum State {
    Start,
    AwaitBody {
        api: Api,
        team: String,
        client_sent_anthropic_version: bool,
    },
    Done,
}

pub struct RequestFlow {
    config: Arc<Compiled>,
    state: State,
}

impl RequestFlow {
    pub fn new(config: Arc<Compiled>) -> Self {
        RequestFlow {
            config,
            state: State::Start,
        }
    }

    pub fn config(&self) -> &Compiled {
        &self.config
    }

    /// True between accepted headers and the complete body.
    pub fn awaiting_body(&self) -> bool {
        matches!(self.state, State::AwaitBody { .. })
    }

    /// The response for a failure of the gateway itself; the request is not forwarded.
    pub fn internal_error(&mut self, what: &str) -> LocalResponse {
        self.reject(GatewayError::new(
            ErrorCode::GatewayInternalError,
            format!("the gateway could not {what}; the request was not forwarded"),
        ))
    }

    fn reject(&mut self, err: GatewayError) -> LocalResponse {
        self.state = State::Done;
        LocalResponse::error(&self.config, &err)
    }

    pub fn on_headers(
        &mut self,
        pairs: &[(String, Vec<u8>)],
        end_of_stream: bool,
    ) -> HeadersOutcome {
        match self.check_headers(pairs, end_of_stream) {
            Ok(outcome) => outcome,
            Err(e) => HeadersOutcome::Respond(self.reject(e)),
        }
    }

    fn check_headers(
        &mut self,
        pairs: &[(String, Vec<u8>)],
        end_of_stream: bool,
    ) -> Result<HeadersOutcome, GatewayError> {
        let headers = Headers::new(pairs);
        let method = headers.get(":method").unwrap_or_default();
        let path = headers.get(":path").unwrap_or_default();
        let api = match endpoint(method, path) {
            Endpoint::Api(api) => api,
            Endpoint::WrongMethod(m) => {
                return Err(GatewayError::new(ErrorCode::MethodNotAllowed, format!("this endpoint takes {m}")))
            }
            Endpoint::Unknown => {
                return Err(GatewayError::new(
                    ErrorCode::UnsupportedEndpoint,
                    "this gateway serves POST /v1/chat/completions, POST /v1/messages and GET /v1/models",
                ))
            }
        };
        if let Some(name) = headers.first_non_utf8() {
            return Err(GatewayError::new(
                ErrorCode::InvalidRequest,
                format!("header `{name}` has a value that is not valid UTF-8"),
            ));
        }
        let team = authenticate(&self.config, &headers)?.name.clone();

        if api == Api::ListModels {
            self.state = State::Done;
            return Ok(HeadersOutcome::Respond(self.models_list()));
        }
        if let Some(len) = headers.get("content-length") {
            let len = std::str::from_utf8(len)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok());
            match len {
                Some(n) if n > self.config.max_request_body_bytes as u64 => {
                    return Err(self.too_large())
                }
                Some(0) => return Err(body_required()),
                Some(_) => {}
                None => {
                    return Err(GatewayError::new(
                        ErrorCode::InvalidRequest,
                        "content-length is not a number",
                    ))
                }
            }
        }
        if end_of_stream {
            return Err(body_required());
        }
        self.state = State::AwaitBody {
            api,
            team,
            client_sent_anthropic_version: headers.get("anthropic-version").is_some(),
        };
        Ok(HeadersOutcome::HoldForBody {
            strip: headers.to_strip(),
        })
    }

    /// Called for each body chunk with the size buffered so far.
    pub fn on_body_progress(
        &mut self,
        buffered: usize,
        end_of_stream: bool,
    ) -> Option<BodyOutcome> {
        if !matches!(self.state, State::AwaitBody { .. }) {
            return None;
        }
        if buffered > self.config.max_request_body_bytes {
            let err = self.too_large();
            return Some(BodyOutcome::Respond(self.reject(err)));
        }
        if end_of_stream {
            None
        } else {
            Some(BodyOutcome::Buffer)
        }
    }

    /// Called once with the complete body.
    pub fn on_body(&mut self, body: &[u8]) -> BodyOutcome {
        let state = std::mem::replace(&mut self.state, State::Done);
        let State::AwaitBody {
            api,
            team,
            client_sent_anthropic_version,
        } = state
        else {
            return BodyOutcome::Respond(self.reject(GatewayError::new(
                ErrorCode::GatewayInternalError,
                "request body arrived before its headers were accepted",
            )));
        };
        if body.len() > self.config.max_request_body_bytes {
            let err = self.too_large();
            return BodyOutcome::Respond(self.reject(err));
        }
        match self.plan(api, team, client_sent_anthropic_version, body) {
            Ok(plan) => BodyOutcome::Forward(plan),
            Err(e) => BodyOutcome::Respond(self.reject(e)),
        }
    }

    fn plan(
        &self,
        api: Api,
        team: String,
        client_sent_anthropic_version: bool,
        body: &[u8],
    ) -> Result<ForwardPlan, GatewayError> {
        let req = request::parse(api, body)?;
        let config = &self.config;
        let model = config.model(&req.model).ok_or_else(|| {
            GatewayError::new(
                ErrorCode::ModelNotFound,
                format!("model `{}` is not in the gateway's catalog; GET /v1/models lists the models you can use", req.model),
            )
            .with_param("model")
        })?;
        let provider = config.provider(model.provider).ok_or_else(internal)?;
        if provider.kind.api() != api {
            return Err(GatewayError::new(
                ErrorCode::ModelApiMismatch,
                format!(
                    "model `{}` is served through {} ({} provider); send it there",
                    req.model,
                    provider.kind.api().path(),
                    provider.kind.as_str()
                ),
            )
            .with_param("model"));
        }
        let secret = config
            .credential(model.provider)
            .ok_or_else(internal)?
            .clone();

        let mut set_headers = vec![(
            UPSTREAM_HEADER,
            HeaderValue::Plain(provider.upstream.clone()),
        )];
        match provider.kind {
            ProviderKind::OpenAi => {
                set_headers.push((
                    "authorization",
                    HeaderValue::Secret(Secret::new(format!("Bearer {}", secret.expose()))),
                ));
            }
            ProviderKind::Anthropic => {
                set_headers.push(("x-api-key", HeaderValue::Secret(secret)));
                if !client_sent_anthropic_version {
                    set_headers.push((
                        "anthropic-version",
                        HeaderValue::Plain(provider.anthropic_version.clone()),
                    ));
                }
            }
            ProviderKind::AzureOpenAi => {
                set_headers.push(("api-key", HeaderValue::Secret(secret)));
                let version = provider.api_version.as_deref().unwrap_or_default();
                set_headers.push((
                    ":path",
                    HeaderValue::Plain(format!(
                        "/openai/deployments/{}/chat/completions?api-version={}",
                        model.upstream_model, version
                    )),
                ));
            }
        }
        let new_body = req.rewrite_model(body, &model.upstream_model);
        let mut remove_headers = Vec::new();
        if let Some(b) = &new_body {
            set_headers.push(("content-length", HeaderValue::Plain(b.len().to_string())));
            remove_headers.push("transfer-encoding");
        }
        Ok(ForwardPlan {
            set_headers,
            remove_headers,
            new_body,
            team,
            model: model.name.clone(),
            provider: provider.name.clone(),
            upstream_model: model.upstream_model.clone(),
            stream: req.stream,
        })
    }

    fn too_large(&self) -> GatewayError {
        GatewayError::new(
            ErrorCode::RequestTooLarge,
            format!(
                "the request body is larger than this gateway's limit of {} bytes",
                self.config.max_request_body_bytes
            ),
        )
    }

    /// OpenAI's `GET /v1/models` answer, from the catalog.
    fn models_list(&self) -> LocalResponse {
        let data: Vec<_> = self
            .config
            .model_names()
            .into_iter()
            .filter_map(|name| {
                let m = self.config.model(name)?;
                let p = self.config.provider(m.provider)?;
                Some(json!({"id": name, "object": "model", "created": 0, "owned_by": p.name}))
            })
            .collect();
        LocalResponse {
            status: 200,
            body: json!({"object": "list", "data": data})
                .to_string()
                .into_bytes(),
            code: None,
        }
    }
}

fn body_required() -> GatewayError {
    GatewayError::new(
        ErrorCode::InvalidRequest,
        "a request body is required: a JSON object with `model` and `messages`",
    )
}

fn internal() -> GatewayError {
    GatewayError::new(
        ErrorCode::GatewayInternalError,
        "the gateway's catalog is inconsistent; the request was not forwarded",
    )
}

#[cfg(test)]
mod tests;
