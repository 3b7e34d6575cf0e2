//! Redaction with typed, numbered placeholders: `[EMAIL_1]`, `[CREDIT_CARD_2]`.

use crate::engine::{Engine, Finding};
use crate::kind::Kind;
use crate::overlap;
use crate::text::normalize::normalize;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// Placeholder numbering for one request: the next number per kind, and which number each
/// value got (by kind and a 64-bit hash of the value's canonical form, never the value), so
/// the same value gets the same placeholder everywhere in the request, whether written
/// `4111 1111 1111 1111` or `4111-1111-1111-1111`.
#[derive(Debug, Default)]
pub struct Placeholders {
    next: HashMap<Kind, u32>,
    given: HashMap<(Kind, u64), u32>,
}

impl Placeholders {
    /// The placeholder for `value` (as inspected, normalised) of `kind`, named `name`.
    pub fn placeholder(&mut self, kind: Kind, name: &str, value: &str) -> String {
        let mut h = DefaultHasher::new();
        canonical(kind, value).hash(&mut h);
        let key = (kind, h.finish());
        let n = match self.given.get(&key) {
            Some(&n) => n,
            None => {
                let next = self.next.entry(kind).or_insert(0);
                *next = next.saturating_add(1);
                let n = *next;
                self.given.insert(key, n);
                n
            }
        };
        let mut out = String::with_capacity(name.len() + 6);
        out.push('[');
        out.extend(name.chars().map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        }));
        out.push('_');
        out.push_str(&n.to_string());
        out.push(']');
        out
    }
}

/// Which of overlapping findings are redacted: the longest, then the most sensitive.
pub fn resolve_overlaps(findings: &[Finding]) -> Vec<Finding> {
    let valid: Vec<Finding> = findings.iter().copied().filter(|f| f.start < f.end).collect();
    overlap::resolve(valid, |f| (f.start, f.end), |f| f.kind.rank())
}

/// The form in which two writings of one value compare equal.
fn canonical(kind: Kind, value: &str) -> String {
    use crate::kind::Builtin;
    match kind {
        Kind::Builtin(Builtin::CreditCard | Builtin::UsSsn | Builtin::Phone | Builtin::Iban) => value
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .collect(),
        Kind::Builtin(Builtin::Email | Builtin::IpAddress) => value.to_lowercase(),
        _ => value.to_owned(),
    }
}

impl Engine {
    /// Replaces each finding (offsets in `text`, as [`Engine::scan`] returns them) with its
    /// placeholder. Overlapping findings: the longest wins, then the most sensitive.
    /// Findings outside `text` or off character boundaries are ignored. Filter out marker
    /// findings first if the markers should stay.
    pub fn redact(&self, text: &str, findings: &[Finding], placeholders: &mut Placeholders) -> String {
        let valid: Vec<Finding> = findings
            .iter()
            .copied()
            .filter(|f| f.start < f.end && text.get(f.start..f.end).is_some())
            .collect();
        let kept = resolve_overlaps(&valid);
        let mut out = String::with_capacity(text.len());
        let mut pos = 0;
        for f in kept {
            let (Some(before), Some(value)) = (text.get(pos..f.start), text.get(f.start..f.end)) else {
                continue;
            };
            out.push_str(before);
            let norm = normalize(value);
            out.push_str(&placeholders.placeholder(f.kind, self.kind_name(f.kind), norm.as_str()));
            pos = f.end;
        }
        out.push_str(text.get(pos..).unwrap_or_default());
        out
    }
}
