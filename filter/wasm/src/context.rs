//! Root and HTTP contexts: read from Envoy, ask the policy, apply its answer.
//! Any host call that fails while a request is held fails it closed (500, not forwarded).

use std::sync::Arc;

use genai_policy::flow::{BodyOutcome, ForwardPlan, HeadersOutcome, LocalResponse};
use genai_policy::{compile, Compiled, RequestFlow};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType};

use crate::host;

/// Holds the compiled configuration, shared by every request on this worker.
#[derive(Default)]
pub struct Root {
    config: Option<Arc<Compiled>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, plugin_configuration_size: usize) -> bool {
        let bytes = match host::buffer(
            BufferType::PluginConfiguration,
            0,
            plugin_configuration_size,
        ) {
            Ok(b) => b,
            Err(e) => {
                host::log(
                    LogLevel::Critical,
                    &format!(
                        "genai filter: cannot read the plugin configuration (host status {})",
                        e.0
                    ),
                );
                return false;
            }
        };
        let compiled = compile(&bytes).and_then(|mut c| {
            c.resolve_credentials(|name| std::env::var(name).ok())?;
            Ok(c)
        });
        match compiled {
            Ok(c) => {
                host::log(
                    LogLevel::Info,
                    &format!(
                        "genai filter configured: {} teams, {} providers, {} models",
                        c.teams.len(),
                        c.providers.len(),
                        c.models.len()
                    ),
                );
                self.config = Some(Arc::new(c));
                true
            }
            Err(e) => {
                host::log(LogLevel::Critical, &format!("genai filter: invalid {e}"));
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Http {
            flow: self.config.clone().map(RequestFlow::new),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// One request. `flow` is `None` only if the plugin was never configured, and then every
/// request is refused rather than forwarded unchecked.
pub struct Http {
    flow: Option<RequestFlow>,
}

impl Context for Http {}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let Some(flow) = self.flow.as_mut() else {
            return unconfigured();
        };
        let pairs = match host::header_pairs(MapType::HttpRequestHeaders) {
            Ok(p) => p,
            Err(e) => return fail(flow, "read the request headers", e),
        };
        match flow.on_headers(&pairs, end_of_stream) {
            HeadersOutcome::HoldForBody { strip } => {
                for name in &strip {
                    if let Err(e) = host::remove_header(MapType::HttpRequestHeaders, name) {
                        return fail(flow, "remove a client header", e);
                    }
                }
                // Held until the body is read: needs `allow_on_headers_stop_iteration`.
                Action::Pause
            }
            HeadersOutcome::Respond(r) => respond(&r),
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let Some(flow) = self.flow.as_mut() else {
            return unconfigured();
        };
        if !flow.awaiting_body() {
            return Action::Continue;
        }
        match flow.on_body_progress(body_size, end_of_stream) {
            Some(BodyOutcome::Respond(r)) => return respond(&r),
            Some(_) => return Action::Pause, // keep buffering
            None => {}
        }
        let body = match host::buffer(BufferType::HttpRequestBody, 0, body_size) {
            Ok(b) => b,
            Err(e) => return fail(flow, "read the request body", e),
        };
        match flow.on_body(&body) {
            BodyOutcome::Forward(plan) => match apply(&plan, body_size) {
                Ok(()) => Action::Continue,
                Err((what, e)) => fail(flow, what, e),
            },
            BodyOutcome::Respond(r) => respond(&r),
            BodyOutcome::Buffer => Action::Pause,
        }
    }
}

/// Applies a forward plan while the headers are still held.
fn apply(plan: &ForwardPlan, body_size: usize) -> Result<(), (&'static str, host::HostError)> {
    let headers = MapType::HttpRequestHeaders;
    for name in &plan.remove_headers {
        host::remove_header(headers, name).map_err(|e| ("remove a request header", e))?;
    }
    for (name, value) in &plan.set_headers {
        // Changing request headers makes Envoy clear its route cache, so the route
        // matching `x-genai-upstream` is chosen.
        host::set_header(headers, name, value.as_str()).map_err(|e| ("set a request header", e))?;
    }
    if let Some(body) = &plan.new_body {
        host::set_buffer(BufferType::HttpRequestBody, 0, body_size, body)
            .map_err(|e| ("replace the request body", e))?;
    }
    for (name, value) in [
        ("genai_team", plan.team.as_str()),
        ("genai_model", plan.model.as_str()),
        ("genai_provider", plan.provider.as_str()),
    ] {
        host::set_property(name, value.as_bytes()).map_err(|e| ("record filter state", e))?;
    }
    Ok(())
}

fn respond(r: &LocalResponse) -> Action {
    let code = r.code.map_or("ok", |c| c.as_str());
    if r.code.is_some() {
        let _ = host::set_property("genai_error_code", code.as_bytes());
    }
    let details = format!("genai_{code}");
    let headers = [
        ("content-type", "application/json"),
        ("x-genai-error-code", code),
    ];
    let headers = if r.code.is_some() {
        &headers[..]
    } else {
        &headers[..1]
    };
    if let Err(e) = host::send_response(r.status, &details, headers, &r.body) {
        host::log(
            LogLevel::Error,
            &format!(
                "genai filter: could not send a local response (host status {})",
                e.0
            ),
        );
    }
    Action::Pause
}

fn fail(flow: &mut RequestFlow, what: &str, e: host::HostError) -> Action {
    host::log(
        LogLevel::Error,
        &format!("genai filter: could not {what} (host status {})", e.0),
    );
    let r = flow.internal_error(what);
    respond(&r)
}

fn unconfigured() -> Action {
    host::log(
        LogLevel::Error,
        "genai filter: no configuration; refusing the request",
    );
    let body = br#"{"error":{"message":"the gateway filter has no valid configuration; the request was not forwarded","type":"server_error","param":null,"code":"gateway_internal_error"}}"#;
    let _ = host::send_response(
        500,
        "genai_unconfigured",
        &[("content-type", "application/json")],
        body,
    );
    Action::Pause
}
