//! `genaictl usage`: the normalised token usage (and cost) of one provider response, read
//! by the filter's own response path: the same [`Exchange`] that follows a forwarded request
//! in Envoy, fed the body exactly as the provider sent it (JSON, or an SSE stream).

use std::io::Read;

use genai_policy::api::Api;
use genai_policy::compile;
use genai_policy::flow::exchange::{Exchange, ExchangeStart, ResponseHead};
use serde_json::json;

/// A 200 from the provider with the body's content type, as Envoy hands it to the filter.
struct Head(&'static [u8]);

impl ResponseHead for Head {
    fn status(&mut self) -> u32 {
        200
    }
    fn header(&mut self, name: &str) -> Option<Vec<u8>> {
        (name == "content-type").then(|| self.0.to_vec())
    }
    fn via_upstream(&mut self) -> bool {
        true
    }
}

pub struct UsageArgs {
    pub provider: String,
    pub model: Option<String>,
    pub config: Option<String>,
    /// The request the response answers, for an estimate when the provider reported no usage.
    pub request: Option<String>,
}

fn api_of(provider: &str) -> Result<Api, String> {
    match provider {
        "openai" => Ok(Api::ChatCompletions),
        "anthropic" => Ok(Api::Messages),
        "openai-responses" => Ok(Api::Responses),
        other => Err(format!(
            "--provider {other}: expected openai (chat completions), anthropic (messages) or openai-responses"
        )),
    }
}

/// An SSE stream starts with a field line (`data:`, `event:`, `id:`, `retry:`) or a comment.
fn is_event_stream(body: &[u8]) -> bool {
    let start = body.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(body.len());
    let head = body.get(start..).unwrap_or_default();
    [b"data:".as_slice(), b"event:", b"id:", b"retry:", b":"]
        .iter()
        .any(|p| head.starts_with(p))
}

pub fn usage(args: &UsageArgs) -> Result<(), String> {
    let api = api_of(&args.provider)?;
    let mut body = Vec::new();
    std::io::stdin()
        .read_to_end(&mut body)
        .map_err(|e| format!("cannot read standard input: {e}"))?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err("no response body on standard input".into());
    }
    let request_body = match &args.request {
        Some(path) => std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?,
        None => Vec::new(),
    };
    let config = match &args.config {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
            Some(compile(&bytes).map_err(|e| format!("invalid {e}"))?)
        }
        None => None,
    };
    // The catalog model, when a configuration says what it is: its upstream name picks the
    // tokenizer of an estimate, its prices the cost.
    let (model, upstream_model, pricing) = match (&config, &args.model) {
        (Some(c), Some(name)) => {
            let m = c
                .model(name)
                .ok_or_else(|| format!("model `{name}` is not in the configuration's catalog"))?;
            (Some(m.name.clone()), m.upstream_model.clone(), m.pricing)
        }
        (None, Some(name)) => (Some(name.clone()), name.clone(), None),
        (_, None) => (None, String::new(), None),
    };
    // The filter loads the tokenizer of every catalog model when configured; so does this,
    // for the one model, so that an estimate counts as the filter's does.
    let _ = genai_usage::preload(genai_usage::encoding_for_model(&upstream_model));
    let content_type: &'static [u8] = if is_event_stream(&body) {
        b"text/event-stream"
    } else {
        b"application/json"
    };
    let mut exchange = Exchange::new(ExchangeStart {
        team: String::new(),
        model: model.clone().unwrap_or_default(),
        provider: args.provider.clone(),
        ids: genai_policy::metrics::SeriesIds::default(),
        upstream_model,
        pricing,
        api,
        forced_usage: false,
        request_body,
        started_ms: 0,
        guardrails: Vec::new(),
        workload: None,
        fallback: None,
    });
    exchange.on_response_headers(&mut Head(content_type));
    if exchange.wants_body() {
        let mut chunk = Some(body.clone());
        let _ = exchange.on_response_body(body.len(), true, &mut || chunk.take(), &mut || 0);
    }
    let outcome = exchange.finish(0);
    let tokens = outcome.tokens.unwrap_or_default();
    let mut out = json!({
        "provider": args.provider,
        "model": model,
        "stream": content_type == b"text/event-stream",
        "input_tokens": tokens.input,
        "cached_input_tokens": tokens.cached_input,
        "cache_write_input_tokens": tokens.cache_write,
        "output_tokens": tokens.output,
        "reasoning_tokens": tokens.reasoning,
        "estimated": outcome.estimated,
    });
    if let (Some(cost), Some(map)) = (outcome.cost_microdollars, out.as_object_mut()) {
        map.insert("cost_microdollars".into(), cost.into());
    }
    println!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_streams_from_json() {
        assert!(is_event_stream(b"data: {}\n\n"));
        assert!(is_event_stream(b"\nevent: message_start\ndata: {}\n\n"));
        assert!(is_event_stream(b": keep-alive\n\n"));
        assert!(!is_event_stream(b"  {\"usage\": {}}"));
    }

    #[test]
    fn providers_map_to_apis() {
        assert_eq!(api_of("openai"), Ok(Api::ChatCompletions));
        assert_eq!(api_of("anthropic"), Ok(Api::Messages));
        assert_eq!(api_of("openai-responses"), Ok(Api::Responses));
        assert!(api_of("azure").is_err());
    }
}
