//! Text handling under the detectors: byte helpers, JSON string literals, normalisation.

pub(crate) mod bytes;
pub(crate) mod fold;
pub(crate) mod json;
pub mod normalize;
