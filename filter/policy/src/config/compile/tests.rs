use super::*;
use crate::testutil::{config, config_json, env};

fn error_of(json: &str) -> ConfigError {
    compile(json.as_bytes()).unwrap_err()
}

/// The test configuration with one textual substitution.
fn with(from: &str, to: &str) -> String {
    let json = config_json();
    assert!(json.contains(from), "fixture lacks {from}");
    json.replacen(from, to, 1)
}

#[test]
fn compiles_and_indexes() {
    let c = config();
    assert_eq!(c.runbook_base_url, "https://rb.example/runbooks/");
    assert_eq!(c.max_request_body_bytes, 1000);
    assert_eq!(c.model("default-chat").unwrap().name, "gpt-4o");
    assert_eq!(c.model("gpt-4o").unwrap().upstream_model, "gpt-4o-2024-08-06");
    assert!(
        c.model("gpt-4o-2024-08-06").is_none(),
        "upstream names are not client names"
    );
    assert_eq!(c.providers[1].upstream, "anthropic-up");
    assert_eq!(c.providers[0].upstream, "openai");
    assert_eq!(c.providers[1].anthropic_version, "2023-06-01");
    assert_eq!(
        c.model_names(),
        vec!["azure-gpt-4o", "claude-sonnet", "default-chat", "gpt-4o"]
    );
    assert_eq!(c.credential(0).unwrap().expose(), "sk-openai-secret");
}

#[test]
fn unknown_fields_are_named() {
    let e = error_of(&with(
        r#""api_key_env": "OPENAI_API_KEY""#,
        r#""api_key_env": "OPENAI_API_KEY", "api_key": "sk-x""#,
    ));
    assert_eq!(e.field, "providers[0].api_key");
    assert!(e.problem.contains("unknown field `api_key`"), "{e}");
    let e = error_of(&with(r#""teams""#, r#""tenants": [], "teams""#));
    assert!(e.problem.contains("unknown field `tenants`"), "{e}");
}

#[test]
fn type_errors_name_the_path() {
    let e = error_of(&with(
        r#""max_request_body_bytes": 1000"#,
        r#""max_request_body_bytes": "big""#,
    ));
    assert_eq!(e.field, "max_request_body_bytes");
    let e = error_of(&with(r#""aliases": ["default-chat"]"#, r#""aliases": "default-chat""#));
    assert_eq!(e.field, "models[0].aliases");
    assert!(
        e.to_string().starts_with("configuration field `models[0].aliases`:"),
        "{e}"
    );
}

#[test]
fn semantic_errors_name_the_field() {
    let cases = [
        (
            with(r#""provider": "anthropic""#, r#""provider": "nope""#),
            "models[1].provider",
        ),
        (with(r#""kind": "openai""#, r#""kind": "gemini""#), "providers[0].kind"),
        (with(r#""name": "team-xyz""#, r#""name": "team-abc""#), "teams[1].name"),
        (with(r#""name": "team-xyz""#, r#""name": "Team XYZ""#), "teams[1].name"),
        (
            with(r#""aliases": ["default-chat"]"#, r#""aliases": ["claude-sonnet"]"#),
            "models[1].name",
        ),
        (with(r#", "api_version": "2024-10-21""#, ""), "providers[2].api_version"),
        (
            with(r#""max_request_body_bytes": 1000"#, r#""max_request_body_bytes": 0"#),
            "max_request_body_bytes",
        ),
        (
            with(r#""https://rb.example/runbooks""#, r#""ftp://x""#),
            "runbook_base_url",
        ),
        (
            with(r#""api_key_env": "OPENAI_API_KEY""#, r#""api_key_env": "OPENAI KEY""#),
            "providers[0].api_key_env",
        ),
        (
            with(
                r#""upstream": "anthropic-up""#,
                r#""upstream": "anthropic-up", "anthropic_version": "2023\n""#,
            ),
            "providers[1].anthropic_version",
        ),
        (
            with(
                r#""upstream_model": "gpt4o-deployment""#,
                r#""upstream_model": "a/../../v1/x""#,
            ),
            "models[2].upstream_model",
        ),
        (
            with(r#""aliases": ["default-chat"]"#, r#""aliases": ["gpt-4o"]"#),
            "models[0].aliases[0]",
        ),
        (with(r#""tier": "premium""#, r#""tier": "platinum""#), "models[1].tier"),
        (
            with(r#""output_per_million": 10}"#, r#""output_per_million": -1}"#),
            "models[0].pricing.output_per_million",
        ),
    ];
    for (json, field) in cases {
        assert_eq!(error_of(&json).field, field, "{json}");
    }
}

#[test]
fn key_hashes_must_be_hashes_not_keys() {
    let json = config_json();
    let start = json.find(r#""key_sha256": [""#).unwrap() + r#""key_sha256": [""#.len();
    let hash = &json[start..start + 64];
    let e = error_of(&json.replacen(hash, "team-abc-key-xxxxx", 1));
    assert_eq!(e.field, "teams[0].key_sha256[0]");
    assert!(
        !e.to_string().contains("team-abc-key-xxxxx"),
        "a key must never be echoed: {e}"
    );
    let e = error_of(&json.replacen(&json[start..start + 64].to_string(), &hash.replace('a', "g"), 1));
    assert_eq!(e.field, "teams[0].key_sha256[0]");
}

#[test]
fn invalid_json_and_trailing_data() {
    let e = error_of("{");
    assert!(e.problem.contains("EOF"));
    assert_eq!(e.field, "", "no `?` field for input that ended early");
    assert!(error_of(&format!("{} {{}}", config_json()))
        .problem
        .contains("trailing"));
    assert!(error_of(r#"{"providers":[],"models":[]}"#)
        .problem
        .starts_with("missing field `teams`"));
}

#[test]
fn missing_credentials_name_the_variable_not_a_value() {
    let mut c = compile(config_json().as_bytes()).unwrap();
    let e = c
        .resolve_credentials(|n| if n == "ANTHROPIC_API_KEY" { None } else { env(n) })
        .unwrap_err();
    assert_eq!(e.field, "providers[1].api_key_env");
    assert!(e.problem.contains("ANTHROPIC_API_KEY"));
    assert!(!e.to_string().contains("sk-"));
    let e = c.resolve_credentials(|_| Some("  ".into())).unwrap_err();
    assert_eq!(e.field, "providers[0].api_key_env");
}
