//! Token usage for an AI gateway running inside Envoy: reads what providers report in
//! responses (JSON bodies and SSE streams) and normalises it, detects the first generated
//! token of a stream (for time to first token), removes the usage chunk the gateway forced on
//! an OpenAI stream, and estimates tokens when a provider reported none.
//!
//! Pure logic without proxy-wasm: it runs in the filter on every response chunk, where a
//! panic is a wasm trap that takes down the worker's VM, so nothing here may panic.

#![warn(missing_docs)]

mod body;
mod estimate;
mod events;
mod lenient;
pub mod sse;
mod stream;
mod usage;

pub use body::{JsonText, MAX_USAGE_BYTES};
pub use estimate::{
    count_tokens, encoding_for_model, estimate, estimate_heuristic, heuristic_ascii_tokens, heuristic_tokens, loaded,
    preload, Encoding, MAX_COUNTED_BYTES,
};
pub use sse::{SseEvent, SseEventRef, SseParser, SseRawEventRef};
pub use stream::{Feed, Finish, Forward, StreamTracker, DEFAULT_MAX_TEXT_BYTES};
pub use usage::{usage_from_json, Usage, UsageReport};

/// The API a response follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiFormat {
    /// OpenAI Chat Completions (`/v1/chat/completions`) and compatible providers.
    OpenAiChat,
    /// Anthropic Messages (`/v1/messages`).
    AnthropicMessages,
    /// OpenAI Responses (`/v1/responses`).
    OpenAiResponses,
}
