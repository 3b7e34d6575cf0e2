//! The proxy-wasm filter. It only translates Envoy's callbacks and host calls; every
//! decision is made by `genai-policy`.

pub mod attempt;
pub mod context;
pub mod gateway;
pub mod host;
pub mod metrics;
#[cfg(feature = "test-trap")]
pub mod test_trap;

use host::{Abi, LogLevel};

proxy_wasm::main! {{
    // Our own hook instead of the SDK's logger: the SDK's unwraps its log call.
    std::panic::set_hook(Box::new(|info| {
        host::log(&Abi, LogLevel::Critical, &format!("genai filter panicked: {info}"));
    }));
    proxy_wasm::set_root_context(|_| Box::new(context::Root::default()));
}}
