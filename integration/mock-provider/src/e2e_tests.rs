//! End-to-end tests: the real server on an ephemeral port, driven by a hyper client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};

use crate::record::Recorder;
use crate::router::State;
use crate::server;

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
    /// The body ended in an error (connection closed mid-stream).
    aborted: bool,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

async fn start(record: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = Arc::new(State::new(Recorder::new(record, 500)));
    tokio::spawn(server::serve(listener, state));
    addr
}

async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::from(body.to_owned()))).unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let (parts, mut body) = resp.into_parts();
    let mut data = Vec::new();
    let mut aborted = false;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => data.extend_from_slice(&f.into_data().unwrap()),
            Err(_) => {
                aborted = true;
                break;
            }
        }
    }
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8(data).unwrap(),
        aborted,
    }
}

const CHAT: &str =
    r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello there, mock!"}]}"#;
const CHAT_STREAM_USAGE: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}],
    "stream":true,"stream_options":{"include_usage":true}}"#;
const MESSAGES_STREAM: &str = r#"{"model":"claude-x","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"Hi"}]}"#;

#[tokio::test]
async fn chat_completion_over_http() {
    let addr = start(true).await;
    let r = send(addr, "POST", "/v1/chat/completions", &[], CHAT).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "application/json");
    let v = r.json();
    assert_eq!(v["model"], "gpt-4o-mini");
    assert_eq!(v["usage"]["prompt_tokens"], 4);
    assert_eq!(v["usage"]["completion_tokens"], 8);
}

#[tokio::test]
async fn chat_stream_with_usage_over_http() {
    let addr = start(true).await;
    let r = send(
        addr,
        "POST",
        "/v1/chat/completions",
        &[("x-mock-tokens", "5")],
        CHAT_STREAM_USAGE,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "text/event-stream");
    assert!(!r.aborted);
    let events: Vec<&str> = r.body.split_terminator("\n\n").collect();
    assert_eq!(events.len(), 1 + 5 + 1 + 1 + 1);
    assert_eq!(*events.last().unwrap(), "data: [DONE]");
    let usage: Value = serde_json::from_str(events[7].strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 5);
}

#[tokio::test]
async fn azure_path_uses_deployment_as_model() {
    let addr = start(true).await;
    let body = r#"{"messages":[{"role":"user","content":"x"}]}"#;
    let r = send(
        addr,
        "POST",
        "/openai/deployments/my-dep/chat/completions?api-version=2024-10-21",
        &[],
        body,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["model"], "my-dep");
}

#[tokio::test]
async fn anthropic_stream_and_abort() {
    let addr = start(true).await;
    let r = send(addr, "POST", "/v1/messages", &[], MESSAGES_STREAM).await;
    assert!(!r.aborted);
    assert!(r.body.starts_with("event: message_start\ndata: "));
    assert!(r
        .body
        .ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));

    let r = send(
        addr,
        "POST",
        "/v1/messages",
        &[("x-mock-abort-after", "2")],
        MESSAGES_STREAM,
    )
    .await;
    assert!(r.aborted, "{}", r.body);
    assert_eq!(r.body.matches("event: content_block_delta").count(), 2);
    assert!(!r.body.contains("message_delta"));
}

#[tokio::test]
async fn injected_status_and_bad_body() {
    let addr = start(true).await;
    let r = send(
        addr,
        "POST",
        "/v1/messages",
        &[("x-mock-status", "429")],
        MESSAGES_STREAM,
    )
    .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
    let r = send(
        addr,
        "POST",
        "/v1/chat/completions",
        &[("x-mock-status", "500")],
        CHAT,
    )
    .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.json()["error"]["type"], "server_error");
    let r = send(addr, "POST", "/v1/chat/completions", &[], "{not json").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    let r = send(addr, "POST", "/v1/messages", &[], "{}").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["type"], "error");
    let r = send(
        addr,
        "POST",
        "/v1/chat/completions",
        &[("x-mock-tokens", "lots")],
        CHAT,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn ttft_and_token_delay() {
    let addr = start(false).await;
    let start = Instant::now();
    let headers = [
        ("x-mock-ttft-ms", "80"),
        ("x-mock-token-delay-ms", "10"),
        ("x-mock-tokens", "4"),
    ];
    let r = send(
        addr,
        "POST",
        "/v1/chat/completions",
        &headers,
        CHAT_STREAM_USAGE,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        start.elapsed() >= Duration::from_millis(110),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn records_requests() {
    let addr = start(true).await;
    let r = send(addr, "GET", "/__mock/health", &[], "").await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "ok"));
    send(
        addr,
        "POST",
        "/v1/chat/completions?x=1",
        &[("x-custom", "a")],
        CHAT,
    )
    .await;
    send(addr, "POST", "/v1/chat/completions", &[], "{bad").await;
    send(addr, "GET", "/v1/models", &[], "").await;
    let list = send(addr, "GET", "/__mock/requests", &[], "").await.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list[0]["seq"], 1);
    assert_eq!(list[0]["method"], "POST");
    assert_eq!(list[0]["path"], "/v1/chat/completions?x=1");
    assert_eq!(list[0]["headers"]["x-custom"], json!(["a"]));
    assert_eq!(list[0]["body"], CHAT);
    assert_eq!(list[1]["body"], "{bad");
    assert_eq!(list[2]["path"], "/v1/models");
    send(addr, "DELETE", "/__mock/requests", &[], "").await;
    assert_eq!(
        send(addr, "GET", "/__mock/requests", &[], "").await.json(),
        json!([])
    );
}

#[tokio::test]
async fn responses_api_over_http() {
    let addr = start(false).await;
    let r = send(
        addr,
        "POST",
        "/v1/responses",
        &[],
        r#"{"model":"gpt-x","input":"hello"}"#,
    )
    .await;
    assert_eq!(r.json()["usage"]["output_tokens"], 8);
    let r = send(
        addr,
        "POST",
        "/v1/responses",
        &[],
        r#"{"model":"gpt-x","input":"hello","stream":true}"#,
    )
    .await;
    assert!(r.body.starts_with("event: response.created\n"));
    assert!(r.body.contains("event: response.completed\n"));
    let r = send(addr, "GET", "/v1/nope", &[], "").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
