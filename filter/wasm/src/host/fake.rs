//! A recording host for native tests: it keeps the request and response as Envoy would
//! (header maps, the current body buffer, filter state, stats) and writes every call the glue
//! makes into `calls`, one line each, in the order made. Tests pin those lines.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashSet};

use super::{BufferType, Host, HostError, HostResult, LogLevel, MapType, MetricType, BAD_ARGUMENT};

/// A local reply the glue sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub status: u32,
    pub details: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Default)]
pub struct FakeHost {
    /// Every call, as `name(arguments)`.
    pub calls: RefCell<Vec<String>>,
    pub request_headers: RefCell<Vec<(String, Vec<u8>)>>,
    pub response_headers: RefCell<Vec<(String, Vec<u8>)>>,
    /// The request body buffered so far (Envoy hands the whole buffered body to the filter).
    pub request_body: RefCell<Vec<u8>>,
    /// The current response chunk.
    pub response_body: RefCell<Vec<u8>>,
    pub plugin_configuration: RefCell<Vec<u8>>,
    /// Filter state set by the glue (`wasm.<name>`), and readable properties.
    pub properties: RefCell<BTreeMap<String, Vec<u8>>>,
    pub clock_ms: Cell<u64>,
    /// Defined stats by id, and their values (counters summed, gauges and histograms: last).
    pub stats: RefCell<Vec<(String, MetricType, u64)>>,
    pub sent: RefCell<Option<Sent>>,
    pub logs: RefCell<Vec<(LogLevel, String)>>,
    pub env: RefCell<BTreeMap<String, String>>,
    pub tick_period_ms: Cell<u32>,
    /// What `memory_bytes` answers (the VM's linear memory).
    pub memory_bytes: Cell<u64>,
    /// Calls (by name, e.g. `set_header`) that fail with `BadArgument`.
    pub failing: RefCell<HashSet<&'static str>>,
}

fn map_name(map: MapType) -> &'static str {
    match map {
        MapType::HttpRequestHeaders => "request_headers",
        MapType::HttpResponseHeaders => "response_headers",
        MapType::HttpRequestTrailers => "request_trailers",
        MapType::HttpResponseTrailers => "response_trailers",
        _ => "other_map",
    }
}

fn buffer_name(kind: BufferType) -> &'static str {
    match kind {
        BufferType::HttpRequestBody => "request_body",
        BufferType::HttpResponseBody => "response_body",
        BufferType::PluginConfiguration => "plugin_configuration",
        _ => "other_buffer",
    }
}

/// Short, readable bytes for the call log: text as it is, long values by their length.
fn show(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) if s.len() <= 80 && !s.contains('\n') => s.to_string(),
        _ => format!("<{} bytes>", bytes.len()),
    }
}

impl FakeHost {
    pub fn new() -> Self {
        Self::default()
    }

    fn record(&self, name: &'static str, args: String) -> HostResult<()> {
        self.calls.borrow_mut().push(format!("{name}({args})"));
        if self.failing.borrow().contains(name) {
            Err(HostError(BAD_ARGUMENT))
        } else {
            Ok(())
        }
    }

    fn map(&self, map: MapType) -> &RefCell<Vec<(String, Vec<u8>)>> {
        match map {
            MapType::HttpResponseHeaders => &self.response_headers,
            _ => &self.request_headers,
        }
    }

    fn buf(&self, kind: BufferType) -> &RefCell<Vec<u8>> {
        match kind {
            BufferType::HttpResponseBody => &self.response_body,
            BufferType::PluginConfiguration => &self.plugin_configuration,
            _ => &self.request_body,
        }
    }

    /// Takes the recorded calls, leaving the log empty.
    pub fn take_calls(&self) -> Vec<String> {
        std::mem::take(&mut *self.calls.borrow_mut())
    }

    pub fn set_request_headers(&self, pairs: &[(&str, &str)]) {
        *self.request_headers.borrow_mut() = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect();
    }

    pub fn set_response_headers(&self, pairs: &[(&str, &str)]) {
        *self.response_headers.borrow_mut() = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect();
    }

    pub fn request_header(&self, name: &str) -> Option<String> {
        self.request_headers
            .borrow()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    pub fn response_header(&self, name: &str) -> Option<String> {
        self.response_headers
            .borrow()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    pub fn property_text(&self, name: &str) -> Option<String> {
        self.properties
            .borrow()
            .get(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// A stat's value by its full name.
    pub fn stat(&self, name: &str) -> Option<u64> {
        self.stats
            .borrow()
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, v)| *v)
    }

    fn stat_name(&self, id: u32) -> String {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.stats.borrow().get(i).map(|(n, _, _)| n.clone()))
            .unwrap_or_else(|| format!("#{id}"))
    }
}

impl Host for FakeHost {
    fn log(&self, level: LogLevel, message: &str) -> HostResult<()> {
        self.logs.borrow_mut().push((level, message.to_string()));
        self.record("log", format!("{level:?}"))
    }

    fn header(&self, map: MapType, name: &str) -> HostResult<Option<Vec<u8>>> {
        self.record("get_header_map_value", format!("{}, {name}", map_name(map)))?;
        Ok(self
            .map(map)
            .borrow()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone()))
    }

    fn header_pairs(&self, map: MapType) -> HostResult<Vec<(String, Vec<u8>)>> {
        self.record("get_header_map_pairs", map_name(map).to_string())?;
        Ok(self.map(map).borrow().clone())
    }

    fn set_header(&self, map: MapType, name: &str, value: &[u8]) -> HostResult<()> {
        self.record(
            "replace_header_map_value",
            format!("{}, {name}, {}", map_name(map), show(value)),
        )?;
        let mut m = self.map(map).borrow_mut();
        m.retain(|(n, _)| n != name);
        m.push((name.to_string(), value.to_vec()));
        Ok(())
    }

    fn remove_header(&self, map: MapType, name: &str) -> HostResult<()> {
        self.record("remove_header_map_value", format!("{}, {name}", map_name(map)))?;
        self.map(map).borrow_mut().retain(|(n, _)| n != name);
        Ok(())
    }

    fn buffer(&self, kind: BufferType, start: usize, max: usize) -> HostResult<Vec<u8>> {
        self.record("get_buffer_bytes", format!("{}, {start}, {max}", buffer_name(kind)))?;
        let b = self.buf(kind).borrow();
        let end = start.saturating_add(max).min(b.len());
        Ok(b.get(start.min(end)..end).unwrap_or_default().to_vec())
    }

    fn set_buffer(&self, kind: BufferType, start: usize, size: usize, value: &[u8]) -> HostResult<()> {
        self.record(
            "set_buffer_bytes",
            format!("{}, {start}, {size}, {}", buffer_name(kind), show(value)),
        )?;
        // Envoy's semantics (source/extensions/common/wasm/context.cc, Buffer::copyFrom).
        let mut b = self.buf(kind).borrow_mut();
        if start == 0 {
            let drained = size.min(b.len());
            b.splice(..drained, value.iter().copied());
            Ok(())
        } else if start >= b.len() {
            b.extend_from_slice(value);
            Ok(())
        } else {
            Err(HostError(BAD_ARGUMENT))
        }
    }

    fn send_response(&self, status: u32, details: &str, headers: &[(&str, &str)], body: &[u8]) -> HostResult<()> {
        self.record("send_local_response", format!("{status}, {details}"))?;
        *self.sent.borrow_mut() = Some(Sent {
            status,
            details: details.to_string(),
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: body.to_vec(),
        });
        Ok(())
    }

    fn now_ms(&self) -> HostResult<u64> {
        self.record("get_current_time_nanoseconds", String::new())?;
        Ok(self.clock_ms.get())
    }

    fn property(&self, path: &[&str]) -> HostResult<Option<Vec<u8>>> {
        let key = path.join(".");
        self.record("get_property", key.clone())?;
        Ok(self.properties.borrow().get(&key).cloned())
    }

    fn set_property(&self, name: &str, value: &[u8]) -> HostResult<()> {
        self.record("set_property", format!("{name}, {}", show(value)))?;
        self.properties.borrow_mut().insert(name.to_string(), value.to_vec());
        Ok(())
    }

    fn define_metric(&self, kind: MetricType, name: &str) -> HostResult<u32> {
        self.record("define_metric", format!("{kind:?}, {name}"))?;
        let mut stats = self.stats.borrow_mut();
        if let Some(i) = stats.iter().position(|(n, _, _)| n == name) {
            return u32::try_from(i).map_err(|_| HostError(BAD_ARGUMENT));
        }
        stats.push((name.to_string(), kind, 0));
        u32::try_from(stats.len() - 1).map_err(|_| HostError(BAD_ARGUMENT))
    }

    fn increment_metric(&self, id: u32, by: u64) -> HostResult<()> {
        self.record("increment_metric", format!("{}, {by}", self.stat_name(id)))?;
        let mut stats = self.stats.borrow_mut();
        let s = stats.get_mut(id as usize).ok_or(HostError(BAD_ARGUMENT))?;
        s.2 += by;
        Ok(())
    }

    fn record_metric(&self, id: u32, value: u64) -> HostResult<()> {
        self.record("record_metric", format!("{}, {value}", self.stat_name(id)))?;
        let mut stats = self.stats.borrow_mut();
        let s = stats.get_mut(id as usize).ok_or(HostError(BAD_ARGUMENT))?;
        s.2 = value;
        Ok(())
    }

    fn set_tick_period_ms(&self, ms: u32) -> HostResult<()> {
        self.record("set_tick_period_milliseconds", ms.to_string())?;
        self.tick_period_ms.set(ms);
        Ok(())
    }

    fn env_var(&self, name: &str) -> Option<String> {
        self.env.borrow().get(name).cloned()
    }

    fn memory_bytes(&self) -> u64 {
        self.memory_bytes.get()
    }
}
