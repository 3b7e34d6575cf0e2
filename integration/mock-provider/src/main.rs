//! `mock-provider`: an OpenAI- and Anthropic-compatible mock model provider.
//!
//! Stands in for real providers in integration tests and benchmarks. See the
//! crate README for endpoints and the `x-mock-*` control headers.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod anthropic;
mod body;
mod cli;
mod controls;
#[cfg(test)]
mod e2e_tests;
mod errors;
mod openai;
mod record;
mod replay;
mod request;
mod reshape;
mod responses;
mod router;
mod server;
mod text;

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    let args = match cli::Args::parse(std::env::args().skip(1))? {
        Some(args) => args,
        None => {
            println!("{}", cli::USAGE);
            return Ok(());
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building tokio runtime")?;
    runtime.block_on(run(args))?;
    // In-flight connections (e.g. a stream held open by x-mock-hang-ms) must not delay exit.
    runtime.shutdown_background();
    Ok(())
}

async fn run(args: cli::Args) -> anyhow::Result<()> {
    if let Some(dir) = &args.fixtures {
        // Fail at startup rather than with a 404 on every replay.
        anyhow::ensure!(dir.is_dir(), "--fixtures {}: not a directory", dir.display());
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let local = listener.local_addr().context("reading bound address")?;
    let recorder = record::Recorder::new(args.record, args.record_limit);
    let state = Arc::new(router::State::new(recorder).with_fixtures(args.fixtures));

    let mut stdout = std::io::stdout();
    writeln!(stdout, "mock-provider listening on {local}").context("writing to stdout")?;
    stdout.flush().context("flushing stdout")?;

    tokio::select! {
        res = server::serve(listener, state) => res,
        res = shutdown_signal() => res,
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
