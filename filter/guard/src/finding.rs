//! What a scan reports: a detector type name and a byte range, never the value.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One detected item. Offsets are a byte range of the ORIGINAL text (on character
/// boundaries); the value itself is never stored, so `Debug`/`Display` are safe to log.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Finding {
    /// Stable type name: a built-in (`email`, `phone`, `us_ssn`, `credit_card`, `iban`,
    /// `ip_address`, `secret`), a custom detector's name, or `marker:<classification>`.
    pub kind: String,
    /// Start byte offset in the original text.
    pub start: usize,
    /// End byte offset (exclusive) in the original text.
    pub end: usize,
}

impl Finding {
    /// For a classification marker finding, the classification it declares.
    pub fn marker_classification(&self) -> Option<Classification> {
        let name = self.kind.strip_prefix(MARKER_PREFIX)?;
        Classification::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// Whether this finding is a classification marker (not a value to redact).
    pub fn is_marker(&self) -> bool {
        self.kind.starts_with(MARKER_PREFIX)
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}..{}", self.kind, self.start, self.end)
    }
}

/// Prefix of marker finding kinds: `marker:confidential`.
pub const MARKER_PREFIX: &str = "marker:";

/// The security team's data classifications, in order of sensitivity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Classification {
    /// Public.
    Public,
    /// Internal.
    Internal,
    /// Confidential.
    Confidential,
    /// Restricted.
    Restricted,
}

impl Classification {
    /// All classifications, least sensitive first.
    pub const ALL: [Classification; 4] = [
        Classification::Public,
        Classification::Internal,
        Classification::Confidential,
        Classification::Restricted,
    ];

    /// The classification named `name` (lowercase), if any.
    pub fn parse(name: &str) -> Option<Self> {
        Classification::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The lowercase name (`confidential`).
    pub fn as_str(self) -> &'static str {
        match self {
            Classification::Public => "public",
            Classification::Internal => "internal",
            Classification::Confidential => "confidential",
            Classification::Restricted => "restricted",
        }
    }

    /// The finding kind of a marker declaring this classification.
    pub fn marker_kind(self) -> &'static str {
        match self {
            Classification::Public => "marker:public",
            Classification::Internal => "marker:internal",
            Classification::Confidential => "marker:confidential",
            Classification::Restricted => "marker:restricted",
        }
    }
}

/// The built-in detectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Builtin {
    /// `email`
    Email,
    /// `phone`
    Phone,
    /// `us_ssn`
    UsSsn,
    /// `credit_card`
    CreditCard,
    /// `iban`
    Iban,
    /// `ip_address`
    IpAddress,
    /// `secret`
    Secret,
}

impl Builtin {
    /// All built-in detectors.
    pub const ALL: [Builtin; 7] = [
        Builtin::Email,
        Builtin::Phone,
        Builtin::UsSsn,
        Builtin::CreditCard,
        Builtin::Iban,
        Builtin::IpAddress,
        Builtin::Secret,
    ];

    /// The stable type name.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Email => "email",
            Builtin::Phone => "phone",
            Builtin::UsSsn => "us_ssn",
            Builtin::CreditCard => "credit_card",
            Builtin::Iban => "iban",
            Builtin::IpAddress => "ip_address",
            Builtin::Secret => "secret",
        }
    }

    /// Looks a detector up by type name.
    pub fn from_name(name: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.name() == name)
    }

    /// Tie-break when two findings of equal length overlap: the more sensitive wins.
    pub(crate) fn rank(self) -> u8 {
        match self {
            Builtin::Secret => 7,
            Builtin::CreditCard => 6,
            Builtin::UsSsn => 5,
            Builtin::Iban => 4,
            Builtin::Phone => 3,
            Builtin::Email => 2,
            Builtin::IpAddress => 1,
        }
    }

    pub(crate) fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// Rank of a kind name for overlap tie-breaks (custom detectors and markers rank lowest).
pub(crate) fn kind_rank(kind: &str) -> u8 {
    Builtin::from_name(kind).map_or(0, Builtin::rank)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_display_has_no_value() {
        for b in Builtin::ALL {
            assert_eq!(Builtin::from_name(b.name()), Some(b));
        }
        let f = Finding {
            kind: "marker:restricted".into(),
            start: 3,
            end: 9,
        };
        assert_eq!(f.marker_classification(), Some(Classification::Restricted));
        assert!(f.is_marker());
        assert_eq!(f.to_string(), "marker:restricted@3..9");
        assert_eq!(
            format!("{f:?}"),
            "Finding { kind: \"marker:restricted\", start: 3, end: 9 }"
        );
        for c in Classification::ALL {
            assert_eq!(c.marker_kind(), format!("marker:{}", c.as_str()));
        }
    }
}
