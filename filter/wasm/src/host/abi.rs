//! Envoy's proxy-wasm ABI, called directly.
//!
//! The SDK's `hostcalls` wrappers `panic!` on any status they do not expect (for example
//! status 2 from setting a request header after the headers went upstream) and unwrap
//! header names as UTF-8. A panic is a wasm trap that kills the worker's VM, so every call
//! the filter makes goes through this module instead: each returns a `Result`, and the
//! header-map decoding is bounds-checked. The SDK still provides the callback dispatcher.

use super::{decode_pairs, encode_pairs, BufferType, Host, HostError, HostResult, LogLevel, MapType, MetricType};
use super::{EMPTY, MALFORMED, NOT_FOUND};

use ffi::*;

/// The host's imports, declared once for wasm and once as failing stubs for native builds
/// (native unit tests use `fake::FakeHost`; nothing calls these outside Envoy).
macro_rules! imports {
    ($(fn $name:ident($($arg:ident: $ty:ty),* $(,)?);)*) => {
        #[cfg(target_arch = "wasm32")]
        mod ffi {
            #[allow(unused_imports)]
            use proxy_wasm::types::{BufferType, LogLevel, MapType, MetricType};
            #[allow(clashing_extern_declarations)] // the SDK declares these returning its `Status` enum
            #[link(wasm_import_module = "env")]
            extern "C" {
                $(pub fn $name($($arg: $ty),*) -> u32;)*
            }
        }
        #[cfg(not(target_arch = "wasm32"))]
        #[allow(clippy::missing_safety_doc, clippy::too_many_arguments)]
        mod ffi {
            #[allow(unused_imports)]
            use proxy_wasm::types::{BufferType, LogLevel, MapType, MetricType};
            $(pub unsafe fn $name($(_: $ty),*) -> u32 {
                super::super::UNIMPLEMENTED // there is no host outside Envoy
            })*
        }
    };
}

imports! {
    fn proxy_log(level: LogLevel, message_data: *const u8, message_size: usize);
    fn proxy_get_header_map_value(
        map_type: MapType,
        key_data: *const u8,
        key_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    );
    fn proxy_get_header_map_pairs(map_type: MapType, return_data: *mut *mut u8, return_size: *mut usize);
    fn proxy_replace_header_map_value(
        map_type: MapType,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    );
    fn proxy_remove_header_map_value(map_type: MapType, key_data: *const u8, key_size: usize);
    fn proxy_get_buffer_bytes(
        buffer_type: BufferType,
        start: usize,
        max_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    );
    fn proxy_set_buffer_bytes(
        buffer_type: BufferType,
        start: usize,
        size: usize,
        buffer_data: *const u8,
        buffer_size: usize,
    );
    fn proxy_send_local_response(
        status_code: u32,
        details_data: *const u8,
        details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    );
    fn proxy_set_property(path_data: *const u8, path_size: usize, value_data: *const u8, value_size: usize);
    fn proxy_get_property(path_data: *const u8, path_size: usize, return_data: *mut *mut u8, return_size: *mut usize);
    fn proxy_get_current_time_nanoseconds(return_time: *mut u64);
    fn proxy_define_metric(metric_type: MetricType, name_data: *const u8, name_size: usize, return_id: *mut u32);
    fn proxy_increment_metric(metric_id: u32, offset: i64);
    fn proxy_record_metric(metric_id: u32, value: u64);
    fn proxy_set_tick_period_milliseconds(period: u32);
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

/// Envoy, through the ABI.
#[derive(Debug, Default, Clone, Copy)]
pub struct Abi;

impl Host for Abi {
    fn log(&self, level: LogLevel, message: &str) -> HostResult<()> {
        // SAFETY: pointer and length describe a live &str.
        check(unsafe { proxy_log(level, message.as_ptr(), message.len()) })
    }

    fn header(&self, map: MapType, name: &str) -> HostResult<Option<Vec<u8>>> {
        let mut data: *mut u8 = std::ptr::null_mut();
        let mut size: usize = 0;
        // SAFETY: pointers are valid; on OK the host hands us an allocation we own.
        unsafe {
            match proxy_get_header_map_value(map, name.as_ptr(), name.len(), &mut data, &mut size) {
                0 => Ok(Some(take(data, size))),
                NOT_FOUND => Ok(None),
                s => Err(HostError(s)),
            }
        }
    }

    fn header_pairs(&self, map: MapType) -> HostResult<Vec<(String, Vec<u8>)>> {
        let mut data: *mut u8 = std::ptr::null_mut();
        let mut size: usize = 0;
        // SAFETY: out-pointers are valid; on OK the host hands us an allocation we own.
        let bytes = unsafe {
            check(proxy_get_header_map_pairs(map, &mut data, &mut size))?;
            take(data, size)
        };
        decode_pairs(&bytes).ok_or(HostError(MALFORMED))
    }

    fn set_header(&self, map: MapType, name: &str, value: &[u8]) -> HostResult<()> {
        // SAFETY: pointers and lengths describe live slices.
        check(unsafe { proxy_replace_header_map_value(map, name.as_ptr(), name.len(), value.as_ptr(), value.len()) })
    }

    fn remove_header(&self, map: MapType, name: &str) -> HostResult<()> {
        // SAFETY: pointer and length describe a live &str.
        check(unsafe { proxy_remove_header_map_value(map, name.as_ptr(), name.len()) })
    }

    fn buffer(&self, kind: BufferType, start: usize, max: usize) -> HostResult<Vec<u8>> {
        let mut data: *mut u8 = std::ptr::null_mut();
        let mut size: usize = 0;
        // SAFETY: out-pointers are valid; on OK the host hands us an allocation we own.
        unsafe {
            match proxy_get_buffer_bytes(kind, start, max, &mut data, &mut size) {
                0 => Ok(take(data, size)),
                EMPTY => Ok(Vec::new()),
                s => Err(HostError(s)),
            }
        }
    }

    fn set_buffer(&self, kind: BufferType, start: usize, size: usize, value: &[u8]) -> HostResult<()> {
        // SAFETY: pointer and length describe a live slice.
        check(unsafe { proxy_set_buffer_bytes(kind, start, size, value.as_ptr(), value.len()) })
    }

    fn send_response(&self, status: u32, details: &str, headers: &[(&str, &str)], body: &[u8]) -> HostResult<()> {
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

    fn now_ms(&self) -> HostResult<u64> {
        let mut ns: u64 = 0;
        // SAFETY: the out-pointer is valid.
        check(unsafe { proxy_get_current_time_nanoseconds(&mut ns) })?;
        Ok(ns / 1_000_000)
    }

    fn property(&self, path: &[&str]) -> HostResult<Option<Vec<u8>>> {
        // proxy-wasm property paths are NUL-separated segments.
        let serialized = path.join("\0");
        let mut data: *mut u8 = std::ptr::null_mut();
        let mut size: usize = 0;
        // SAFETY: pointers are valid; on OK the host hands us an allocation we own.
        unsafe {
            match proxy_get_property(serialized.as_ptr(), serialized.len(), &mut data, &mut size) {
                0 => Ok(Some(take(data, size))),
                NOT_FOUND => Ok(None),
                s => Err(HostError(s)),
            }
        }
    }

    fn set_property(&self, name: &str, value: &[u8]) -> HostResult<()> {
        // SAFETY: pointers and lengths describe live buffers.
        check(unsafe { proxy_set_property(name.as_ptr(), name.len(), value.as_ptr(), value.len()) })
    }

    fn define_metric(&self, kind: MetricType, name: &str) -> HostResult<u32> {
        let mut id: u32 = 0;
        // SAFETY: pointers are valid.
        check(unsafe { proxy_define_metric(kind, name.as_ptr(), name.len(), &mut id) })?;
        Ok(id)
    }

    fn increment_metric(&self, id: u32, by: u64) -> HostResult<()> {
        let by = i64::try_from(by).unwrap_or(i64::MAX);
        // SAFETY: plain values.
        check(unsafe { proxy_increment_metric(id, by) })
    }

    fn record_metric(&self, id: u32, value: u64) -> HostResult<()> {
        // SAFETY: plain values.
        check(unsafe { proxy_record_metric(id, value) })
    }

    fn set_tick_period_ms(&self, ms: u32) -> HostResult<()> {
        // SAFETY: a plain value.
        check(unsafe { proxy_set_tick_period_milliseconds(ms) })
    }

    fn env_var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn memory_bytes(&self) -> u64 {
        #[cfg(target_arch = "wasm32")]
        return core::arch::wasm32::memory_size(0) as u64 * 65536;
        #[cfg(not(target_arch = "wasm32"))]
        0
    }
}
