//! Redaction with typed, numbered placeholders: `[EMAIL_1]`, `[CREDIT_CARD_2]`.

use crate::finding::{kind_rank, Finding};
use crate::normalize::normalize;
use crate::overlap;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// Replaces each finding in `text` with a placeholder `[KIND_N]` (the kind uppercased,
/// non-alphanumerics as `_`).
///
/// `counters` is per request and shared by all texts of the request: it holds the next
/// number per kind (key: the kind) and which number each value got (key: kind, NUL, and a
/// 64-bit hash of the value's canonical form — not the value), so the same value gets the
/// same placeholder everywhere in the request, whether written `4111 1111 1111 1111` or
/// `4111-1111-1111-1111`. Overlapping findings: the longest wins, then the most
/// sensitive. Findings with offsets outside `text` or off character boundaries are
/// ignored. Filter out marker findings first if the markers should stay.
pub fn redact(text: &str, findings: &[Finding], counters: &mut HashMap<String, u32>) -> String {
    let valid: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.start < f.end && text.get(f.start..f.end).is_some())
        .collect();
    let kept = overlap::resolve(valid, |f| (f.start, f.end), |f| kind_rank(&f.kind));

    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for f in kept {
        let (Some(before), Some(value)) = (text.get(pos..f.start), text.get(f.start..f.end)) else {
            continue;
        };
        out.push_str(before);
        let n = number_for(&f.kind, value, counters);
        out.push('[');
        out.extend(f.kind.chars().map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        }));
        out.push('_');
        out.push_str(&n.to_string());
        out.push(']');
        pos = f.end;
    }
    out.push_str(text.get(pos..).unwrap_or_default());
    out
}

fn number_for(kind: &str, value: &str, counters: &mut HashMap<String, u32>) -> u32 {
    let mut h = DefaultHasher::new();
    canonical(kind, value).hash(&mut h);
    let key = format!("{kind}\0{:016x}", h.finish());
    if let Some(&n) = counters.get(&key) {
        return n;
    }
    let next = counters.entry(kind.to_owned()).or_insert(0);
    *next = next.saturating_add(1);
    let n = *next;
    counters.insert(key, n);
    n
}

/// The form in which two writings of one value compare equal.
fn canonical(kind: &str, value: &str) -> String {
    let norm = normalize(value);
    let t = norm.as_str();
    match kind {
        "credit_card" | "us_ssn" | "phone" | "iban" => t
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .collect(),
        "email" | "ip_address" => t.to_lowercase(),
        _ => t.to_owned(),
    }
}
