//! The host, behind a trait: every proxy-wasm ABI call the glue makes, each returning a
//! `Result`.
//!
//! [`Abi`] is Envoy (the ABI's imports, called directly: see `abi.rs` for why not through the
//! SDK's `hostcalls`); `fake::FakeHost` (tests) records every call and behaves like Envoy
//! where the glue depends on it, so the glue runs natively and the host calls of a request are
//! pinned by a test (`gateway::tests`).

mod abi;
#[cfg(test)]
pub mod fake;

pub use abi::Abi;
pub use proxy_wasm::types::{BufferType, LogLevel, MapType, MetricType};

/// A non-OK status from the host (proxy-wasm `WasmResult`), or a malformed reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostError(pub u32);

/// Status returned when the host's reply could not be decoded.
pub const MALFORMED: u32 = u32::MAX;
/// proxy-wasm's `NotFound`.
pub const NOT_FOUND: u32 = 1;
/// proxy-wasm's `BadArgument`.
pub const BAD_ARGUMENT: u32 = 2;
/// proxy-wasm's `Empty`.
pub const EMPTY: u32 = 7;
/// proxy-wasm's `Unimplemented`.
pub const UNIMPLEMENTED: u32 = 12;

pub type HostResult<T> = Result<T, HostError>;

/// The proxy-wasm calls the filter makes. Maps and buffers are named by the ABI's enums;
/// header values are bytes (Envoy allows any byte but NUL, CR and LF in them).
pub trait Host {
    /// Writes to Envoy's log (component `wasm`).
    fn log(&self, level: LogLevel, message: &str) -> HostResult<()>;
    /// One header's value (`None` when absent); the first one if the name repeats.
    fn header(&self, map: MapType, name: &str) -> HostResult<Option<Vec<u8>>>;
    /// All headers of a map, in order; names as text (lossy), values as bytes.
    fn header_pairs(&self, map: MapType) -> HostResult<Vec<(String, Vec<u8>)>>;
    /// Replaces a header (all its values) or adds it.
    fn set_header(&self, map: MapType, name: &str, value: &[u8]) -> HostResult<()>;
    fn remove_header(&self, map: MapType, name: &str) -> HostResult<()>;
    /// Up to `max` bytes of a buffer from `start`; an empty buffer is `Ok(vec![])`.
    fn buffer(&self, kind: BufferType, start: usize, max: usize) -> HostResult<Vec<u8>>;
    /// Envoy's `proxy_set_buffer_bytes`: with `start == 0` it drains the first `size` bytes
    /// and puts `value` in their place (the rest of the buffer stays, uncopied); with `start`
    /// at or past the end it appends; anything else is `BadArgument`.
    fn set_buffer(&self, kind: BufferType, start: usize, size: usize, value: &[u8]) -> HostResult<()>;
    /// Answers the request locally. `details` shows in `%RESPONSE_CODE_DETAILS%`.
    fn send_response(&self, status: u32, details: &str, headers: &[(&str, &str)], body: &[u8]) -> HostResult<()>;
    /// The host's wall clock, in milliseconds since the epoch.
    fn now_ms(&self) -> HostResult<u64>;
    /// A property of the stream (e.g. `["response", "code_details"]`); `None` if absent.
    fn property(&self, path: &[&str]) -> HostResult<Option<Vec<u8>>>;
    /// Sets filter state (Envoy stores it as `wasm.<name>`, readable by the access log).
    fn set_property(&self, name: &str, value: &[u8]) -> HostResult<()>;
    fn define_metric(&self, kind: MetricType, name: &str) -> HostResult<u32>;
    fn increment_metric(&self, id: u32, by: u64) -> HostResult<()>;
    fn record_metric(&self, id: u32, value: u64) -> HostResult<()>;
    /// Calls the root context's `on_tick` every `ms` milliseconds; 0 stops it.
    fn set_tick_period_ms(&self, ms: u32) -> HostResult<()>;
    /// A variable of the VM's environment (Envoy's `host_env_keys`), read through WASI.
    fn env_var(&self, name: &str) -> Option<String>;
    /// The VM's linear memory, in bytes (a wasm instruction, not a host call; it only grows).
    fn memory_bytes(&self) -> u64;
}

/// Logs, ignoring a failure to log (there is nowhere else to report it).
pub fn log(host: &dyn Host, level: LogLevel, message: &str) {
    let _ = host.log(level, message);
}

/// Decodes proxy-wasm's serialized map: count, (key len, value len)*, then each key and
/// value followed by a NUL.
pub fn decode_pairs(bytes: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let u32_at = |at: usize| -> Option<usize> {
        let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        usize::try_from(u32::from_le_bytes(b)).ok()
    };
    let count = u32_at(0)?;
    let mut sizes = 4usize;
    let mut data = 4usize.checked_add(count.checked_mul(8)?)?;
    let mut out = Vec::with_capacity(count.min(256));
    for _ in 0..count {
        let key_len = u32_at(sizes)?;
        let value_len = u32_at(sizes.checked_add(4)?)?;
        sizes = sizes.checked_add(8)?;
        let key = bytes.get(data..data.checked_add(key_len)?)?;
        data = data.checked_add(key_len)?.checked_add(1)?;
        let value = bytes.get(data..data.checked_add(value_len)?)?;
        data = data.checked_add(value_len)?.checked_add(1)?;
        out.push((String::from_utf8_lossy(key).into_owned(), value.to_vec()));
    }
    Some(out)
}

/// Encodes a header map the way the host expects it.
pub fn encode_pairs(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut size = 4;
    for (k, v) in pairs {
        size += 8 + k.len() + v.len() + 2;
    }
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_round_trip() {
        let pairs = [(":path", "/v1/x"), ("a", ""), ("b", "café")];
        let decoded = decode_pairs(&encode_pairs(&pairs)).unwrap();
        let expect: Vec<(String, Vec<u8>)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect();
        assert_eq!(decoded, expect);
        assert_eq!(decode_pairs(&[]).unwrap(), vec![]);
    }

    #[test]
    fn malformed_maps_are_errors_not_panics() {
        let good = encode_pairs(&[("name", "value")]);
        for cut in 0..good.len() {
            let _ = decode_pairs(&good[..cut]); // must not panic
        }
        assert!(decode_pairs(&good[..good.len() - 3]).is_none());
        let huge = [0xff, 0xff, 0xff, 0x7f];
        assert!(decode_pairs(&huge).is_none());
        let mut bad_utf8 = encode_pairs(&[("k", "v")]);
        bad_utf8[12] = 0xff; // the key byte
        assert_eq!(decode_pairs(&bad_utf8).unwrap()[0].0, "\u{fffd}");
    }
}
