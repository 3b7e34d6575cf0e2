//! Envoy stats for the policy's metrics. Each series is defined once per VM, on first use,
//! and its id kept: the metrics every request updates under an integer key (the metric, and
//! team, model and provider as indices into the configuration), so a request's metrics cost
//! one host call per update and no string building; the rarer ones (guardrail triggers,
//! budgets) under their names.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use genai_policy::metrics::{Kind, Outcome, Point, SeriesKey};

use crate::host::{self, Host, LogLevel, MetricType};

/// A multiplicative hash for small integer keys (FxHash's): SipHash's resistance to chosen
/// keys is not needed for keys the configuration bounds.
#[derive(Default)]
struct IntHasher(u64);

impl Hasher for IntHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

#[derive(Default)]
pub struct Metrics {
    by_key: RefCell<HashMap<SeriesKey, u32, BuildHasherDefault<IntHasher>>>,
    by_name: RefCell<HashMap<String, u32>>,
    /// The linear memory last reported by `genai_vm_memory_bytes`.
    memory_reported: Cell<u64>,
}

/// The gauge of the VM's linear memory (docs/metrics.md).
const VM_MEMORY: &str = "genai_vm_memory_bytes";

impl Metrics {
    /// Reports the VM's linear memory when it has grown since the last report: no host call
    /// while it stays the same (it never shrinks, so the gauge is also the VM's peak).
    pub fn note_memory(&self, host: &dyn Host) {
        let bytes = host.memory_bytes();
        if bytes <= self.memory_reported.get() {
            return;
        }
        self.memory_reported.set(bytes);
        self.emit(
            host,
            &[Point {
                kind: Kind::Gauge,
                name: VM_MEMORY,
                labels: Vec::new(),
                value: bytes,
            }],
        );
    }

    /// A finished request's metrics.
    pub fn emit_outcome(&self, host: &dyn Host, outcome: &Outcome) {
        outcome.for_each_update(|u| {
            let cached = self.by_key.borrow().get(&u.key).copied();
            let id = match cached {
                Some(id) => id,
                None => {
                    let point = outcome.render(&u);
                    let Some(id) = self.define(host, &point.stat_name(), point.kind) else {
                        return;
                    };
                    self.by_key.borrow_mut().insert(u.key, id);
                    id
                }
            };
            update(host, id, u.key.metric.kind(), u.value);
        });
        self.emit(host, &outcome.extra_points());
    }

    /// Named points (defined on first use of the name).
    pub fn emit(&self, host: &dyn Host, points: &[Point]) {
        for p in points {
            let name = p.stat_name();
            let cached = self.by_name.borrow().get(&name).copied();
            let id = match cached {
                Some(id) => id,
                None => {
                    let Some(id) = self.define(host, &name, p.kind) else {
                        continue;
                    };
                    self.by_name.borrow_mut().insert(name, id);
                    id
                }
            };
            update(host, id, p.kind, p.value);
        }
    }

    fn define(&self, host: &dyn Host, name: &str, kind: Kind) -> Option<u32> {
        let kind = match kind {
            Kind::Counter => MetricType::Counter,
            Kind::Histogram => MetricType::Histogram,
            Kind::Gauge => MetricType::Gauge,
        };
        match host.define_metric(kind, name) {
            Ok(id) => Some(id),
            Err(e) => {
                let msg = format!("genai filter: cannot define metric {name} (host status {})", e.0);
                host::log(host, LogLevel::Warn, &msg);
                None
            }
        }
    }
}

fn update(host: &dyn Host, id: u32, kind: Kind, value: u64) {
    let result = match kind {
        Kind::Counter => host.increment_metric(id, value),
        Kind::Histogram | Kind::Gauge => host.record_metric(id, value),
    };
    if let Err(e) = result {
        let msg = format!("genai filter: cannot update metric {id} (host status {})", e.0);
        host::log(host, LogLevel::Warn, &msg);
    }
}
