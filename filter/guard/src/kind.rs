//! What a finding is: typed values (an enum of built-in detectors, custom detector indices,
//! markers with their classification). Names appear only at the edges (configuration, logs,
//! metrics), through [`Kind::name`] and the engine's names of custom detectors.

use serde::{Deserialize, Serialize};

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

    /// The finding kind name of a marker declaring this classification.
    pub fn marker_kind(self) -> &'static str {
        match self {
            Classification::Public => "marker:public",
            Classification::Internal => "marker:internal",
            Classification::Confidential => "marker:confidential",
            Classification::Restricted => "marker:restricted",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Prefix of marker kind names: `marker:confidential`.
pub const MARKER_PREFIX: &str = "marker:";

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

/// A custom detector: its index in the configuration's `custom_detectors`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CustomId(pub u16);

/// The type of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A built-in detector.
    Builtin(Builtin),
    /// A custom detector (keywords, patterns).
    Custom(CustomId),
    /// A classification marker (`CONFIDENTIAL`): declares a classification; not a value to
    /// redact.
    Marker(Classification),
}

impl Kind {
    /// Whether this is a classification marker.
    pub fn is_marker(self) -> bool {
        matches!(self, Kind::Marker(_))
    }

    /// The classification a marker declares.
    pub fn marker_classification(self) -> Option<Classification> {
        match self {
            Kind::Marker(c) => Some(c),
            _ => None,
        }
    }

    /// A dense index: built-ins, then markers, then custom detectors (for per-kind tables).
    pub fn index(self) -> usize {
        match self {
            Kind::Builtin(b) => b as usize,
            Kind::Marker(c) => Builtin::ALL.len() + c.index(),
            Kind::Custom(CustomId(i)) => Builtin::ALL.len() + Classification::ALL.len() + usize::from(i),
        }
    }

    /// Overlap tie-break: built-ins by sensitivity; custom detectors and markers lowest.
    pub(crate) fn rank(self) -> u8 {
        match self {
            Kind::Builtin(b) => b.rank(),
            Kind::Custom(_) | Kind::Marker(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_indices_are_dense() {
        for b in Builtin::ALL {
            assert_eq!(Builtin::from_name(b.name()), Some(b));
        }
        for c in Classification::ALL {
            assert_eq!(c.marker_kind(), format!("{MARKER_PREFIX}{}", c.as_str()));
            assert_eq!(Classification::parse(c.as_str()), Some(c));
        }
        let mut seen: Vec<usize> = Builtin::ALL
            .iter()
            .map(|&b| Kind::Builtin(b).index())
            .chain(Classification::ALL.iter().map(|&c| Kind::Marker(c).index()))
            .chain((0..3).map(|i| Kind::Custom(CustomId(i)).index()))
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..14).collect::<Vec<_>>());
    }
}
