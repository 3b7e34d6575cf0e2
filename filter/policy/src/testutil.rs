//! A small configuration shared by the unit tests.

use std::sync::Arc;

use crate::auth::key_digest_hex;
use crate::config::{compile, Compiled};

pub const ABC_KEY: &str = "team-abc-key-xxxxx";
pub const XYZ_KEY: &str = "team-xyz-key-yyyyy";

pub fn config_json() -> String {
    format!(
        r#"{{
  "runbook_base_url": "https://rb.example/runbooks",
  "max_request_body_bytes": 1000,
  "teams": [
    {{"name": "team-abc", "key_sha256": ["{}"], "daily_budget_dollars": 50}},
    {{"name": "team-xyz", "key_sha256": ["{}"]}}
  ],
  "providers": [
    {{"name": "openai", "kind": "openai", "api_key_env": "OPENAI_API_KEY"}},
    {{"name": "anthropic", "kind": "anthropic", "upstream": "anthropic-up", "api_key_env": "ANTHROPIC_API_KEY"}},
    {{"name": "azure", "kind": "azure_openai", "api_key_env": "AZURE_OPENAI_API_KEY", "api_version": "2024-10-21"}}
  ],
  "models": [
    {{"name": "gpt-4o", "aliases": ["default-chat"], "provider": "openai", "upstream_model": "gpt-4o-2024-08-06", "tier": "general",
      "pricing": {{"input_per_million": 2.5, "cached_input_per_million": 1.25, "output_per_million": 10}}}},
    {{"name": "claude-sonnet", "provider": "anthropic", "upstream_model": "claude-sonnet-4-5", "tier": "premium"}},
    {{"name": "azure-gpt-4o", "provider": "azure", "upstream_model": "gpt4o-deployment", "tier": "self_hosted"}}
  ]
}}"#,
        key_digest_hex(ABC_KEY.as_bytes()),
        key_digest_hex(XYZ_KEY.as_bytes())
    )
}

pub fn env(name: &str) -> Option<String> {
    match name {
        "OPENAI_API_KEY" => Some("sk-openai-secret".into()),
        "ANTHROPIC_API_KEY" => Some("sk-ant-secret".into()),
        "AZURE_OPENAI_API_KEY" => Some("azure-secret".into()),
        _ => None,
    }
}

pub fn config() -> Arc<Compiled> {
    let mut c = compile(config_json().as_bytes()).unwrap();
    c.resolve_credentials(env).unwrap();
    Arc::new(c)
}

/// The test configuration with a `guardrails` section.
pub fn config_with_guardrails(guardrails: &str) -> Arc<Compiled> {
    let json = config_json();
    let json = json.replacen('{', &format!("{{\n  \"guardrails\": {guardrails},"), 1);
    let mut c = compile(json.as_bytes()).unwrap();
    c.resolve_credentials(env).unwrap();
    Arc::new(c)
}
