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
    /// Data classification and PII guardrails; on with defaults when left out.
    #[serde(default)]
    pub guardrails: Option<RawGuardrails>,
    /// Fleet-wide rate limits and budgets through Envoy's global rate limiting
    /// (docs/deployment/ratelimit.md); off when left out.
    #[serde(default)]
    pub rate_limits: Option<RawRateLimits>,
    /// Calling workloads: an mTLS identity (SPIFFE id) or a declared header value, mapped to
    /// a name that labels the metrics and may carry its own limits.
    #[serde(default)]
    pub workloads: Vec<RawWorkload>,
    /// The request header in which a workload may declare its name (one of `workloads`).
    #[serde(default)]
    pub workload_header: Option<String>,
    /// How long Envoy waits for providers, for every model without its own `timeouts`.
    #[serde(default)]
    pub timeouts: Option<RawTimeouts>,
}

/// Envoy's timeouts for one model's attempts (docs/configuration.md#timeouts).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimeouts {
    /// How long one attempt may wait for the provider's response head.
    #[serde(default)]
    pub first_byte_ms: Option<u64>,
    /// How long a response may stay silent, on each attempt.
    #[serde(default)]
    pub stream_idle_ms: Option<u64>,
    /// The longest `retry-after` of a 429 that Envoy waits out before the next attempt.
    #[serde(default)]
    pub max_retry_after_ms: Option<u64>,
}

/// How the filter and Envoy's rate limit filters talk to the rate limit service.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimits {
    /// `false` keeps the section but sends no descriptors and serves no usage endpoint.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Milliseconds Envoy waits for the rate limit service before applying the failure mode.
    #[serde(default = "default_rate_limit_timeout_ms")]
    pub timeout_ms: u64,
    /// `open` (admit) or `closed` (refuse) when the service or Redis cannot answer.
    #[serde(default)]
    pub failure_mode: RawFailureModes,
    /// Budget days and months start at midnight of this UTC offset (minutes, -720 to 840).
    #[serde(default)]
    pub budget_utc_offset_minutes: i32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFailureModes {
    /// Requests and tokens per minute.
    #[serde(default = "default_fail_open")]
    pub rate_limits: String,
    /// Daily and monthly spend.
    #[serde(default = "default_fail_closed")]
    pub budgets: String,
}

impl Default for RawFailureModes {
    fn default() -> Self {
        RawFailureModes {
            rate_limits: default_fail_open(),
            budgets: default_fail_closed(),
        }
    }
}

fn default_rate_limit_timeout_ms() -> u64 {
    50
}

fn default_fail_open() -> String {
    "open".to_string()
}

fn default_fail_closed() -> String {
    "closed".to_string()
}

/// One calling workload.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorkload {
    pub name: String,
    /// Client certificate URI SANs (`spiffe://...`) that are this workload.
    #[serde(default)]
    pub spiffe_ids: Vec<String>,
    #[serde(default)]
    pub requests_per_minute: Option<u64>,
    #[serde(default)]
    pub tokens_per_minute: Option<u64>,
    #[serde(default)]
    pub daily_budget_dollars: Option<u64>,
    #[serde(default)]
    pub monthly_budget_dollars: Option<u64>,
}

/// A team key with its own name and, optionally, its own limits.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKey {
    /// Names the key in descriptors and metrics (never the key itself).
    pub id: String,
    pub sha256: String,
    #[serde(default)]
    pub requests_per_minute: Option<u64>,
    #[serde(default)]
    pub tokens_per_minute: Option<u64>,
    #[serde(default)]
    pub daily_budget_dollars: Option<u64>,
    #[serde(default)]
    pub monthly_budget_dollars: Option<u64>,
}

/// docs/guardrails.md explains each field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGuardrails {
    /// `false` switches every guardrail off (nothing is scanned).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Decide and count, but never block or redact: for tuning before enforcing.
    #[serde(default)]
    pub shadow: bool,
    /// What is looked for: custom detectors, classification markers, injection rules,
    /// built-in detectors switched off.
    #[serde(default)]
    pub detection: genai_guard::GuardConfig,
    /// Per detector type (`email`, `credit_card`, a custom detector's name): its
    /// classification, its action and whether it runs in shadow mode.
    #[serde(default)]
    pub detectors: std::collections::BTreeMap<String, RawDetectorPolicy>,
    /// Prompt-injection detection: per family a threshold, an action (`block`, `log`,
    /// `shadow`), on/off; custom scored rules. See the genai-injection crate.
    #[serde(default)]
    pub injection: genai_injection::InjectionSpec,
    /// The request header in which a workload declares its data's classification.
    #[serde(default = "default_classification_header")]
    pub classification_header: String,
    /// Where prompts (redacted) may appear in the access log.
    #[serde(default)]
    pub prompt_logging: RawPromptLogging,
    /// From this classification up, every forwarded request leaves an audit record.
    #[serde(default = "default_audit_from")]
    pub audit_from: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDetectorPolicy {
    #[serde(default)]
    pub classification: Option<String>,
    /// `enforce` (raise the request's classification), `redact` or `log`.
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub shadow: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPromptLogging {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The highest classification whose prompts are logged (the reference table: internal).
    #[serde(default = "default_prompt_log_max")]
    pub max_classification: String,
    #[serde(default = "default_prompt_log_bytes")]
    /// At most 65536: a log line, not a transcript.
    pub max_bytes: u32,
}

impl Default for RawPromptLogging {
    fn default() -> Self {
        RawPromptLogging {
            enabled: true,
            max_classification: default_prompt_log_max(),
            max_bytes: default_prompt_log_bytes(),
        }
    }
}

fn yes() -> bool {
    true
}

fn default_classification_header() -> String {
    "x-data-classification".to_string()
}

fn default_audit_from() -> String {
    "restricted".to_string()
}

fn default_prompt_log_max() -> String {
    "internal".to_string()
}

fn default_prompt_log_bytes() -> u32 {
    2048
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
    #[serde(default)]
    pub key_sha256: Vec<String>,
    /// Whole US dollars a day; exported as `genai_team_daily_budget_dollars{team}`, and
    /// enforced when `rate_limits` is on.
    #[serde(default)]
    pub daily_budget_dollars: Option<u64>,
    /// Whole US dollars a calendar month.
    #[serde(default)]
    pub monthly_budget_dollars: Option<u64>,
    #[serde(default)]
    pub requests_per_minute: Option<u64>,
    /// Input plus output tokens a minute, as reported (or estimated).
    #[serde(default)]
    pub tokens_per_minute: Option<u64>,
    /// Catalog names or aliases this team may call; every model when left out.
    #[serde(default)]
    pub allowed_models: Option<Vec<String>>,
    /// Keys with an id and, optionally, their own limits (besides `key_sha256`).
    #[serde(default)]
    pub keys: Vec<RawKey>,
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
    /// The most output tokens the model generates for one request; the worst case a
    /// budget check assumes when the request sets no `max_tokens`.
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
    /// Without prices no cost is recorded for the model (tokens still are).
    #[serde(default)]
    pub pricing: Option<RawPricing>,
    /// Catalog models (names or aliases) tried in order when this one's provider fails.
    #[serde(default)]
    pub fallbacks: Vec<String>,
    /// This model's timeouts; fields left out take the configuration's `timeouts`.
    #[serde(default)]
    pub timeouts: Option<RawTimeouts>,
}

fn default_runbook_base_url() -> String {
    DEFAULT_RUNBOOK_BASE_URL.to_string()
}

fn default_max_request_body_bytes() -> u64 {
    DEFAULT_MAX_REQUEST_BODY_BYTES
}
