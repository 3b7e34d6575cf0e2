//! Fallback across providers, without breaking the classification rules.
//!
//! A model's `fallbacks` are catalog models tried in order when its provider fails. Which of
//! them a request may use is decided here, with the request's effective classification:
//! a target whose tier is not approved for it is left out (and counted, `reason =
//! "classification"`), as is one whose provider does not serve the endpoint called, or one
//! outside the team's `allowed_models` (`reason = "team"`). What remains is the request's chain;
//! its route key names the Envoy route whose aggregate cluster holds exactly those targets,
//! so Envoy's retries can never reach another one.
//!
//! Envoy does the retrying: each attempt runs the module again, as an upstream filter of the
//! chain's cluster, and [`attempt::Attempts`] tells it how to make the request right for the
//! target Envoy picked (credential, `:path`, `model`, provider headers) and records how each
//! attempt ended, for the accounting ([`report`]). docs/architecture.md#fallback explains the
//! mechanism and why it was chosen.

pub mod attempt;
pub mod report;

use crate::api::Api;
use crate::classification::Classification;
use crate::config::{Compiled, ProviderKind};
use crate::flow::HeaderValue;
use crate::secret::Secret;

pub use attempt::{AttemptPlan, AttemptRewrite, AttemptStart, Attempts, SharedAttempts};
pub use report::FallbackPoint;

/// Why a configured fallback target is not in a request's chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Its tier is not approved for the request's effective classification.
    Classification,
    /// The team may not use it.
    Team,
    /// Its provider does not serve the endpoint called (Azure OpenAI and `/v1/responses`).
    Endpoint,
}

impl Skip {
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::Classification => "classification",
            Skip::Team => "team",
            Skip::Endpoint => "endpoint",
        }
    }
}

/// A configured fallback left out of a request's chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skipped {
    /// Its position in the configured chain (1 is the first fallback).
    pub position: usize,
    pub model: usize,
    pub why: Skip,
}

/// The targets one request may be served by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// The requested model, then the approved fallbacks, in configured order.
    pub targets: Vec<usize>,
    /// Each target's position in the configured chain (0 for the requested model).
    pub positions: Vec<usize>,
    pub skipped: Vec<Skipped>,
}

impl Chain {
    /// A request that cannot fall back: its model alone.
    pub fn single(model: usize) -> Self {
        Chain {
            targets: vec![model],
            positions: vec![0],
            skipped: Vec::new(),
        }
    }
}

/// The chain of a request for `primary` (already approved: the guardrails and the
/// endpoint check passed for it) with effective classification `classification`.
/// `allowed` says whether the team may use a model.
pub fn select(
    config: &Compiled,
    primary: usize,
    api: Api,
    classification: Classification,
    allowed: impl Fn(usize) -> bool,
) -> Chain {
    let mut chain = Chain::single(primary);
    let Some(model) = config.models.get(primary) else {
        return chain;
    };
    for (n, &t) in model.fallbacks.iter().enumerate() {
        let position = n + 1;
        let Some(target) = config.models.get(t) else {
            continue;
        };
        let serves = config.provider(target.provider).is_some_and(|p| p.kind.serves(api));
        let approved = config
            .tier(target.tier)
            .is_some_and(|tier| tier.approved_for.contains(classification));
        let why = if !serves {
            Some(Skip::Endpoint)
        } else if !approved {
            Some(Skip::Classification)
        } else if !allowed(t) {
            Some(Skip::Team)
        } else {
            None
        };
        match why {
            Some(why) => chain.skipped.push(Skipped {
                position,
                model: t,
                why,
            }),
            None => {
                chain.targets.push(t);
                chain.positions.push(position);
            }
        }
    }
    chain
}

/// The request headers that make a request right for `model`'s provider: `:path`, the
/// credential, and `anthropic-version` when the client sent none. The same for the first
/// attempt (set by the gateway role) and every fallback (set per attempt).
pub fn target_headers(
    config: &Compiled,
    model: usize,
    api: Api,
    query: &str,
    client_sent_anthropic_version: bool,
) -> Option<Vec<(&'static str, HeaderValue)>> {
    let m = config.models.get(model)?;
    let provider = config.provider(m.provider)?;
    let secret = config.credential(m.provider)?.clone();
    let mut headers = Vec::with_capacity(3);
    match provider.kind {
        ProviderKind::OpenAi => {
            // The canonical path (no trailing slash), with the client's query string.
            headers.push((":path", HeaderValue::Plain(format!("{}{query}", api.path()))));
            let bearer = Secret::new(format!("Bearer {}", secret.expose()));
            headers.push(("authorization", HeaderValue::Secret(bearer)));
        }
        ProviderKind::Anthropic => {
            // Anthropic's SDK sends `?beta=true`: kept.
            headers.push((":path", HeaderValue::Plain(format!("{}{query}", api.path()))));
            headers.push(("x-api-key", HeaderValue::Secret(secret)));
            if !client_sent_anthropic_version {
                headers.push((
                    "anthropic-version",
                    HeaderValue::Plain(provider.anthropic_version.clone()),
                ));
            }
        }
        ProviderKind::AzureOpenAi => {
            let version = provider.api_version.as_deref().unwrap_or_default();
            let path = format!(
                "/openai/deployments/{}/chat/completions?api-version={version}",
                m.upstream_model
            );
            headers.push(("api-key", HeaderValue::Secret(secret)));
            headers.push((":path", HeaderValue::Plain(path)));
        }
    }
    Some(headers)
}

/// Every credential header a provider kind uses: an attempt removes the others' before
/// setting its own, since Envoy's attempts share one request header map.
pub const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "x-api-key", "api-key"];

#[cfg(test)]
mod tests;
