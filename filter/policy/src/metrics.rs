//! What one request contributes to the platform's metrics, as plain data.
//!
//! The filter turns each [`Point`] into an Envoy stat named
//! `genai_<metric>;label=value;...`; the shipped Envoy config's `stats_tags` turn the
//! `;label=value` parts into Prometheus labels. Every label value comes from the
//! configuration (teams, catalog models, providers, guardrail names) or from a fixed set
//! (`none` where there is none), never from the request, so cardinality is bounded by the
//! configuration. docs/metrics.md documents each metric.

use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Histogram,
    Gauge,
}

/// One update to one metric series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point {
    pub kind: Kind,
    pub name: &'static str,
    pub labels: Vec<(&'static str, String)>,
    pub value: u64,
}

impl Point {
    /// The Envoy stat name: `name;label=value;...`.
    pub fn stat_name(&self) -> String {
        let mut s = String::with_capacity(64);
        s.push_str(self.name);
        for (k, v) in &self.labels {
            // `;` separates labels: keep it out of values (configuration names cannot hold it).
            let _ = write!(s, ";{k}={}", v.replace(';', "_"));
        }
        s
    }
}

/// Who produced the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The filter refused or answered the request itself.
    Gateway,
    /// The provider answered (any status).
    Provider,
    /// Envoy answered: timeout, unreachable provider, no route.
    Envoy,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Gateway => "gateway",
            Origin::Provider => "provider",
            Origin::Envoy => "envoy",
        }
    }
}

/// Token counts as normalised by genai-usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tokens {
    pub input: u64,
    pub cached_input: u64,
    pub cache_write: u64,
    pub output: u64,
    pub reasoning: u64,
}

/// Everything the metrics need about one finished request.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub team: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    /// The same three as indices into the compiled configuration: the filter's cache of
    /// metric handles is keyed on them.
    pub ids: SeriesIds,
    pub status: u32,
    pub origin: Option<Origin>,
    pub tokens: Option<Tokens>,
    /// True when the tokens were estimated because the provider reported none.
    pub estimated: bool,
    pub cost_microdollars: Option<u64>,
    pub ttft_ms: Option<u64>,
    pub duration_ms: Option<u64>,
    /// (guardrail name, action taken: `block`, `redact`, `log`, `shadow`).
    pub guardrails: Vec<(String, &'static str)>,
    /// A dry run (`POST /v1/gateway/check`) and the decision it reported: counted apart, as
    /// `genai_dry_runs_total`, never as traffic to a model.
    pub dry_run: Option<&'static str>,
    /// Refused by Envoy's rate limit filter: which limit (one of [`RATE_LIMIT_LABELS`]).
    pub rate_limited: Option<&'static str>,
    /// The calling workload, when the configuration names it: a `workload` label on the
    /// token and cost series (series of requests without one keep their names). Its index
    /// is `ids.workload`.
    pub workload: Option<String>,
    /// The catalog model the client asked for (`model` is the one that served, when a
    /// fallback did).
    pub requested_model: Option<String>,
    /// Each fallback: from which model to which, and why (crate::fallback::report).
    pub fallbacks: Vec<crate::fallback::FallbackPoint>,
}

pub const NONE: &str = "none";

const CODE_CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

fn code_class(status: u32) -> u8 {
    match status {
        100..=199 => 0,
        200..=299 => 1,
        300..=399 => 2,
        400..=499 => 3,
        500..=599 => 4,
        _ => 5,
    }
}

const ORIGINS: [Origin; 3] = [Origin::Gateway, Origin::Provider, Origin::Envoy];

const TOKEN_TYPES: [&str; 5] = ["input", "cached_input", "cache_write", "output", "reasoning"];

/// The labels `genai_ratelimit_rejections_total{limit}` takes (from the rate limit service's
/// `x-genai-ratelimit-limit` header, or `unavailable` for its 503); anything else is
/// `unknown`, the last.
pub const RATE_LIMIT_LABELS: [&str; 6] = [
    "requests_per_minute",
    "tokens_per_minute",
    "daily_budget",
    "monthly_budget",
    "unavailable",
    "unknown",
];

/// Team, model and provider as indices into the compiled configuration (`None`: not known,
/// the `none` label); the workload's too (`None`: no `workload` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeriesIds {
    pub team: Option<u32>,
    pub model: Option<u32>,
    pub provider: Option<u32>,
    pub workload: Option<u32>,
}

/// The metrics every request updates, by name (docs/metrics.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    Requests,
    Tokens,
    PromptTokens,
    PromptCacheHits,
    CostTotal,
    Cost,
    TimeToFirstToken,
    Duration,
    /// `genai_ratelimit_rejections_total{team,limit}`.
    RateLimitRejections,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::Requests => "genai_requests_total",
            Metric::Tokens => "genai_tokens_total",
            Metric::PromptTokens => "genai_prompt_tokens",
            Metric::PromptCacheHits => "genai_prompt_cache_hits_total",
            Metric::CostTotal => "genai_request_cost_microdollars_total",
            Metric::Cost => "genai_request_cost_microdollars",
            Metric::TimeToFirstToken => "genai_time_to_first_token_milliseconds",
            Metric::Duration => "genai_request_duration_milliseconds",
            Metric::RateLimitRejections => "genai_ratelimit_rejections_total",
        }
    }

    pub fn kind(self) -> Kind {
        match self {
            Metric::Requests
            | Metric::Tokens
            | Metric::PromptCacheHits
            | Metric::CostTotal
            | Metric::RateLimitRejections => Kind::Counter,
            Metric::PromptTokens | Metric::Cost | Metric::TimeToFirstToken | Metric::Duration => Kind::Histogram,
        }
    }

    /// Whether the series carries a `provider` label (else team and model only).
    fn has_provider(self) -> bool {
        matches!(
            self,
            Metric::Requests | Metric::Tokens | Metric::TimeToFirstToken | Metric::Duration
        )
    }

    /// Whether the series carries a `model` label (all but the rate limit rejections, which
    /// are counted per team).
    fn has_model(self) -> bool {
        self != Metric::RateLimitRejections
    }

    /// Whether the series carries a `workload` label when the workload is known.
    fn has_workload(self) -> bool {
        matches!(self, Metric::Tokens | Metric::CostTotal)
    }
}

/// One series, as integers: the filter defines its Envoy stat once per key and keeps the
/// id. `detail` is the metric's own labels: for requests `code_class * 3 + origin`, for
/// tokens `type * 2 + estimated`, for rate limit rejections the limit (the indices of the
/// tables above), else 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeriesKey {
    pub metric: Metric,
    pub ids: SeriesIds,
    pub detail: u8,
}

/// One update of a series keyed by integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Update {
    pub key: SeriesKey,
    pub value: u64,
}

/// At most this many updates per request for the metrics every request updates.
pub const MAX_UPDATES: usize = 12;

impl Outcome {
    /// The updates of the metrics every request touches, keyed by integers: no string is
    /// built (the names are rendered with [`Outcome::render`] only the first time a key is
    /// seen). Calls `f` in the order of [`Outcome::points`].
    pub fn for_each_update(&self, mut f: impl FnMut(Update)) {
        if self.dry_run.is_some() {
            return;
        }
        let with = |metric: Metric, detail: u8, value: u64| {
            let mut ids = self.ids;
            if !metric.has_provider() {
                ids.provider = None;
            }
            if !metric.has_model() {
                ids.model = None;
            }
            if !metric.has_workload() || self.workload.is_none() {
                ids.workload = None;
            }
            Update {
                key: SeriesKey { metric, ids, detail },
                value,
            }
        };
        let origin = self.origin.unwrap_or(Origin::Gateway);
        let origin = ORIGINS.iter().position(|o| *o == origin).unwrap_or(0) as u8;
        f(with(Metric::Requests, code_class(self.status) * 3 + origin, 1));
        if let Some(t) = self.tokens {
            let estimated = u8::from(self.estimated);
            let values = [t.input, t.cached_input, t.cache_write, t.output, t.reasoning];
            for (kind, value) in values.into_iter().enumerate() {
                if value > 0 {
                    f(with(Metric::Tokens, (kind as u8) * 2 + estimated, value));
                }
            }
            f(with(Metric::PromptTokens, 0, t.input));
            if t.cached_input > 0 {
                f(with(Metric::PromptCacheHits, 0, 1));
            }
        }
        if let Some(cost) = self.cost_microdollars {
            f(with(Metric::CostTotal, 0, cost));
            f(with(Metric::Cost, 0, cost));
        }
        if let Some(ms) = self.ttft_ms {
            f(with(Metric::TimeToFirstToken, 0, ms));
        }
        if let Some(ms) = self.duration_ms {
            f(with(Metric::Duration, 0, ms));
        }
        if let Some(limit) = self.rate_limited {
            let last = RATE_LIMIT_LABELS.len() - 1;
            let i = RATE_LIMIT_LABELS.iter().position(|l| *l == limit).unwrap_or(last);
            f(with(Metric::RateLimitRejections, i as u8, 1));
        }
    }

    /// An update as a named point (the stat name, for the first use of its key).
    pub fn render(&self, u: &Update) -> Point {
        let name_or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| NONE.into());
        let mut labels = vec![("team", name_or_none(&self.team))];
        let m = u.key.metric;
        if m.has_model() {
            labels.push(("model", name_or_none(&self.model)));
        }
        if m.has_provider() {
            labels.push(("provider", name_or_none(&self.provider)));
        }
        match m {
            Metric::Requests => {
                let class = CODE_CLASSES
                    .get(usize::from(u.key.detail / 3))
                    .copied()
                    .unwrap_or("other");
                let origin = ORIGINS
                    .get(usize::from(u.key.detail % 3))
                    .copied()
                    .unwrap_or(Origin::Gateway);
                labels.push(("code_class", class.into()));
                labels.push(("origin", origin.as_str().into()));
            }
            Metric::Tokens => {
                let kind = TOKEN_TYPES
                    .get(usize::from(u.key.detail / 2))
                    .copied()
                    .unwrap_or("input");
                labels.push(("type", kind.into()));
                let estimated = if u.key.detail % 2 == 1 { "true" } else { "false" };
                labels.push(("estimated", estimated.into()));
            }
            Metric::RateLimitRejections => {
                let limit = RATE_LIMIT_LABELS
                    .get(usize::from(u.key.detail))
                    .copied()
                    .unwrap_or("unknown");
                labels.push(("limit", limit.into()));
            }
            _ => {}
        }
        if let (true, Some(w)) = (u.key.ids.workload.is_some(), &self.workload) {
            labels.push(("workload", w.clone()));
        }
        Point {
            kind: m.kind(),
            name: m.name(),
            labels,
            value: u.value,
        }
    }

    /// The points of the metrics only some requests update (guardrail triggers, fallbacks;
    /// a dry run, which counts only itself), named.
    pub fn extra_points(&self) -> Vec<Point> {
        let team = self.team.clone().unwrap_or_else(|| NONE.into());
        if let Some(decision) = self.dry_run {
            return vec![Point {
                kind: Kind::Counter,
                name: "genai_dry_runs_total",
                labels: vec![("team", team), ("action", decision.into())],
                value: 1,
            }];
        }
        let requested = self
            .requested_model
            .clone()
            .or_else(|| self.model.clone())
            .unwrap_or_else(|| NONE.into());
        let triggers = self.guardrails.iter().map(|(guardrail, action)| Point {
            kind: Kind::Counter,
            name: "genai_guardrail_triggers_total",
            labels: vec![
                ("team", team.clone()),
                ("guardrail", guardrail.clone()),
                ("action", (*action).into()),
            ],
            value: 1,
        });
        // Labelled with the model asked for: the served one is on the request's own series.
        let fallbacks = self.fallbacks.iter().map(|f| Point {
            kind: Kind::Counter,
            name: "genai_fallbacks_total",
            labels: vec![
                ("team", team.clone()),
                ("model", requested.clone()),
                ("from", f.from.clone()),
                ("to", f.to.clone()),
                ("reason", f.reason.into()),
            ],
            value: 1,
        });
        triggers.chain(fallbacks).collect()
    }

    /// Every point of the request, named: the updates rendered, then the extra points.
    pub fn points(&self) -> Vec<Point> {
        let mut out = Vec::with_capacity(MAX_UPDATES);
        self.for_each_update(|u| out.push(self.render(&u)));
        out.extend(self.extra_points());
        out
    }
}

/// The gauges set once per configuration.
pub fn budget_points(teams: &[(String, Option<u64>)]) -> Vec<Point> {
    teams
        .iter()
        .filter_map(|(team, budget)| {
            Some(Point {
                kind: Kind::Gauge,
                name: "genai_team_daily_budget_dollars",
                labels: vec![("team", team.clone())],
                value: (*budget)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(points: &[Point]) -> Vec<String> {
        points.iter().map(Point::stat_name).collect()
    }

    #[test]
    fn a_streamed_provider_answer() {
        let o = Outcome {
            team: Some("team-abc".into()),
            model: Some("gpt-4o".into()),
            provider: Some("openai".into()),
            status: 200,
            origin: Some(Origin::Provider),
            tokens: Some(Tokens {
                input: 100,
                cached_input: 40,
                cache_write: 0,
                output: 20,
                reasoning: 5,
            }),
            estimated: false,
            cost_microdollars: Some(400),
            ttft_ms: Some(120),
            duration_ms: Some(900),
            guardrails: vec![],
            ..Default::default()
        };
        let p = o.points();
        assert_eq!(
            names(&p),
            vec![
                "genai_requests_total;team=team-abc;model=gpt-4o;provider=openai;code_class=2xx;origin=provider",
                "genai_tokens_total;team=team-abc;model=gpt-4o;provider=openai;type=input;estimated=false",
                "genai_tokens_total;team=team-abc;model=gpt-4o;provider=openai;type=cached_input;estimated=false",
                "genai_tokens_total;team=team-abc;model=gpt-4o;provider=openai;type=output;estimated=false",
                "genai_tokens_total;team=team-abc;model=gpt-4o;provider=openai;type=reasoning;estimated=false",
                "genai_prompt_tokens;team=team-abc;model=gpt-4o",
                "genai_prompt_cache_hits_total;team=team-abc;model=gpt-4o",
                "genai_request_cost_microdollars_total;team=team-abc;model=gpt-4o",
                "genai_request_cost_microdollars;team=team-abc;model=gpt-4o",
                "genai_time_to_first_token_milliseconds;team=team-abc;model=gpt-4o;provider=openai",
                "genai_request_duration_milliseconds;team=team-abc;model=gpt-4o;provider=openai",
            ]
        );
        assert_eq!(p[1].value, 100);
        assert_eq!(p[7].value, 400);
        assert_eq!(p[7].kind, Kind::Counter);
        assert_eq!(p[8].kind, Kind::Histogram);
    }

    #[test]
    fn a_gateway_rejection_before_authentication() {
        let o = Outcome {
            status: 401,
            guardrails: vec![],
            ..Default::default()
        };
        assert_eq!(
            names(&o.points()),
            vec!["genai_requests_total;team=none;model=none;provider=none;code_class=4xx;origin=gateway"]
        );
    }

    #[test]
    fn guardrail_triggers_and_estimates_are_labelled() {
        let o = Outcome {
            team: Some("t".into()),
            status: 403,
            tokens: Some(Tokens {
                input: 0,
                output: 7,
                ..Default::default()
            }),
            estimated: true,
            guardrails: vec![("credit_card".into(), "block"), ("injection:override".into(), "shadow")],
            ..Default::default()
        };
        let n = names(&o.points());
        assert!(
            n.contains(&"genai_tokens_total;team=t;model=none;provider=none;type=output;estimated=true".to_string())
        );
        assert!(n.contains(&"genai_guardrail_triggers_total;team=t;guardrail=credit_card;action=block".to_string()));
        assert!(
            n.contains(&"genai_guardrail_triggers_total;team=t;guardrail=injection:override;action=shadow".to_string())
        );
    }

    /// The integer keys stand for the names: one key per name, the same name for one key.
    #[test]
    fn integer_keys_match_the_names() {
        let ids = |t, m, p, w| SeriesIds {
            team: t,
            model: m,
            provider: p,
            workload: w,
        };
        let outcome = |status, origin, estimated, ids: SeriesIds, rate_limited| Outcome {
            team: ids.team.map(|t| format!("team-{t}")),
            model: ids.model.map(|m| format!("model-{m}")),
            provider: ids.provider.map(|p| format!("provider-{p}")),
            workload: ids.workload.map(|w| format!("workload-{w}")),
            ids,
            status,
            origin,
            tokens: Some(Tokens {
                input: 10,
                cached_input: 2,
                cache_write: 1,
                output: 3,
                reasoning: 1,
            }),
            estimated,
            cost_microdollars: Some(7),
            ttft_ms: Some(5),
            duration_ms: Some(9),
            rate_limited,
            ..Default::default()
        };
        let mut seen: std::collections::HashMap<SeriesKey, String> = std::collections::HashMap::new();
        for status in [200, 404, 429, 503, 0] {
            for origin in [None, Some(Origin::Gateway), Some(Origin::Provider), Some(Origin::Envoy)] {
                for estimated in [false, true] {
                    for i in [
                        ids(None, None, None, None),
                        ids(Some(0), Some(1), Some(0), None),
                        ids(Some(1), Some(1), Some(2), None),
                        ids(Some(1), Some(1), Some(2), Some(0)),
                        ids(Some(1), Some(0), Some(2), Some(3)),
                    ] {
                        for limited in [None, Some("daily_budget"), Some("unavailable"), Some("bogus")] {
                            let o = outcome(status, origin, estimated, i, limited);
                            let mut updates = Vec::new();
                            o.for_each_update(|u| updates.push(u));
                            let points = o.points();
                            assert_eq!(updates.len(), points.len());
                            for (u, p) in updates.iter().zip(&points) {
                                assert_eq!(o.render(u), *p);
                                let name = p.stat_name();
                                if let Some(other) = seen.insert(u.key, name.clone()) {
                                    assert_eq!(other, name, "one key, two names");
                                }
                            }
                        }
                    }
                }
            }
        }
        let names: std::collections::HashSet<&String> = seen.values().collect();
        assert_eq!(names.len(), seen.len(), "one name, two keys");
        assert!(seen
            .values()
            .any(|n| n == "genai_ratelimit_rejections_total;team=team-1;limit=unknown"));
        assert!(seen
            .values()
            .any(|n| n == "genai_request_cost_microdollars_total;team=team-1;model=model-0;workload=workload-3"));
    }

    /// A rate-limited request: counted as the gateway's, and in the rejections by team and
    /// limit; the workload label only on the token and cost series.
    #[test]
    fn a_rate_limited_request_and_a_workload() {
        let o = Outcome {
            team: Some("team-abc".into()),
            model: Some("gpt-4o".into()),
            provider: Some("openai".into()),
            status: 429,
            origin: Some(Origin::Gateway),
            duration_ms: Some(2),
            rate_limited: Some("tokens_per_minute"),
            workload: Some("checkout".into()),
            ids: SeriesIds {
                workload: Some(0),
                ..SeriesIds::default()
            },
            ..Default::default()
        };
        assert_eq!(
            names(&o.points()),
            vec![
                "genai_requests_total;team=team-abc;model=gpt-4o;provider=openai;code_class=4xx;origin=gateway",
                "genai_request_duration_milliseconds;team=team-abc;model=gpt-4o;provider=openai",
                "genai_ratelimit_rejections_total;team=team-abc;limit=tokens_per_minute",
            ]
        );
        let billed = Outcome {
            status: 200,
            origin: Some(Origin::Provider),
            rate_limited: None,
            tokens: Some(Tokens {
                input: 3,
                ..Tokens::default()
            }),
            cost_microdollars: Some(9),
            duration_ms: None,
            ..o
        };
        assert_eq!(
            names(&billed.points()),
            vec![
                "genai_requests_total;team=team-abc;model=gpt-4o;provider=openai;code_class=2xx;origin=provider",
                "genai_tokens_total;team=team-abc;model=gpt-4o;provider=openai;type=input;estimated=false;workload=checkout",
                "genai_prompt_tokens;team=team-abc;model=gpt-4o",
                "genai_request_cost_microdollars_total;team=team-abc;model=gpt-4o;workload=checkout",
                "genai_request_cost_microdollars;team=team-abc;model=gpt-4o",
            ]
        );
    }

    #[test]
    fn a_dry_run_counts_only_itself() {
        let o = Outcome {
            team: Some("team-abc".into()),
            status: 200,
            duration_ms: Some(3),
            guardrails: vec![("credit_card".into(), "block")],
            dry_run: Some("block"),
            ..Default::default()
        };
        assert_eq!(
            names(&o.points()),
            vec!["genai_dry_runs_total;team=team-abc;action=block"]
        );
    }

    #[test]
    fn fallbacks_are_labelled_with_the_requested_model() {
        use crate::fallback::FallbackPoint;
        let o = Outcome {
            team: Some("t".into()),
            model: Some("azure-gpt-4o".into()),
            provider: Some("azure".into()),
            status: 200,
            origin: Some(Origin::Provider),
            requested_model: Some("gpt-4o".into()),
            fallbacks: vec![
                FallbackPoint {
                    from: "gpt-4o".into(),
                    to: "azure-gpt-4o".into(),
                    reason: "server_error",
                },
                FallbackPoint {
                    from: "gpt-4o".into(),
                    to: "llama-internal".into(),
                    reason: "classification",
                },
            ],
            ..Default::default()
        };
        let n = names(&o.points());
        assert_eq!(
            n[0], "genai_requests_total;team=t;model=azure-gpt-4o;provider=azure;code_class=2xx;origin=provider",
            "the request is counted for the model that served it"
        );
        assert_eq!(
            &n[n.len() - 2..],
            [
                "genai_fallbacks_total;team=t;model=gpt-4o;from=gpt-4o;to=azure-gpt-4o;reason=server_error",
                "genai_fallbacks_total;team=t;model=gpt-4o;from=gpt-4o;to=llama-internal;reason=classification",
            ]
        );
    }

    #[test]
    fn budgets_only_where_configured() {
        let p = budget_points(&[("a".into(), Some(50)), ("b".into(), None)]);
        assert_eq!(names(&p), vec!["genai_team_daily_budget_dollars;team=a"]);
        assert_eq!(p[0].value, 50);
    }
}
