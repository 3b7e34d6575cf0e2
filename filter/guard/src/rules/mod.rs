//! Rules the engine matches from its automaton's hits: phrases (custom keywords, markers,
//! injection phrases), admin-written patterns, and hidden-text tricks. Each is linear by
//! construction (see the modules); none is run over the whole text on its own.

pub(crate) mod hidden;
pub mod pattern;
pub(crate) mod phrase;

/// An injection rule: index into the configuration's `injection_rules`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleId(pub u16);

/// An injection family (a rule's `family`, by default its name): index into
/// [`crate::Engine::families`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FamilyId(pub u16);

/// A compiled injection rule's identity (its phrases and patterns live in the engine).
#[derive(Debug, Clone)]
pub(crate) struct InjectionRule {
    pub name: String,
    pub family: FamilyId,
    pub score: f32,
    pub hidden: Option<crate::spec::HiddenText>,
}
