//! What a request's fallbacks leave behind: one point per fallback, for
//! `genai_fallbacks_total{team,model,from,to,reason}` and the access log.
//!
//! - Envoy moved from one target to the next: `reason` is how the earlier attempt failed
//!   (`rate_limited`, `server_error`, `timeout`, `connect_failure`, `reset`).
//! - Envoy's load balancer passed a target over without trying it (its endpoint ejected by
//!   outlier detection): `unhealthy`.
//! - The chain reached a configured target the request may not use: `classification`,
//!   `team` or `endpoint`. Counted only when the chain got there, that is when the attempt
//!   before it failed: a request that never needed a fallback skipped nothing.

use super::attempt::{Attempt, End};
use super::Chain;
use crate::config::Compiled;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FallbackPoint {
    pub from: String,
    pub to: String,
    pub reason: &'static str,
}

/// How the request's response ended, as the gateway role saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Final {
    pub status: u32,
    /// The provider answered (not Envoy: timeout, unreachable).
    pub from_provider: bool,
}

/// The failure reason of a response status, `None` if it is not one Envoy retries.
fn status_reason(status: u32) -> Option<&'static str> {
    match status {
        429 => Some("rate_limited"),
        500..=599 => Some("server_error"),
        _ => None,
    }
}

fn end_reason(end: End) -> &'static str {
    match end {
        End::ConnectFailure => "connect_failure",
        End::Reset => "reset",
        End::Timeout => "timeout",
    }
}

/// One attempt, for the report: its target, its position in the configured chain, and
/// why it failed (`None`: it did not).
struct Tried {
    target: usize,
    position: usize,
    failure: Option<&'static str>,
}

/// The fallback points of a request served through `chain`, from its attempts' log
/// (empty when the request had a single target and no attempt filter ran) and its end.
pub fn points(config: &Compiled, chain: &Chain, log: &[Attempt], fin: Option<Final>) -> Vec<FallbackPoint> {
    let position = |t: usize| {
        chain
            .targets
            .iter()
            .position(|x| *x == t)
            .and_then(|i| chain.positions.get(i).copied())
    };
    let mut tried: Vec<Tried> = Vec::with_capacity(log.len().max(1));
    let last = log.len().saturating_sub(1);
    for (i, a) in log.iter().enumerate() {
        let Some(pos) = position(a.target) else { continue };
        let failure = match (a.status, a.end) {
            (Some(s), _) => status_reason(s),
            (None, Some(end)) => Some(end_reason(end)),
            // The last attempt may not have been told it ended when the response is judged:
            // Envoy answered in its place.
            (None, None) if i == last => fin.and_then(final_reason).or(Some("reset")),
            (None, None) => Some(if a.refused { "server_error" } else { "reset" }),
        };
        tried.push(Tried {
            target: a.target,
            position: pos,
            failure,
        });
    }
    if tried.is_empty() {
        // One target and no attempt filter: the requested model, ended as the response did.
        let Some(&primary) = chain.targets.first() else {
            return Vec::new();
        };
        tried.push(Tried {
            target: primary,
            position: 0,
            failure: fin.and_then(final_reason),
        });
    }

    let name = |t: usize| config.models.get(t).map_or_else(String::new, |m| m.name.clone());
    let mut out = Vec::new();
    let mut push = |from: usize, to: usize, reason: &'static str| {
        out.push(FallbackPoint {
            from: name(from),
            to: name(to),
            reason,
        })
    };
    // Targets of the chain Envoy passed over.
    for (i, &t) in chain.targets.iter().enumerate() {
        let Some(&pos) = chain.positions.get(i) else { continue };
        if tried.iter().any(|a| a.target == t) {
            continue;
        }
        if let Some(next) = tried.iter().find(|a| a.position > pos) {
            push(t, next.target, "unhealthy");
        }
    }
    // Each move from one attempt to the next.
    for pair in tried.windows(2) {
        if let [a, b] = pair {
            push(a.target, b.target, a.failure.unwrap_or("server_error"));
        }
    }
    // Configured targets left out, where the chain reached them.
    for s in &chain.skipped {
        let before = tried
            .iter()
            .filter(|a| a.position < s.position)
            .max_by_key(|a| a.position);
        if let Some(a) = before.filter(|a| a.failure.is_some()) {
            push(a.target, s.model, s.why.as_str());
        }
    }
    out
}

/// How the response that reached the client failed, `None` if it did not.
fn final_reason(fin: Final) -> Option<&'static str> {
    if fin.from_provider {
        status_reason(fin.status)
    } else if fin.status == 504 {
        Some("timeout")
    } else if fin.status >= 500 || fin.status == 0 {
        // Envoy's 503 (unreachable, reset) or no response at all.
        Some("connect_failure")
    } else {
        None
    }
}

/// The access log's `fallbacks` field: `from>to:reason`, comma-separated.
pub fn summary(points: &[FallbackPoint]) -> String {
    points
        .iter()
        .map(|p| format!("{}>{}:{}", p.from, p.to, p.reason))
        .collect::<Vec<_>>()
        .join(",")
}
