//! The service's own Prometheus metrics (`GET /metrics`). Per-team usage gauges are read
//! from the shared counters at scrape time (see `http.rs`), so every replica reports the
//! fleet's numbers.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Default)]
pub struct Metrics {
    checks_ok: AtomicU64,
    checks_over: AtomicU64,
    checks_error: AtomicU64,
    failed_open: AtomicU64,
    charges: AtomicU64,
    charges_dropped: AtomicU64,
    storage_errors: AtomicU64,
    backlog: AtomicU64,
    config_reloads: AtomicU64,
    config_errors: AtomicU64,
    rejections: Mutex<BTreeMap<(String, &'static str), u64>>,
}

impl Metrics {
    pub fn check(&self, outcome: &str) {
        let c = match outcome {
            "ok" => &self.checks_ok,
            "over_limit" => &self.checks_over,
            _ => &self.checks_error,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Redis could not answer and the limit fails open: admitted unchecked.
    pub fn failed_open(&self) {
        self.failed_open.fetch_add(1, Ordering::Relaxed);
    }

    pub fn rejected(&self, team: &str, limit: &'static str) {
        if let Ok(mut m) = self.rejections.lock() {
            *m.entry((team.to_string(), limit)).or_default() += 1;
        }
    }

    pub fn charged(&self, n: usize) {
        self.charges.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn charge_dropped(&self) {
        self.charges_dropped.fetch_add(1, Ordering::Relaxed);
    }

    pub fn storage_error(&self) {
        self.storage_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn set_backlog(&self, n: usize) {
        self.backlog.store(n as u64, Ordering::Relaxed);
    }

    pub fn config_reloaded(&self, ok: bool) {
        let c = if ok { &self.config_reloads } else { &self.config_errors };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters, in Prometheus's text format.
    pub fn render(&self, out: &mut String, redis_up: bool) {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP genai_ratelimit_checks_total Rate limit checks answered, by decision."
        );
        let _ = writeln!(out, "# TYPE genai_ratelimit_checks_total counter");
        for (d, a) in [
            ("ok", &self.checks_ok),
            ("over_limit", &self.checks_over),
            ("error", &self.checks_error),
        ] {
            let _ = writeln!(out, "genai_ratelimit_checks_total{{decision=\"{d}\"}} {}", get(a));
        }
        let _ = writeln!(
            out,
            "# HELP genai_ratelimit_service_rejections_total Over-limit answers, by team and limit."
        );
        let _ = writeln!(out, "# TYPE genai_ratelimit_service_rejections_total counter");
        if let Ok(m) = self.rejections.lock() {
            for ((team, limit), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "genai_ratelimit_service_rejections_total{{team=\"{team}\",limit=\"{limit}\"}} {n}"
                );
            }
        }
        let scalar = |out: &mut String, name: &str, kind: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {v}");
        };
        scalar(
            out,
            "genai_ratelimit_failed_open_total",
            "counter",
            "Checks admitted unchecked because Redis could not answer (the limit fails open).",
            get(&self.failed_open),
        );
        scalar(
            out,
            "genai_ratelimit_charges_total",
            "counter",
            "Charges written to Redis (one per counter).",
            get(&self.charges),
        );
        scalar(
            out,
            "genai_ratelimit_charges_dropped_total",
            "counter",
            "Charges dropped because the backlog was full.",
            get(&self.charges_dropped),
        );
        scalar(
            out,
            "genai_ratelimit_charge_backlog",
            "gauge",
            "Charges waiting for Redis.",
            get(&self.backlog),
        );
        scalar(
            out,
            "genai_ratelimit_storage_errors_total",
            "counter",
            "Redis calls that failed or timed out.",
            get(&self.storage_errors),
        );
        scalar(
            out,
            "genai_ratelimit_config_reloads_total",
            "counter",
            "Configuration files loaded.",
            get(&self.config_reloads),
        );
        scalar(
            out,
            "genai_ratelimit_config_errors_total",
            "counter",
            "Configuration files refused (the previous one stays).",
            get(&self.config_errors),
        );
        scalar(
            out,
            "genai_ratelimit_redis_up",
            "gauge",
            "1 if the last Redis call succeeded.",
            u64::from(redis_up),
        );
    }
}
