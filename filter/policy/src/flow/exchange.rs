//! A forwarded request, followed through its response to the figures it leaves behind.
//!
//! The response is never held back: streamed bodies are peeked at chunk by chunk (usage,
//! first token), and only the usage chunk the gateway itself asked for is removed.
//! Non-streamed bodies are copied (up to a cap) to read their usage at the end.

use genai_usage::{estimate, usage_from_json, ApiFormat, Forward, StreamTracker, Usage};

use crate::api::Api;
use crate::metrics::{Origin, Outcome, Tokens};
use crate::pricing::{Pricing, TokenCounts};

/// Largest non-streamed response body copied to read its usage.
const MAX_BODY_COPY: usize = 8 * 1024 * 1024;

/// What to change in the response headers.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ResponseHeadersPlan {
    /// The body will be changed, so its length is no longer known.
    pub remove_content_length: bool,
}

pub struct Exchange {
    pub team: String,
    pub model: String,
    pub provider: String,
    upstream_model: String,
    pricing: Option<Pricing>,
    format: ApiFormat,
    forced_usage: bool,
    /// The request body, kept (not copied) to estimate prompt tokens if usage is missing.
    request_body: Vec<u8>,
    started_ms: u64,
    status: u32,
    origin: Option<Origin>,
    tracker: Option<StreamTracker>,
    body_copy: Vec<u8>,
    body_truncated: bool,
    first_token_ms: Option<u64>,
    pub guardrails: Vec<(String, &'static str)>,
}

pub struct ExchangeStart {
    pub team: String,
    pub model: String,
    pub provider: String,
    pub upstream_model: String,
    pub pricing: Option<Pricing>,
    pub api: Api,
    pub forced_usage: bool,
    pub request_body: Vec<u8>,
    pub started_ms: u64,
    pub guardrails: Vec<(String, &'static str)>,
}

fn format_of(api: Api) -> ApiFormat {
    match api {
        Api::Messages => ApiFormat::AnthropicMessages,
        Api::Responses => ApiFormat::OpenAiResponses,
        Api::ChatCompletions | Api::ListModels => ApiFormat::OpenAiChat,
    }
}

impl Exchange {
    pub fn new(s: ExchangeStart) -> Self {
        Exchange {
            team: s.team,
            model: s.model,
            provider: s.provider,
            upstream_model: s.upstream_model,
            pricing: s.pricing,
            format: format_of(s.api),
            forced_usage: s.forced_usage,
            request_body: s.request_body,
            started_ms: s.started_ms,
            status: 0,
            origin: None,
            tracker: None,
            body_copy: Vec::new(),
            body_truncated: false,
            first_token_ms: None,
            guardrails: s.guardrails,
        }
    }

    /// `from_provider`: the response came from upstream (Envoy's `via_upstream`), not from
    /// Envoy itself (timeout, no route, unreachable).
    pub fn on_response_headers(
        &mut self,
        status: u32,
        content_type: Option<&[u8]>,
        from_provider: bool,
    ) -> ResponseHeadersPlan {
        self.status = status;
        self.origin = Some(if from_provider { Origin::Provider } else { Origin::Envoy });
        let event_stream = content_type.is_some_and(|c| {
            c.len() >= 17
                && c.get(..17)
                    .is_some_and(|p| p.eq_ignore_ascii_case(b"text/event-stream"))
        });
        if from_provider && (200..300).contains(&status) && event_stream {
            let tracker = StreamTracker::new(self.format)
                .strip_forced_usage(self.forced_usage)
                .model(&self.upstream_model);
            self.tracker = Some(tracker);
            return ResponseHeadersPlan {
                remove_content_length: self.forced_usage,
            };
        }
        ResponseHeadersPlan::default()
    }

    /// False when the body needs no look at all (an error from Envoy or the provider).
    pub fn wants_body(&self) -> bool {
        self.tracker.is_some()
            || (self.origin == Some(Origin::Provider) && (200..300).contains(&self.status))
            || self.first_token_ms.is_none()
    }

    /// One chunk of the response body; says whether to forward it as it is.
    pub fn on_response_body(&mut self, chunk: &[u8], end_of_stream: bool, now_ms: u64) -> Forward {
        let Some(tracker) = self.tracker.as_mut() else {
            if self.first_token_ms.is_none() && !chunk.is_empty() {
                self.first_token_ms = Some(now_ms);
            }
            if self.origin == Some(Origin::Provider) && (200..300).contains(&self.status) {
                self.copy_body(chunk);
            }
            return Forward::Unchanged;
        };
        let feed = tracker.feed(chunk);
        if feed.first_content && self.first_token_ms.is_none() {
            self.first_token_ms = Some(now_ms);
        }
        let mut forward = feed.forward;
        if end_of_stream {
            // The usage is read later, in `finish`; here only the held-back tail matters
            // (and no estimate may run on the response path).
            let tail = tracker.end_stream();
            if !tail.is_empty() {
                forward = match forward {
                    Forward::Unchanged => {
                        let mut v = chunk.to_vec();
                        v.extend_from_slice(&tail);
                        Forward::Replace(v)
                    }
                    Forward::Replace(mut v) => {
                        v.extend_from_slice(&tail);
                        Forward::Replace(v)
                    }
                };
            }
        }
        forward
    }

    fn copy_body(&mut self, chunk: &[u8]) {
        if self.body_copy.len() + chunk.len() <= MAX_BODY_COPY {
            self.body_copy.extend_from_slice(chunk);
        } else {
            self.body_truncated = true;
        }
    }

    /// The request is over (completed, failed or abandoned): its figures.
    pub fn finish(self, now_ms: u64) -> Outcome {
        let provider_ok = self.origin == Some(Origin::Provider) && (200..300).contains(&self.status);
        // Providers bill what they processed: a successful or abandoned request without
        // reported usage is estimated, never counted as zero. Errors answered by the
        // provider or Envoy before generation are not billed.
        let abandoned = self.origin.is_none();
        let (usage, estimated): (Option<Usage>, bool) = match self.tracker.as_ref() {
            Some(t) => {
                // The prompt's text is only extracted when it must be estimated.
                let prompt = if t.usage().is_some() {
                    String::new()
                } else {
                    prompt_text(&self.request_body)
                };
                let report = t.report(&prompt);
                (Some(report.usage), report.estimated)
            }
            None => match usage_from_json(self.format, &self.body_copy) {
                Some(u) if provider_ok && !self.body_truncated => (Some(u), false),
                _ if provider_ok || abandoned => {
                    let prompt = prompt_text(&self.request_body);
                    (Some(estimate(&self.upstream_model, &prompt, "")), true)
                }
                _ => (None, false),
            },
        };
        let tokens = usage.map(|u| Tokens {
            input: u.input_tokens,
            cached_input: u.cached_input_tokens,
            cache_write: u.cache_write_input_tokens,
            output: u.output_tokens,
            reasoning: u.reasoning_tokens,
        });
        let cost_microdollars = match (tokens, self.pricing) {
            (Some(t), Some(p)) => Some(p.cost_microdollars(&TokenCounts {
                input: t.input,
                cached_input: t.cached_input,
                cache_write: t.cache_write,
                output: t.output,
            })),
            _ => None,
        };
        Outcome {
            team: Some(self.team),
            model: Some(self.model),
            provider: Some(self.provider),
            status: self.status,
            origin: self.origin,
            tokens,
            estimated,
            cost_microdollars,
            ttft_ms: self.first_token_ms.map(|t| t.saturating_sub(self.started_ms)),
            duration_ms: Some(now_ms.saturating_sub(self.started_ms)),
            guardrails: self.guardrails,
        }
    }
}

/// The text of a request as the provider reads it, for estimation: every string value.
fn prompt_text(body: &[u8]) -> String {
    let mut out = String::new();
    if let Some(strings) = crate::request::strings::json_strings(body) {
        for s in strings.iter().filter(|s| !s.is_key) {
            out.push_str(&s.text);
            out.push('\n');
        }
    }
    out
}
