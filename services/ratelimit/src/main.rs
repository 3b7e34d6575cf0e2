//! genai-ratelimit: the gateway's rate limit service.
//!
//! Envoy's `envoy.filters.http.ratelimit` asks it over gRPC (RLS v3) whether a request may
//! go, and tells it at stream end what the request used. The counters are Limitador's, in
//! Redis, shared by every gateway of the fleet. The limits come from the filter's own
//! configuration file. docs/deployment/ratelimit.md explains the design.
//!
//! ```text
//! genai-ratelimit --config FILTER_CONFIG.json [--grpc 127.0.0.1:18081] [--http 127.0.0.1:18082]
//!                 [--redis redis://127.0.0.1:6379] [--redis-timeout-ms 40]
//!                 [--clock-start 2026-12-01T23:59:55Z]   (tests only: where the clock starts)
//! ```

mod descriptors;
mod engine;
mod http;
mod metrics;
mod refusal;
mod rls;
mod store;
mod table;
mod windows;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_server::RateLimitServiceServer;

use crate::engine::Engine;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::table::Table;
use crate::windows::Clock;

struct Args {
    config: PathBuf,
    grpc: SocketAddr,
    http: SocketAddr,
    redis: String,
    redis_timeout: Duration,
    clock_start: Option<i64>,
}

fn usage() -> &'static str {
    "usage: genai-ratelimit --config FILE [--grpc HOST:PORT] [--http HOST:PORT] [--redis URL] \
     [--redis-timeout-ms N] [--clock-start YYYY-MM-DDTHH:MM:SSZ]"
}

fn parse_args() -> anyhow::Result<Args> {
    let mut config = None;
    let mut grpc: SocketAddr = "127.0.0.1:18081".parse()?;
    let mut http: SocketAddr = "127.0.0.1:18082".parse()?;
    let mut redis = "redis://127.0.0.1:6379".to_string();
    let mut redis_timeout = Duration::from_millis(40);
    let mut clock_start = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().with_context(|| format!("{a} needs a value; {}", usage()));
        match a.as_str() {
            "--config" => config = Some(PathBuf::from(value()?)),
            "--grpc" => grpc = value()?.parse().context("--grpc")?,
            "--http" => http = value()?.parse().context("--http")?,
            "--redis" => redis = value()?,
            "--redis-timeout-ms" => {
                redis_timeout = Duration::from_millis(value()?.parse().context("--redis-timeout-ms")?)
            }
            "--clock-start" => {
                let v = value()?;
                clock_start = Some(
                    windows::parse_rfc3339(&v)
                        .with_context(|| format!("--clock-start {v}: expected YYYY-MM-DDTHH:MM:SSZ"))?,
                )
            }
            "-h" | "--help" => {
                println!("{}", usage());
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}; {}", usage()),
        }
    }
    let config = config.with_context(|| format!("--config is required; {}", usage()))?;
    Ok(Args {
        config,
        grpc,
        http,
        redis,
        redis_timeout,
        clock_start,
    })
}

/// Compiles the filter configuration exactly as the filter does.
fn load(path: &PathBuf) -> anyhow::Result<Table> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let compiled = genai_policy::compile(&bytes).map_err(|e| anyhow::anyhow!("invalid {e}"))?;
    if compiled.rate_limits.is_none() {
        eprintln!(
            "genai-ratelimit: warning: {} has no `rate_limits` section (or it is disabled): the filter sends no descriptors",
            path.display()
        );
    }
    Ok(Table::from_config(&compiled))
}

fn stamp(path: &PathBuf) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let table = load(&args.config)?;
    let metrics = Arc::new(Metrics::default());
    metrics.config_reloaded(true);
    let clock = match args.clock_start {
        Some(ms) => Clock::starting_at(ms),
        None => Clock::system(),
    };
    let store = Store::new(args.redis.clone(), args.redis_timeout, Arc::clone(&metrics));
    let engine = Arc::new(Engine::new(table, store, clock, Arc::clone(&metrics)));

    // Redis: connect (and keep trying); apply queued charges once it answers.
    {
        let engine = Arc::clone(&engine);
        tokio::spawn(async move {
            let mut logged = false;
            loop {
                if !engine.store.connected() {
                    match engine.store.connect().await {
                        Ok(()) => eprintln!("genai-ratelimit: connected to Redis"),
                        Err(e) if !logged => {
                            eprintln!("genai-ratelimit: {e}; retrying");
                            logged = true;
                        }
                        Err(_) => {}
                    }
                }
                engine.store.replay().await;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
    }
    // The configuration: re-read when the file changes; a bad one is refused and logged.
    {
        let engine = Arc::clone(&engine);
        let path = args.config.clone();
        tokio::spawn(async move {
            let mut last = stamp(&path);
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let now = stamp(&path);
                if now == last {
                    continue;
                }
                last = now;
                match load(&path) {
                    Ok(t) => {
                        engine.set_table(t);
                        engine.metrics.config_reloaded(true);
                        eprintln!("genai-ratelimit: configuration reloaded from {}", path.display());
                    }
                    Err(e) => {
                        engine.metrics.config_reloaded(false);
                        eprintln!("genai-ratelimit: {e:#}; keeping the previous configuration");
                    }
                }
            }
        });
    }

    let http = tokio::net::TcpListener::bind(args.http)
        .await
        .with_context(|| format!("cannot listen on {}", args.http))?;
    tokio::spawn(http::serve(http, Arc::clone(&engine)));

    let grpc = tokio::net::TcpListener::bind(args.grpc)
        .await
        .with_context(|| format!("cannot listen on {}", args.grpc))?;
    eprintln!(
        "genai-ratelimit: RLS on {} (gRPC), usage and metrics on http://{}, Redis {}",
        args.grpc, args.http, args.redis
    );
    let incoming = tonic::transport::server::TcpIncoming::from(grpc).with_nodelay(Some(true));
    let shutdown = async {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return,
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    tonic::transport::Server::builder()
        .add_service(RateLimitServiceServer::from_arc(Arc::new(rls::Rls {
            engine: Arc::clone(&engine),
            debug: std::env::var_os("GENAI_RATELIMIT_DEBUG").is_some_and(|v| v == "1"),
        })))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .context("gRPC server")?;
    Ok(())
}
