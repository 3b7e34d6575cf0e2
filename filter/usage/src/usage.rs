//! Normalised token usage and its extraction from each provider's `usage` object.

use serde::Deserialize;
use serde_json::Value;

use crate::ApiFormat;

/// Token usage in one shape for every provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Usage {
    /// Every prompt token the provider processed, cached or not (cache writes included).
    pub input_tokens: u64,
    /// Of `input_tokens`, those read from the provider's prompt cache.
    pub cached_input_tokens: u64,
    /// Of `input_tokens`, those written to the provider's prompt cache.
    pub cache_write_input_tokens: u64,
    /// Every generated token, reasoning included.
    pub output_tokens: u64,
    /// Of `output_tokens`, those spent on reasoning.
    pub reasoning_tokens: u64,
}

/// Usage as reported for one response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct UsageReport {
    /// The counts.
    pub usage: Usage,
    /// True when the provider did not report (all of) the counts and some were estimated.
    pub estimated: bool,
}

/// Usage of a non-streamed response body; `None` if it carries none (or is not JSON).
pub fn usage_from_json(format: ApiFormat, body: &[u8]) -> Option<Usage> {
    // Only `usage` is materialised; serde skips every other field without building it.
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        usage: Option<Value>,
    }
    let body: Body = serde_json::from_slice(body).ok()?;
    from_value(format, body.usage.as_ref()?)
}

/// Normalises a provider `usage` object for `format`.
pub(crate) fn from_value(format: ApiFormat, usage: &Value) -> Option<Usage> {
    match format {
        ApiFormat::OpenAiChat => openai_chat(usage),
        ApiFormat::AnthropicMessages => AnthropicUsage::from_value(usage).normalise(),
        ApiFormat::OpenAiResponses => openai_responses(usage),
    }
}

/// `prompt_tokens` already includes the cached tokens; `completion_tokens` the reasoning ones.
fn openai_chat(u: &Value) -> Option<Usage> {
    let input = num(u, "prompt_tokens").or_else(|| num(u, "input_tokens"));
    let output = num(u, "completion_tokens").or_else(|| num(u, "output_tokens"));
    if input.is_none() && output.is_none() {
        return None;
    }
    Some(Usage {
        input_tokens: input.unwrap_or(0),
        cached_input_tokens: nested(u, "prompt_tokens_details", "cached_tokens")
            .or_else(|| nested(u, "input_tokens_details", "cached_tokens"))
            .unwrap_or(0),
        cache_write_input_tokens: 0,
        output_tokens: output.unwrap_or(0),
        reasoning_tokens: nested(u, "completion_tokens_details", "reasoning_tokens")
            .or_else(|| nested(u, "output_tokens_details", "reasoning_tokens"))
            .unwrap_or(0),
    })
}

fn openai_responses(u: &Value) -> Option<Usage> {
    let input = num(u, "input_tokens");
    let output = num(u, "output_tokens");
    if input.is_none() && output.is_none() {
        return None;
    }
    Some(Usage {
        input_tokens: input.unwrap_or(0),
        cached_input_tokens: nested(u, "input_tokens_details", "cached_tokens").unwrap_or(0),
        cache_write_input_tokens: 0,
        output_tokens: output.unwrap_or(0),
        reasoning_tokens: nested(u, "output_tokens_details", "reasoning_tokens").unwrap_or(0),
    })
}

/// Anthropic's raw counts. `input_tokens` excludes cache reads and writes. In a stream,
/// `message_delta` carries cumulative counts that replace `message_start`'s field by field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct AnthropicUsage {
    input: Option<u64>,
    cache_read: Option<u64>,
    cache_creation: Option<u64>,
    output: Option<u64>,
}

impl AnthropicUsage {
    pub(crate) fn from_value(u: &Value) -> Self {
        Self {
            input: num(u, "input_tokens"),
            cache_read: num(u, "cache_read_input_tokens"),
            cache_creation: num(u, "cache_creation_input_tokens"),
            output: num(u, "output_tokens"),
        }
    }

    /// Overwrites the fields `later` has.
    pub(crate) fn merge(&mut self, later: Self) {
        self.input = later.input.or(self.input);
        self.cache_read = later.cache_read.or(self.cache_read);
        self.cache_creation = later.cache_creation.or(self.cache_creation);
        self.output = later.output.or(self.output);
    }

    pub(crate) fn normalise(&self) -> Option<Usage> {
        if self.input.is_none() && self.output.is_none() {
            return None;
        }
        let cache_read = self.cache_read.unwrap_or(0);
        let cache_creation = self.cache_creation.unwrap_or(0);
        Some(Usage {
            input_tokens: self
                .input
                .unwrap_or(0)
                .saturating_add(cache_read)
                .saturating_add(cache_creation),
            cached_input_tokens: cache_read,
            cache_write_input_tokens: cache_creation,
            output_tokens: self.output.unwrap_or(0),
            reasoning_tokens: 0,
        })
    }
}

fn nested(v: &Value, outer: &str, inner: &str) -> Option<u64> {
    num(v.get(outer)?, inner)
}

/// A count, accepting integers, floats such as `12.0` and numeric strings; negatives become 0.
fn num(v: &Value, key: &str) -> Option<u64> {
    match v.get(key)? {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_i64().map(|i| i.max(0).unsigned_abs()))
            .or_else(|| n.as_f64().map(float_count)),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<u64>().ok().or_else(|| s.parse::<f64>().ok().map(float_count))
        }
        _ => None,
    }
}

fn float_count(f: f64) -> u64 {
    if f.is_finite() && f > 0.0 {
        // `as` saturates at u64::MAX; rounding absorbs representations like 11.999999.
        f.round() as u64
    } else {
        0
    }
}
