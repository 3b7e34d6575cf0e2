//! `genaictl`: the gateway's admin CLI. It shares `genai-policy` with the filter, so
//! `validate` says exactly what the filter would log.

use std::io::Read;
use std::process::ExitCode;

use genai_policy::auth::key_digest_hex;
use genai_policy::compile;

const USAGE: &str = "\
genaictl: admin CLI for the GenAI gateway filter

USAGE:
  genaictl validate CONFIG [--require-env]
      Check a filter configuration (JSON). Exit 0 if the filter would accept it,
      1 with the filter's own message if not. Provider key variables missing from
      this shell are warnings, or errors with --require-env.
  genaictl mint-key TEAM
      Make a new random API key for TEAM. Prints the key once (hand it to the team)
      and the team entry holding only its SHA-256, to paste into the configuration.
  genaictl hash-key
      Read a key on standard input; print its SHA-256 as the configuration stores it.
  genaictl models CONFIG
      List the names clients may send in `model`, with provider and upstream model.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match words.as_slice() {
        ["validate", path] => validate(path, false),
        ["validate", path, "--require-env"] | ["validate", "--require-env", path] => validate(path, true),
        ["mint-key", team] => mint_key(team),
        ["hash-key"] => hash_key(),
        ["models", path] => models(path),
        ["-h" | "--help" | "help"] => {
            print!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unrecognised arguments\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("genaictl: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))
}

fn validate(path: &str, require_env: bool) -> Result<(), String> {
    let mut config = compile(&read(path)?).map_err(|e| format!("invalid {e}"))?;
    match config.resolve_credentials(|name| std::env::var(name).ok()) {
        Ok(()) => {}
        Err(e) if require_env => return Err(format!("invalid {e}")),
        Err(e) => eprintln!("genaictl: warning: {e} (the filter needs it at load time)"),
    }
    println!(
        "{path}: OK ({} teams, {} providers, {} models)",
        config.teams.len(),
        config.providers.len(),
        config.models.len()
    );
    Ok(())
}

fn mint_key(team: &str) -> Result<(), String> {
    if team.is_empty()
        || !team
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return Err("TEAM must be lower-case letters, digits, '-' or '_'".into());
    }
    let mut raw = [0u8; 24];
    getrandom::getrandom(&mut raw).map_err(|e| format!("no randomness available: {e}"))?;
    let key = format!("gk-{}", raw.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let hash = key_digest_hex(key.as_bytes());
    println!("key (shown once; give it to {team} through your secret store):");
    println!("  {key}");
    println!("configuration entry (teams[]), or add the hash to the team's key_sha256 list:");
    println!("  {{\"name\": \"{team}\", \"key_sha256\": [\"{hash}\"]}}");
    Ok(())
}

fn hash_key() -> Result<(), String> {
    let mut key = String::new();
    std::io::stdin()
        .read_to_string(&mut key)
        .map_err(|e| format!("cannot read standard input: {e}"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err("no key on standard input".into());
    }
    println!("{}", key_digest_hex(key.as_bytes()));
    Ok(())
}

fn models(path: &str) -> Result<(), String> {
    let config = compile(&read(path)?).map_err(|e| format!("invalid {e}"))?;
    for name in config.model_names() {
        if let Some(m) = config.model(name) {
            let provider = config.provider(m.provider).map_or("?", |p| p.name.as_str());
            println!("{name}\t{provider}\t{}", m.upstream_model);
        }
    }
    Ok(())
}
