//! Configuration in two stages: strict serde structs ([`raw`]), then an immutable,
//! indexed form ([`Compiled`]) that the filter keeps in an `Arc` for its lifetime.

pub mod chains;
mod compile;
pub mod limits;
pub mod raw;

pub use chains::{RouteSpec, Timeouts};
pub use compile::{compile, Caller, Compiled, Credentials, Model, Provider, ProviderKind, Team};
pub use limits::{FailureMode, Key, Limits, RateLimiting, Workload};

use std::fmt;

/// A configuration problem, naming the field (`models[2].provider`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub field: String,
    pub problem: String,
}

impl ConfigError {
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "configuration: {}", self.problem)
        } else {
            write!(f, "configuration field `{}`: {}", self.field, self.problem)
        }
    }
}

impl std::error::Error for ConfigError {}
