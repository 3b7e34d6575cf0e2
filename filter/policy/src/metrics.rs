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
}

pub const NONE: &str = "none";

fn code_class(status: u32) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

impl Outcome {
    pub fn points(&self) -> Vec<Point> {
        let team = self.team.clone().unwrap_or_else(|| NONE.into());
        if let Some(decision) = self.dry_run {
            return vec![Point {
                kind: Kind::Counter,
                name: "genai_dry_runs_total",
                labels: vec![("team", team), ("action", decision.into())],
                value: 1,
            }];
        }
        let model = self.model.clone().unwrap_or_else(|| NONE.into());
        let provider = self.provider.clone().unwrap_or_else(|| NONE.into());
        let tmp = || {
            vec![
                ("team", team.clone()),
                ("model", model.clone()),
                ("provider", provider.clone()),
            ]
        };
        let tm = || vec![("team", team.clone()), ("model", model.clone())];
        let mut out = Vec::with_capacity(12);
        let mut push = |kind, name, labels, value| {
            out.push(Point {
                kind,
                name,
                labels,
                value,
            })
        };

        let mut labels = tmp();
        labels.push(("code_class", code_class(self.status).into()));
        labels.push(("origin", self.origin.unwrap_or(Origin::Gateway).as_str().into()));
        push(Kind::Counter, "genai_requests_total", labels, 1);

        if let Some(t) = self.tokens {
            let estimated = if self.estimated { "true" } else { "false" };
            for (kind, value) in [
                ("input", t.input),
                ("cached_input", t.cached_input),
                ("cache_write", t.cache_write),
                ("output", t.output),
                ("reasoning", t.reasoning),
            ] {
                if value > 0 {
                    let mut labels = tmp();
                    labels.push(("type", kind.into()));
                    labels.push(("estimated", estimated.into()));
                    push(Kind::Counter, "genai_tokens_total", labels, value);
                }
            }
            push(Kind::Histogram, "genai_prompt_tokens", tm(), t.input);
            if t.cached_input > 0 {
                push(Kind::Counter, "genai_prompt_cache_hits_total", tm(), 1);
            }
        }
        if let Some(cost) = self.cost_microdollars {
            push(Kind::Counter, "genai_request_cost_microdollars_total", tm(), cost);
            push(Kind::Histogram, "genai_request_cost_microdollars", tm(), cost);
        }
        if let Some(ms) = self.ttft_ms {
            push(Kind::Histogram, "genai_time_to_first_token_milliseconds", tmp(), ms);
        }
        if let Some(ms) = self.duration_ms {
            push(Kind::Histogram, "genai_request_duration_milliseconds", tmp(), ms);
        }
        for (guardrail, action) in &self.guardrails {
            let labels = vec![
                ("team", team.clone()),
                ("guardrail", guardrail.clone()),
                ("action", (*action).into()),
            ];
            push(Kind::Counter, "genai_guardrail_triggers_total", labels, 1);
        }
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
            dry_run: None,
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
    fn budgets_only_where_configured() {
        let p = budget_points(&[("a".into(), Some(50)), ("b".into(), None)]);
        assert_eq!(names(&p), vec!["genai_team_daily_budget_dollars;team=a"]);
        assert_eq!(p[0].value, 50);
    }
}
