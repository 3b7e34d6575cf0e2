//! Fallback chains and timeouts: checked once here; the filter turns a request's approved
//! chain into a route key (`x-genai-upstream`), and `scripts/render-envoy`, reading the same
//! JSON, writes the Envoy routes and clusters those keys name. [`Compiled::routes`] is the
//! list both must agree on (`genaictl routes` prints it; a test compares it with the rendered
//! Envoy configuration).

use super::compile::{Compiled, Model, Provider, ProviderKind};
use super::raw::RawTimeouts;
use super::ConfigError;
use std::collections::HashMap;

/// Fallbacks per model at most: every attempt can cost a first-byte timeout, and each
/// subset of a chain is an Envoy route (2^4 = 16 per model).
pub const MAX_FALLBACKS: usize = 4;
pub const DEFAULT_FIRST_BYTE_MS: u64 = 60_000;
pub const DEFAULT_STREAM_IDLE_MS: u64 = 300_000;
pub const DEFAULT_MAX_RETRY_AFTER_MS: u64 = 2_000;
/// An hour: beyond any provider's own limits.
const MAX_TIMEOUT_MS: u64 = 3_600_000;
const MAX_RETRY_AFTER_MS: u64 = 300_000;

/// Prefix of the route keys of models with their own routes (provider upstreams, the other
/// route keys, cannot contain `:`).
pub const MODEL_ROUTE_PREFIX: &str = "model:";
/// Prefix of the Envoy cluster of one target of a fallback chain.
pub const TARGET_CLUSTER_PREFIX: &str = "target:";

/// How long Envoy waits, for each attempt of one model's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Envoy's per-try timeout: until the provider's response head, on each attempt.
    pub first_byte_ms: u64,
    /// Envoy's route idle timeout: silence on the stream (see [`RouteSpec::idle_ms`]).
    pub stream_idle_ms: u64,
    /// The rate-limited back-off's cap: a 429's `retry-after` up to this is waited out; a
    /// longer one is ignored and the next attempt follows at once. 0: never waited.
    pub max_retry_after_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            first_byte_ms: DEFAULT_FIRST_BYTE_MS,
            stream_idle_ms: DEFAULT_STREAM_IDLE_MS,
            max_retry_after_ms: DEFAULT_MAX_RETRY_AFTER_MS,
        }
    }
}

impl Timeouts {
    /// `raw` over `base`, checked; `field` names the object in errors.
    pub fn compile(raw: Option<&RawTimeouts>, base: Timeouts, field: &str) -> Result<Timeouts, ConfigError> {
        let Some(raw) = raw else {
            return Ok(base);
        };
        let t = Timeouts {
            first_byte_ms: raw.first_byte_ms.unwrap_or(base.first_byte_ms),
            stream_idle_ms: raw.stream_idle_ms.unwrap_or(base.stream_idle_ms),
            max_retry_after_ms: raw.max_retry_after_ms.unwrap_or(base.max_retry_after_ms),
        };
        for (name, v) in [("first_byte_ms", t.first_byte_ms), ("stream_idle_ms", t.stream_idle_ms)] {
            if v == 0 || v > MAX_TIMEOUT_MS {
                return Err(ConfigError::new(
                    format!("{field}.{name}"),
                    format!("must be between 1 and {MAX_TIMEOUT_MS} milliseconds"),
                ));
            }
        }
        if t.stream_idle_ms < t.first_byte_ms {
            // Before the head both run, and nothing moves while a non-streamed answer is
            // written: a shorter idle timeout would cut every long answer.
            return Err(ConfigError::new(
                format!("{field}.stream_idle_ms"),
                format!(
                    "must be at least first_byte_ms ({}): before the response head both apply",
                    t.first_byte_ms
                ),
            ));
        }
        if t.max_retry_after_ms > MAX_RETRY_AFTER_MS {
            return Err(ConfigError::new(
                format!("{field}.max_retry_after_ms"),
                format!("must be between 0 and {MAX_RETRY_AFTER_MS} milliseconds"),
            ));
        }
        Ok(t)
    }
}

/// The request format a provider kind speaks: fallbacks never translate between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    OpenAi,
    Anthropic,
}

impl ProviderKind {
    pub fn family(self) -> Family {
        match self {
            ProviderKind::OpenAi | ProviderKind::AzureOpenAi => Family::OpenAi,
            ProviderKind::Anthropic => Family::Anthropic,
        }
    }
}

/// Resolves and checks each model's `fallbacks` (raw names, in model order), setting
/// `fallbacks` and `own_route` on the models.
pub(super) fn resolve(
    raw: &[Vec<String>],
    models: &mut [Model],
    index: &HashMap<String, usize>,
    providers: &[Provider],
) -> Result<(), ConfigError> {
    let kind_of = |m: &Model| providers.get(m.provider).map(|p| p.kind);
    let mut resolved: Vec<Vec<usize>> = Vec::with_capacity(raw.len());
    for (i, names) in raw.iter().enumerate() {
        if names.len() > MAX_FALLBACKS {
            return Err(ConfigError::new(
                format!("models[{i}].fallbacks"),
                format!("at most {MAX_FALLBACKS} fallbacks: each can cost an attempt's first-byte timeout"),
            ));
        }
        let primary = models
            .get(i)
            .ok_or_else(|| ConfigError::new("models", "inconsistent"))?;
        let primary_kind = kind_of(primary);
        let mut chain = vec![i];
        for (j, name) in names.iter().enumerate() {
            let field = format!("models[{i}].fallbacks[{j}]");
            let t = *index
                .get(name)
                .ok_or_else(|| ConfigError::new(field.clone(), format!("no model named `{name}`")))?;
            if chain.contains(&t) {
                let what = if t == i {
                    "this model itself".to_string()
                } else {
                    format!(
                        "`{}`, already in this chain",
                        models.get(t).map_or("", |m| m.name.as_str())
                    )
                };
                return Err(ConfigError::new(
                    field,
                    format!("`{name}` is {what}: a chain tries each model once"),
                ));
            }
            let target = models
                .get(t)
                .ok_or_else(|| ConfigError::new(field.clone(), "inconsistent"))?;
            let (Some(pk), Some(tk)) = (primary_kind, kind_of(target)) else {
                return Err(ConfigError::new(field, "inconsistent"));
            };
            if pk.family() != tk.family() {
                return Err(ConfigError::new(
                    field,
                    format!(
                        "`{name}` is served by a {} provider and `{}` by a {} provider: a fallback \
                         must take the same request format (OpenAI: openai, azure_openai; \
                         Anthropic: anthropic); the gateway does not translate requests",
                        tk.as_str(),
                        primary.name,
                        pk.as_str()
                    ),
                ));
            }
            chain.push(t);
        }
        chain.remove(0);
        resolved.push(chain);
    }
    for (m, chain) in models.iter_mut().zip(resolved) {
        m.fallbacks = chain;
        m.own_route = m.own_route || !m.fallbacks.is_empty();
    }
    Ok(())
}

/// One Envoy route the filter may send requests to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// The `x-genai-upstream` value the route matches.
    pub key: String,
    /// The catalog models tried, in order (empty for a provider route: any model of it).
    pub chain: Vec<usize>,
    /// The provider upstream (one target), or the aggregate cluster named like the route.
    pub cluster: String,
    pub timeouts: Timeouts,
    /// The route's idle timeout. Envoy's stream idle timer runs from the request on and is
    /// not reset by a new attempt, so on a chain it must outlast every attempt's wait for a
    /// first byte (and the waits between attempts): it is the larger of `stream_idle_ms` and
    /// that worst case. (Envoy's per-try idle timeout does not help: the per-try timer, when
    /// it fires after the response started, deletes it.)
    pub idle_ms: u64,
}

/// Envoy's default retry back-off cap (`retry_back_off.max_interval`), between attempts.
const RETRY_BACK_OFF_MS: u64 = 250;

/// See [`RouteSpec::idle_ms`].
fn idle_ms(t: &Timeouts, attempts: usize) -> u64 {
    let n = attempts.max(1) as u64;
    let waits = t
        .first_byte_ms
        .saturating_mul(n)
        .saturating_add((t.max_retry_after_ms.max(RETRY_BACK_OFF_MS)).saturating_mul(n - 1));
    t.stream_idle_ms.max(waits)
}

impl Compiled {
    /// The route key (`x-genai-upstream`) for a request that may be served by `chain`, the
    /// requested model first. Models with neither fallbacks nor their own timeouts share
    /// their provider's route; the others have one route per subset of their chain.
    pub fn route_key(&self, chain: &[usize]) -> Option<String> {
        let primary = self.models.get(*chain.first()?)?;
        if !primary.own_route {
            return Some(self.providers.get(primary.provider)?.upstream.clone());
        }
        let mut key = String::from(MODEL_ROUTE_PREFIX);
        for (n, i) in chain.iter().enumerate() {
            if n > 0 {
                key.push('+');
            }
            key.push_str(&self.models.get(*i)?.name);
        }
        Some(key)
    }

    /// The Envoy cluster of one fallback target.
    pub fn target_cluster(&self, model: usize) -> Option<String> {
        Some(format!("{TARGET_CLUSTER_PREFIX}{}", self.models.get(model)?.name))
    }

    /// Every route the filter can choose: one per provider upstream, then per model with
    /// its own route, one per subset of its fallbacks (in configuration order).
    pub fn routes(&self) -> Vec<RouteSpec> {
        let mut out: Vec<RouteSpec> = Vec::new();
        for p in &self.providers {
            if !out.iter().any(|r| r.key == p.upstream) {
                out.push(RouteSpec {
                    key: p.upstream.clone(),
                    chain: Vec::new(),
                    cluster: p.upstream.clone(),
                    timeouts: self.timeouts,
                    idle_ms: idle_ms(&self.timeouts, 1),
                });
            }
        }
        for (i, m) in self.models.iter().enumerate() {
            if !m.own_route {
                continue;
            }
            for mask in 0..(1usize << m.fallbacks.len()) {
                let mut chain = vec![i];
                chain.extend(
                    m.fallbacks
                        .iter()
                        .enumerate()
                        .filter(|(bit, _)| mask & (1 << bit) != 0)
                        .map(|(_, t)| *t),
                );
                let Some(key) = self.route_key(&chain) else {
                    continue;
                };
                let cluster = if chain.len() == 1 {
                    self.providers
                        .get(m.provider)
                        .map(|p| p.upstream.clone())
                        .unwrap_or_default()
                } else {
                    key.clone()
                };
                out.push(RouteSpec {
                    idle_ms: idle_ms(&m.timeouts, chain.len()),
                    key,
                    chain,
                    cluster,
                    timeouts: m.timeouts,
                });
            }
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests;
