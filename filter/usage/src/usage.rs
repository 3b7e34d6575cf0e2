//! Normalised token usage and its extraction from each provider's `usage` object.

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use std::fmt;

use crate::lenient::{default_unless_map, Scalar};
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
    // Only `usage` is read; serde skips every other field without building it.
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        usage: Option<RawUsage>,
    }
    let body: Body = serde_json::from_slice(body).ok()?;
    body.usage?.normalise(format)
}

/// A provider `usage` object, any provider's fields, read leniently: a field may be missing,
/// null, a float, a numeric string, or of another type (then ignored).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RawUsage {
    prompt: Option<u64>,
    completion: Option<u64>,
    input: Option<u64>,
    output: Option<u64>,
    cache_read: Option<u64>,
    cache_creation: Option<u64>,
    prompt_cached: Option<u64>,
    input_cached: Option<u64>,
    completion_reasoning: Option<u64>,
    output_reasoning: Option<u64>,
}

impl RawUsage {
    /// Normalises for `format`; `None` if the object has no token counts at all.
    pub(crate) fn normalise(&self, format: ApiFormat) -> Option<Usage> {
        match format {
            ApiFormat::OpenAiChat => self.openai_chat(),
            ApiFormat::AnthropicMessages => AnthropicUsage::from(*self).normalise(),
            ApiFormat::OpenAiResponses => self.openai_responses(),
        }
    }

    /// `prompt_tokens` already includes the cached tokens; `completion_tokens` the reasoning
    /// ones. Compatible providers that use the Responses names are accepted too.
    fn openai_chat(&self) -> Option<Usage> {
        let input = self.prompt.or(self.input);
        let output = self.completion.or(self.output);
        if input.is_none() && output.is_none() {
            return None;
        }
        Some(Usage {
            input_tokens: input.unwrap_or(0),
            cached_input_tokens: self.prompt_cached.or(self.input_cached).unwrap_or(0),
            cache_write_input_tokens: 0,
            output_tokens: output.unwrap_or(0),
            reasoning_tokens: self.completion_reasoning.or(self.output_reasoning).unwrap_or(0),
        })
    }

    fn openai_responses(&self) -> Option<Usage> {
        if self.input.is_none() && self.output.is_none() {
            return None;
        }
        Some(Usage {
            input_tokens: self.input.unwrap_or(0),
            cached_input_tokens: self.input_cached.unwrap_or(0),
            cache_write_input_tokens: 0,
            output_tokens: self.output.unwrap_or(0),
            reasoning_tokens: self.output_reasoning.unwrap_or(0),
        })
    }
}

impl<'de> Deserialize<'de> for RawUsage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawUsage;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a usage object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawUsage, A::Error> {
                #[derive(Deserialize)]
                #[serde(field_identifier, rename_all = "snake_case")]
                enum Field {
                    PromptTokens,
                    CompletionTokens,
                    InputTokens,
                    OutputTokens,
                    CacheReadInputTokens,
                    CacheCreationInputTokens,
                    PromptTokensDetails,
                    InputTokensDetails,
                    CompletionTokensDetails,
                    OutputTokensDetails,
                    #[serde(other)]
                    Other,
                }
                let mut u = RawUsage::default();
                while let Some(field) = map.next_key::<Field>()? {
                    let slot = match field {
                        Field::PromptTokens => &mut u.prompt,
                        Field::CompletionTokens => &mut u.completion,
                        Field::InputTokens => &mut u.input,
                        Field::OutputTokens => &mut u.output,
                        Field::CacheReadInputTokens => &mut u.cache_read,
                        Field::CacheCreationInputTokens => &mut u.cache_creation,
                        Field::PromptTokensDetails => &mut u.prompt_cached,
                        Field::InputTokensDetails => &mut u.input_cached,
                        Field::CompletionTokensDetails => &mut u.completion_reasoning,
                        Field::OutputTokensDetails => &mut u.output_reasoning,
                        Field::Other => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    *slot = match field {
                        Field::PromptTokensDetails | Field::InputTokensDetails => map.next_value::<Details>()?.cached,
                        Field::CompletionTokensDetails | Field::OutputTokensDetails => {
                            map.next_value::<Details>()?.reasoning
                        }
                        _ => map.next_value::<Scalar<'_>>()?.count(),
                    };
                }
                Ok(u)
            }
            default_unless_map!();
        }
        d.deserialize_any(V)
    }
}

/// `*_tokens_details`: only the counts normalised usage needs.
#[derive(Default)]
struct Details {
    cached: Option<u64>,
    reasoning: Option<u64>,
}

impl<'de> Deserialize<'de> for Details {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Details;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a token details object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Details, A::Error> {
                #[derive(Deserialize)]
                #[serde(field_identifier, rename_all = "snake_case")]
                enum Field {
                    CachedTokens,
                    ReasoningTokens,
                    #[serde(other)]
                    Other,
                }
                let mut d = Details::default();
                while let Some(field) = map.next_key::<Field>()? {
                    match field {
                        Field::CachedTokens => d.cached = map.next_value::<Scalar<'_>>()?.count(),
                        Field::ReasoningTokens => d.reasoning = map.next_value::<Scalar<'_>>()?.count(),
                        Field::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(d)
            }
            default_unless_map!();
        }
        d.deserialize_any(V)
    }
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

impl From<RawUsage> for AnthropicUsage {
    fn from(u: RawUsage) -> Self {
        Self {
            input: u.input,
            cache_read: u.cache_read,
            cache_creation: u.cache_creation,
            output: u.output,
        }
    }
}

impl AnthropicUsage {
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
