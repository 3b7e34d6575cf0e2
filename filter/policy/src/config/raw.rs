//! The JSON plugin configuration exactly as written. Unknown fields are errors.
//! docs/configuration.md and docs/config.schema.json describe it.

use serde::Deserialize;

pub const DEFAULT_RUNBOOK_BASE_URL: &str = "https://gateway.internal/docs/runbooks/";
pub const DEFAULT_MAX_REQUEST_BODY_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Base URL that runbook links in error responses start with (`<base><code>.md`).
    #[serde(default = "default_runbook_base_url")]
    pub runbook_base_url: String,
    /// Largest request body accepted; larger ones get 413 `request_too_large`.
    #[serde(default = "default_max_request_body_bytes")]
    pub max_request_body_bytes: u64,
    pub teams: Vec<RawTeam>,
    pub providers: Vec<RawProvider>,
    pub models: Vec<RawModel>,
    /// Model tiers and the data classifications each is approved for. Defaults to the
    /// reference table: general → public, internal; premium → up to confidential;
    /// self_hosted → up to restricted.
    #[serde(default)]
    pub model_tiers: Option<Vec<RawModelTier>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModelTier {
    pub name: String,
    /// Classifications (`public`, `internal`, `confidential`, `restricted`) this tier may receive.
    pub approved_for: Vec<String>,
}

/// Prices in US dollars per million tokens.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPricing {
    pub input_per_million: f64,
    /// Defaults to `input_per_million`.
    #[serde(default)]
    pub cached_input_per_million: Option<f64>,
    /// Defaults to `input_per_million`.
    #[serde(default)]
    pub cache_write_per_million: Option<f64>,
    pub output_per_million: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTeam {
    pub name: String,
    /// Hex SHA-256 of each key the team may use (`genaictl mint-key` prints one).
    pub key_sha256: Vec<String>,
    /// Whole US dollars a day; exported as `genai_team_daily_budget_dollars{team}`.
    #[serde(default)]
    pub daily_budget_dollars: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    pub name: String,
    /// `openai`, `anthropic` or `azure_openai`.
    pub kind: String,
    /// Value of `x-genai-upstream` that the Envoy route for this provider matches on.
    /// Defaults to the provider's name.
    #[serde(default)]
    pub upstream: Option<String>,
    /// Environment variable (passed into the VM with `host_env_keys`) holding the key.
    pub api_key_env: String,
    /// Anthropic only: `anthropic-version` sent when the client sent none.
    #[serde(default)]
    pub anthropic_version: Option<String>,
    /// Azure OpenAI only: the `api-version` query parameter.
    #[serde(default)]
    pub api_version: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    /// The name clients send in `model`.
    pub name: String,
    /// Other names for the same model, e.g. `default-chat`.
    #[serde(default)]
    pub aliases: Vec<String>,
    pub provider: String,
    /// The provider's name for the model (for Azure, the deployment). Defaults to `name`.
    #[serde(default)]
    pub upstream_model: Option<String>,
    /// One of `model_tiers` (default tiers: general, premium, self_hosted).
    pub tier: String,
    /// Without prices the model's cost is reported as 0 and counted as unpriced.
    #[serde(default)]
    pub pricing: Option<RawPricing>,
}

fn default_runbook_base_url() -> String {
    DEFAULT_RUNBOOK_BASE_URL.to_string()
}

fn default_max_request_body_bytes() -> u64 {
    DEFAULT_MAX_REQUEST_BODY_BYTES
}
