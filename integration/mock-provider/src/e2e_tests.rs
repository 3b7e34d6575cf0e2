//! End-to-end tests: the real server on an ephemeral port, driven by a hyper client.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
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
    /// The body, lossily decoded.
    body: String,
    /// The exact body bytes.
    raw: Vec<u8>,
    /// How many data frames the body arrived in.
    frames: usize,
    /// The body ended in an error (connection closed mid-stream).
    aborted: bool,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

async fn start(record: bool) -> SocketAddr {
    start_with(record, None).await
}

async fn start_with(record: bool, fixtures: Option<PathBuf>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = Arc::new(State::new(Recorder::new(record, 500)).with_fixtures(fixtures));
    tokio::spawn(server::serve(listener, state));
    addr
}

async fn send(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
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
    let (parts, body) = resp.into_parts();
    read_reply(parts, body).await
}

async fn read_reply(parts: hyper::http::response::Parts, mut body: hyper::body::Incoming) -> Reply {
    let mut data = Vec::new();
    let mut frames = 0;
    let mut aborted = false;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Ok(d) = f.into_data() {
                    frames += 1;
                    data.extend_from_slice(&d);
                }
            }
            Err(_) => {
                aborted = true;
                break;
            }
        }
    }
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&data).into_owned(),
        raw: data,
        frames,
        aborted,
    }
}

const CHAT: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello there, mock!"}]}"#;
const CHAT_STREAM_USAGE: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}],
    "stream":true,"stream_options":{"include_usage":true}}"#;
const MESSAGES_STREAM: &str =
    r#"{"model":"claude-x","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"Hi"}]}"#;

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
    let r = send(addr, "POST", "/v1/chat/completions", &[("x-mock-status", "500")], CHAT).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.json()["error"]["type"], "server_error");
    let r = send(addr, "POST", "/v1/chat/completions", &[], "{not json").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    let r = send(addr, "POST", "/v1/messages", &[], "{}").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["type"], "error");
    let r = send(addr, "POST", "/v1/chat/completions", &[("x-mock-tokens", "lots")], CHAT).await;
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
    let r = send(addr, "POST", "/v1/chat/completions", &headers, CHAT_STREAM_USAGE).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(start.elapsed() >= Duration::from_millis(110), "{:?}", start.elapsed());
}

#[tokio::test]
async fn records_requests() {
    let addr = start(true).await;
    let r = send(addr, "GET", "/__mock/health", &[], "").await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "ok"));
    send(addr, "POST", "/v1/chat/completions?x=1", &[("x-custom", "a")], CHAT).await;
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
    assert_eq!(send(addr, "GET", "/__mock/requests", &[], "").await.json(), json!([]));
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

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("mock-provider-fixtures-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn write(&self, name: &str, data: &[u8]) {
        std::fs::write(self.0.join(name), data).unwrap();
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A small OpenAI stream with usage: multi-byte characters (split by 1- and 7-byte writes), a
/// comment line and CRLF line ends, to check the bytes arrive exactly as stored.
const CHAT_SSE: &[u8] = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n\
data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"h\u{e9}llo \u{1f600}\"},\"finish_reason\":null}],\"usage\":null}\n\n\
: keep-alive\r\n\r\n\
data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":3,\"total_tokens\":14}}\n\n\
data: [DONE]\n\n"
    .as_bytes();

const MESSAGE_JSON: &[u8] = b"{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\",\
\"content\":[{\"type\":\"text\",\"text\":\"hi\"}],\"stop_reason\":\"end_turn\",\
\"usage\":{\"input_tokens\":12,\"output_tokens\":2}}\n";

fn fixtures() -> TempDir {
    let dir = TempDir::new();
    dir.write("chat.sse", CHAT_SSE);
    dir.write("message.json", MESSAGE_JSON);
    dir.write("empty.sse", b"");
    std::fs::create_dir(dir.path().join("subdir.json")).unwrap();
    dir
}

#[tokio::test]
async fn replay_whole_file() {
    let dir = fixtures();
    let addr = start_with(true, Some(dir.path().to_owned())).await;

    // Body validation is skipped: any JSON will do, even one the API would reject.
    let r = send(
        addr,
        "POST",
        "/v1/chat/completions",
        &[("x-mock-replay", "chat.sse")],
        "[1]",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.aborted);
    assert_eq!(r.raw, CHAT_SSE);
    assert_eq!(r.headers["content-type"], "text/event-stream");
    assert_eq!(r.headers["transfer-encoding"], "chunked");
    assert!(!r.headers.contains_key("content-length"));
    assert!(r.headers.contains_key("x-request-id"));

    let r = send(addr, "POST", "/v1/messages", &[("x-mock-replay", "message.json")], "{}").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.raw, MESSAGE_JSON);
    assert_eq!(r.frames, 1);
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(r.headers["content-length"], MESSAGE_JSON.len().to_string().as_str());
    assert!(!r.headers.contains_key("transfer-encoding"));
    assert!(r.headers.contains_key("request-id"));

    // The replayed file is whatever the other endpoint would have said: no cross-checks.
    let r = send(
        addr,
        "POST",
        "/v1/responses",
        &[("x-mock-replay", "message.json")],
        "\"s\"",
    )
    .await;
    assert_eq!(r.raw, MESSAGE_JSON);

    let r = send(
        addr,
        "POST",
        "/v1/chat/completions",
        &[("x-mock-replay", "empty.sse")],
        "{}",
    )
    .await;
    assert_eq!((r.status, r.raw.len()), (StatusCode::OK, 0));

    // Replays are recorded as usual.
    let list = send(addr, "GET", "/__mock/requests", &[], "").await.json();
    assert_eq!(list.as_array().unwrap().len(), 4);
    assert_eq!(list[0]["headers"]["x-mock-replay"], json!(["chat.sse"]));
    assert_eq!(list[0]["body"], "[1]");
}

#[tokio::test]
async fn replay_chunked() {
    let dir = fixtures();
    let addr = start_with(false, Some(dir.path().to_owned())).await;
    for n in [1usize, 7] {
        let size = n.to_string();
        let headers = [("x-mock-replay", "chat.sse"), ("x-mock-chunk-bytes", size.as_str())];
        let r = send(addr, "POST", "/v1/chat/completions", &headers, "{}").await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(!r.aborted);
        assert_eq!(r.raw, CHAT_SSE, "chunk {n}");
        // Every write is its own HTTP chunk, and a chunk never arrives merged with the next.
        assert!(r.frames >= CHAT_SSE.len().div_ceil(n), "chunk {n}: {} frames", r.frames);
        assert_eq!(r.headers["transfer-encoding"], "chunked");

        // content-length bodies may be read in any grouping; the delay keeps the writes apart.
        let start = Instant::now();
        let headers = [
            ("x-mock-replay", "message.json"),
            ("x-mock-chunk-bytes", size.as_str()),
            ("x-mock-chunk-delay-ms", "1"),
        ];
        let r = send(addr, "POST", "/v1/messages", &headers, "{}").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.raw, MESSAGE_JSON, "chunk {n}");
        assert!(r.frames > 1, "chunk {n}: {} frames", r.frames);
        assert_eq!(r.headers["content-length"], MESSAGE_JSON.len().to_string().as_str());
        let gaps = u32::try_from(MESSAGE_JSON.len().div_ceil(n) - 1).unwrap();
        assert!(
            start.elapsed() >= Duration::from_millis(1) * gaps,
            "{:?}",
            start.elapsed()
        );
    }
}

#[tokio::test]
async fn replay_chunked_over_http2() {
    let dir = fixtures();
    let addr = start_with(false, Some(dir.path().to_owned())).await;
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    for (name, expected) in [("chat.sse", CHAT_SSE), ("message.json", MESSAGE_JSON)] {
        let req = Request::post(format!("http://{addr}/v1/chat/completions"))
            .header("x-mock-replay", name)
            .header("x-mock-chunk-bytes", "7")
            .header("x-mock-chunk-delay-ms", "1")
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap();
        let (parts, body) = sender.send_request(req).await.unwrap().into_parts();
        let r = read_reply(parts, body).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.raw, expected, "{name}");
        assert!(r.frames > 1, "{name}: {} frames", r.frames);
        assert_eq!(r.headers.contains_key("content-length"), name.ends_with(".json"));
    }
}

#[tokio::test]
async fn replay_errors() {
    let dir = fixtures();
    let addr = start_with(false, Some(dir.path().to_owned())).await;
    let bad_names = [
        "../chat.sse",
        "x/chat.sse",
        "x\\chat.sse",
        "..",
        "chat..sse",
        "chat.txt",
        "",
    ];
    for name in bad_names {
        let r = send(addr, "POST", "/v1/chat/completions", &[("x-mock-replay", name)], "{}").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name:?}");
        assert_eq!(r.json()["error"]["type"], "invalid_request_error", "{name:?}");
        let r = send(addr, "POST", "/v1/messages", &[("x-mock-replay", name)], "{}").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name:?}");
        assert_eq!(r.json()["type"], "error");
        assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    }

    for name in ["missing.sse", "missing.json", "subdir.json"] {
        let r = send(addr, "POST", "/v1/chat/completions", &[("x-mock-replay", name)], "{}").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{name}");
        assert_eq!(r.headers["content-type"], "application/json");
        assert!(r.json()["error"]["message"].as_str().unwrap().contains(name));
        let r = send(addr, "POST", "/v1/messages", &[("x-mock-replay", name)], "{}").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{name}");
        assert_eq!(r.json()["error"]["type"], "not_found_error");
    }

    // The body must still be JSON.
    let r = send(
        addr,
        "POST",
        "/v1/chat/completions",
        &[("x-mock-replay", "chat.sse")],
        "{nope",
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");

    let headers = [("x-mock-replay", "chat.sse"), ("x-mock-chunk-bytes", "0")];
    let r = send(addr, "POST", "/v1/chat/completions", &headers, "{}").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // x-mock-status still injects errors.
    let headers = [("x-mock-replay", "chat.sse"), ("x-mock-status", "429")];
    let r = send(addr, "POST", "/v1/chat/completions", &headers, "{}").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.json()["error"]["code"], "rate_limit_exceeded");

    // Without --fixtures there is nothing to replay.
    let plain = start(false).await;
    let r = send(
        plain,
        "POST",
        "/v1/chat/completions",
        &[("x-mock-replay", "chat.sse")],
        "{}",
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("--fixtures"));
}

#[tokio::test]
async fn replay_honours_ttft() {
    let dir = fixtures();
    let addr = start_with(false, Some(dir.path().to_owned())).await;
    let start = Instant::now();
    let headers = [("x-mock-replay", "message.json"), ("x-mock-ttft-ms", "60")];
    let r = send(addr, "POST", "/v1/messages", &headers, "{}").await;
    assert_eq!(r.raw, MESSAGE_JSON);
    assert!(start.elapsed() >= Duration::from_millis(60), "{:?}", start.elapsed());
}

#[tokio::test]
async fn usage_omit() {
    let addr = start(false).await;
    let headers = [("x-mock-tokens", "5"), ("x-mock-usage", "omit")];
    let r = send(addr, "POST", "/v1/chat/completions", &headers, CHAT_STREAM_USAGE).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.body.contains("usage"), "{}", r.body);
    let events: Vec<&str> = r.body.split_terminator("\n\n").collect();
    // role, 5 tokens, finish, [DONE]: no usage chunk.
    assert_eq!(events.len(), 1 + 5 + 1 + 1);
    assert_eq!(*events.last().unwrap(), "data: [DONE]");
    let finish: Value = serde_json::from_str(events[6].strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");

    // Without the header the same request carries usage.
    let r = send(
        addr,
        "POST",
        "/v1/chat/completions",
        &[("x-mock-tokens", "5")],
        CHAT_STREAM_USAGE,
    )
    .await;
    assert!(r.body.contains("\"usage\":{"));

    let r = send(
        addr,
        "POST",
        "/v1/chat/completions",
        &[("x-mock-usage", "drop")],
        CHAT_STREAM_USAGE,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("x-mock-usage"));
}

/// Like `send`, but a dropped connection is `Err` instead of a panic.
async fn try_send(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &str) -> Result<Reply, hyper::Error> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method("POST")
        .uri(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::from(body.to_owned()))).unwrap())
        .await?;
    let (parts, body) = resp.into_parts();
    Ok(read_reply(parts, body).await)
}

async fn put_controls(addr: SocketAddr, json: &str) -> Reply {
    send(addr, "PUT", "/__mock/controls", &[], json).await
}

#[tokio::test]
async fn reset_drops_the_connection_before_the_head() {
    let addr = start(true).await;
    let started = Instant::now();
    let r = try_send(
        addr,
        "/v1/chat/completions",
        &[("x-mock-reset", "head"), ("x-mock-ttft-ms", "50")],
        CHAT,
    )
    .await;
    assert!(r.is_err(), "no response at all");
    assert!(started.elapsed() >= Duration::from_millis(50), "after the initial wait");
    let recorded: Value = serde_json::from_str(&send(addr, "GET", "/__mock/requests", &[], "").await.body).unwrap();
    assert_eq!(recorded.as_array().unwrap().len(), 1, "the request is still recorded");
    // The next connection is served normally.
    assert_eq!(
        send(addr, "POST", "/v1/chat/completions", &[], CHAT).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn instance_controls_make_one_instance_fail() {
    let failing = start(true).await;
    let healthy = start(true).await;
    let r = put_controls(
        failing,
        r#"{"x-mock-status": "429", "x-mock-retry-after": "3", "times": 2}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json(),
        json!({"x-mock-status": "429", "x-mock-retry-after": "3", "times": 2})
    );
    for _ in 0..2 {
        let r = send(failing, "POST", "/v1/messages", &[], MESSAGES_STREAM).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers["retry-after"], "3");
        assert_eq!(r.json()["error"]["type"], "rate_limit_error");
    }
    assert_eq!(
        send(failing, "POST", "/v1/chat/completions", &[], CHAT).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(failing, "GET", "/__mock/controls", &[], "").await.json(),
        json!({})
    );
    assert_eq!(
        send(healthy, "POST", "/v1/chat/completions", &[], CHAT).await.status,
        StatusCode::OK
    );

    // Until cleared; the request's own headers win; a bad setting is refused.
    put_controls(failing, r#"{"x-mock-reset": "head"}"#).await;
    assert!(try_send(failing, "/v1/chat/completions", &[], CHAT).await.is_err());
    assert!(try_send(failing, "/v1/chat/completions", &[], CHAT).await.is_err());
    let r = try_send(failing, "/v1/chat/completions", &[("x-mock-status", "503")], CHAT).await;
    assert!(r.is_err(), "x-mock-reset still comes from the instance");
    let r = put_controls(failing, r#"{"x-mock-status": "700"}"#).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.starts_with("x-mock-status"), "{}", r.body);
    assert_eq!(
        send(failing, "DELETE", "/__mock/controls", &[], "").await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(failing, "POST", "/v1/chat/completions", &[], CHAT).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn error_event_mid_stream() {
    let addr = start(false).await;
    let headers = [("x-mock-tokens", "5"), ("x-mock-error-after", "2")];
    let r = send(addr, "POST", "/v1/chat/completions", &headers, CHAT_STREAM_USAGE).await;
    assert_eq!(r.status, StatusCode::OK, "the stream had started");
    assert!(!r.aborted, "ends cleanly");
    let events: Vec<&str> = r.body.split_terminator("\n\n").collect();
    assert_eq!(events.len(), 1 + 2 + 1, "{}", r.body);
    let err: Value = serde_json::from_str(events[3].strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(err["error"]["type"], "server_error");
    assert!(!r.body.contains("[DONE]") && !r.body.contains("finish_reason\":\"stop"));

    let r = send(addr, "POST", "/v1/messages", &headers, MESSAGES_STREAM).await;
    let last = r.body.split_terminator("\n\n").last().unwrap();
    assert!(last.starts_with("event: error\ndata: "), "{last}");
    let err: Value = serde_json::from_str(last.split_once("data: ").unwrap().1).unwrap();
    assert_eq!(err["error"]["type"], "overloaded_error");
    assert!(!r.body.contains("message_stop"));

    let body = r#"{"model":"gpt-x","input":"hi","stream":true}"#;
    let r = send(addr, "POST", "/v1/responses", &headers, body).await;
    let last = r.body.split_terminator("\n\n").last().unwrap();
    let err: Value = serde_json::from_str(last.split_once("data: ").unwrap().1).unwrap();
    assert_eq!(err["type"], "error");
    assert_eq!(err["sequence_number"], 6, "after the 4 head events and 2 deltas");
    assert!(!r.body.contains("response.completed"));
}
