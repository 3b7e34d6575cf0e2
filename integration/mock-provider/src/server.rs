//! The accept loop: HTTP/1.1 and HTTP/2 (prior knowledge) on one listener.

use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::reshape::Reshape;
use crate::router::{self, State};

/// Serves connections until the task is dropped.
pub async fn serve(listener: TcpListener, state: Arc<State>) -> anyhow::Result<()> {
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Typically EMFILE under load: back off instead of spinning.
                eprintln!("mock-provider: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        // Streamed events must leave as soon as they are written.
        if let Err(e) = stream.set_nodelay(true) {
            eprintln!("mock-provider: set_nodelay failed: {e}");
        }
        let state = Arc::clone(&state);
        let builder = Arc::clone(&builder);
        tokio::spawn(async move {
            let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let state = Arc::clone(&state);
                // Compression and broken framings, when asked (reshape.rs).
                let reshape = Reshape::from_headers(req.headers());
                async move { router::handle(req, state).await.map(|resp| reshape.apply(resp)) }
            });
            // Errors here are client disconnects and x-mock-abort-after; nothing to report.
            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}
