//! Envoy stats for the policy's metric points. Each series is defined once per VM, on
//! first use, and its id cached: the only state kept besides the configuration.

use std::cell::RefCell;
use std::collections::HashMap;

use genai_policy::metrics::{Kind, Point};
use proxy_wasm::types::{LogLevel, MetricType};

use crate::host;

#[derive(Default)]
pub struct Metrics {
    ids: RefCell<HashMap<String, u32>>,
}

impl Metrics {
    pub fn emit(&self, points: &[Point]) {
        for p in points {
            let name = p.stat_name();
            let id = match self.id(&name, p.kind) {
                Some(id) => id,
                None => continue,
            };
            let result = match p.kind {
                Kind::Counter => host::increment_metric(id, p.value),
                Kind::Histogram | Kind::Gauge => host::record_metric(id, p.value),
            };
            if let Err(e) = result {
                host::log(
                    LogLevel::Warn,
                    &format!("genai filter: cannot update metric {name} (host status {})", e.0),
                );
            }
        }
    }

    fn id(&self, name: &str, kind: Kind) -> Option<u32> {
        if let Some(id) = self.ids.borrow().get(name) {
            return Some(*id);
        }
        let kind = match kind {
            Kind::Counter => MetricType::Counter,
            Kind::Histogram => MetricType::Histogram,
            Kind::Gauge => MetricType::Gauge,
        };
        match host::define_metric(kind, name) {
            Ok(id) => {
                self.ids.borrow_mut().insert(name.to_string(), id);
                Some(id)
            }
            Err(e) => {
                host::log(
                    LogLevel::Warn,
                    &format!("genai filter: cannot define metric {name} (host status {})", e.0),
                );
                None
            }
        }
    }
}
