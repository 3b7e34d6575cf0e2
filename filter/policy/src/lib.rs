//! Policy logic of the GenAI gateway filter.
//!
//! Nothing here knows about proxy-wasm: the cdylib in `filter/wasm` reads headers and
//! bodies from Envoy, hands them to [`flow::RequestFlow`], and applies what it decides.
//! That keeps every decision unit-testable natively.

pub mod api;
pub mod auth;
pub mod classification;
pub mod config;
pub mod dryrun;
pub mod error;
pub mod fallback;
pub mod flow;
pub mod guardrails;
pub mod headers;
pub mod metrics;
pub mod pricing;
pub mod request;
pub mod secret;

pub use config::{compile, Compiled, ConfigError};
pub use error::{ErrorCode, GatewayError};
pub use flow::{BodyOutcome, ForwardPlan, HeadersOutcome, RequestFlow};

#[cfg(test)]
pub(crate) mod testutil;
