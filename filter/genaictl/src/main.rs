//! `genaictl`: the gateway's admin CLI. It shares `genai-policy` with the filter, so
//! `validate` says exactly what the filter would log, `check` what it would decide, `usage`
//! what it would count, and `publish` hands Envoy only what the filter accepts.

mod check;
mod publish;
mod usage;

use std::io::Read;
use std::process::ExitCode;

use genai_policy::auth::key_digest_hex;
use genai_policy::compile;

mod routes;

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
  genaictl check --config CONFIG [--endpoint API] [--team TEAM] [--classification C] [--jsonl]
      Read a chat request (JSON) on standard input and print the gateway's verdict
      without sending anything: decision (allow, redact, block), status, error code,
      classification, detections, prompt-injection families (score, threshold,
      action, features) and the models that would accept it.
      API: chat_completions, messages or responses (default: from the body's shape).
      C: the classification a workload declares in its header. --jsonl: one request
      per line in, one verdict per line out, in order.
  genaictl usage --provider openai|anthropic|openai-responses [--model M] [--config CONFIG]
                 [--request FILE]
      Read a provider's response body (JSON or SSE, as received) on standard input and
      print its usage as the gateway counts it; with --config and a priced --model,
      its cost in micro-dollars. --request: the request it answers, to estimate from
      when the response reports no usage.
  genaictl publish CONFIG --ecds FILE [--require-env]
      Validate CONFIG as the filter would, then write it atomically into the extension
      config file Envoy watches (scripts/render-envoy --ecds FILE): applied without a
      restart. Nothing is written if the filter would refuse it.
  genaictl routes CONFIG
      The Envoy routes the filter can choose (one per provider, one per subset of
      each model's fallbacks), one JSON object per line: what render-envoy renders.
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
        ["check", rest @ ..] => parse_check(rest).and_then(|a| check::run(&a)),
        ["usage", rest @ ..] => parse_usage(rest).and_then(|a| usage::usage(&a)),
        ["publish", rest @ ..] => parse_publish(rest),
        ["routes", path] => routes::routes(path),
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

/// Parsed arguments: (`--name`, value) pairs, the flags given, the positional arguments.
type Parsed<'a> = (Vec<(&'a str, &'a str)>, Vec<&'a str>, Vec<&'a str>);

/// `--name value` options and bare flags, in any order; anything else is an error.
fn options<'a>(args: &[&'a str], with_value: &[&str], flags: &[&str]) -> Result<Parsed<'a>, String> {
    let (mut values, mut set, mut positional) = (Vec::new(), Vec::new(), Vec::new());
    let mut it = args.iter();
    while let Some(&a) = it.next() {
        if with_value.contains(&a) {
            let v = it.next().ok_or_else(|| format!("{a} needs a value\n\n{USAGE}"))?;
            values.push((a, *v));
        } else if flags.contains(&a) {
            set.push(a);
        } else if a.starts_with("--") {
            return Err(format!("unknown option {a}\n\n{USAGE}"));
        } else {
            positional.push(a);
        }
    }
    Ok((values, set, positional))
}

fn value(values: &[(&str, &str)], name: &str) -> Option<String> {
    values
        .iter()
        .rev()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_string())
}

fn parse_check(args: &[&str]) -> Result<check::CheckArgs, String> {
    let (values, flags, positional) = options(
        args,
        &["--config", "--endpoint", "--team", "--classification"],
        &["--jsonl"],
    )?;
    if !positional.is_empty() {
        return Err(format!("check reads the request on standard input\n\n{USAGE}"));
    }
    Ok(check::CheckArgs {
        config: value(&values, "--config").ok_or_else(|| format!("check needs --config CONFIG\n\n{USAGE}"))?,
        endpoint: value(&values, "--endpoint"),
        team: value(&values, "--team"),
        classification: value(&values, "--classification"),
        jsonl: flags.contains(&"--jsonl"),
    })
}

fn parse_usage(args: &[&str]) -> Result<usage::UsageArgs, String> {
    let (values, _, positional) = options(args, &["--provider", "--model", "--config", "--request"], &[])?;
    if !positional.is_empty() {
        return Err(format!("usage reads the response on standard input\n\n{USAGE}"));
    }
    Ok(usage::UsageArgs {
        provider: value(&values, "--provider").ok_or_else(|| format!("usage needs --provider\n\n{USAGE}"))?,
        model: value(&values, "--model"),
        config: value(&values, "--config"),
        request: value(&values, "--request"),
    })
}

fn parse_publish(args: &[&str]) -> Result<(), String> {
    let (values, flags, positional) = options(args, &["--ecds"], &["--require-env"])?;
    let [config] = positional.as_slice() else {
        return Err(format!("publish needs one CONFIG\n\n{USAGE}"));
    };
    let ecds = value(&values, "--ecds").ok_or_else(|| format!("publish needs --ecds FILE\n\n{USAGE}"))?;
    publish::publish(config, &ecds, flags.contains(&"--require-env"))
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
