//! A forwarded request, followed through its response to the figures it leaves behind.
//!
//! The response is never held back: streamed bodies are peeked at chunk by chunk (usage,
//! first token), and only the usage chunk the gateway itself asked for is removed.
//! Non-streamed bodies are scanned as they pass for their usage; nothing of them is kept but
//! the usage object and a bounded sample of the generated text.
//!
//! Memory per exchange is bounded whatever the request and response: the request is kept as
//! a sample of at most [`PROMPT_SAMPLE_BYTES`] (for an estimate, should usage be missing), a
//! stream's state by genai-usage's caps (held bytes, one event, the text sample), a body's
//! by [`genai_usage::MAX_USAGE_BYTES`] and the text sample.

use genai_usage::{
    count_tokens, estimate_heuristic, ApiFormat, Forward, JsonText, StreamTracker, Usage, MAX_COUNTED_BYTES,
};

use std::sync::Arc;

use super::limits::Charge;
use crate::api::Api;
use crate::config::Compiled;
use crate::fallback::report::{self, FallbackPoint, Final};
use crate::fallback::{Chain, SharedAttempts};
use crate::metrics::{Origin, Outcome, SeriesIds, Tokens, RATE_LIMIT_LABELS};
use crate::pricing::{Pricing, TokenCounts};

/// What is kept of the request body for a prompt estimate: the estimator reads no more than
/// [`MAX_COUNTED_BYTES`] of text, and extrapolates the rest from the body's length.
pub const PROMPT_SAMPLE_BYTES: usize = MAX_COUNTED_BYTES;

/// The response head, read on demand: each method is a host call in the filter.
pub trait ResponseHead {
    /// `:status`, 0 if unreadable.
    fn status(&mut self) -> u32;
    /// One response header's value.
    fn header(&mut self, name: &str) -> Option<Vec<u8>>;
    /// Whether the provider produced the response (Envoy's `response.code_details` is
    /// `via_upstream`), rather than Envoy itself (timeout, no route, unreachable).
    fn via_upstream(&mut self) -> bool;
}

/// What to change in the response headers.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ResponseHeadersPlan {
    /// The body will be changed, so its length is no longer known.
    pub remove_content_length: bool,
    /// Filter state for the access log: when a fallback answered, the model and provider
    /// that did (and the model asked for); when the request fell back or skipped a fallback,
    /// each as `from>to:reason`.
    pub properties: Vec<(&'static str, String)>,
}

/// How the response body is followed.
enum Body {
    /// Not looked at (an error, or not from the provider).
    Ignored,
    /// A stream from the provider.
    Stream(Box<StreamTracker>),
    /// A JSON body from the provider, scanned as it passes.
    Json(Box<JsonText>),
    /// A body the filter cannot read (compressed with an encoding Envoy did not decode):
    /// its bytes are counted for an estimate.
    Opaque(u64),
}

/// The request body, as kept for a prompt estimate.
struct Prompt {
    /// The body's first bytes (all of it, if it is at most [`PROMPT_SAMPLE_BYTES`]).
    head: Vec<u8>,
    /// The whole body's length.
    total: usize,
}

impl Prompt {
    fn new(body: Vec<u8>) -> Self {
        let total = body.len();
        if total <= PROMPT_SAMPLE_BYTES {
            return Prompt { head: body, total };
        }
        // A fresh allocation, and the body freed whole: truncating it in place would keep
        // each sample at the start of a freed body-sized hole, too small for the next body,
        // so the VM's memory would grow by a body per exchange in flight (measured: 300
        // concurrent 1 MiB requests took 617 MiB; integration/tests/test_memory.py).
        let head = body.get(..PROMPT_SAMPLE_BYTES).unwrap_or_default().to_vec();
        drop(body);
        Prompt { head, total }
    }

    /// Prompt tokens as the estimator counts them: `count` over the text (every string of the
    /// body, as the provider reads it), extrapolated from the sample to the whole body.
    fn tokens(&self, count: impl Fn(&str) -> u64) -> u64 {
        if self.head.len() == self.total {
            return count(&prompt_text(&self.head));
        }
        let mut scan = JsonText::all_values(MAX_COUNTED_BYTES);
        scan.feed(&self.head);
        scan.end();
        let tokens = count(scan.text().0);
        let scaled = u128::from(tokens).saturating_mul(self.total as u128) / (self.head.len().max(1) as u128);
        u64::try_from(scaled).unwrap_or(u64::MAX)
    }
}

pub struct Exchange {
    pub team: String,
    pub model: String,
    pub provider: String,
    ids: SeriesIds,
    upstream_model: String,
    pricing: Option<Pricing>,
    format: ApiFormat,
    forced_usage: bool,
    prompt: Prompt,
    started_ms: u64,
    status: u32,
    origin: Option<Origin>,
    body: Body,
    first_token_ms: Option<u64>,
    pub guardrails: Vec<(String, &'static str)>,
    /// The figures, once computed (at the response's end, for Envoy's charge).
    figures: Option<Figures>,
    /// Refused by Envoy's rate limit filter, and which limit (a fixed label).
    rate_limited: Option<&'static str>,
    charged: bool,
    pub workload: Option<String>,
    /// The catalog model the client asked for (`model` becomes the one that served).
    requested_model: String,
    fallback: Option<Fallback>,
    /// Set once the response head is judged.
    fallback_points: Option<Vec<FallbackPoint>>,
}

/// Tokens and cost of a finished exchange.
#[derive(Debug, Clone, Copy)]
struct Figures {
    tokens: Option<Tokens>,
    estimated: bool,
    cost_microdollars: Option<u64>,
}

/// A request that may fall back, or whose chain left a fallback out.
pub struct Fallback {
    pub config: Arc<Compiled>,
    /// The targets the request may be served by (the requested model first).
    pub chain: Chain,
    /// Its attempts, when it may fall back.
    pub attempts: Option<SharedAttempts>,
}

pub struct ExchangeStart {
    pub team: String,
    pub model: String,
    pub provider: String,
    /// The same as indices into the configuration, for the metrics.
    pub ids: SeriesIds,
    pub upstream_model: String,
    pub pricing: Option<Pricing>,
    pub api: Api,
    pub forced_usage: bool,
    /// The request body as the client sent it; the exchange keeps a bounded sample.
    pub request_body: Vec<u8>,
    pub started_ms: u64,
    pub guardrails: Vec<(String, &'static str)>,
    pub workload: Option<String>,
    /// `None`: one target and nothing skipped, nothing to report.
    pub fallback: Option<Fallback>,
}

fn format_of(api: Api) -> ApiFormat {
    match api {
        Api::Messages => ApiFormat::AnthropicMessages,
        Api::Responses => ApiFormat::OpenAiResponses,
        Api::ChatCompletions | Api::ListModels | Api::Usage => ApiFormat::OpenAiChat,
    }
}

/// A `content-encoding` the filter cannot read through (anything but identity).
fn encoded(value: Option<&[u8]>) -> bool {
    value.is_some_and(|v| {
        let v = v.trim_ascii();
        !v.is_empty() && !v.eq_ignore_ascii_case(b"identity")
    })
}

impl Exchange {
    pub fn new(s: ExchangeStart) -> Self {
        Exchange {
            team: s.team,
            requested_model: s.model.clone(),
            model: s.model,
            provider: s.provider,
            ids: s.ids,
            upstream_model: s.upstream_model,
            pricing: s.pricing,
            format: format_of(s.api),
            forced_usage: s.forced_usage,
            prompt: Prompt::new(s.request_body),
            started_ms: s.started_ms,
            status: 0,
            origin: None,
            body: Body::Ignored,
            first_token_ms: None,
            guardrails: s.guardrails,
            figures: None,
            rate_limited: None,
            charged: false,
            workload: s.workload,
            fallback: s.fallback,
            fallback_points: None,
        }
    }

    /// Envoy's rate limit filter (after this one) refused the request: a 429 with the rate
    /// limit service's `x-genai-ratelimit-limit`, or a 503 `rate_limit_unavailable` when the
    /// service could not answer and the limit fails closed. The gateway answered it.
    fn check_rate_limited(&mut self, status: u32, head: &mut dyn ResponseHead) {
        let limit = match status {
            429 => head.header("x-genai-ratelimit-limit"),
            503 if head.header("x-genai-error-code").as_deref() == Some(b"rate_limit_unavailable".as_slice()) => {
                Some(b"unavailable".to_vec())
            }
            _ => None,
        };
        if let Some(limit) = limit {
            self.origin = Some(Origin::Gateway);
            let label = RATE_LIMIT_LABELS
                .iter()
                .find(|l| l.as_bytes() == limit.as_slice())
                .copied()
                .unwrap_or("unknown");
            self.rate_limited = Some(label);
        }
    }

    /// What the request is charged, computed when the response ends (before Envoy's rate
    /// limit filter reads it at stream end). `Some` once only; `None` for a request that is
    /// not billed.
    pub fn take_charge(&mut self) -> Option<Charge> {
        if self.charged {
            return None;
        }
        self.charged = true;
        let f = self.figures();
        let t = f.tokens?;
        Some(Charge {
            tokens: t.input.saturating_add(t.output),
            cost_microdollars: f.cost_microdollars.unwrap_or(0),
        })
    }

    /// The target whose response this is: the attempt that answered, or the last one tried
    /// when Envoy answered in its place.
    fn serving_target(&self) -> Option<usize> {
        let a = self.fallback.as_ref()?.attempts.as_ref()?.try_borrow().ok()?;
        a.served().or_else(|| a.last_target())
    }

    /// Usage, cost and labels follow the model that served; `true` if it is another one.
    fn serve(&mut self, target: usize) -> bool {
        let Some(config) = self.fallback.as_ref().map(|f| Arc::clone(&f.config)) else {
            return false;
        };
        let Some(m) = config.models.get(target) else {
            return false;
        };
        let Some(p) = config.provider(m.provider) else {
            return false;
        };
        if m.name == self.model {
            return false;
        }
        self.model = m.name.clone();
        self.provider = p.name.clone();
        self.upstream_model = m.upstream_model.clone();
        self.pricing = m.pricing;
        self.ids.model = u32::try_from(target).ok();
        self.ids.provider = u32::try_from(m.provider).ok();
        true
    }

    fn fallback_report(&self, fin: Option<Final>) -> Vec<FallbackPoint> {
        let Some(f) = &self.fallback else {
            return Vec::new();
        };
        let borrowed = f.attempts.as_ref().and_then(|a| a.try_borrow().ok());
        let log = borrowed.as_ref().map_or(&[][..], |a| a.log());
        report::points(&f.config, &f.chain, log, fin)
    }

    /// The fallbacks as of this response head, and what the access log says about them.
    fn judge_fallbacks(&mut self, status: u32, from_provider: bool) -> Vec<(&'static str, String)> {
        let mut properties = Vec::new();
        if self.serving_target().is_some_and(|t| self.serve(t)) {
            properties.push(("genai_requested_model", self.requested_model.clone()));
            properties.push(("genai_model", self.model.clone()));
            properties.push(("genai_provider", self.provider.clone()));
        }
        let points = self.fallback_report(Some(Final { status, from_provider }));
        if !points.is_empty() {
            properties.push(("genai_fallbacks", report::summary(&points)));
        }
        self.fallback_points = Some(points);
        properties
    }

    /// The response's status and headers: reads from `head` only what it needs (each read
    /// is a host call). On a 2xx it reads the body's type and encoding; otherwise whether the
    /// provider or Envoy produced the response (Envoy's own replies, timeouts and unreachable
    /// providers, are never 2xx in the shipped configuration).
    pub fn on_response_headers(&mut self, head: &mut dyn ResponseHead) -> ResponseHeadersPlan {
        let status = head.status();
        let ok = (200..300).contains(&status);
        let from_provider = ok || head.via_upstream();
        self.status = status;
        self.origin = Some(if from_provider { Origin::Provider } else { Origin::Envoy });
        let properties = if self.fallback.is_some() {
            self.judge_fallbacks(status, from_provider)
        } else {
            Vec::new()
        };
        let plan = ResponseHeadersPlan {
            properties,
            ..ResponseHeadersPlan::default()
        };
        if !ok {
            if !from_provider {
                self.check_rate_limited(status, head);
            }
            return plan;
        }
        let content_type = head.header("content-type");
        if encoded(head.header("content-encoding").as_deref()) {
            // The gateway asks for an identity encoding and the shipped Envoy config decodes
            // gzip, deflate, brotli and zstd before the filter; anything else is not read.
            self.body = Body::Opaque(0);
            return plan;
        }
        let event_stream = content_type.as_deref().is_some_and(|c| {
            c.get(..17)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"text/event-stream"))
        });
        if event_stream {
            let tracker = StreamTracker::new(self.format)
                .strip_forced_usage(self.forced_usage)
                .model(&self.upstream_model);
            self.body = Body::Stream(Box::new(tracker));
            return ResponseHeadersPlan {
                remove_content_length: self.forced_usage,
                ..plan
            };
        }
        self.body = Body::Json(Box::new(JsonText::response(self.format, MAX_COUNTED_BYTES)));
        plan
    }

    /// False when the body needs no look at all (an error from Envoy or the provider, whose
    /// first byte was seen).
    pub fn wants_body(&self) -> bool {
        !matches!(self.body, Body::Ignored) || self.first_token_ms.is_none()
    }

    /// One chunk of the response body (`size` bytes); says whether to forward it as it is.
    /// `read` fetches the chunk's bytes (a host call, and a copy into the VM): called only
    /// when they are needed. `now_ms` reads the host's clock: called once, for the first
    /// token, not per chunk.
    pub fn on_response_body(
        &mut self,
        size: usize,
        end_of_stream: bool,
        read: &mut dyn FnMut() -> Option<Vec<u8>>,
        now_ms: &mut dyn FnMut() -> u64,
    ) -> Forward {
        let tracker = match &mut self.body {
            Body::Stream(t) => t,
            other => {
                match other {
                    Body::Json(scan) => {
                        if size > 0 {
                            if let Some(chunk) = read() {
                                scan.feed(&chunk);
                            }
                        }
                    }
                    Body::Opaque(n) => *n = n.saturating_add(size as u64),
                    Body::Ignored | Body::Stream(_) => {}
                }
                if self.first_token_ms.is_none() && size > 0 {
                    self.first_token_ms = Some(now_ms());
                }
                return Forward::Unchanged;
            }
        };
        if size == 0 && !end_of_stream {
            return Forward::Unchanged;
        }
        let chunk = if size > 0 { read() } else { Some(Vec::new()) };
        let Some(chunk) = chunk else {
            // A chunk the stream's parser did not see: its offsets no longer match the
            // bytes, so it stops following (and stripping); the usage will be estimated.
            self.body = Body::Opaque(size as u64);
            return Forward::Unchanged;
        };
        let feed = tracker.feed(&chunk);
        if feed.first_content && self.first_token_ms.is_none() {
            self.first_token_ms = Some(now_ms());
        }
        let mut forward = feed.forward;
        if end_of_stream {
            // The usage is read later, in `finish`; here only the held-back tail matters
            // (and no estimate may run on the response path).
            let tail = tracker.end_stream();
            if !tail.is_empty() {
                forward = match forward {
                    Forward::Unchanged => {
                        let mut v = chunk;
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

    /// The figures, computed once.
    fn figures(&mut self) -> Figures {
        if let Some(f) = self.figures {
            return f;
        }
        let f = self.compute_figures();
        self.figures = Some(f);
        f
    }

    /// Usage and cost, from what was read of the response; takes the body's state.
    fn compute_figures(&mut self) -> Figures {
        if self.rate_limited.is_some() {
            return Figures {
                tokens: None,
                estimated: false,
                cost_microdollars: None,
            };
        }
        let body = std::mem::replace(&mut self.body, Body::Ignored);
        let provider_ok = self.origin == Some(Origin::Provider) && (200..300).contains(&self.status);
        let model = self.upstream_model.as_str();
        let prompt = &self.prompt;
        // Providers bill what they processed: a successful or abandoned request without
        // reported usage is estimated, never counted as zero. Errors answered by the
        // provider or Envoy before generation are not billed.
        let (usage, estimated): (Option<Usage>, bool) = match body {
            Body::Stream(t) => {
                // The prompt is only estimated when the usage must be.
                let report = t.report_with(|m| prompt.tokens(|text| count_tokens(m, text)));
                (Some(report.usage), report.estimated)
            }
            Body::Json(mut scan) => match scan.usage(self.format) {
                Some(u) => (Some(u), false),
                None => {
                    scan.end();
                    let (text, total) = scan.text();
                    let output = scale(count_tokens(model, text), text.len(), total);
                    let input = prompt.tokens(|text| count_tokens(model, text));
                    (Some(tokens_usage(input, output)), true)
                }
            },
            Body::Opaque(bytes) => {
                // Unreadable: about 4 bytes a token, as the heuristic counts ASCII text.
                let input = prompt.tokens(|text| count_tokens(model, text));
                (Some(tokens_usage(input, bytes.div_ceil(4).max(1))), true)
            }
            // Abandoned before the response headers: the prompt was sent, nothing was read.
            // The heuristic, not the tokenizer: such requests are not worth a BPE pass.
            Body::Ignored if self.origin.is_none() => {
                let input = prompt.tokens(|text| estimate_heuristic(text, "").input_tokens);
                (Some(tokens_usage(input, 0)), true)
            }
            Body::Ignored => (None, false),
        };
        let usage = usage.filter(|_| provider_ok || self.origin.is_none());
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
        Figures {
            tokens,
            estimated: estimated && tokens.is_some(),
            cost_microdollars,
        }
    }

    /// The request is over (completed, failed or abandoned): its figures.
    pub fn finish(mut self, now_ms: u64) -> Outcome {
        let fallbacks = match self.fallback_points.take() {
            Some(p) => p,
            // Abandoned before a response head: only Envoy's moves between attempts.
            None => self.fallback_report(None),
        };
        let Figures {
            tokens,
            estimated,
            cost_microdollars,
        } = self.figures();
        Outcome {
            team: Some(self.team),
            model: Some(self.model),
            provider: Some(self.provider),
            ids: self.ids,
            status: self.status,
            origin: self.origin,
            tokens,
            estimated,
            cost_microdollars,
            ttft_ms: self.first_token_ms.map(|t| t.saturating_sub(self.started_ms)),
            duration_ms: Some(now_ms.saturating_sub(self.started_ms)),
            guardrails: self.guardrails,
            dry_run: None,
            rate_limited: self.rate_limited,
            workload: self.workload,
            requested_model: Some(self.requested_model),
            fallbacks,
        }
    }
}

fn tokens_usage(input: u64, output: u64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        ..Usage::default()
    }
}

/// Scales a count for `part` bytes up to `whole` bytes.
fn scale(tokens: u64, part: usize, whole: u64) -> u64 {
    let part = part as u64;
    if part == 0 || whole <= part {
        return tokens;
    }
    u64::try_from(u128::from(tokens).saturating_mul(u128::from(whole)) / u128::from(part)).unwrap_or(u64::MAX)
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

#[cfg(test)]
mod tests;
