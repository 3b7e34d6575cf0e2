//! Stage two: validate the raw configuration and index it for per-request lookups.

use std::collections::HashMap;

use super::chains::{self, Timeouts};
use super::limits::{self, Key, Limits, RateLimiting, Workload};
use super::raw::{RawConfig, RawModel, RawModelTier, RawProvider, RawTeam};
use super::ConfigError;
use crate::api::Api;
use crate::classification::{Classification, ClassificationSet};
use crate::guardrails::Guardrails;
use crate::pricing::Pricing;
use crate::secret::Secret;

/// Largest body limit accepted; Envoy's buffer limit in the shipped configs is above it.
pub const MAX_BODY_LIMIT: u64 = 32 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    OpenAi,
    Anthropic,
    AzureOpenAi,
}

impl ProviderKind {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "openai" => Some(ProviderKind::OpenAi),
            "anthropic" => Some(ProviderKind::Anthropic),
            "azure_openai" => Some(ProviderKind::AzureOpenAi),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::AzureOpenAi => "azure_openai",
        }
    }

    /// Whether this kind of provider serves a client API.
    pub fn serves(self, api: Api) -> bool {
        matches!(
            (self, api),
            (ProviderKind::OpenAi, Api::ChatCompletions | Api::Responses)
                | (ProviderKind::AzureOpenAi, Api::ChatCompletions)
                | (ProviderKind::Anthropic, Api::Messages)
        )
    }

    /// The paths a client may use for this kind of provider, for error messages.
    pub fn paths(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "/v1/chat/completions or /v1/responses",
            ProviderKind::AzureOpenAi => "/v1/chat/completions",
            ProviderKind::Anthropic => "/v1/messages",
        }
    }
}

#[derive(Debug)]
pub struct Team {
    pub name: String,
    pub daily_budget_dollars: Option<u64>,
    pub limits: Limits,
    /// Indices of the catalog models this team may call, sorted; `None`: every model.
    pub allowed_models: Option<Vec<usize>>,
    /// The names or aliases `allowed_models` listed, as written (for the usage endpoint).
    pub allowed_model_names: Option<Vec<String>>,
    /// Keys that have an id (`keys[]`); plain `key_sha256` keys have none.
    pub keys: Vec<Key>,
}

/// Who a key belongs to: its team and, for keys listed in `keys[]`, which one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub team: usize,
    pub key: Option<usize>,
}

#[derive(Debug)]
pub struct ModelTier {
    pub name: String,
    pub approved_for: ClassificationSet,
}

#[derive(Debug)]
pub struct Provider {
    pub name: String,
    pub kind: ProviderKind,
    pub upstream: String,
    pub api_key_env: String,
    pub anthropic_version: String,
    pub api_version: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Model {
    pub name: String,
    pub provider: usize,
    pub upstream_model: String,
    pub tier: usize,
    pub pricing: Option<Pricing>,
    pub max_output_tokens: Option<u64>,
    /// Catalog models tried, in order, when this one's provider fails (not their own fallbacks).
    pub fallbacks: Vec<usize>,
    pub timeouts: Timeouts,
    /// Has its own Envoy routes (fallbacks or its own timeouts) rather than its provider's.
    pub own_route: bool,
}

/// Provider keys, one per provider, read from the VM's environment.
#[derive(Debug, Default)]
pub struct Credentials {
    keys: Vec<Secret>,
}

impl Credentials {
    pub fn for_provider(&self, index: usize) -> Option<&Secret> {
        self.keys.get(index)
    }
}

/// The immutable, indexed configuration.
#[derive(Debug)]
pub struct Compiled {
    pub runbook_base_url: String,
    pub max_request_body_bytes: usize,
    pub teams: Vec<Team>,
    pub providers: Vec<Provider>,
    pub models: Vec<Model>,
    pub tiers: Vec<ModelTier>,
    pub guardrails: Guardrails,
    /// `None`: no fleet-wide limits (no descriptors, no usage endpoint).
    pub rate_limits: Option<RateLimiting>,
    pub workloads: Vec<Workload>,
    /// The header a workload may declare its name in (lower-case), if configured.
    pub workload_header: Option<String>,
    /// The timeouts of every model without its own.
    pub timeouts: Timeouts,
    keys: HashMap<[u8; 32], Caller>,
    model_index: HashMap<String, usize>,
    workload_by_spiffe: HashMap<String, usize>,
    workload_by_name: HashMap<String, usize>,
    credentials: Credentials,
}

impl Compiled {
    /// The team whose key hashes to `digest`.
    pub fn team_by_key_digest(&self, digest: &[u8; 32]) -> Option<&Team> {
        self.keys.get(digest).and_then(|c| self.teams.get(c.team))
    }

    /// The team (and key, for keys with an id) a key digest belongs to.
    pub fn caller_by_key_digest(&self, digest: &[u8; 32]) -> Option<Caller> {
        self.keys.get(digest).copied()
    }

    /// The model a name or alias stands for.
    pub fn model(&self, name: &str) -> Option<&Model> {
        self.model_index.get(name).and_then(|i| self.models.get(*i))
    }

    /// The index of a team of this configuration (for integer-keyed metrics).
    pub fn team_id(&self, team: &Team) -> Option<usize> {
        index_of(&self.teams, team)
    }

    /// The index of a model of this configuration.
    pub fn model_id(&self, model: &Model) -> Option<usize> {
        index_of(&self.models, model)
    }

    /// The index in `models` of the model a name or alias stands for.
    pub fn model_index(&self, name: &str) -> Option<usize> {
        self.model_index.get(name).copied()
    }

    /// Whether `team` may call catalog model `model` (indices). A team without
    /// `allowed_models` may call every model. Fallbacks use the same check.
    pub fn model_allowed(&self, team: usize, model: usize) -> bool {
        match self.teams.get(team) {
            Some(t) => t
                .allowed_models
                .as_ref()
                .is_none_or(|m| m.binary_search(&model).is_ok()),
            None => false,
        }
    }

    /// Whether workloads are identified by client certificate (the glue then reads the
    /// peer's URI SAN for each request).
    pub fn wants_peer_identity(&self) -> bool {
        !self.workload_by_spiffe.is_empty()
    }

    /// The workload a client certificate's URI SAN (SPIFFE id) is.
    pub fn workload_by_spiffe_id(&self, id: &str) -> Option<usize> {
        self.workload_by_spiffe.get(id).copied()
    }

    /// The workload a declared name is.
    pub fn workload_by_name(&self, name: &str) -> Option<usize> {
        self.workload_by_name.get(name).copied()
    }

    pub fn provider(&self, index: usize) -> Option<&Provider> {
        self.providers.get(index)
    }

    pub fn tier(&self, index: usize) -> Option<&ModelTier> {
        self.tiers.get(index)
    }

    pub fn credential(&self, provider: usize) -> Option<&Secret> {
        self.credentials.for_provider(provider)
    }

    /// Every name a client may send in `model`: names and aliases, sorted.
    pub fn model_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.model_index.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// Reads each provider's key from the environment (`lookup` is `std::env::var` in
    /// the VM). A missing or empty variable is an error naming the field and variable,
    /// never a value.
    pub fn resolve_credentials(&mut self, lookup: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let mut keys = Vec::with_capacity(self.providers.len());
        for (i, p) in self.providers.iter().enumerate() {
            match lookup(&p.api_key_env) {
                Some(v) if !v.trim().is_empty() => keys.push(Secret::new(v.trim().to_string())),
                _ => {
                    return Err(ConfigError::new(
                        format!("providers[{i}].api_key_env"),
                        format!(
                            "environment variable {} is not set in the Wasm VM; set it on the \
                             Envoy process and list it in vm_config.environment_variables.host_env_keys",
                            p.api_key_env
                        ),
                    ))
                }
            }
        }
        self.credentials = Credentials { keys };
        Ok(())
    }
}

/// Where `item` sits in `items`, by address (O(1)); `None` if it is not one of them.
fn index_of<T>(items: &[T], item: &T) -> Option<usize> {
    let size = std::mem::size_of::<T>().max(1);
    let offset = (item as *const T as usize).checked_sub(items.as_ptr() as usize)?;
    let i = offset / size;
    items.get(i).filter(|x| std::ptr::eq(*x, item)).map(|_| i)
}

/// Parses and validates a JSON plugin configuration.
pub fn compile(json: &[u8]) -> Result<Compiled, ConfigError> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let raw: RawConfig = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        // serde_path_to_error says `.` for the top level and `?` where input ended early.
        let field = if path == "." || path == "?" {
            String::new()
        } else {
            path
        };
        ConfigError::new(field, e.into_inner().to_string())
    })?;
    de.end()
        .map_err(|e| ConfigError::new("", format!("trailing data after the JSON object: {e}")))?;
    build(raw)
}

fn build(raw: RawConfig) -> Result<Compiled, ConfigError> {
    if !(raw.runbook_base_url.starts_with("https://") || raw.runbook_base_url.starts_with("http://")) {
        return Err(ConfigError::new(
            "runbook_base_url",
            "must start with https:// or http://",
        ));
    }
    let runbook_base_url = if raw.runbook_base_url.ends_with('/') {
        raw.runbook_base_url
    } else {
        format!("{}/", raw.runbook_base_url)
    };
    if raw.max_request_body_bytes == 0 || raw.max_request_body_bytes > MAX_BODY_LIMIT {
        return Err(ConfigError::new(
            "max_request_body_bytes",
            format!("must be between 1 and {MAX_BODY_LIMIT}"),
        ));
    }
    let max_request_body_bytes = usize::try_from(raw.max_request_body_bytes)
        .map_err(|_| ConfigError::new("max_request_body_bytes", "too large for this platform"))?;

    let allowed: Vec<Option<Vec<String>>> = raw.teams.iter().map(|t| t.allowed_models.clone()).collect();
    let (mut teams, keys) = build_teams(raw.teams)?;
    let providers = build_providers(raw.providers)?;
    let tiers = build_tiers(raw.model_tiers)?;
    let timeouts = Timeouts::compile(raw.timeouts.as_ref(), Timeouts::default(), "timeouts")?;
    let (models, model_index) = build_models(raw.models, &providers, &tiers, timeouts)?;
    resolve_allowed_models(&mut teams, allowed, &model_index)?;
    let guardrails = Guardrails::compile(raw.guardrails)?;
    let rate_limits = limits::build_rate_limiting(raw.rate_limits)?;
    let (workloads, workload_by_spiffe, workload_by_name) = limits::build_workloads(raw.workloads)?;
    let workload_header = match raw.workload_header {
        None => None,
        Some(h) => {
            let h = h.to_ascii_lowercase();
            let ok = !h.is_empty()
                && h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !h.starts_with(crate::headers::GATEWAY_PREFIX)
                && !h.starts_with(crate::headers::ENVOY_PREFIX)
                && h != guardrails.classification_header;
            if !ok {
                return Err(ConfigError::new(
                    "workload_header",
                    "must be a header name (letters, digits, '-'), not starting with x-genai- or x-envoy- (those are stripped), and not the classification header",
                ));
            }
            Some(h)
        }
    };

    Ok(Compiled {
        runbook_base_url,
        max_request_body_bytes,
        teams,
        providers,
        models,
        tiers,
        guardrails,
        rate_limits,
        workloads,
        workload_header,
        timeouts,
        keys,
        model_index,
        workload_by_spiffe,
        workload_by_name,
        credentials: Credentials::default(),
    })
}

/// Each team's `allowed_models` names (or aliases) become sorted catalog indices.
fn resolve_allowed_models(
    teams: &mut [Team],
    allowed: Vec<Option<Vec<String>>>,
    model_index: &HashMap<String, usize>,
) -> Result<(), ConfigError> {
    for (i, (team, names)) in teams.iter_mut().zip(allowed).enumerate() {
        let Some(names) = names else { continue };
        if names.is_empty() {
            return Err(ConfigError::new(
                format!("teams[{i}].allowed_models"),
                "list at least one model, or leave it out to allow every model",
            ));
        }
        let mut indices = Vec::with_capacity(names.len());
        for (j, name) in names.iter().enumerate() {
            let m = model_index.get(name).ok_or_else(|| {
                ConfigError::new(
                    format!("teams[{i}].allowed_models[{j}]"),
                    format!("no model or alias named `{name}` in the catalog"),
                )
            })?;
            indices.push(*m);
        }
        indices.sort_unstable();
        indices.dedup();
        team.allowed_models = Some(indices);
        team.allowed_model_names = Some(names);
    }
    Ok(())
}

/// Teams, and the index from key digest to team and key.
type TeamIndex = (Vec<Team>, HashMap<[u8; 32], Caller>);

fn build_teams(raw: Vec<RawTeam>) -> Result<TeamIndex, ConfigError> {
    if raw.is_empty() {
        return Err(ConfigError::new("teams", "at least one team is required"));
    }
    let mut teams = Vec::with_capacity(raw.len());
    let mut keys = HashMap::new();
    for (i, t) in raw.into_iter().enumerate() {
        check_name(&format!("teams[{i}].name"), &t.name, is_label_char)?;
        if teams.iter().any(|x: &Team| x.name == t.name) {
            return Err(ConfigError::new(
                format!("teams[{i}].name"),
                format!("duplicate team `{}`", t.name),
            ));
        }
        if t.key_sha256.is_empty() && t.keys.is_empty() {
            return Err(ConfigError::new(
                format!("teams[{i}].key_sha256"),
                "at least one key hash is required (in key_sha256 or keys)",
            ));
        }
        let plain = t
            .key_sha256
            .iter()
            .enumerate()
            .map(|(j, h)| (format!("teams[{i}].key_sha256[{j}]"), h, None));
        let named = t
            .keys
            .iter()
            .enumerate()
            .map(|(j, k)| (format!("teams[{i}].keys[{j}].sha256"), &k.sha256, Some(j)));
        for (field, h, key) in plain.chain(named) {
            let digest = parse_sha256_hex(h).ok_or_else(|| {
                ConfigError::new(
                    field.clone(),
                    "must be 64 hex digits (the SHA-256 of the key; `genaictl mint-key` prints it), never the key itself",
                )
            })?;
            if keys.insert(digest, Caller { team: i, key }).is_some() {
                return Err(ConfigError::new(field, "this key hash is already listed"));
            }
        }
        let field = format!("teams[{i}]");
        let limits = limits::build_limits(
            &field,
            t.requests_per_minute,
            t.tokens_per_minute,
            t.daily_budget_dollars,
            t.monthly_budget_dollars,
        )?;
        let mut team_keys: Vec<Key> = Vec::with_capacity(t.keys.len());
        for (j, k) in t.keys.iter().enumerate() {
            let key = limits::build_key(&format!("teams[{i}].keys[{j}]"), k)?;
            if team_keys.iter().any(|x| x.id == key.id) {
                return Err(ConfigError::new(
                    format!("teams[{i}].keys[{j}].id"),
                    format!("duplicate key id `{}` in this team", key.id),
                ));
            }
            team_keys.push(key);
        }
        teams.push(Team {
            name: t.name,
            daily_budget_dollars: t.daily_budget_dollars,
            limits,
            allowed_models: None,
            allowed_model_names: None,
            keys: team_keys,
        });
    }
    Ok((teams, keys))
}

fn build_providers(raw: Vec<RawProvider>) -> Result<Vec<Provider>, ConfigError> {
    if raw.is_empty() {
        return Err(ConfigError::new("providers", "at least one provider is required"));
    }
    let mut providers: Vec<Provider> = Vec::with_capacity(raw.len());
    for (i, p) in raw.into_iter().enumerate() {
        check_name(&format!("providers[{i}].name"), &p.name, is_label_char)?;
        if providers.iter().any(|x| x.name == p.name) {
            return Err(ConfigError::new(
                format!("providers[{i}].name"),
                format!("duplicate provider `{}`", p.name),
            ));
        }
        let kind = ProviderKind::parse(&p.kind).ok_or_else(|| {
            ConfigError::new(
                format!("providers[{i}].kind"),
                format!(
                    "unknown kind `{}`; expected one of openai, anthropic, azure_openai",
                    p.kind
                ),
            )
        })?;
        let upstream = p.upstream.unwrap_or_else(|| p.name.clone());
        check_name(&format!("providers[{i}].upstream"), &upstream, is_label_char)?;
        check_name(&format!("providers[{i}].api_key_env"), &p.api_key_env, |c| {
            c.is_ascii_alphanumeric() || c == '_'
        })?;
        if p.anthropic_version.is_some() && kind != ProviderKind::Anthropic {
            return Err(ConfigError::new(
                format!("providers[{i}].anthropic_version"),
                "only applies to kind anthropic",
            ));
        }
        let api_version = match (kind, p.api_version) {
            (ProviderKind::AzureOpenAi, Some(v)) => {
                check_name(&format!("providers[{i}].api_version"), &v, |c| {
                    c.is_ascii_alphanumeric() || c == '-'
                })?;
                Some(v)
            }
            (ProviderKind::AzureOpenAi, None) => {
                return Err(ConfigError::new(
                    format!("providers[{i}].api_version"),
                    "required for kind azure_openai",
                ))
            }
            (_, Some(_)) => {
                return Err(ConfigError::new(
                    format!("providers[{i}].api_version"),
                    "only applies to kind azure_openai",
                ))
            }
            (_, None) => None,
        };
        let anthropic_version = p.anthropic_version.unwrap_or_else(|| "2023-06-01".to_string());
        check_name(&format!("providers[{i}].anthropic_version"), &anthropic_version, |c| {
            c.is_ascii_alphanumeric() || c == '-'
        })?;
        providers.push(Provider {
            name: p.name,
            kind,
            upstream,
            api_key_env: p.api_key_env,
            anthropic_version,
            api_version,
        });
    }
    Ok(providers)
}

/// The reference doc's table: general models take public and internal data, premium ones
/// up to confidential, self-hosted ones everything.
fn default_tiers() -> Vec<ModelTier> {
    use Classification::*;
    [
        ("general", vec![Public, Internal]),
        ("premium", vec![Public, Internal, Confidential]),
        ("self_hosted", vec![Public, Internal, Confidential, Restricted]),
    ]
    .into_iter()
    .map(|(name, approved)| ModelTier {
        name: name.to_string(),
        approved_for: approved.into_iter().collect(),
    })
    .collect()
}

fn build_tiers(raw: Option<Vec<RawModelTier>>) -> Result<Vec<ModelTier>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(default_tiers());
    };
    if raw.is_empty() {
        return Err(ConfigError::new(
            "model_tiers",
            "list at least one tier, or leave it out for the defaults",
        ));
    }
    let mut tiers: Vec<ModelTier> = Vec::with_capacity(raw.len());
    for (i, t) in raw.into_iter().enumerate() {
        check_name(&format!("model_tiers[{i}].name"), &t.name, is_label_char)?;
        if tiers.iter().any(|x| x.name == t.name) {
            return Err(ConfigError::new(
                format!("model_tiers[{i}].name"),
                format!("duplicate tier `{}`", t.name),
            ));
        }
        let mut approved_for = ClassificationSet::default();
        for (j, c) in t.approved_for.iter().enumerate() {
            let c = Classification::parse(c).ok_or_else(|| {
                ConfigError::new(
                    format!("model_tiers[{i}].approved_for[{j}]"),
                    format!("unknown classification `{c}`; expected public, internal, confidential or restricted"),
                )
            })?;
            approved_for.insert(c);
        }
        tiers.push(ModelTier {
            name: t.name,
            approved_for,
        });
    }
    Ok(tiers)
}

fn build_models(
    raw: Vec<RawModel>,
    providers: &[Provider],
    tiers: &[ModelTier],
    default_timeouts: Timeouts,
) -> Result<(Vec<Model>, HashMap<String, usize>), ConfigError> {
    if raw.is_empty() {
        return Err(ConfigError::new("models", "at least one model is required"));
    }
    let mut models = Vec::with_capacity(raw.len());
    let mut index = HashMap::new();
    let mut fallbacks = Vec::with_capacity(raw.len());
    for (i, m) in raw.into_iter().enumerate() {
        check_name(&format!("models[{i}].name"), &m.name, is_model_char)?;
        let provider = providers.iter().position(|p| p.name == m.provider).ok_or_else(|| {
            ConfigError::new(
                format!("models[{i}].provider"),
                format!("no provider named `{}`", m.provider),
            )
        })?;
        let upstream_model = m.upstream_model.unwrap_or_else(|| m.name.clone());
        let field = format!("models[{i}].upstream_model");
        check_name(&field, &upstream_model, is_model_char)?;
        let in_path = providers
            .get(provider)
            .is_some_and(|p| p.kind == ProviderKind::AzureOpenAi);
        let path_safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if in_path && (upstream_model.contains("..") || !upstream_model.chars().all(path_safe)) {
            return Err(ConfigError::new(
                field,
                "an Azure deployment name goes into the URL path: use letters, digits, '-', '_' and '.' only",
            ));
        }
        let names = std::iter::once((format!("models[{i}].name"), m.name.clone())).chain(
            m.aliases
                .into_iter()
                .enumerate()
                .map(|(j, a)| (format!("models[{i}].aliases[{j}]"), a)),
        );
        for (field, name) in names {
            check_name(&field, &name, is_model_char)?;
            if let Some(other) = index.insert(name.clone(), i) {
                let whose = if other == i { "this model" } else { "another model" };
                return Err(ConfigError::new(field, format!("`{name}` already names {whose}")));
            }
        }
        let tier = tiers.iter().position(|t| t.name == m.tier).ok_or_else(|| {
            let known: Vec<&str> = tiers.iter().map(|t| t.name.as_str()).collect();
            ConfigError::new(
                format!("models[{i}].tier"),
                format!("no tier named `{}`; known tiers: {}", m.tier, known.join(", ")),
            )
        })?;
        let pricing = match &m.pricing {
            Some(p) => Some(
                Pricing::from_raw(p)
                    .map_err(|(field, problem)| ConfigError::new(format!("models[{i}].pricing.{field}"), problem))?,
            ),
            None => None,
        };
        if m.max_output_tokens.is_some_and(|n| n == 0 || n > 100_000_000) {
            return Err(ConfigError::new(
                format!("models[{i}].max_output_tokens"),
                "must be between 1 and 100000000",
            ));
        }
        let timeouts = Timeouts::compile(m.timeouts.as_ref(), default_timeouts, &format!("models[{i}].timeouts"))?;
        fallbacks.push(m.fallbacks);
        models.push(Model {
            name: m.name,
            provider,
            upstream_model,
            tier,
            pricing,
            max_output_tokens: m.max_output_tokens,
            fallbacks: Vec::new(),
            timeouts,
            own_route: m.timeouts.is_some(),
        });
    }
    chains::resolve(&fallbacks, &mut models, &index, providers)?;
    Ok((models, index))
}

/// Team, provider and upstream names become stat tags and header values: keep them plain.
fn is_label_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'
}

fn is_model_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/' | '@')
}

/// A name that becomes a stat tag, descriptor or header value (`a-z 0-9 - _`, 1-128).
pub(super) fn check_label(field: &str, value: &str) -> Result<(), ConfigError> {
    check_name(field, value, is_label_char)
}

fn check_name(field: &str, value: &str, ok: impl Fn(char) -> bool) -> Result<(), ConfigError> {
    if value.is_empty() || value.len() > 128 {
        return Err(ConfigError::new(field, "must be 1 to 128 characters"));
    }
    if let Some(c) = value.chars().find(|c| !ok(*c)) {
        return Err(ConfigError::new(
            field,
            format!("character {c:?} is not allowed in `{value}`"),
        ));
    }
    Ok(())
}

fn parse_sha256_hex(s: &str) -> Option<[u8; 32]> {
    let bytes = s.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let hi = hex_val(*pair.first()?)?;
        let lo = hex_val(*pair.get(1)?)?;
        *slot = (hi << 4) | lo;
    }
    Some(out)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
