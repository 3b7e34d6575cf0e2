//! Stage two for rate limits, budgets, allowed models and workloads.
//!
//! The filter only names who is calling (team, key, workload) and what the request may cost;
//! Envoy's rate limit filters and the rate limit service (services/ratelimit) count. Both read
//! this same configuration, so the limits here are what the service enforces.

use std::collections::HashMap;

use super::raw::{RawKey, RawRateLimits, RawWorkload};
use super::ConfigError;

/// Micro-dollars in a dollar: budgets are counted in the cost metrics' unit.
pub const MICRODOLLARS_PER_DOLLAR: u64 = 1_000_000;

/// Largest budget accepted, in whole dollars a window: far below what 64-bit micro-dollar
/// counters hold, and a bound on configuration typos.
pub const MAX_BUDGET_DOLLARS: u64 = 1_000_000_000;

/// Largest requests or tokens per minute accepted.
pub const MAX_PER_MINUTE: u64 = 1_000_000_000_000;

/// Output tokens assumed for the worst case when neither the request nor the model says.
pub const DEFAULT_MAX_OUTPUT_TOKENS: u64 = 4096;

/// The limits one team, key or workload carries; `None` is "not limited" (still counted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub requests_per_minute: Option<u64>,
    pub tokens_per_minute: Option<u64>,
    pub daily_budget_microdollars: Option<u64>,
    pub monthly_budget_microdollars: Option<u64>,
}

impl Limits {
    pub fn is_empty(&self) -> bool {
        *self == Limits::default()
    }

    /// Whether any spend budget is set.
    pub fn has_budget(&self) -> bool {
        self.daily_budget_microdollars.is_some() || self.monthly_budget_microdollars.is_some()
    }

    /// Whether any request or token rate is set.
    pub fn has_rate(&self) -> bool {
        self.requests_per_minute.is_some() || self.tokens_per_minute.is_some()
    }
}

/// What Envoy does when the rate limit service cannot answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureMode {
    /// Admit the request (and count the event).
    Open,
    /// Refuse it: 503 `rate_limit_unavailable`.
    Closed,
}

impl FailureMode {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureMode::Open => "open",
            FailureMode::Closed => "closed",
        }
    }
}

/// The `rate_limits` section, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimiting {
    pub timeout_ms: u64,
    pub rate_failure: FailureMode,
    pub budget_failure: FailureMode,
    /// Budget days and months start at midnight of UTC plus this many minutes.
    pub budget_utc_offset_minutes: i32,
}

/// A key with an id, and the limits it carries on top of its team's.
#[derive(Debug, Clone)]
pub struct Key {
    pub id: String,
    pub limits: Limits,
}

#[derive(Debug, Clone)]
pub struct Workload {
    pub name: String,
    pub limits: Limits,
}

fn parse_failure(field: &str, s: &str) -> Result<FailureMode, ConfigError> {
    match s {
        "open" => Ok(FailureMode::Open),
        "closed" => Ok(FailureMode::Closed),
        _ => Err(ConfigError::new(field, format!("`{s}`: expected open or closed"))),
    }
}

/// `None` when the section is absent or `enabled: false`.
pub fn build_rate_limiting(raw: Option<RawRateLimits>) -> Result<Option<RateLimiting>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    // Validated even when disabled, so switching it on cannot reveal an old mistake.
    if raw.timeout_ms == 0 || raw.timeout_ms > 10_000 {
        return Err(ConfigError::new(
            "rate_limits.timeout_ms",
            "must be between 1 and 10000 milliseconds",
        ));
    }
    let rate_failure = parse_failure("rate_limits.failure_mode.rate_limits", &raw.failure_mode.rate_limits)?;
    let budget_failure = parse_failure("rate_limits.failure_mode.budgets", &raw.failure_mode.budgets)?;
    if !(-720..=840).contains(&raw.budget_utc_offset_minutes) {
        return Err(ConfigError::new(
            "rate_limits.budget_utc_offset_minutes",
            "must be between -720 and 840 (UTC-12:00 to UTC+14:00)",
        ));
    }
    if !raw.enabled {
        return Ok(None);
    }
    Ok(Some(RateLimiting {
        timeout_ms: raw.timeout_ms,
        rate_failure,
        budget_failure,
        budget_utc_offset_minutes: raw.budget_utc_offset_minutes,
    }))
}

/// Checks and converts one set of limits; `field` is the object's path (`teams[0]`).
pub fn build_limits(
    field: &str,
    requests_per_minute: Option<u64>,
    tokens_per_minute: Option<u64>,
    daily_budget_dollars: Option<u64>,
    monthly_budget_dollars: Option<u64>,
) -> Result<Limits, ConfigError> {
    for (name, v) in [
        ("requests_per_minute", requests_per_minute),
        ("tokens_per_minute", tokens_per_minute),
    ] {
        if let Some(v) = v {
            if v == 0 || v > MAX_PER_MINUTE {
                return Err(ConfigError::new(
                    format!("{field}.{name}"),
                    format!("must be between 1 and {MAX_PER_MINUTE}"),
                ));
            }
        }
    }
    let budget = |name: &str, v: Option<u64>| -> Result<Option<u64>, ConfigError> {
        match v {
            None => Ok(None),
            Some(d) if d == 0 || d > MAX_BUDGET_DOLLARS => Err(ConfigError::new(
                format!("{field}.{name}"),
                format!("must be between 1 and {MAX_BUDGET_DOLLARS} whole dollars"),
            )),
            Some(d) => Ok(Some(d.saturating_mul(MICRODOLLARS_PER_DOLLAR))),
        }
    };
    Ok(Limits {
        requests_per_minute,
        tokens_per_minute,
        daily_budget_microdollars: budget("daily_budget_dollars", daily_budget_dollars)?,
        monthly_budget_microdollars: budget("monthly_budget_dollars", monthly_budget_dollars)?,
    })
}

/// Key ids become descriptor values and metric labels: keep them plain.
pub fn build_key(field: &str, raw: &RawKey) -> Result<Key, ConfigError> {
    super::compile::check_label(&format!("{field}.id"), &raw.id)?;
    let limits = build_limits(
        field,
        raw.requests_per_minute,
        raw.tokens_per_minute,
        raw.daily_budget_dollars,
        raw.monthly_budget_dollars,
    )?;
    Ok(Key {
        id: raw.id.clone(),
        limits,
    })
}

/// Workloads, and the index from SPIFFE id and from name to workload.
pub type WorkloadIndex = (Vec<Workload>, HashMap<String, usize>, HashMap<String, usize>);

pub fn build_workloads(raw: Vec<RawWorkload>) -> Result<WorkloadIndex, ConfigError> {
    let mut workloads: Vec<Workload> = Vec::with_capacity(raw.len());
    let mut by_spiffe = HashMap::new();
    let mut by_name = HashMap::new();
    for (i, w) in raw.into_iter().enumerate() {
        let field = format!("workloads[{i}]");
        super::compile::check_label(&format!("{field}.name"), &w.name)?;
        if by_name.insert(w.name.clone(), i).is_some() {
            return Err(ConfigError::new(
                format!("{field}.name"),
                format!("duplicate workload `{}`", w.name),
            ));
        }
        for (j, id) in w.spiffe_ids.iter().enumerate() {
            let f = format!("{field}.spiffe_ids[{j}]");
            let ok = id.starts_with("spiffe://")
                && id.len() <= 2048
                && id.len() > "spiffe://".len()
                && id.bytes().all(|b| b.is_ascii_graphic());
            if !ok {
                return Err(ConfigError::new(
                    f,
                    "must be a SPIFFE id: spiffe://<trust domain>/<path>",
                ));
            }
            if by_spiffe.insert(id.clone(), i).is_some() {
                return Err(ConfigError::new(f, format!("`{id}` already names a workload")));
            }
        }
        let limits = build_limits(
            &field,
            w.requests_per_minute,
            w.tokens_per_minute,
            w.daily_budget_dollars,
            w.monthly_budget_dollars,
        )?;
        workloads.push(Workload { name: w.name, limits });
    }
    Ok((workloads, by_spiffe, by_name))
}

#[cfg(test)]
mod tests {
    use crate::config::{compile, ConfigError, FailureMode};
    use crate::testutil::config_json;

    fn with(from: &str, to: &str) -> String {
        let json = config_json();
        assert!(json.contains(from), "fixture lacks {from}");
        json.replacen(from, to, 1)
    }

    fn error_of(json: &str) -> ConfigError {
        compile(json.as_bytes()).unwrap_err()
    }

    const ABC: &str = r#""daily_budget_dollars": 50}"#;

    #[test]
    fn limits_compile_into_micro_dollars() {
        let c = compile(
            with(
                ABC,
                r#""daily_budget_dollars": 50, "monthly_budget_dollars": 900, "requests_per_minute": 5, "tokens_per_minute": 9}"#,
            )
            .replacen('{', r#"{"rate_limits": {"failure_mode": {"rate_limits": "closed"}, "budget_utc_offset_minutes": -300},"#, 1)
            .as_bytes(),
        )
        .unwrap();
        let l = c.teams[0].limits;
        assert_eq!(l.daily_budget_microdollars, Some(50_000_000));
        assert_eq!(l.monthly_budget_microdollars, Some(900_000_000));
        assert_eq!((l.requests_per_minute, l.tokens_per_minute), (Some(5), Some(9)));
        assert!(c.teams[1].limits.is_empty());
        let r = c.rate_limits.unwrap();
        assert_eq!(
            (r.rate_failure, r.budget_failure),
            (FailureMode::Closed, FailureMode::Closed)
        );
        assert_eq!((r.timeout_ms, r.budget_utc_offset_minutes), (50, -300));
    }

    #[test]
    fn disabled_rate_limits_are_validated_and_off() {
        let c = compile(with("{", r#"{"rate_limits": {"enabled": false},"#).as_bytes()).unwrap();
        assert!(c.rate_limits.is_none());
        let e = error_of(&with("{", r#"{"rate_limits": {"enabled": false, "timeout_ms": 0},"#));
        assert_eq!(e.field, "rate_limits.timeout_ms");
    }

    #[test]
    fn bad_limits_name_their_field() {
        let cases = [
            (
                with(ABC, r#""daily_budget_dollars": 0}"#),
                "teams[0].daily_budget_dollars",
            ),
            (
                with(ABC, r#""requests_per_minute": 0}"#),
                "teams[0].requests_per_minute",
            ),
            (
                with("{", r#"{"rate_limits": {"failure_mode": {"budgets": "sometimes"}},"#),
                "rate_limits.failure_mode.budgets",
            ),
            (
                with("{", r#"{"rate_limits": {"budget_utc_offset_minutes": 841},"#),
                "rate_limits.budget_utc_offset_minutes",
            ),
            (with(ABC, r#""allowed_models": []}"#), "teams[0].allowed_models"),
            (
                with(ABC, r#""allowed_models": ["gpt-5"]}"#),
                "teams[0].allowed_models[0]",
            ),
            (
                with(
                    ABC,
                    &format!(
                        r#""keys": [{{"id": "a", "sha256": "{0}"}}, {{"id": "a", "sha256": "{1}"}}]}}"#,
                        "ab".repeat(32),
                        "cd".repeat(32)
                    ),
                ),
                "teams[0].keys[1].id",
            ),
            (
                with(
                    ABC,
                    &format!(r#""keys": [{{"id": "Big Key", "sha256": "{}"}}]}}"#, "ab".repeat(32)),
                ),
                "teams[0].keys[0].id",
            ),
            (
                with("{", r#"{"workloads": [{"name": "w", "spiffe_ids": ["http://x"]}],"#),
                "workloads[0].spiffe_ids[0]",
            ),
            (
                with("{", r#"{"workloads": [{"name": "w"}, {"name": "w"}],"#),
                "workloads[1].name",
            ),
            (with("{", r#"{"workload_header": "x-genai-who","#), "workload_header"),
            (
                with("{", r#"{"workload_header": "x-data-classification","#),
                "workload_header",
            ),
            (
                with(r#""tier": "general","#, r#""tier": "general", "max_output_tokens": 0,"#),
                "models[0].max_output_tokens",
            ),
        ];
        for (json, field) in cases {
            assert_eq!(error_of(&json).field, field, "{json}");
        }
    }

    #[test]
    fn a_team_needs_a_key_somewhere() {
        let json = config_json();
        let start = json.find(r#""key_sha256": [""#).unwrap();
        let end = start + json[start..].find(']').unwrap() + 1;
        let without = format!("{}\"key_sha256\": []{}", &json[..start], &json[end..]);
        assert_eq!(error_of(&without).field, "teams[0].key_sha256");
        let keyed = format!(
            "{}\"keys\": [{{\"id\": \"only\", \"sha256\": \"{}\"}}]{}",
            &json[..start],
            "ab".repeat(32),
            &json[end..]
        );
        let c = compile(keyed.as_bytes()).unwrap();
        let digest: [u8; 32] = [0xab; 32];
        let caller = c.caller_by_key_digest(&digest).unwrap();
        assert_eq!((caller.team, caller.key), (0, Some(0)));
        assert_eq!(c.teams[0].keys[0].id, "only");
    }

    #[test]
    fn allowing_an_alias_allows_its_model() {
        let c = compile(with(ABC, r#""allowed_models": ["default-chat"]}"#).as_bytes()).unwrap();
        let gpt = c.model_index("gpt-4o").unwrap();
        let claude = c.model_index("claude-sonnet").unwrap();
        assert!(c.model_allowed(0, gpt));
        assert!(!c.model_allowed(0, claude));
        assert!(c.model_allowed(1, claude), "no allowed_models: every model");
        assert!(!c.model_allowed(9, gpt), "an unknown team may use nothing");
    }
}
