//! The shared counters: Limitador's Redis storage, with a deadline on every call.
//!
//! A check that cannot reach Redis in time is an error, which the gRPC layer reports as
//! `UNAVAILABLE`, so Envoy applies the failure mode configured for that kind of limit. A
//! charge that cannot reach Redis is kept in a bounded backlog and applied when Redis
//! answers again, so counts resume where they were.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures_util::future::{join_all, try_join_all};
use limitador::counter::Counter;
use limitador::limit::Limit;
use limitador::storage::redis::AsyncRedisStorage;
use limitador::storage::{AsyncCounterStorage, Authorization};

use crate::metrics::Metrics;
use crate::table::{Family, Scope};
use crate::windows::{span, Calendar};

/// Charges kept while Redis is unreachable; beyond this the oldest are dropped (and counted).
pub const MAX_BACKLOG: usize = 100_000;

#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One counter of one scope, in the window `now` falls in.
#[derive(Debug, Clone)]
pub struct Slot {
    pub scope: Scope,
    pub family: Family,
    /// The configured limit; `None` counts without limiting.
    pub limit: Option<u64>,
    /// The calendar window's name, for budgets.
    pub window: Option<String>,
    /// Seconds until the window resets (budgets: from the calendar; minutes: from Redis).
    pub resets_in: u64,
}

/// What a counter holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    pub used: u64,
    /// Seconds until the window resets.
    pub resets_in: u64,
}

/// How long a report (`GET /v1/gateway/usage`, `/metrics`) waits for Redis. The admission
/// path's bound (`--redis-timeout-ms`, 40 ms by default) sits inside Envoy's rate-limit
/// timeout and has a failure mode behind it; a report has neither, and nobody's model call
/// waits on it. On a loaded host a read can take longer than 40 ms, and refusing a
/// developer's usage page with a 503 for that would be wrong; a Redis that is really down
/// still answers 503 within this bound.
pub const REPORT_TIMEOUT: Duration = Duration::from_secs(1);

pub struct Store {
    url: String,
    storage: RwLock<Option<AsyncRedisStorage>>,
    timeout: Duration,
    backlog: Mutex<VecDeque<(Counter, i64)>>,
    metrics: Arc<Metrics>,
}

impl Slot {
    pub fn new(scope: &Scope, family: Family, limit: Option<u64>, now_ms: i64, offset_minutes: i32) -> Slot {
        let (window, resets_in) = match family {
            Family::Spend(cal) => {
                let s = span(cal, now_ms, offset_minutes);
                let r = s.resets_in_seconds(now_ms);
                (Some(s.id), r)
            }
            Family::Requests | Family::Tokens => (None, 60),
        };
        Slot {
            scope: scope.clone(),
            family,
            limit,
            window,
            resets_in,
        }
    }

    /// The Limitador counter. Minute windows are Limitador's (a 60 s TTL from the first
    /// hit); calendar windows are a variable in the key, so midnight starts a new counter.
    fn counter(&self) -> Counter {
        let max = self.limit.map_or(i64::MAX, |m| i64::try_from(m).unwrap_or(i64::MAX));
        let (seconds, vars): (u64, Vec<&str>) = match self.family {
            Family::Spend(cal) => (cal.ttl_seconds(), vec!["window"]),
            Family::Requests | Family::Tokens => (60, vec![]),
        };
        let limit = Limit::new(
            self.scope.namespace(self.family),
            max,
            seconds,
            Vec::<&str>::new(),
            vars,
        );
        let mut values = HashMap::new();
        if let Some(w) = &self.window {
            values.insert("window".to_string(), w.clone());
        }
        Counter::new(limit, values)
    }
}

fn reading(slot: &Slot, c: &Counter) -> Reading {
    let max = c.max_value();
    let used = max.saturating_sub(c.remaining().unwrap_or(max)).max(0);
    let resets_in = match slot.family {
        Family::Spend(_) => slot.resets_in,
        // Redis's TTL of the minute window; a counter not yet started resets in a minute.
        Family::Requests | Family::Tokens => c
            .expires_in()
            .map_or(60, |d| d.as_millis().div_ceil(1000).clamp(1, 60) as u64),
    };
    Reading {
        used: u64::try_from(used).unwrap_or(0),
        resets_in,
    }
}

impl Store {
    pub fn new(url: String, timeout: Duration, metrics: Arc<Metrics>) -> Store {
        Store {
            url,
            storage: RwLock::new(None),
            timeout,
            backlog: Mutex::new(VecDeque::new()),
            metrics,
        }
    }

    /// Connects (Limitador's connection manager reconnects by itself afterwards).
    pub async fn connect(&self) -> Result<(), StoreError> {
        let s = tokio::time::timeout(Duration::from_secs(2), AsyncRedisStorage::new(&self.url))
            .await
            .map_err(|_| StoreError("timed out connecting to Redis".into()))?
            .map_err(|e| StoreError(format!("cannot connect to Redis: {e}")))?;
        if let Ok(mut g) = self.storage.write() {
            *g = Some(s);
        }
        Ok(())
    }

    pub fn connected(&self) -> bool {
        self.storage.read().map(|g| g.is_some()).unwrap_or(false)
    }

    fn storage(&self) -> Result<AsyncRedisStorage, StoreError> {
        let g = self
            .storage
            .read()
            .map_err(|_| StoreError("storage lock poisoned".into()))?;
        g.clone().ok_or_else(|| StoreError("not connected to Redis yet".into()))
    }

    async fn deadline<T, E: std::fmt::Display>(
        &self,
        what: &str,
        f: impl Future<Output = Result<T, E>>,
    ) -> Result<T, StoreError> {
        self.within(self.timeout, what, f).await
    }

    /// The bound of a report's read: at least [`REPORT_TIMEOUT`], or the admission bound if
    /// that is longer.
    fn report_timeout(&self) -> Duration {
        self.timeout.max(REPORT_TIMEOUT)
    }

    async fn within<T, E: std::fmt::Display>(
        &self,
        timeout: Duration,
        what: &str,
        f: impl Future<Output = Result<T, E>>,
    ) -> Result<T, StoreError> {
        let r = match tokio::time::timeout(timeout, f).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(StoreError(format!("{what}: {e}"))),
            Err(_) => Err(StoreError(format!("{what}: Redis did not answer within {timeout:?}"))),
        };
        if r.is_err() {
            self.metrics.storage_error();
        }
        r
    }

    /// Reads the slots' counters (one Redis round trip for the values, and a no-op write that
    /// starts a window not yet started).
    pub async fn read(&self, slots: &[Slot]) -> Result<Vec<Reading>, StoreError> {
        self.read_within(self.timeout, slots).await
    }

    /// [`Store::read`] for a report (`GET /v1/gateway/usage`, `/metrics`), bounded by
    /// [`Store::report_timeout`] rather than the admission bound.
    pub async fn read_for_report(&self, slots: &[Slot]) -> Result<Vec<Reading>, StoreError> {
        self.read_within(self.report_timeout(), slots).await
    }

    async fn read_within(&self, timeout: Duration, slots: &[Slot]) -> Result<Vec<Reading>, StoreError> {
        if slots.is_empty() {
            return Ok(Vec::new());
        }
        let storage = self.storage()?;
        let mut counters: Vec<Counter> = slots.iter().map(Slot::counter).collect();
        // Over a limit or not, the values are loaded into the counters.
        self.within(timeout, "read counters", async {
            storage.check_and_update(&mut counters, 0, true).await.map(|_| ())
        })
        .await?;
        Ok(slots.iter().zip(&counters).map(|(s, c)| reading(s, c)).collect())
    }

    /// Whether each slot has room for its amount: one GET per slot, all at once (one round
    /// trip on the multiplexed connection), nothing written. The budget check's fast path; a
    /// refusal then reads the numbers it names ([`Store::read`]).
    pub async fn fits(&self, slots: &[(Slot, u64)]) -> Result<bool, StoreError> {
        if slots.is_empty() {
            return Ok(true);
        }
        let storage = self.storage()?;
        let counters: Vec<(Counter, i64)> = slots
            .iter()
            .map(|(s, n)| (s.counter(), i64::try_from(*n).unwrap_or(i64::MAX)))
            .collect();
        let each = counters.iter().map(|(c, n)| storage.is_within_limits(c, *n));
        let all = self
            .deadline("check a budget", async { try_join_all(each).await })
            .await?;
        Ok(all.into_iter().all(|fits| fits))
    }

    /// Adds 1 to every slot unless one of them would go over its limit; returns the readings
    /// after the addition, or the first slot that was full.
    pub async fn take_one(&self, slots: &[Slot]) -> Result<Result<Vec<Reading>, usize>, StoreError> {
        if slots.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        let storage = self.storage()?;
        let mut counters: Vec<Counter> = slots.iter().map(Slot::counter).collect();
        let auth = self
            .deadline("count a request", storage.check_and_update(&mut counters, 1, true))
            .await?;
        let readings: Vec<Reading> = slots.iter().zip(&counters).map(|(s, c)| reading(s, c)).collect();
        match auth {
            Authorization::Ok => Ok(Ok(readings)),
            Authorization::Limited(_) => {
                let full = counters
                    .iter()
                    .position(|c| c.remaining().is_some_and(|r| r < 0))
                    .unwrap_or(0);
                Ok(Err(full))
            }
        }
    }

    /// Takes back a [`Store::take_one`] whose request was refused by another limit.
    pub async fn give_back_one(&self, slots: &[Slot]) -> Result<(), StoreError> {
        let storage = self.storage()?;
        for s in slots {
            let c = s.counter();
            self.deadline("return a request", storage.update_counter(&c, -1))
                .await?;
        }
        Ok(())
    }

    /// Adds `amount` to every slot, all at once; the charges that fail wait in the backlog.
    pub async fn charge(&self, slots: &[Slot], amount: u64) {
        let delta = i64::try_from(amount).unwrap_or(i64::MAX);
        let counters: Vec<Counter> = slots.iter().map(Slot::counter).collect();
        let storage = match self.storage() {
            Ok(s) => s,
            Err(_) => {
                self.queue(counters.into_iter().map(|c| (c, delta)));
                return;
            }
        };
        let each = counters
            .iter()
            .map(|c| self.deadline("charge", storage.update_counter(c, delta)));
        let results = join_all(each).await;
        let mut failed = Vec::new();
        for (c, r) in counters.iter().zip(results) {
            if let Err(e) = r {
                if failed.is_empty() {
                    eprintln!("genai-ratelimit: {e}; the charge waits for Redis");
                }
                failed.push((c.clone(), delta));
            }
        }
        self.metrics.charged(counters.len() - failed.len());
        if !failed.is_empty() {
            self.queue(failed.into_iter());
        }
    }

    fn queue(&self, items: impl Iterator<Item = (Counter, i64)>) {
        if let Ok(mut q) = self.backlog.lock() {
            for item in items {
                if q.len() >= MAX_BACKLOG {
                    q.pop_front();
                    self.metrics.charge_dropped();
                }
                q.push_back(item);
            }
            self.metrics.set_backlog(q.len());
        }
    }

    /// Applies queued charges while Redis answers; called periodically.
    pub async fn replay(&self) {
        loop {
            let next = self.backlog.lock().ok().and_then(|mut q| q.pop_front());
            let Some((c, delta)) = next else {
                self.metrics.set_backlog(0);
                return;
            };
            let storage = match self.storage() {
                Ok(s) => s,
                Err(_) => {
                    self.queue(std::iter::once((c, delta)));
                    return;
                }
            };
            if self
                .deadline("replay a charge", storage.update_counter(&c, delta))
                .await
                .is_err()
            {
                // Put it back at the front, and try again later.
                if let Ok(mut q) = self.backlog.lock() {
                    q.push_front((c, delta));
                    self.metrics.set_backlog(q.len());
                }
                return;
            }
            self.metrics.charged(1);
        }
    }
}

/// The slots of one scope's budgets (only those configured).
pub fn budget_slots(scope: &Scope, limits: &genai_policy::config::Limits, now_ms: i64, offset: i32) -> Vec<Slot> {
    [Calendar::Day, Calendar::Month]
        .into_iter()
        .filter_map(|cal| {
            let family = Family::Spend(cal);
            family
                .limit_in(limits)
                .map(|l| Slot::new(scope, family, Some(l), now_ms, offset))
        })
        .collect()
}
