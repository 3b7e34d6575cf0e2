//! The proxy-wasm SDK's context traits, wired to the glue with the real host ([`Abi`]).
//!
//! Nothing is decided here: each callback hands over to a role's glue, which talks to Envoy
//! only through [`Host`], so it is unit-tested natively. Two roles, chosen by the plugin's
//! `root_id`: the gateway on the listener ([`gateway`]), and the attempt filter on fallback
//! clusters ([`attempt`], `root_id: genai_attempt`), which runs once per attempt.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType};

use crate::host::{Abi, Host};
use crate::{attempt, gateway};

/// The root context of one plugin (the gateway's, or one fallback cluster's) in a worker's VM.
#[derive(Default)]
pub struct Root {
    gateway: gateway::Root,
    /// Set when the plugin's `root_id` is [`attempt::ROOT_ID`].
    attempt: Option<attempt::Root>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, plugin_configuration_size: usize) -> bool {
        let root_id = Abi.property(&["plugin_root_id"]).ok().flatten();
        if root_id.as_deref() == Some(attempt::ROOT_ID.as_bytes()) {
            let mut role = attempt::Root;
            let ok = role.configure(&Abi);
            self.attempt = Some(role);
            return ok;
        }
        self.gateway.configure(&Abi, plugin_configuration_size)
    }

    fn on_tick(&mut self) {
        self.gateway.tick(&Abi)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        match &self.attempt {
            Some(role) => Some(Box::new(AttemptHttp(role.request()))),
            None => Some(Box::new(GatewayHttp(self.gateway.request(&Abi)))),
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// One request through the gateway role.
pub struct GatewayHttp(gateway::Request);

impl Context for GatewayHttp {}

impl HttpContext for GatewayHttp {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        // Test builds only (never release): trap on a marker header, to prove the failure policy.
        #[cfg(feature = "test-trap")]
        crate::test_trap::on_request_headers(&Abi);
        self.0.on_request_headers(&Abi, end_of_stream)
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        self.0.on_request_body(&Abi, body_size, end_of_stream)
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        self.0.on_request_trailers(&Abi)
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        self.0.on_response_headers(&Abi)
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        self.0.on_response_body(&Abi, body_size, end_of_stream)
    }

    fn on_log(&mut self) {
        self.0.on_log(&Abi)
    }
}

/// One attempt of a request that may fall back.
pub struct AttemptHttp(attempt::Request);

impl Context for AttemptHttp {
    fn on_done(&mut self) -> bool {
        self.0.on_done(&Abi);
        true
    }
}

impl HttpContext for AttemptHttp {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        self.0.on_request_headers(&Abi, end_of_stream)
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        self.0.on_request_body(&Abi, body_size, end_of_stream)
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        self.0.on_response_headers(&Abi)
    }
}
