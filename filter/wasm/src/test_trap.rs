//! Placeholder; filled in with the failure-policy tests.
pub fn on_request_headers() {}
