//! The limits, read from the filter's own configuration file.
//!
//! The service compiles the same JSON the filter does (`genai_policy::compile`), so the two
//! cannot disagree about who has which limit; it re-reads the file when it changes.

use std::collections::HashMap;

use genai_policy::config::{FailureMode, Limits};
use genai_policy::Compiled;

use crate::windows::Calendar;

/// Whose counters: a team, one of its keys, or a workload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    Team(String),
    Key { team: String, key: String },
    Workload(String),
}

impl Scope {
    /// The Limitador namespace prefix of this scope's counters.
    pub fn namespace(&self, family: Family) -> String {
        let f = family.as_str();
        match self {
            Scope::Team(t) => format!("genai/team/{t}/{f}"),
            Scope::Key { team, key } => format!("genai/key/{team}/{key}/{f}"),
            Scope::Workload(w) => format!("genai/workload/{w}/{f}"),
        }
    }

    /// How a refusal names it: "team `team-abc`", "key `batch` of team `team-abc`".
    pub fn describe(&self) -> String {
        match self {
            Scope::Team(t) => format!("team `{t}`"),
            Scope::Key { team, key } => format!("key `{key}` of team `{team}`"),
            Scope::Workload(w) => format!("workload `{w}`"),
        }
    }
}

/// A kind of counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Requests,
    Tokens,
    Spend(Calendar),
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Requests => "rpm",
            Family::Tokens => "tpm",
            Family::Spend(Calendar::Day) => "spend_day",
            Family::Spend(Calendar::Month) => "spend_month",
        }
    }

    /// The label of `genai_ratelimit_rejections_total{limit}` and `x-genai-ratelimit-limit`.
    pub fn limit_label(self) -> &'static str {
        match self {
            Family::Requests => "requests_per_minute",
            Family::Tokens => "tokens_per_minute",
            Family::Spend(Calendar::Day) => "daily_budget",
            Family::Spend(Calendar::Month) => "monthly_budget",
        }
    }

    /// The configured limit, if any.
    pub fn limit_in(self, l: &Limits) -> Option<u64> {
        match self {
            Family::Requests => l.requests_per_minute,
            Family::Tokens => l.tokens_per_minute,
            Family::Spend(Calendar::Day) => l.daily_budget_microdollars,
            Family::Spend(Calendar::Month) => l.monthly_budget_microdollars,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct TeamEntry {
    pub limits: Limits,
    pub keys: HashMap<String, Limits>,
    pub allowed_models: Option<Vec<String>>,
}

/// Everything the service needs from the configuration.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub runbook_base_url: String,
    pub budget_utc_offset_minutes: i32,
    /// When Redis cannot answer: admit (`true`) or refuse requests checked for their rate...
    pub rates_fail_open: bool,
    /// ...and for their budget. Envoy applies the same modes when the service itself is down.
    pub budgets_fail_open: bool,
    pub teams: HashMap<String, TeamEntry>,
    /// Team names in configuration order (for metrics).
    pub team_order: Vec<String>,
    pub workloads: HashMap<String, Limits>,
}

impl Table {
    pub fn from_config(c: &Compiled) -> Table {
        let mut teams = HashMap::new();
        let mut team_order = Vec::new();
        for t in &c.teams {
            let keys = t.keys.iter().map(|k| (k.id.clone(), k.limits)).collect();
            teams.insert(
                t.name.clone(),
                TeamEntry {
                    limits: t.limits,
                    keys,
                    allowed_models: t.allowed_model_names.clone(),
                },
            );
            team_order.push(t.name.clone());
        }
        Table {
            runbook_base_url: c.runbook_base_url.clone(),
            budget_utc_offset_minutes: c.rate_limits.as_ref().map_or(0, |r| r.budget_utc_offset_minutes),
            rates_fail_open: c
                .rate_limits
                .as_ref()
                .is_none_or(|r| r.rate_failure == FailureMode::Open),
            budgets_fail_open: c
                .rate_limits
                .as_ref()
                .is_some_and(|r| r.budget_failure == FailureMode::Open),
            teams,
            team_order,
            workloads: c.workloads.iter().map(|w| (w.name.clone(), w.limits)).collect(),
        }
    }

    /// The limits of a scope the configuration knows; `None` for an unknown one.
    pub fn limits(&self, scope: &Scope) -> Option<Limits> {
        match scope {
            Scope::Team(t) => self.teams.get(t).map(|e| e.limits),
            Scope::Key { team, key } => self.teams.get(team).and_then(|e| e.keys.get(key)).copied(),
            Scope::Workload(w) => self.workloads.get(w).copied(),
        }
    }
}
