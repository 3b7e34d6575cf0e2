//! Envoy's proxy-wasm ABI, called directly.
//!
//! The SDK's `hostcalls` wrappers `panic!` on any status they do not expect (for example
//! status 2 from setting a request header after the headers went upstream) and unwrap
//! header names as UTF-8. A panic is a wasm trap that kills the worker's VM, so every call
//! the filter makes goes through this module instead: each returns a `Result`, and the
//! header-map decoding is bounds-checked. The SDK still provides the callback dispatcher.

use proxy_wasm::types::{BufferType, LogLevel, MapType, MetricType};

/// A non-OK status from the host (proxy-wasm `WasmResult`), or a malformed reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostError(pub u32);

/// Status returned when the host's reply could not be decoded.
const MALFORMED: u32 = u32::MAX;

type HostResult<T> = Result<T, HostError>;

use ffi::*;

/// The host's imports. Outside wasm (native unit tests) they are stubs that fail.
#[cfg(target_arch = "wasm32")]
mod ffi {
    use proxy_wasm::types::{BufferType, LogLevel, MapType, MetricType};

    #[allow(clashing_extern_declarations)] // the SDK declares these returning its `Status` enum
    #[link(wasm_import_module = "env")]
    extern "C" {
        pub fn proxy_log(level: LogLevel, message_data: *const u8, message_size: usize) -> u32;
        pub fn proxy_get_header_map_pairs(map_type: MapType, return_data: *mut *mut u8, return_size: *mut usize)
            -> u32;
        pub fn proxy_replace_header_map_value(
            map_type: MapType,
            key_data: *const u8,
            key_size: usize,
            value_data: *const u8,
            value_size: usize,
        ) -> u32;
        pub fn proxy_remove_header_map_value(map_type: MapType, key_data: *const u8, key_size: usize) -> u32;
        pub fn proxy_get_buffer_bytes(
            buffer_type: BufferType,
            start: usize,
            max_size: usize,
            return_data: *mut *mut u8,
            return_size: *mut usize,
        ) -> u32;
        pub fn proxy_set_buffer_bytes(
            buffer_type: BufferType,
            start: usize,
            size: usize,
            buffer_data: *const u8,
            buffer_size: usize,
        ) -> u32;
        pub fn proxy_send_local_response(
            status_code: u32,
            details_data: *const u8,
            details_size: usize,
            body_data: *const u8,
            body_size: usize,
            headers_data: *const u8,
            headers_size: usize,
            grpc_status: i32,
        ) -> u32;
        pub fn proxy_set_property(
            path_data: *const u8,
            path_size: usize,
            value_data: *const u8,
            value_size: usize,
        ) -> u32;
        pub fn proxy_get_property(
            path_data: *const u8,
            path_size: usize,
            return_data: *mut *mut u8,
            return_size: *mut usize,
        ) -> u32;
        pub fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> u32;
        pub fn proxy_define_metric(
            metric_type: MetricType,
            name_data: *const u8,
            name_size: usize,
            return_id: *mut u32,
        ) -> u32;
        pub fn proxy_increment_metric(metric_id: u32, offset: i64) -> u32;
        pub fn proxy_record_metric(metric_id: u32, value: u64) -> u32;
    }
}

#[cfg(not(target_arch = "wasm32"))]
#[allow(clippy::missing_safety_doc, clippy::too_many_arguments)]
mod ffi {
    use proxy_wasm::types::{BufferType, LogLevel, MapType, MetricType};

    pub unsafe fn proxy_log(_level: LogLevel, _message_data: *const u8, _message_size: usize) -> u32 {
        12 // Unimplemented: there is no host outside Envoy
    }

    pub unsafe fn proxy_get_header_map_pairs(
        _map_type: MapType,
        _return_data: *mut *mut u8,
        _return_size: *mut usize,
    ) -> u32 {
        12 // Unimplemented: there is no host outside Envoy
    }

    pub unsafe fn proxy_replace_header_map_value(
        _map_type: MapType,
        _key_data: *const u8,
        _key_size: usize,
        _value_data: *const u8,
        _value_size: usize,
    ) -> u32 {
        12 // Unimplemented: there is no host outside Envoy
    }

    pub unsafe fn proxy_remove_header_map_value(_map_type: MapType, _key_data: *const u8, _key_size: usize) -> u32 {
        12 // Unimplemented: there is no host outside Envoy
    }

    pub unsafe fn proxy_get_buffer_bytes(
        _buffer_type: BufferType,
        _start: usize,
        _max_size: usize,
        _return_data: *mut *mut u8,
        _return_size: *mut usize,
    ) -> u32 {
        12 // Unimplemented: there is no host outside Envoy
    }

    pub unsafe fn proxy_set_buffer_bytes(
        _buffer_type: BufferType,
        _start: usize,
        _size: usize,
        _buffer_data: *const u8,
        _buffer_size: usize,
    ) -> u32 {
        12 // Unimplemented: there is no host outside Envoy
    }

    pub unsafe fn proxy_send_local_response(
        _status_code: u32,
        _details_data: *const u8,
        _details_size: usize,
        _body_data: *const u8,
        _body_size: usize,
        _headers_data: *const u8,
        _headers_size: usize,
        _grpc_status: i32,
    ) -> u32 {
        12 // Unimplemented: there is no host outside Envoy
    }

    pub unsafe fn proxy_set_property(
        _path_data: *const u8,
        _path_size: usize,
        _value_data: *const u8,
        _value_size: usize,
    ) -> u32 {
        12 // Unimplemented: there is no host outside Envoy
    }

    pub unsafe fn proxy_get_property(_p: *const u8, _ps: usize, _rd: *mut *mut u8, _rs: *mut usize) -> u32 {
        12 // Unimplemented: there is no host outside Envoy
    }

    pub unsafe fn proxy_get_current_time_nanoseconds(_t: *mut u64) -> u32 {
        12 // Unimplemented: there is no host outside Envoy
    }

    pub unsafe fn proxy_define_metric(_t: MetricType, _n: *const u8, _ns: usize, _id: *mut u32) -> u32 {
        12 // Unimplemented: there is no host outside Envoy
    }

    pub unsafe fn proxy_increment_metric(_id: u32, _o: i64) -> u32 {
        12 // Unimplemented: there is no host outside Envoy
    }

    pub unsafe fn proxy_record_metric(_id: u32, _v: u64) -> u32 {
        12 // Unimplemented: there is no host outside Envoy
    }
}

fn check(status: u32) -> HostResult<()> {
    if status == 0 {
        Ok(())
    } else {
        Err(HostError(status))
    }
}

/// Takes ownership of a buffer the host allocated through `proxy_on_memory_allocate`.
///
/// # Safety
/// `data`/`size` must come from a host call that just returned OK.
unsafe fn take(data: *mut u8, size: usize) -> Vec<u8> {
    if data.is_null() {
        Vec::new()
    } else {
        Vec::from_raw_parts(data, size, size)
    }
}

/// Logs a message; failures to log are ignored (there is nowhere else to report them).
pub fn log(level: LogLevel, message: &str) {
    // SAFETY: pointer and length describe a live &str.
    let _ = unsafe { proxy_log(level, message.as_ptr(), message.len()) };
}

/// All headers of a map, names as text, values as bytes.
pub fn header_pairs(map: MapType) -> HostResult<Vec<(String, Vec<u8>)>> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: out-pointers are valid; on OK the host hands us an allocation we own.
    let bytes = unsafe {
        check(proxy_get_header_map_pairs(map, &mut data, &mut size))?;
        take(data, size)
    };
    decode_pairs(&bytes).ok_or(HostError(MALFORMED))
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

pub fn set_header(map: MapType, name: &str, value: &str) -> HostResult<()> {
    // SAFETY: pointers and lengths describe live &strs.
    check(unsafe { proxy_replace_header_map_value(map, name.as_ptr(), name.len(), value.as_ptr(), value.len()) })
}

pub fn remove_header(map: MapType, name: &str) -> HostResult<()> {
    // SAFETY: pointer and length describe a live &str.
    check(unsafe { proxy_remove_header_map_value(map, name.as_ptr(), name.len()) })
}

/// `max` bytes of a buffer from `start`. An empty buffer is `Ok(vec![])`.
pub fn buffer(kind: BufferType, start: usize, max: usize) -> HostResult<Vec<u8>> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: out-pointers are valid; on OK the host hands us an allocation we own.
    unsafe {
        match proxy_get_buffer_bytes(kind, start, max, &mut data, &mut size) {
            0 => Ok(take(data, size)),
            7 => Ok(Vec::new()), // Empty
            s => Err(HostError(s)),
        }
    }
}

/// Replaces `size` bytes at `start` of a buffer with `value`.
pub fn set_buffer(kind: BufferType, start: usize, size: usize, value: &[u8]) -> HostResult<()> {
    // SAFETY: pointer and length describe a live slice.
    check(unsafe { proxy_set_buffer_bytes(kind, start, size, value.as_ptr(), value.len()) })
}

/// Answers the request locally. `details` shows in Envoy's `%RESPONSE_CODE_DETAILS%`.
pub fn send_response(status: u32, details: &str, headers: &[(&str, &str)], body: &[u8]) -> HostResult<()> {
    let headers = encode_pairs(headers);
    // SAFETY: all pointers and lengths describe live buffers.
    check(unsafe {
        proxy_send_local_response(
            status,
            details.as_ptr(),
            details.len(),
            body.as_ptr(),
            body.len(),
            headers.as_ptr(),
            headers.len(),
            -1,
        )
    })
}

/// Milliseconds since the epoch, by the host's clock; 0 if the host does not say.
pub fn now_ms() -> u64 {
    let mut ns: u64 = 0;
    // SAFETY: the out-pointer is valid.
    match unsafe { proxy_get_current_time_nanoseconds(&mut ns) } {
        0 => ns / 1_000_000,
        _ => 0,
    }
}

/// A property of the stream (e.g. `["response", "code_details"]`); `None` if absent.
pub fn property(path: &[&str]) -> HostResult<Option<Vec<u8>>> {
    // proxy-wasm property paths are NUL-separated segments.
    let serialized = path.join("\0");
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: pointers are valid; on OK the host hands us an allocation we own.
    unsafe {
        match proxy_get_property(serialized.as_ptr(), serialized.len(), &mut data, &mut size) {
            0 => Ok(Some(take(data, size))),
            1 => Ok(None), // NotFound
            s => Err(HostError(s)),
        }
    }
}

pub fn define_metric(kind: MetricType, name: &str) -> HostResult<u32> {
    let mut id: u32 = 0;
    // SAFETY: pointers are valid.
    check(unsafe { proxy_define_metric(kind, name.as_ptr(), name.len(), &mut id) })?;
    Ok(id)
}

pub fn increment_metric(id: u32, by: u64) -> HostResult<()> {
    let by = i64::try_from(by).unwrap_or(i64::MAX);
    // SAFETY: plain values.
    check(unsafe { proxy_increment_metric(id, by) })
}

pub fn record_metric(id: u32, value: u64) -> HostResult<()> {
    // SAFETY: plain values.
    check(unsafe { proxy_record_metric(id, value) })
}

/// Sets filter state (Envoy stores it as `wasm.<name>`, readable by the access log).
pub fn set_property(name: &str, value: &[u8]) -> HostResult<()> {
    // SAFETY: pointers and lengths describe live buffers.
    check(unsafe { proxy_set_property(name.as_ptr(), name.len(), value.as_ptr(), value.len()) })
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
