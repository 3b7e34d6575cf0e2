//! Test builds only (feature `test-trap`; release builds never enable it): traps the VM when
//! a request carries `x-genai-test-trap: 1`, so the integration tests can show what Envoy's
//! `failure_policy` does with a crashed VM (integration/tests/test_failure_policy.py).
//!
//! The header is read with the raw host call (`Host::header`), like every other call
//! of the filter; a failed read simply does not trap.

use crate::host::{Host, MapType};

/// The marker header and the value that makes the VM trap.
pub const HEADER: &str = "x-genai-test-trap";

/// Called first in `on_http_request_headers` of test builds.
pub fn on_request_headers(host: &dyn Host) {
    let Ok(value) = host.header(MapType::HttpRequestHeaders, HEADER) else {
        return;
    };
    if value.as_deref() == Some(b"1".as_slice()) {
        trap();
    }
}

// The one deliberate panic of the project: it is the point of this test-only module. With
// `panic = "abort"` it becomes a wasm `unreachable` trap, after the panic hook logged it.
#[allow(clippy::panic)]
fn trap() -> ! {
    panic!("test trap: request header {HEADER}: 1 (test build only)");
}
