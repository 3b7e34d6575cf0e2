//! `genaictl check`: the gateway's verdict on a request, without sending it. The request goes
//! through the filter's own flow (`genai_policy::dryrun`), so the verdict is what Envoy would
//! decide for the same body, headers and configuration.

use std::io::{BufRead, Write};
use std::sync::Arc;

use genai_policy::compile;
use genai_policy::dryrun::{check, parse_api, CheckInput};

pub struct CheckArgs {
    pub config: String,
    pub endpoint: Option<String>,
    pub team: Option<String>,
    pub classification: Option<String>,
    pub jsonl: bool,
}

pub fn run(args: &CheckArgs) -> Result<(), String> {
    let bytes = std::fs::read(&args.config).map_err(|e| format!("cannot read {}: {e}", args.config))?;
    let mut config = compile(&bytes).map_err(|e| format!("invalid {e}"))?;
    // Nothing is forwarded, so no provider key is needed: the flow gets stand-ins, which never
    // leave this process.
    config
        .resolve_credentials(|_| Some("genaictl-check-not-a-key".into()))
        .map_err(|e| format!("invalid {e}"))?;
    let config = Arc::new(config);
    let api = match &args.endpoint {
        Some(e) => Some(parse_api(e).ok_or_else(|| {
            format!("--endpoint {e}: expected chat_completions, messages or responses (or their paths)")
        })?),
        None => None,
    };
    if let Some(team) = &args.team {
        if !config.teams.iter().any(|t| &t.name == team) {
            return Err(format!("--team {team}: no such team in {}", args.config));
        }
    }
    let verdict_of = |body: &[u8]| {
        let input = CheckInput {
            api,
            team: args.team.clone(),
            declared: args.classification.as_deref(),
            body,
        };
        check(&config, &input).to_json(&config.runbook_base_url)
    };
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    let fail = |e: std::io::Error| format!("cannot write the verdict: {e}");
    if !args.jsonl {
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut stdin.lock(), &mut body)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        let v = verdict_of(&body);
        let text = serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?;
        writeln!(stdout, "{text}").map_err(fail)?;
        return Ok(());
    }
    // One verdict per input line, in order, even for a line that is not a request at all.
    let mut input = stdin.lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = input
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        if n == 0 {
            break;
        }
        let body = line.strip_suffix(b"\n").unwrap_or(&line);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        writeln!(stdout, "{}", verdict_of(body)).map_err(fail)?;
    }
    stdout.flush().map_err(fail)
}
