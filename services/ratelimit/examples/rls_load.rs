//! A load generator for the rate limit service's checks per second (scripts/bench
//! --ratelimit; never part of the service). It keeps `--concurrency` ShouldRateLimit calls in
//! flight on one HTTP/2 connection for `--seconds`, with the descriptors Envoy sends at
//! admission for a team with limits (`genai=rpm` and `genai=tpm_check`, or with `--budget` the
//! budget filter's `genai=budget_check`), and prints one JSON line: calls, OK answers,
//! over-limit answers, errors, calls per second, p50/p99/p99.9/max latency in microseconds.
//!
//!   rls_load --grpc 127.0.0.1:18081 --team bench [--seconds 5] [--concurrency 32] [--budget]

use std::time::{Duration, Instant};

use envoy_types::pb::envoy::extensions::common::ratelimit::v3::rate_limit_descriptor::Entry;
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::Code;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_client::RateLimitServiceClient;
use envoy_types::pb::envoy::service::ratelimit::v3::RateLimitRequest;
use envoy_types::pb::google::protobuf::UInt64Value;

fn desc(entries: &[(&str, &str)], hits: Option<u64>) -> RateLimitDescriptor {
    RateLimitDescriptor {
        entries: entries
            .iter()
            .map(|(k, v)| Entry {
                key: (*k).to_string(),
                value: (*v).to_string(),
            })
            .collect(),
        hits_addend: hits.map(|value| UInt64Value { value }),
        ..Default::default()
    }
}

#[derive(Default)]
struct Tally {
    ok: u64,
    over: u64,
    errors: u64,
    first_error: Option<String>,
    micros: Vec<u64>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut grpc = "127.0.0.1:18081".to_string();
    let mut team = "bench".to_string();
    let mut seconds = 5.0f64;
    let mut concurrency = 32usize;
    let mut budget = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| anyhow::anyhow!("{a} needs a value"));
        match a.as_str() {
            "--grpc" => grpc = value()?,
            "--team" => team = value()?,
            "--seconds" => seconds = value()?.parse()?,
            "--concurrency" => concurrency = value()?.parse()?,
            "--budget" => budget = true,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let client = RateLimitServiceClient::connect(format!("http://{grpc}")).await?;
    let descriptors = if budget {
        vec![
            desc(&[("genai", "budget_check"), ("team", &team)], Some(1000)),
            desc(&[("genai_api", "chat_completions")], None),
        ]
    } else {
        vec![
            desc(&[("genai", "rpm"), ("team", &team)], None),
            desc(&[("genai", "tpm_check"), ("team", &team)], Some(1000)),
            desc(&[("genai_api", "chat_completions")], None),
        ]
    };
    let request = RateLimitRequest {
        domain: "genai".into(),
        descriptors,
        hits_addend: 0,
    };
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let mut client = client.clone();
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            let mut t = Tally::default();
            while Instant::now() < deadline {
                let sent = Instant::now();
                match client.should_rate_limit(request.clone()).await {
                    Ok(r) if r.get_ref().overall_code == Code::Ok as i32 => t.ok += 1,
                    Ok(_) => t.over += 1,
                    Err(e) => {
                        t.errors += 1;
                        t.first_error.get_or_insert_with(|| e.to_string());
                    }
                }
                t.micros
                    .push(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX));
            }
            t
        }));
    }
    let mut all = Tally::default();
    for task in tasks {
        let t = task.await?;
        all.ok += t.ok;
        all.over += t.over;
        all.errors += t.errors;
        if all.first_error.is_none() {
            all.first_error = t.first_error;
        }
        all.micros.extend(t.micros);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.micros.sort_unstable();
    let pct = |q: f64| -> u64 {
        if all.micros.is_empty() {
            return 0;
        }
        let i = ((all.micros.len() - 1) as f64 * q).round() as usize;
        all.micros.get(i).copied().unwrap_or(0)
    };
    let calls = all.ok + all.over + all.errors;
    println!(
        "{{\"calls\": {calls}, \"ok\": {}, \"over_limit\": {}, \"errors\": {}, \"seconds\": {elapsed:.3}, \
         \"calls_per_second\": {:.1}, \"p50_us\": {}, \"p99_us\": {}, \"p999_us\": {}, \"max_us\": {}}}",
        all.ok,
        all.over,
        all.errors,
        calls as f64 / elapsed,
        pct(0.5),
        pct(0.99),
        pct(0.999),
        pct(1.0)
    );
    if let Some(e) = all.first_error {
        eprintln!("rls_load: first error: {e}");
    }
    Ok(())
}
