//! `genaictl publish`: validate a filter configuration with the filter's own code, then put
//! it into the extension config (ECDS) file Envoy watches, atomically, so Envoy applies it
//! without a restart (docs/deployment/hot-reload.md).
//!
//! The ECDS file (written first by `scripts/render-envoy --ecds FILE`) holds the genai
//! filter's whole Wasm configuration: module, failure policy, the environment variables
//! passed into the VM, and the filter configuration as a string. Only that string and the
//! version change here; everything else is the deployment's and stays as rendered.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use genai_policy::{compile, Compiled};
use serde_json::Value;

const WASM_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";

pub fn publish(config_path: &str, ecds_path: &str, require_env: bool) -> Result<(), String> {
    let text = std::fs::read_to_string(config_path).map_err(|e| format!("cannot read {config_path}: {e}"))?;
    let mut config = compile(text.as_bytes()).map_err(|e| format!("invalid {e}; {ecds_path} was not changed"))?;
    match config.resolve_credentials(|name| std::env::var(name).ok()) {
        Ok(()) => {}
        Err(e) if require_env => return Err(format!("invalid {e}; {ecds_path} was not changed")),
        Err(e) => eprintln!("genaictl: warning: {e} (Envoy's environment must have it)"),
    }

    let current = std::fs::read_to_string(ecds_path).map_err(|e| {
        format!("cannot read {ecds_path}: {e} (render it first: scripts/render-envoy --ecds {ecds_path})")
    })?;
    let mut doc: Value =
        serde_json::from_str(&current).map_err(|e| format!("{ecds_path} is not an ECDS file (JSON): {e}"))?;
    let plugin = wasm_plugin(&mut doc)
        .ok_or_else(|| format!("{ecds_path} holds no Wasm extension config (TypedExtensionConfig of {WASM_TYPE})"))?;

    // What Envoy was started with must still fit: the VM gets only the listed variables, and
    // only the upstreams rendered at startup have a route and a cluster.
    let passed: BTreeSet<String> = plugin
        .pointer("/vm_config/environment_variables/host_env_keys")
        .and_then(Value::as_array)
        .map(|keys| keys.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    for (i, p) in config.providers.iter().enumerate() {
        if !passed.contains(&p.api_key_env) {
            return Err(format!(
                "configuration field `providers[{i}].api_key_env`: {} is not passed into the Wasm VM \
                 (host_env_keys in {ecds_path}); a new provider key needs scripts/render-envoy and an Envoy restart; \
                 {ecds_path} was not changed",
                p.api_key_env
            ));
        }
    }
    let old_text = plugin
        .pointer("/configuration/value")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if let Ok(old) = compile(old_text.as_bytes()) {
        let routed = upstreams(&old);
        if let Some((i, up)) = upstreams_indexed(&config).find(|(_, up)| !routed.contains(*up)) {
            return Err(format!(
                "configuration field `providers[{i}].upstream`: `{up}` has no Envoy route or cluster yet \
                 (routes come from the configuration Envoy was started with); re-render with scripts/render-envoy \
                 and restart Envoy; {ecds_path} was not changed"
            ));
        }
        // Fallback chains and per-model timeouts are Envoy routes too (one per subset of a
        // chain): a new chain, or new timeouts, need them rendered.
        let rendered = old.routes();
        for r in config.routes() {
            let same = rendered
                .iter()
                .find(|o| o.key == r.key)
                .is_some_and(|o| o.timeouts == r.timeouts && o.idle_ms == r.idle_ms);
            if !same {
                return Err(format!(
                    "route `{}` (a model's fallbacks or timeouts) is not in Envoy's routes as rendered; \
                     re-render with scripts/render-envoy and restart Envoy; {ecds_path} was not changed",
                    r.key
                ));
            }
        }
    }
    if old_text == text {
        println!("{ecds_path}: already publishes {config_path}; nothing to do");
        return Ok(());
    }
    let configuration = serde_json::json!({
        "@type": "type.googleapis.com/google.protobuf.StringValue",
        "value": text,
    });
    match plugin.as_object_mut() {
        Some(map) => {
            map.insert("configuration".into(), configuration);
        }
        None => return Err(format!("{ecds_path}: the Wasm extension config is not an object")),
    }
    let version = next_version(doc.get("version_info"));
    if let Some(map) = doc.as_object_mut() {
        map.insert("version_info".into(), Value::String(version.clone()));
    }
    let out = serde_json::to_string_pretty(&doc).map_err(|e| format!("cannot encode {ecds_path}: {e}"))? + "\n";
    write_atomically(Path::new(ecds_path), out.as_bytes())?;
    println!(
        "{ecds_path}: published {config_path} as version {version} ({} teams, {} providers, {} models); \
         Envoy applies it within seconds (stat extension_config_discovery.http_filter.genai.config_reload)",
        config.teams.len(),
        config.providers.len(),
        config.models.len()
    );
    Ok(())
}

/// The Wasm filter's `config` inside the first TypedExtensionConfig of the file.
fn wasm_plugin(doc: &mut Value) -> Option<&mut Value> {
    doc.get_mut("resources")?
        .as_array_mut()?
        .iter_mut()
        .filter_map(|r| r.get_mut("typed_config"))
        .find(|t| t.get("@type").and_then(Value::as_str) == Some(WASM_TYPE))?
        .get_mut("config")
}

fn upstreams(c: &Compiled) -> BTreeSet<String> {
    c.providers.iter().map(|p| p.upstream.clone()).collect()
}

fn upstreams_indexed(c: &Compiled) -> impl Iterator<Item = (usize, &str)> {
    c.providers.iter().enumerate().map(|(i, p)| (i, p.upstream.as_str()))
}

fn next_version(v: Option<&Value>) -> String {
    let n = v
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    (n + 1).to_string()
}

/// Writes beside the target, flushes, then renames over it: Envoy watches for the rename
/// and never reads a half-written file.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let name = path
        .file_name()
        .ok_or_else(|| format!("{}: not a file path", path.display()))?;
    let tmp = path.with_file_name(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {}: {e}", path.display())
    })
}
