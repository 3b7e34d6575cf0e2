//! Request routing: control endpoints, then the provider APIs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{HeaderMap, Method, Request, Response, StatusCode};

use crate::anthropic::{self, MessagesStream};
use crate::body::{MockBody, Pacing, SplitBody, SseSource};
use crate::controls::{Controls, InstanceControls};
use crate::errors::{ApiError, Flavor};
use crate::openai::{self, ChatStream};
use crate::record::Recorder;
use crate::replay::{self, LoadError};
use crate::responses::{self, ResponsesStream};
use crate::text::{self, Completion};

/// Largest request body accepted.
const MAX_BODY: usize = 64 << 20;

pub struct State {
    pub recorder: Recorder,
    /// `--fixtures DIR`, for `x-mock-replay`.
    pub fixtures: Option<PathBuf>,
    /// `PUT /__mock/controls`: controls for every provider request of this instance.
    pub controls: InstanceControls,
}

/// `x-mock-reset`: the request's connection is dropped without a response. hyper closes an
/// HTTP/1 connection (and resets an HTTP/2 stream) when the service answers with an error.
#[derive(Debug)]
pub struct Reset;

impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("x-mock-reset")
    }
}

impl std::error::Error for Reset {}

impl State {
    pub fn new(recorder: Recorder) -> Self {
        Self {
            recorder,
            fixtures: None,
            controls: InstanceControls::default(),
        }
    }

    pub fn with_fixtures(mut self, dir: Option<PathBuf>) -> Self {
        self.fixtures = dir;
        self
    }
}

/// The provider API a request is for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Api {
    Chat { deployment: Option<String> },
    Messages,
    Responses,
}

impl Api {
    fn flavor(&self) -> Flavor {
        match self {
            Self::Messages => Flavor::Anthropic,
            _ => Flavor::OpenAi,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Api(Api),
    Models,
    WrongMethod(Flavor),
    NotFound,
}

fn route(method: &Method, path: &str) -> Route {
    let api = match path {
        "/v1/chat/completions" => Some(Api::Chat { deployment: None }),
        "/v1/messages" => Some(Api::Messages),
        "/v1/responses" => Some(Api::Responses),
        "/v1/models" => {
            return match *method {
                Method::GET => Route::Models,
                _ => Route::WrongMethod(Flavor::OpenAi),
            }
        }
        _ => azure_deployment(path).map(|d| Api::Chat {
            deployment: Some(d.to_owned()),
        }),
    };
    match (api, method) {
        (Some(api), &Method::POST) => Route::Api(api),
        (Some(api), _) => Route::WrongMethod(api.flavor()),
        (None, _) => Route::NotFound,
    }
}

/// `/openai/deployments/{deployment}/chat/completions` → `deployment`.
fn azure_deployment(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/openai/deployments/")?;
    let (deployment, tail) = rest.split_once('/')?;
    (tail == "chat/completions" && !deployment.is_empty()).then_some(deployment)
}

pub async fn handle(req: Request<Incoming>, state: Arc<State>) -> Result<Response<MockBody>, Reset> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    if path.starts_with("/__mock/") {
        let bytes = Limited::new(body, 1 << 20).collect().await.map(|c| c.to_bytes());
        return Ok(control(
            &parts.method,
            path,
            bytes.as_deref().unwrap_or_default(),
            &state,
        ));
    }
    let route = route(&parts.method, path);
    let flavor = match &route {
        Route::Api(api) => api.flavor(),
        Route::WrongMethod(f) => *f,
        _ => Flavor::OpenAi,
    };
    let bytes = match Limited::new(body, MAX_BODY).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            let status = if e.is::<http_body_util::LengthLimitError>() {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            return Ok(error(&ApiError::new(
                flavor,
                status,
                format!("reading request body: {e}"),
            )));
        }
    };
    let path_and_query = parts.uri.path_and_query().map_or(path, |p| p.as_str());
    state
        .recorder
        .record(&parts.method, path_and_query, &parts.headers, &bytes);

    Ok(match route {
        Route::Api(api) => {
            let controls = state.controls.apply(&parts.headers);
            provider(api, &controls, &bytes, state.fixtures.as_deref()).await?
        }
        Route::Models => json(StatusCode::OK, openai::models_body()),
        Route::WrongMethod(flavor) => error(&ApiError::new(
            flavor,
            StatusCode::METHOD_NOT_ALLOWED,
            format!("Method {} not allowed on {path}.", parts.method),
        )),
        Route::NotFound => error(&ApiError::new(
            Flavor::OpenAi,
            StatusCode::NOT_FOUND,
            format!("Invalid URL ({} {path})", parts.method),
        )),
    })
}

/// `/__mock/*` endpoints; never recorded.
fn control(method: &Method, path: &str, body: &[u8], state: &State) -> Response<MockBody> {
    match (method, path) {
        (&Method::GET, "/__mock/health") => plain(StatusCode::OK, "ok"),
        (&Method::GET, "/__mock/requests") => json(StatusCode::OK, state.recorder.to_json()),
        (&Method::DELETE, "/__mock/requests") => {
            state.recorder.clear();
            plain(StatusCode::OK, "ok")
        }
        (&Method::GET, "/__mock/controls") => json(StatusCode::OK, state.controls.to_json()),
        (&Method::PUT, "/__mock/controls") => match state.controls.set(body) {
            Ok(()) => json(StatusCode::OK, state.controls.to_json()),
            Err(msg) => with_type(StatusCode::BAD_REQUEST, Bytes::from(msg), "text/plain; charset=utf-8"),
        },
        (&Method::DELETE, "/__mock/controls") => {
            state.controls.clear();
            plain(StatusCode::OK, "ok")
        }
        _ => plain(StatusCode::NOT_FOUND, "unknown control endpoint"),
    }
}

/// A provider endpoint's answer under `headers` (the effective `x-mock-*` controls), or
/// `Err(Reset)` to drop the connection without one.
async fn provider(
    api: Api,
    headers: &HeaderMap,
    body: &[u8],
    fixtures: Option<&Path>,
) -> Result<Response<MockBody>, Reset> {
    let flavor = api.flavor();
    let controls = match Controls::from_headers(headers) {
        Ok(c) => c,
        Err(msg) => return Ok(error(&ApiError::bad_request(flavor, msg))),
    };
    if controls.reset {
        let wait = controls.initial_wait();
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        return Err(Reset);
    }
    if let Some(name) = &controls.replay {
        return Ok(replay(flavor, name, &controls, body, fixtures).await);
    }
    Ok(generate(api, &controls, body).await)
}

async fn generate(api: Api, controls: &Controls, body: &[u8]) -> Response<MockBody> {
    let flavor = api.flavor();
    let wait = controls.initial_wait();
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    let status = controls.status.unwrap_or(StatusCode::OK);
    if status.as_u16() >= 400 {
        return injected(flavor, status, controls);
    }
    let pacing = Pacing {
        tokens: controls.tokens,
        token_delay: controls.token_delay,
        abort_after: controls.abort_after,
        error_after: controls.error_after,
    };
    let completion = Completion::new(controls.tokens, controls.token_text.clone());
    let bad = |msg: String| error(&ApiError::bad_request(flavor, msg));
    let (stream, body): (Option<Box<dyn SseSource>>, Vec<u8>) = match api {
        Api::Chat { deployment } => match openai::parse(body, deployment.as_deref()) {
            Err(m) => return bad(m),
            Ok(mut r) if r.stream => {
                // x-mock-usage: omit drops the usage chunk and the `"usage":null` fields alike.
                r.include_usage &= !controls.omit_usage;
                (Some(Box::new(ChatStream::new(&r, completion))), Vec::new())
            }
            Ok(r) => match openai::completion_body(&r, &completion) {
                Ok(b) => (None, b),
                Err(e) => return error(&ApiError::new(flavor, StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
            },
        },
        Api::Messages => match anthropic::parse(body) {
            Err(m) => return bad(m),
            Ok(r) if r.stream => (Some(Box::new(MessagesStream::new(&r, completion))), Vec::new()),
            Ok(r) => (None, anthropic::message_body(&r, &completion)),
        },
        Api::Responses => match responses::parse(body) {
            Err(m) => return bad(m),
            Ok(r) if r.stream => (Some(Box::new(ResponsesStream::new(&r, completion))), Vec::new()),
            Ok(r) => (None, responses::response_body(&r, &completion)),
        },
    };
    let mut resp = match stream {
        Some(source) => {
            let mut r = Response::new(MockBody::sse(source, pacing));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            r.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r
        }
        None => json(status, body),
    };
    *resp.status_mut() = status;
    request_id(&mut resp, flavor);
    resp
}

/// `x-mock-replay: NAME`: the exact bytes of `DIR/NAME`. The body only has to be JSON; the
/// usual waits and `x-mock-status` apply; generation controls (tokens, abort) do not.
async fn replay(
    flavor: Flavor,
    name: &str,
    controls: &Controls,
    body: &[u8],
    fixtures: Option<&Path>,
) -> Response<MockBody> {
    let bad = |msg: String| error(&ApiError::bad_request(flavor, msg));
    let Some(dir) = fixtures else {
        return bad("x-mock-replay needs the mock to be started with --fixtures DIR".to_owned());
    };
    let kind = match replay::kind(name) {
        Ok(k) => k,
        Err(m) => return bad(m),
    };
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        return bad(format!("We could not parse the JSON body of your request. ({e})"));
    }
    let data = match replay::load(dir, name).await {
        Ok(d) => d,
        Err(LoadError::NotFound) => {
            return error(&ApiError::new(
                flavor,
                StatusCode::NOT_FOUND,
                format!("x-mock-replay: no fixture {name:?} in the fixtures directory"),
            ))
        }
        Err(LoadError::Io(e)) => {
            return error(&ApiError::new(
                flavor,
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("x-mock-replay: reading fixture {name:?}: {e}"),
            ))
        }
    };
    let wait = controls.initial_wait();
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    let status = controls.status.unwrap_or(StatusCode::OK);
    if status.as_u16() >= 400 {
        return injected(flavor, status, controls);
    }
    let exact = kind == replay::Kind::Json;
    let len = data.len();
    let mut resp = Response::new(MockBody::split(SplitBody::new(
        data,
        controls.chunk_bytes,
        controls.chunk_delay,
        exact,
    )));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(kind.content_type()));
    if exact {
        h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    } else {
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    request_id(&mut resp, flavor);
    resp
}

fn request_id(resp: &mut Response<MockBody>, flavor: Flavor) {
    let name = match flavor {
        Flavor::OpenAi => "x-request-id",
        Flavor::Anthropic => "request-id",
    };
    if let Ok(v) = HeaderValue::from_str(&text::next_id("req_")) {
        resp.headers_mut().insert(name, v);
    }
}

/// The error `x-mock-status` asks for, with `retry-after` if `x-mock-retry-after` is set.
fn injected(flavor: Flavor, status: StatusCode, controls: &Controls) -> Response<MockBody> {
    let mut resp = error(&ApiError::injected(flavor, status));
    if let Some(v) = controls
        .retry_after
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        resp.headers_mut().insert(hyper::header::RETRY_AFTER, v);
    }
    resp
}

fn error(e: &ApiError) -> Response<MockBody> {
    let mut resp = json(e.status, e.body());
    request_id(&mut resp, e.flavor);
    resp
}

fn json(status: StatusCode, body: Vec<u8>) -> Response<MockBody> {
    with_type(status, Bytes::from(body), "application/json")
}

fn plain(status: StatusCode, body: &'static str) -> Response<MockBody> {
    with_type(status, Bytes::from_static(body.as_bytes()), "text/plain; charset=utf-8")
}

fn with_type(status: StatusCode, body: Bytes, content_type: &'static str) -> Response<MockBody> {
    let mut resp = Response::new(MockBody::full(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let chat = Route::Api(Api::Chat { deployment: None });
        assert_eq!(route(&Method::POST, "/v1/chat/completions"), chat);
        assert_eq!(route(&Method::POST, "/v1/messages"), Route::Api(Api::Messages));
        assert_eq!(route(&Method::POST, "/v1/responses"), Route::Api(Api::Responses));
        assert_eq!(route(&Method::GET, "/v1/models"), Route::Models);
        assert_eq!(
            route(&Method::POST, "/openai/deployments/gpt4/chat/completions"),
            Route::Api(Api::Chat {
                deployment: Some("gpt4".into())
            })
        );
        assert_eq!(
            route(&Method::GET, "/v1/messages"),
            Route::WrongMethod(Flavor::Anthropic)
        );
        assert_eq!(
            route(&Method::POST, "/openai/deployments//chat/completions"),
            Route::NotFound
        );
        assert_eq!(route(&Method::POST, "/v2/x"), Route::NotFound);
    }
}
