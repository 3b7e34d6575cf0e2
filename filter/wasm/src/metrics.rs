//! Envoy stats for the policy's metric points. Each series is defined once per VM, on
//! first use, and its id cached: the only state kept besides the configuration.

use std::cell::RefCell;
use std::collections::HashMap;

use genai_policy::metrics::{Kind, Point};

use crate::host::{self, Host, LogLevel, MetricType};

#[derive(Default)]
pub struct Metrics {
    ids: RefCell<HashMap<String, u32>>,
}

impl Metrics {
    pub fn emit(&self, host: &dyn Host, points: &[Point]) {
        for p in points {
            let name = p.stat_name();
            let id = match self.id(host, &name, p.kind) {
                Some(id) => id,
                None => continue,
            };
            let result = match p.kind {
                Kind::Counter => host.increment_metric(id, p.value),
                Kind::Histogram | Kind::Gauge => host.record_metric(id, p.value),
            };
            if let Err(e) = result {
                let msg = format!("genai filter: cannot update metric {name} (host status {})", e.0);
                host::log(host, LogLevel::Warn, &msg);
            }
        }
    }

    fn id(&self, host: &dyn Host, name: &str, kind: Kind) -> Option<u32> {
        if let Some(id) = self.ids.borrow().get(name) {
            return Some(*id);
        }
        let kind = match kind {
            Kind::Counter => MetricType::Counter,
            Kind::Histogram => MetricType::Histogram,
            Kind::Gauge => MetricType::Gauge,
        };
        match host.define_metric(kind, name) {
            Ok(id) => {
                self.ids.borrow_mut().insert(name.to_string(), id);
                Some(id)
            }
            Err(e) => {
                let msg = format!("genai filter: cannot define metric {name} (host status {})", e.0);
                host::log(host, LogLevel::Warn, &msg);
                None
            }
        }
    }
}
