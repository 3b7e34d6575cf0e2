//! Envoy's rate limit descriptors, as the shipped Envoy configuration builds them.
//!
//! Every descriptor starts with `genai=<purpose>` and names one scope:
//!
//! | descriptor | when | amount (`hits_addend`) |
//! | --- | --- | --- |
//! | `genai=rpm, team=T` (`, key=K`) / `genai=rpm, workload=W` | admission | 1, charged |
//! | `genai=tpm_check, team=T` ... | admission | the prompt's estimated tokens, checked, not charged |
//! | `genai=budget_check, team=T` ... | admission, only when a budget applies | the worst-case cost in micro-dollars, checked, not charged |
//! | `genai=tpm, team=T` ... | stream end | the request's tokens, charged |
//! | `genai=spend, team=T` ... | stream end | the request's cost in micro-dollars, charged to the day and the month |
//! | `genai_api=<api>` (`, genai_request_id=<x-request-id>`) | admission | none: the API a refusal's body is shaped for, and the request id it carries |

use envoy_types::pb::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
use envoy_types::pb::envoy::service::ratelimit::v3::RateLimitRequest;

use crate::table::Scope;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Requests,
    TokensCheck,
    BudgetCheck,
    TokensCharge,
    SpendCharge,
}

impl Purpose {
    fn parse(s: &str) -> Option<Purpose> {
        Some(match s {
            "rpm" => Purpose::Requests,
            "tpm_check" => Purpose::TokensCheck,
            "budget_check" => Purpose::BudgetCheck,
            "tpm" => Purpose::TokensCharge,
            "spend" => Purpose::SpendCharge,
            _ => return None,
        })
    }

    pub fn is_charge(self) -> bool {
        matches!(self, Purpose::TokensCharge | Purpose::SpendCharge)
    }
}

/// The client API a refusal answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Api {
    #[default]
    ChatCompletions,
    Messages,
    Responses,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub purpose: Purpose,
    pub scope: Scope,
    pub amount: u64,
}

impl Parsed {
    /// The scope of the admission descriptors, for the stream-end descriptors (dynamic
    /// metadata `genai_team`, `genai_key`, `genai_workload`).
    pub fn scope_metadata(&self) -> Vec<(&'static str, String)> {
        let mut out: Vec<(&'static str, String)> = Vec::new();
        let mut put = |k: &'static str, v: &str| {
            if !out.iter().any(|(key, _)| *key == k) {
                out.push((k, v.to_string()));
            }
        };
        for item in self.items.iter().filter(|i| !i.purpose.is_charge()) {
            match &item.scope {
                Scope::Team(t) => put("genai_team", t),
                Scope::Key { team, key } => {
                    put("genai_team", team);
                    put("genai_key", key);
                }
                Scope::Workload(w) => put("genai_workload", w),
            }
        }
        out
    }

    /// Whether this request checks a budget, a rate, or charges only.
    pub fn checks_budget(&self) -> bool {
        self.items.iter().any(|i| i.purpose == Purpose::BudgetCheck)
    }

    pub fn checks_rate(&self) -> bool {
        self.items
            .iter()
            .any(|i| matches!(i.purpose, Purpose::Requests | Purpose::TokensCheck))
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    pub api: Api,
    /// Envoy's `x-request-id` of the request, when its descriptors carry it.
    pub request_id: Option<String>,
    pub items: Vec<Item>,
    /// Descriptors this service does not know (answered OK, and logged at debug level).
    pub unknown: usize,
}

pub fn parse(req: &RateLimitRequest) -> Parsed {
    // The request-level amount; 0 means unset, which the protocol defines as 1.
    let default_amount = if req.hits_addend == 0 {
        1
    } else {
        u64::from(req.hits_addend)
    };
    let mut out = Parsed::default();
    for d in &req.descriptors {
        match parse_one(d, default_amount) {
            Some(One::Api(api, id)) => {
                out.api = api;
                out.request_id = id;
            }
            Some(One::Item(item)) => out.items.push(item),
            None => out.unknown += 1,
        }
    }
    out
}

enum One {
    Api(Api, Option<String>),
    Item(Item),
}

fn parse_one(d: &RateLimitDescriptor, default_amount: u64) -> Option<One> {
    let first = d.entries.first()?;
    if first.key == "genai_api" {
        let api = match first.value.as_str() {
            "messages" => Api::Messages,
            "responses" => Api::Responses,
            _ => Api::ChatCompletions,
        };
        // Envoy's x-request-id, for the refusal's body (Anthropic's shape carries one).
        let id = d
            .entries
            .iter()
            .skip(1)
            .find(|e| e.key == "genai_request_id")
            .map(|e| e.value.clone());
        return Some(One::Api(api, id));
    }
    if first.key != "genai" {
        return None;
    }
    let purpose = Purpose::parse(&first.value)?;
    let get = |k: &str| d.entries.iter().skip(1).find(|e| e.key == k).map(|e| e.value.clone());
    let scope = match (get("team"), get("key"), get("workload")) {
        (Some(team), Some(key), None) => Scope::Key { team, key },
        (Some(team), None, None) => Scope::Team(team),
        (None, None, Some(w)) => Scope::Workload(w),
        _ => return None,
    };
    let amount = d.hits_addend.map_or(default_amount, |h| h.value);
    Some(One::Item(Item { purpose, scope, amount }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::extensions::common::ratelimit::v3::rate_limit_descriptor::Entry;

    fn desc(entries: &[(&str, &str)], hits: Option<u64>) -> RateLimitDescriptor {
        RateLimitDescriptor {
            entries: entries
                .iter()
                .map(|(k, v)| Entry {
                    key: k.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            hits_addend: hits.map(|value| envoy_types::pb::google::protobuf::UInt64Value { value }),
            ..Default::default()
        }
    }

    #[test]
    fn reads_the_shipped_descriptors() {
        let req = RateLimitRequest {
            domain: "genai".into(),
            descriptors: vec![
                desc(&[("genai", "rpm"), ("team", "team-abc")], None),
                desc(&[("genai", "rpm"), ("team", "team-abc"), ("key", "batch")], None),
                desc(&[("genai", "tpm_check"), ("workload", "checkout")], Some(120)),
                desc(&[("genai_api", "messages"), ("genai_request_id", "req-1")], None),
                desc(&[("remote_address", "10.0.0.1")], None),
                desc(&[("genai", "nonsense"), ("team", "t")], None),
            ],
            hits_addend: 0,
        };
        let p = parse(&req);
        assert_eq!(p.api, Api::Messages);
        assert_eq!(p.request_id.as_deref(), Some("req-1"));
        assert_eq!(p.unknown, 2);
        assert_eq!(
            p.items,
            vec![
                Item {
                    purpose: Purpose::Requests,
                    scope: Scope::Team("team-abc".into()),
                    amount: 1
                },
                Item {
                    purpose: Purpose::Requests,
                    scope: Scope::Key {
                        team: "team-abc".into(),
                        key: "batch".into()
                    },
                    amount: 1
                },
                Item {
                    purpose: Purpose::TokensCheck,
                    scope: Scope::Workload("checkout".into()),
                    amount: 120
                },
            ]
        );
    }

    #[test]
    fn request_level_amount_applies_when_the_descriptor_has_none() {
        let req = RateLimitRequest {
            domain: "genai".into(),
            descriptors: vec![desc(&[("genai", "spend"), ("team", "t")], None)],
            hits_addend: 7,
        };
        assert_eq!(parse(&req).items[0].amount, 7);
        assert!(parse(&req).items[0].purpose.is_charge());
    }
}
