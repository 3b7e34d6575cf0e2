//! The HTTP side: `GET /v1/gateway/usage` (routed here by Envoy after the filter
//! authenticated the team and set `x-genai-rl-team`), `GET /metrics`, `GET /healthz`.
//!
//! This port trusts `x-genai-rl-team`: only Envoy may reach it (loopback or a private
//! network), never clients.

use std::convert::Infallible;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::engine::{Engine, TeamUsage};
use crate::table::Table;
use crate::windows::rfc3339;

pub async fn serve(listener: TcpListener, engine: Arc<Engine>) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                eprintln!("genai-ratelimit: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let engine = Arc::clone(&engine);
        tokio::spawn(async move {
            let svc = service_fn(move |req| handle(req, Arc::clone(&engine)));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert("content-type", v);
    }
    r
}

fn error(
    status: StatusCode,
    code: genai_policy::ErrorCode,
    message: &str,
    runbook_base: &str,
) -> Response<Full<Bytes>> {
    let mut r = reply(
        status,
        "application/json",
        genai_policy::GatewayError::new(code, message).body(runbook_base),
    );
    if let Ok(v) = code.as_str().parse() {
        r.headers_mut().insert("x-genai-error-code", v);
    }
    r
}

async fn handle(req: Request<Incoming>, engine: Arc<Engine>) -> Result<Response<Full<Bytes>>, Infallible> {
    let table = engine.table();
    let path = req.uri().path().to_string();
    let r = match (req.method().as_str(), path.as_str()) {
        ("GET", "/v1/gateway/usage") => {
            let team = req
                .headers()
                .get("x-genai-rl-team")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            usage(&engine, &table, &team).await
        }
        ("GET", "/metrics") => metrics(&engine, &table).await,
        ("GET", "/healthz") => {
            let up = engine.store.connected();
            let body = json!({"config": "loaded", "redis": if up { "connected" } else { "connecting" }});
            reply(StatusCode::OK, "application/json", body.to_string())
        }
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
    };
    Ok(r)
}

fn dollars(micro: u64) -> Value {
    // Six decimals: micro-dollars exactly.
    json!((micro as f64) / 1e6)
}

fn usage_json(table: &Table, team: &str, u: &TeamUsage, now_ms: i64) -> Value {
    let limits = table.teams.get(team).map(|t| t.limits).unwrap_or_default();
    let allowed = table.teams.get(team).and_then(|t| t.allowed_models.clone());
    json!({
        "team": team,
        "as_of": rfc3339(now_ms),
        "spend": {
            "day": {
                "window": u.day_window,
                "used_dollars": dollars(u.day.used),
                "budget_dollars": limits.daily_budget_microdollars.map(dollars),
                "resets_in_seconds": u.day.resets_in,
                "used_microdollars": u.day.used,
            },
            "month": {
                "window": u.month_window,
                "used_dollars": dollars(u.month.used),
                "budget_dollars": limits.monthly_budget_microdollars.map(dollars),
                "resets_in_seconds": u.month.resets_in,
                "used_microdollars": u.month.used,
            },
        },
        "tokens_per_minute": {
            "used": u.tokens.used,
            "limit": limits.tokens_per_minute,
            "resets_in_seconds": u.tokens.resets_in,
        },
        "requests_per_minute": {
            "used": u.requests.used,
            "limit": limits.requests_per_minute,
            "resets_in_seconds": u.requests.resets_in,
        },
        "allowed_models": allowed,
    })
}

async fn usage(engine: &Engine, table: &Table, team: &str) -> Response<Full<Bytes>> {
    let base = table.runbook_base_url.as_str();
    if team.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            genai_policy::ErrorCode::InvalidRequest,
            "no team: the usage endpoint is called through the gateway, which authenticates the team",
            base,
        );
    }
    match engine.team_usage(table, team).await {
        Ok(Some(u)) => {
            let body = usage_json(table, team, &u, engine.clock.now_ms());
            reply(StatusCode::OK, "application/json", body.to_string())
        }
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            genai_policy::ErrorCode::Unauthorized,
            "the rate limit service's configuration has no such team yet",
            base,
        ),
        Err(e) => {
            engine.log_error(&e);
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                genai_policy::ErrorCode::RateLimitUnavailable,
                "the shared counters cannot be read right now (Redis is unavailable); try again shortly",
                base,
            )
        }
    }
}

async fn metrics(engine: &Engine, table: &Table) -> Response<Full<Bytes>> {
    let mut out = String::with_capacity(4096);
    let mut per_team = String::new();
    let mut redis_up = engine.store.connected();
    for team in &table.team_order {
        let Ok(Some(u)) = engine.team_usage(table, team).await else {
            redis_up = false;
            break;
        };
        let limits = table.teams.get(team).map(|t| t.limits).unwrap_or_default();
        let _ = writeln!(
            per_team,
            "genai_ratelimit_spend_microdollars{{team=\"{team}\",window=\"day\"}} {}",
            u.day.used
        );
        let _ = writeln!(
            per_team,
            "genai_ratelimit_spend_microdollars{{team=\"{team}\",window=\"month\"}} {}",
            u.month.used
        );
        let _ = writeln!(
            per_team,
            "genai_ratelimit_tokens_this_minute{{team=\"{team}\"}} {}",
            u.tokens.used
        );
        let _ = writeln!(
            per_team,
            "genai_ratelimit_requests_this_minute{{team=\"{team}\"}} {}",
            u.requests.used
        );
        for (name, window, v) in [
            (
                "genai_ratelimit_budget_microdollars",
                "day",
                limits.daily_budget_microdollars,
            ),
            (
                "genai_ratelimit_budget_microdollars",
                "month",
                limits.monthly_budget_microdollars,
            ),
        ] {
            if let Some(v) = v {
                let _ = writeln!(per_team, "{name}{{team=\"{team}\",window=\"{window}\"}} {v}");
            }
        }
        for (limit, v) in [
            ("requests_per_minute", limits.requests_per_minute),
            ("tokens_per_minute", limits.tokens_per_minute),
        ] {
            if let Some(v) = v {
                let _ = writeln!(
                    per_team,
                    "genai_ratelimit_limit{{team=\"{team}\",limit=\"{limit}\"}} {v}"
                );
            }
        }
    }
    engine.metrics.render(&mut out, redis_up);
    let _ = writeln!(
        out,
        "# HELP genai_ratelimit_spend_microdollars Fleet-wide spend in the current budget window."
    );
    let _ = writeln!(out, "# TYPE genai_ratelimit_spend_microdollars gauge");
    let _ = writeln!(
        out,
        "# HELP genai_ratelimit_budget_microdollars Configured budget of the window."
    );
    let _ = writeln!(out, "# TYPE genai_ratelimit_budget_microdollars gauge");
    let _ = writeln!(
        out,
        "# HELP genai_ratelimit_tokens_this_minute Tokens counted in the current minute window."
    );
    let _ = writeln!(out, "# TYPE genai_ratelimit_tokens_this_minute gauge");
    let _ = writeln!(
        out,
        "# HELP genai_ratelimit_requests_this_minute Requests counted in the current minute window."
    );
    let _ = writeln!(out, "# TYPE genai_ratelimit_requests_this_minute gauge");
    let _ = writeln!(
        out,
        "# HELP genai_ratelimit_limit Configured requests or tokens per minute."
    );
    let _ = writeln!(out, "# TYPE genai_ratelimit_limit gauge");
    out.push_str(&per_team);
    reply(StatusCode::OK, "text/plain; version=0.0.4", out)
}
