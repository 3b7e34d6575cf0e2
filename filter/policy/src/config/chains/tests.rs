use super::*;
use crate::config::compile;

/// Five providers, three fallback chains (the demo's shape).
pub(crate) fn chains_json() -> String {
    r#"{
  "teams": [{"name": "t", "key_sha256": ["22573afdb7a17eb16365a096dc06441cd8943d1ca73b08c080aadf6a7880db98"]}],
  "providers": [
    {"name": "openai", "kind": "openai", "api_key_env": "OPENAI_API_KEY"},
    {"name": "azure", "kind": "azure_openai", "api_key_env": "AZURE_OPENAI_API_KEY", "api_version": "2024-10-21"},
    {"name": "self-hosted", "kind": "openai", "api_key_env": "SELF_HOSTED_API_KEY"},
    {"name": "anthropic", "kind": "anthropic", "api_key_env": "ANTHROPIC_API_KEY"},
    {"name": "anthropic-private", "kind": "anthropic", "api_key_env": "ANTHROPIC_PRIVATE_API_KEY", "anthropic_version": "2024-01-01"}
  ],
  "models": [
    {"name": "gpt-4o", "aliases": ["default-chat"], "provider": "openai", "upstream_model": "gpt-4o-2024-08-06", "tier": "general",
     "fallbacks": ["azure-gpt-4o", "llama-internal"],
     "pricing": {"input_per_million": 2.5, "output_per_million": 10}},
    {"name": "gpt-4o-mini", "provider": "openai", "tier": "general",
     "pricing": {"input_per_million": 0.15, "output_per_million": 0.6}},
    {"name": "azure-gpt-4o", "provider": "azure", "upstream_model": "gpt-4o-prod", "tier": "general",
     "pricing": {"input_per_million": 5, "output_per_million": 20}},
    {"name": "llama-internal", "provider": "self-hosted", "upstream_model": "llama-3.1-70b", "tier": "self_hosted",
     "fallbacks": ["gpt-4o-mini"],
     "pricing": {"input_per_million": 0.2, "output_per_million": 0.2}},
    {"name": "claude-sonnet", "provider": "anthropic", "upstream_model": "claude-sonnet-4-5", "tier": "general"},
    {"name": "claude-sonnet-private", "provider": "anthropic-private", "upstream_model": "claude-sonnet-4-5", "tier": "premium",
     "fallbacks": ["claude-sonnet"], "timeouts": {"first_byte_ms": 20000}}
  ]
}"#
    .to_string()
}

fn compiled(json: &str) -> Compiled {
    compile(json.as_bytes()).unwrap()
}

fn error_of(json: &str) -> ConfigError {
    compile(json.as_bytes()).unwrap_err()
}

fn with(from: &str, to: &str) -> String {
    let json = chains_json();
    assert!(json.contains(from), "fixture lacks {from}");
    json.replacen(from, to, 1)
}

fn index(c: &Compiled, name: &str) -> usize {
    c.model_index(name).unwrap()
}

#[test]
fn chains_resolve_names_and_aliases() {
    let c = compiled(&with(
        r#""fallbacks": ["gpt-4o-mini"]"#,
        r#""fallbacks": ["default-chat", "gpt-4o-mini"]"#,
    ));
    let llama = c.model("llama-internal").unwrap();
    assert_eq!(llama.fallbacks, vec![index(&c, "gpt-4o"), index(&c, "gpt-4o-mini")]);
    assert!(llama.own_route);
    let gpt = c.model("gpt-4o").unwrap();
    assert_eq!(
        gpt.fallbacks,
        vec![index(&c, "azure-gpt-4o"), index(&c, "llama-internal")]
    );
    assert!(c.model("gpt-4o-mini").unwrap().fallbacks.is_empty());
    assert!(!c.model("gpt-4o-mini").unwrap().own_route);
}

#[test]
fn chain_errors_name_the_entry() {
    let e = error_of(&with(r#"["gpt-4o-mini"]"#, r#"["gpt-4o-mini", "nobody"]"#));
    assert_eq!(e.field, "models[3].fallbacks[1]");
    assert_eq!(e.problem, "no model named `nobody`");

    let e = error_of(&with(r#"["gpt-4o-mini"]"#, r#"["llama-internal"]"#));
    assert_eq!(e.field, "models[3].fallbacks[0]");
    assert!(e.problem.contains("this model itself"), "{e}");

    // An alias of a model already in the chain is the same model: no loop back.
    let e = error_of(&with(
        r#"["azure-gpt-4o", "llama-internal"]"#,
        r#"["azure-gpt-4o", "default-chat"]"#,
    ));
    assert_eq!(e.field, "models[0].fallbacks[1]");
    assert!(e.problem.contains("this model itself"), "{e}");
    let e = error_of(&with(
        r#"["azure-gpt-4o", "llama-internal"]"#,
        r#"["azure-gpt-4o", "azure-gpt-4o"]"#,
    ));
    assert!(e.problem.contains("already in this chain"), "{e}");

    // Same request format only.
    let e = error_of(&with(r#"["claude-sonnet"]"#, r#"["gpt-4o-mini"]"#));
    assert_eq!(e.field, "models[5].fallbacks[0]");
    assert!(e.problem.contains("same request format"), "{e}");
    assert!(e.problem.contains("does not translate"), "{e}");
    let e = error_of(&with(r#"["gpt-4o-mini"]"#, r#"["claude-sonnet"]"#));
    assert_eq!(e.field, "models[3].fallbacks[0]");

    let e = error_of(&with(
        r#""fallbacks": ["gpt-4o-mini"]"#,
        r#""fallbacks": ["gpt-4o-mini", "gpt-4o", "azure-gpt-4o", "default-chat", "x"]"#,
    ));
    assert_eq!(e.field, "models[3].fallbacks");
    assert!(e.problem.starts_with("at most 4 fallbacks"), "{e}");
    let e = error_of(&with(
        r#""fallbacks": ["gpt-4o-mini"]"#,
        r#""fallbacks": "gpt-4o-mini""#,
    ));
    assert_eq!(e.field, "models[3].fallbacks");
}

#[test]
fn fallbacks_are_not_transitive() {
    // gpt-4o falls back to llama-internal, whose own fallback (gpt-4o-mini) is not gpt-4o's.
    let c = compiled(&chains_json());
    let gpt = c.model("gpt-4o").unwrap();
    assert!(!gpt.fallbacks.contains(&index(&c, "gpt-4o-mini")));
    // And two models may name each other: each chain is its own list.
    let c = compiled(&with(r#""fallbacks": ["gpt-4o-mini"]"#, r#""fallbacks": ["gpt-4o"]"#));
    assert_eq!(c.model("llama-internal").unwrap().fallbacks, vec![index(&c, "gpt-4o")]);
}

#[test]
fn timeouts_default_and_override() {
    let c = compiled(&chains_json());
    assert_eq!(c.timeouts, Timeouts::default());
    assert_eq!(c.timeouts.first_byte_ms, 60_000);
    assert_eq!(c.timeouts.stream_idle_ms, 300_000);
    let private = c.model("claude-sonnet-private").unwrap();
    assert_eq!(private.timeouts.first_byte_ms, 20_000);
    assert_eq!(
        private.timeouts.stream_idle_ms, 300_000,
        "unset fields take the top-level values"
    );

    let c = compiled(&with(
        r#""teams""#,
        r#""timeouts": {"first_byte_ms": 30000, "stream_idle_ms": 90000, "max_retry_after_ms": 0}, "teams""#,
    ));
    assert_eq!(c.model("gpt-4o-mini").unwrap().timeouts.stream_idle_ms, 90_000);
    assert_eq!(c.model("gpt-4o-mini").unwrap().timeouts.max_retry_after_ms, 0);
    assert_eq!(c.model("claude-sonnet-private").unwrap().timeouts.first_byte_ms, 20_000);
    assert_eq!(
        c.model("claude-sonnet-private").unwrap().timeouts.stream_idle_ms,
        90_000
    );

    // A model with its own timeouts has its own route even without fallbacks.
    let c = compiled(&with(
        r#""name": "gpt-4o-mini", "provider": "openai","#,
        r#""name": "gpt-4o-mini", "provider": "openai", "timeouts": {},"#,
    ));
    assert!(c.model("gpt-4o-mini").unwrap().own_route);
}

#[test]
fn timeout_errors() {
    let cases = [
        (
            r#"{"first_byte_ms": 0}"#,
            "models[5].timeouts.first_byte_ms",
            "must be between 1 and",
        ),
        (
            r#"{"first_byte_ms": 3600001}"#,
            "models[5].timeouts.first_byte_ms",
            "must be between 1 and",
        ),
        (
            r#"{"first_byte_ms": 20000, "stream_idle_ms": 1000}"#,
            "models[5].timeouts.stream_idle_ms",
            "at least first_byte_ms (20000)",
        ),
        (
            r#"{"max_retry_after_ms": 300001}"#,
            "models[5].timeouts.max_retry_after_ms",
            "between 0 and 300000",
        ),
        (r#"{"first_byte": 1}"#, "models[5].timeouts.first_byte", "unknown field"),
        (
            r#"{"first_byte_ms": "60s"}"#,
            "models[5].timeouts.first_byte_ms",
            "invalid type",
        ),
    ];
    for (to, field, problem) in cases {
        let e = error_of(&with(
            r#""timeouts": {"first_byte_ms": 20000}"#,
            &format!(r#""timeouts": {to}"#),
        ));
        assert_eq!(e.field, field, "{to}: {e}");
        assert!(e.problem.contains(problem), "{to}: {e}");
    }
    let e = error_of(&with(r#""teams""#, r#""timeouts": {"stream_idle_ms": 1}, "teams""#));
    assert_eq!(e.field, "timeouts.stream_idle_ms");
}

#[test]
fn route_keys() {
    let c = compiled(&chains_json());
    let [gpt, mini, azure, llama, claude, private] = [
        "gpt-4o",
        "gpt-4o-mini",
        "azure-gpt-4o",
        "llama-internal",
        "claude-sonnet",
        "claude-sonnet-private",
    ]
    .map(|n| index(&c, n));
    assert_eq!(
        c.route_key(&[mini]).unwrap(),
        "openai",
        "no fallbacks: the provider's route"
    );
    assert_eq!(c.route_key(&[claude]).unwrap(), "anthropic");
    assert_eq!(
        c.route_key(&[gpt, azure, llama]).unwrap(),
        "model:gpt-4o+azure-gpt-4o+llama-internal"
    );
    assert_eq!(c.route_key(&[gpt, llama]).unwrap(), "model:gpt-4o+llama-internal");
    assert_eq!(
        c.route_key(&[gpt]).unwrap(),
        "model:gpt-4o",
        "a chain cut to its primary keeps its timeouts"
    );
    assert_eq!(
        c.route_key(&[private, claude]).unwrap(),
        "model:claude-sonnet-private+claude-sonnet"
    );
    assert_eq!(c.target_cluster(azure).unwrap(), "target:azure-gpt-4o");
    assert!(c.route_key(&[]).is_none());
}

#[test]
fn every_subset_of_a_chain_has_a_route() {
    let c = compiled(&chains_json());
    let routes = c.routes();
    let keys: Vec<&str> = routes.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "openai",
            "azure",
            "self-hosted",
            "anthropic",
            "anthropic-private",
            "model:gpt-4o",
            "model:gpt-4o+azure-gpt-4o",
            "model:gpt-4o+llama-internal",
            "model:gpt-4o+azure-gpt-4o+llama-internal",
            "model:llama-internal",
            "model:llama-internal+gpt-4o-mini",
            "model:claude-sonnet-private",
            "model:claude-sonnet-private+claude-sonnet",
        ]
    );
    let by_key = |k: &str| routes.iter().find(|r| r.key == k).unwrap();
    assert_eq!(
        by_key("model:gpt-4o").cluster,
        "openai",
        "one target: its provider's cluster"
    );
    assert_eq!(
        by_key("model:gpt-4o+llama-internal").cluster,
        "model:gpt-4o+llama-internal"
    );
    assert_eq!(by_key("model:claude-sonnet-private").timeouts.first_byte_ms, 20_000);
    assert_eq!(by_key("openai").timeouts, c.timeouts);
    // One target: the stream idle timeout as configured. A chain: at least every attempt's
    // first-byte wait and the retry-after waits between them.
    assert_eq!(by_key("openai").idle_ms, 300_000);
    assert_eq!(by_key("model:claude-sonnet-private").idle_ms, 300_000);
    assert_eq!(by_key("model:gpt-4o+azure-gpt-4o+llama-internal").idle_ms, 300_000);
    let c2 = compiled(&with(
        r#""timeouts": {"first_byte_ms": 20000}"#,
        r#""timeouts": {"first_byte_ms": 20000, "stream_idle_ms": 30000, "max_retry_after_ms": 5000}"#,
    ));
    let routes2 = c2.routes();
    let idle = |k: &str| routes2.iter().find(|r| r.key == k).unwrap().idle_ms;
    assert_eq!(idle("model:claude-sonnet-private"), 30_000);
    assert_eq!(idle("model:claude-sonnet-private+claude-sonnet"), 2 * 20_000 + 5_000);
    // Every key the filter can produce for an approved chain (any subset, primary first) is listed.
    for m in 0..c.models.len() {
        let model = &c.models[m];
        for mask in 0..(1usize << model.fallbacks.len()) {
            let mut chain = vec![m];
            chain.extend(
                model
                    .fallbacks
                    .iter()
                    .enumerate()
                    .filter(|(b, _)| mask & (1 << b) != 0)
                    .map(|(_, t)| *t),
            );
            if chain.len() == 1 || model.own_route {
                let key = c.route_key(&chain).unwrap();
                assert!(keys.contains(&key.as_str()), "{key}");
            }
        }
    }
}
