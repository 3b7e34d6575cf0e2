//! Decides one rate limit request: charges first, then the admission checks.
//!
//! - Requests per minute: counted at admission (all scopes at once, or none).
//! - Tokens per minute: admission checks that the prompt's estimate fits in what remains;
//!   the request's real tokens are charged at stream end.
//! - Budgets: admission checks, without charging, that the request's worst-case cost fits
//!   in what remains of each budget; the real cost is charged at stream end to the day and
//!   the month. Concurrent requests see spend as of their check, so together they can
//!   overshoot by about (concurrency - 1) × request cost.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use crate::descriptors::{Item, Parsed, Purpose};
use crate::metrics::Metrics;
use crate::refusal::{RateHeaders, Refusal};
use crate::store::{budget_slots, Reading, Slot, Store, StoreError};
use crate::table::{Family, Scope, Table};
use crate::windows::{Calendar, Clock};

pub struct Engine {
    pub table: RwLock<Arc<Table>>,
    pub store: Store,
    pub clock: Clock,
    pub metrics: Arc<Metrics>,
    last_error_log_ms: AtomicI64,
}

pub enum Decision {
    Ok(RateHeaders),
    Over(Refusal, RateHeaders),
}

impl Engine {
    pub fn new(table: Table, store: Store, clock: Clock, metrics: Arc<Metrics>) -> Engine {
        Engine {
            table: RwLock::new(Arc::new(table)),
            store,
            clock,
            metrics,
            last_error_log_ms: AtomicI64::new(0),
        }
    }

    pub fn table(&self) -> Arc<Table> {
        self.table.read().map(|t| Arc::clone(&t)).unwrap_or_default()
    }

    pub fn set_table(&self, t: Table) {
        if let Ok(mut g) = self.table.write() {
            *g = Arc::new(t);
        }
    }

    /// Logs a storage failure at most once a second (each one is counted anyway).
    pub fn log_error(&self, e: &StoreError) {
        let now = self.clock.now_ms();
        let last = self.last_error_log_ms.load(Ordering::Relaxed);
        if now - last >= 1000 {
            self.last_error_log_ms.store(now, Ordering::Relaxed);
            eprintln!("genai-ratelimit: cannot decide, Redis unavailable ({e}); Envoy applies the failure mode");
        }
    }

    pub async fn decide(&self, parsed: &Parsed) -> Result<Decision, StoreError> {
        let table = self.table();
        let now = self.clock.now_ms();
        let offset = table.budget_utc_offset_minutes;
        let slot = |scope: &Scope, family: Family| -> Option<Slot> {
            let limits = table.limits(scope)?;
            Some(Slot::new(scope, family, family.limit_in(&limits), now, offset))
        };

        // Stream-end charges: fire and forget (they wait in the backlog if Redis is down).
        for item in parsed.items.iter().filter(|i| i.purpose.is_charge()) {
            let slots: Vec<Slot> = match item.purpose {
                Purpose::TokensCharge => slot(&item.scope, Family::Tokens).into_iter().collect(),
                _ => [Calendar::Day, Calendar::Month]
                    .into_iter()
                    .filter_map(|c| slot(&item.scope, Family::Spend(c)))
                    .collect(),
            };
            if !slots.is_empty() {
                self.store.charge(&slots, item.amount).await;
            }
        }

        let of = |p: Purpose| parsed.items.iter().filter(move |i: &&Item| i.purpose == p);
        let mut rate = RateHeaders::default();

        // Budgets: worst case against what remains, nothing charged.
        let mut budget: Vec<(Slot, u64)> = Vec::new();
        for item in of(Purpose::BudgetCheck) {
            if let Some(limits) = table.limits(&item.scope) {
                budget.extend(
                    budget_slots(&item.scope, &limits, now, offset)
                        .into_iter()
                        .map(|s| (s, item.amount)),
                );
            }
        }
        // Fast path: every budget has room (one round trip, nothing written); only a refusal
        // reads the numbers its message names.
        if !budget.is_empty() && !self.store.fits(&budget).await? {
            let slots: Vec<Slot> = budget.iter().map(|(s, _)| s.clone()).collect();
            let readings = self.store.read(&slots).await?;
            let mut worst: Option<Refusal> = None;
            for ((slot, needed), r) in budget.iter().zip(&readings) {
                let Some(limit) = slot.limit else { continue };
                if r.used.saturating_add(*needed) > limit {
                    let refusal = Refusal {
                        scope: slot.scope.clone(),
                        family: slot.family,
                        limit,
                        used: r.used,
                        needed: *needed,
                        resets_in: r.resets_in,
                    };
                    // The window that frees the budget last is the one worth waiting for.
                    if worst.as_ref().is_none_or(|w| refusal.resets_in > w.resets_in) {
                        worst = Some(refusal);
                    }
                }
            }
            if let Some(r) = worst {
                return Ok(self.refuse(r, rate));
            }
        }

        // Requests (counted now) and tokens (checked now, charged at the end).
        let rpm: Vec<Slot> = of(Purpose::Requests)
            .filter_map(|i| slot(&i.scope, Family::Requests))
            .collect();
        let tpm: Vec<(Slot, u64)> = of(Purpose::TokensCheck)
            .filter_map(|i| slot(&i.scope, Family::Tokens).map(|s| (s, i.amount)))
            .collect();
        let tpm_slots: Vec<Slot> = tpm.iter().map(|(s, _)| s.clone()).collect();
        let (taken, tokens) = tokio::join!(self.store.take_one(&rpm), self.store.read(&tpm_slots));
        let (taken, tokens) = (taken?, tokens?);
        let requests: Vec<Reading> = match taken {
            Ok(r) => r,
            Err(full) => {
                let Some(s) = rpm.get(full) else {
                    return Err(StoreError("a full counter that was not asked for".into()));
                };
                let limit = s.limit.unwrap_or(0);
                let resets_in = self
                    .store
                    .read(std::slice::from_ref(s))
                    .await
                    .map_or(60, |r| r.first().map_or(60, |x| x.resets_in));
                RateHeaders::offer(&mut rate.requests, limit, 0, resets_in);
                let r = Refusal {
                    scope: s.scope.clone(),
                    family: Family::Requests,
                    limit,
                    used: limit,
                    needed: 1,
                    resets_in,
                };
                return Ok(self.refuse(r, rate));
            }
        };
        for (s, r) in rpm.iter().zip(&requests) {
            if let Some(limit) = s.limit {
                RateHeaders::offer(&mut rate.requests, limit, limit.saturating_sub(r.used), r.resets_in);
            }
        }
        for ((s, needed), r) in tpm.iter().zip(&tokens) {
            let Some(limit) = s.limit else { continue };
            RateHeaders::offer(&mut rate.tokens, limit, limit.saturating_sub(r.used), r.resets_in);
            if r.used.saturating_add(*needed) > limit {
                // Refused after all: the request it counted does not count.
                if let Err(e) = self.store.give_back_one(&rpm).await {
                    self.log_error(&e);
                }
                let r = Refusal {
                    scope: s.scope.clone(),
                    family: Family::Tokens,
                    limit,
                    used: r.used,
                    needed: *needed,
                    resets_in: r.resets_in,
                };
                return Ok(self.refuse(r, rate));
            }
        }
        self.metrics.check("ok");
        Ok(Decision::Ok(rate))
    }

    fn refuse(&self, r: Refusal, rate: RateHeaders) -> Decision {
        let team = match &r.scope {
            Scope::Team(t) | Scope::Key { team: t, .. } => t.as_str(),
            Scope::Workload(w) => w.as_str(),
        };
        self.metrics.check("over_limit");
        self.metrics.rejected(team, r.family.limit_label());
        eprintln!("genai-ratelimit: over limit: {}", r.message());
        Decision::Over(r, rate)
    }
}

/// A team's fleet-wide numbers, for the usage endpoint and the metrics.
#[derive(Debug, Clone)]
pub struct TeamUsage {
    pub requests: Reading,
    pub tokens: Reading,
    pub day: Reading,
    pub month: Reading,
    pub day_window: String,
    pub month_window: String,
}

impl Engine {
    pub async fn team_usage(&self, table: &Table, team: &str) -> Result<Option<TeamUsage>, StoreError> {
        let scope = Scope::Team(team.to_string());
        let Some(limits) = table.limits(&scope) else {
            return Ok(None);
        };
        let now = self.clock.now_ms();
        let offset = table.budget_utc_offset_minutes;
        let families = [
            Family::Requests,
            Family::Tokens,
            Family::Spend(Calendar::Day),
            Family::Spend(Calendar::Month),
        ];
        let slots: Vec<Slot> = families
            .iter()
            .map(|f| Slot::new(&scope, *f, f.limit_in(&limits), now, offset))
            .collect();
        let r = self.store.read_for_report(&slots).await?;
        let get = |i: usize| r.get(i).copied().unwrap_or(Reading { used: 0, resets_in: 60 });
        let window = |i: usize| slots.get(i).and_then(|s| s.window.clone()).unwrap_or_default();
        Ok(Some(TeamUsage {
            requests: get(0),
            tokens: get(1),
            day: get(2),
            month: get(3),
            day_window: window(2),
            month_window: window(3),
        }))
    }
}
