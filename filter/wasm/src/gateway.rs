//! The gateway role: the filter on the listener, in front of the router. Its root reads the
//! configuration; each request is a [`Request`] that reads from Envoy, asks the policy, and
//! applies the answer. Any host call that fails while a request is held fails it closed
//! (500, not forwarded).
//!
//! Everything here talks to Envoy through [`Host`], so `tests` below drive it with the
//! recording fake and pin its host calls.

use std::rc::Rc;
use std::sync::Arc;

use genai_policy::flow::{BodyOutcome, Forward, ForwardPlan, HeadersOutcome, LocalResponse, ResponseHead};
use genai_policy::metrics::budget_points;
use genai_policy::{compile, Compiled, ErrorCode, GatewayError, RequestFlow};
use proxy_wasm::types::Action;

use genai_usage::Encoding;

use crate::host::{self, BufferType, Host, HostError, LogLevel, MapType};
use crate::metrics::Metrics;

/// The compiled configuration and the metric handles, shared by every request on this
/// worker's VM.
#[derive(Default)]
pub struct Root {
    config: Option<Arc<Compiled>>,
    metrics: Rc<Metrics>,
    /// The tokenizer vocabularies the configured models need, loaded on the first tick.
    to_load: Vec<Encoding>,
}

impl Root {
    pub fn configure(&mut self, host: &dyn Host, plugin_configuration_size: usize) -> bool {
        let bytes = match host.buffer(BufferType::PluginConfiguration, 0, plugin_configuration_size) {
            Ok(b) => b,
            Err(e) => {
                let msg = format!(
                    "genai filter: cannot read the plugin configuration (host status {})",
                    e.0
                );
                host::log(host, LogLevel::Critical, &msg);
                return false;
            }
        };
        let compiled = compile(&bytes).and_then(|mut c| {
            c.resolve_credentials(|name| host.env_var(name))?;
            Ok(c)
        });
        match compiled {
            Ok(c) => {
                let summary = format!(
                    "genai filter configured: {} teams, {} providers, {} models",
                    c.teams.len(),
                    c.providers.len(),
                    c.models.len()
                );
                host::log(host, LogLevel::Info, &summary);
                let budgets: Vec<_> = c
                    .teams
                    .iter()
                    .map(|t| (t.name.clone(), t.daily_budget_dollars))
                    .collect();
                self.metrics.emit(host, &budget_points(&budgets));
                // The vocabularies load on a tick right after this, not here: a configuration
                // answers at once, and no request ever waits for (or triggers) a load.
                self.to_load = encodings(&c);
                if !self.to_load.is_empty() {
                    if let Err(e) = host.set_tick_period_ms(1) {
                        let msg = format!("genai filter: no tick to load the tokenizer (host status {}); usage estimates use the heuristic", e.0);
                        host::log(host, LogLevel::Warn, &msg);
                        self.to_load.clear();
                    }
                }
                self.config = Some(Arc::new(c));
                true
            }
            Err(e) => {
                host::log(host, LogLevel::Critical, &format!("genai filter: invalid {e}"));
                false
            }
        }
    }

    /// The tick after configuration: loads the tokenizer vocabularies (about a second of this
    /// worker's time inside V8, once per VM), then stops ticking.
    pub fn tick(&mut self, host: &dyn Host) {
        let _ = host.set_tick_period_ms(0);
        for encoding in std::mem::take(&mut self.to_load) {
            let start = host.now_ms().unwrap_or(0);
            let ok = genai_usage::preload(encoding);
            let ms = host.now_ms().unwrap_or(0).saturating_sub(start);
            let msg = if ok {
                format!("genai filter: tokenizer {encoding:?} loaded in {ms} ms")
            } else {
                format!("genai filter: tokenizer {encoding:?} not available; usage estimates use the heuristic")
            };
            host::log(host, LogLevel::Info, &msg);
        }
    }

    /// A new request; its clock starts now.
    pub fn request(&self, host: &dyn Host) -> Request {
        let now = host.now_ms().unwrap_or(0);
        Request {
            flow: self.config.clone().map(|c| RequestFlow::new(c, now)),
            metrics: Rc::clone(&self.metrics),
        }
    }
}

/// One request. `flow` is `None` only if the plugin was never configured, and then every
/// request is refused rather than forwarded unchecked.
pub struct Request {
    flow: Option<RequestFlow>,
    metrics: Rc<Metrics>,
}

impl Request {
    pub fn on_request_headers(&mut self, host: &dyn Host, end_of_stream: bool) -> Action {
        let Some(flow) = self.flow.as_mut() else {
            return unconfigured(host);
        };
        let pairs = match host.header_pairs(MapType::HttpRequestHeaders) {
            Ok(p) => p,
            Err(e) => return fail(host, flow, "read the request headers", e),
        };
        let outcome = flow.on_headers(&pairs, end_of_stream);
        if let Some(team) = flow.team() {
            let _ = host.set_property("genai_team", team.as_bytes());
        }
        match outcome {
            HeadersOutcome::HoldForBody { strip } => {
                for name in &strip {
                    if let Err(e) = host.remove_header(MapType::HttpRequestHeaders, name) {
                        return fail(host, flow, "remove a client header", e);
                    }
                }
                // Held until the body is read: needs `allow_on_headers_stop_iteration`.
                Action::Pause
            }
            HeadersOutcome::Respond(r) => respond(host, &r),
        }
    }

    pub fn on_request_body(&mut self, host: &dyn Host, body_size: usize, end_of_stream: bool) -> Action {
        let Some(flow) = self.flow.as_mut() else {
            return unconfigured(host);
        };
        if !flow.awaiting_body() {
            return Action::Continue;
        }
        match flow.on_body_progress(body_size, end_of_stream) {
            Some(BodyOutcome::Respond(r)) => return respond(host, &r),
            Some(_) => return Action::Pause, // keep buffering
            None => {}
        }
        let body = match host.buffer(BufferType::HttpRequestBody, 0, body_size) {
            Ok(b) => b,
            Err(e) => return fail(host, flow, "read the request body", e),
        };
        let outcome = flow.on_body(body);
        record_guard_decision(host, flow);
        match outcome {
            BodyOutcome::Forward(plan) => match apply(host, &plan, body_size) {
                Ok(()) => Action::Continue,
                Err((what, e)) => fail(host, flow, what, e),
            },
            BodyOutcome::Respond(r) => {
                if let Some((model, provider)) = flow.model() {
                    let _ = host.set_property("genai_model", model.as_bytes());
                    let _ = host.set_property("genai_provider", provider.as_bytes());
                }
                respond(host, &r)
            }
            BodyOutcome::Buffer => Action::Pause,
        }
    }

    pub fn on_request_trailers(&mut self, host: &dyn Host) -> Action {
        let Some(flow) = self.flow.as_mut() else {
            return unconfigured(host);
        };
        match flow.on_trailers() {
            Some(r) => respond(host, &r),
            None => Action::Continue,
        }
    }

    pub fn on_response_headers(&mut self, host: &dyn Host) -> Action {
        let Some(exchange) = self.flow.as_mut().and_then(RequestFlow::exchange) else {
            return Action::Continue;
        };
        let plan = exchange.on_response_headers(&mut HostResponseHead(host));
        if plan.remove_content_length {
            let _ = host.remove_header(MapType::HttpResponseHeaders, "content-length");
        }
        Action::Continue
    }

    pub fn on_response_body(&mut self, host: &dyn Host, body_size: usize, end_of_stream: bool) -> Action {
        let Some(exchange) = self.flow.as_mut().and_then(RequestFlow::exchange) else {
            return Action::Continue;
        };
        if !exchange.wants_body() {
            return Action::Continue;
        }
        // Not paused, so the buffer holds just this chunk.
        let mut read = || match host.buffer(BufferType::HttpResponseBody, 0, body_size) {
            Ok(c) => Some(c),
            Err(e) => {
                let msg = format!("genai filter: cannot read a response chunk (host status {})", e.0);
                host::log(host, LogLevel::Warn, &msg);
                None
            }
        };
        let mut now = || host.now_ms().unwrap_or(0);
        if let Forward::Replace(bytes) = exchange.on_response_body(body_size, end_of_stream, &mut read, &mut now) {
            if let Err(e) = host.set_buffer(BufferType::HttpResponseBody, 0, body_size, &bytes) {
                let msg = format!("genai filter: cannot rewrite a response chunk (host status {})", e.0);
                host::log(host, LogLevel::Error, &msg);
            }
        }
        Action::Continue
    }

    pub fn on_log(&mut self, host: &dyn Host) {
        if let Some(flow) = self.flow.as_mut() {
            let outcome = flow.finish(host.now_ms().unwrap_or(0));
            self.metrics.emit(host, &outcome.points());
        }
    }
}

/// The vocabularies the catalog's models are estimated with (none without the tokenizer).
fn encodings(c: &Compiled) -> Vec<Encoding> {
    if !cfg!(feature = "tokenizer") {
        return Vec::new();
    }
    let mut out: Vec<Encoding> = Vec::new();
    for m in &c.models {
        let e = genai_usage::encoding_for_model(&m.upstream_model);
        if !out.contains(&e) {
            out.push(e);
        }
    }
    out
}

/// The guardrails' decision as filter state, for the access log; and the audit record.
fn record_guard_decision(host: &dyn Host, flow: &RequestFlow) {
    let Some(g) = flow.guard_record() else {
        return;
    };
    let _ = host.set_property("genai_classification", g.classification.as_bytes());
    if !g.detected.is_empty() {
        let _ = host.set_property("genai_detected", g.detected.as_bytes());
    }
    let _ = host.set_property("genai_action", g.action.as_bytes());
    if let Some(prompt) = &g.prompt {
        let _ = host.set_property("genai_prompt", prompt.as_bytes());
    }
    if g.audit {
        // Types and counts only: the audit trail must not become a copy of the data.
        let request_id = host
            .header(MapType::HttpRequestHeaders, "x-request-id")
            .ok()
            .flatten()
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default();
        let (model, provider) = flow.model().unwrap_or(("", ""));
        let record = serde_json::json!({
            "audit": "genai",
            "request_id": request_id,
            "team": flow.team().unwrap_or_default(),
            "model": model,
            "provider": provider,
            "classification": g.classification,
            "detected": g.detected,
            "action": g.action,
        });
        host::log(host, LogLevel::Info, &format!("genai audit: {record}"));
    }
}

/// The response head through the host: one call per value the exchange asks for.
struct HostResponseHead<'a>(&'a dyn Host);

impl ResponseHead for HostResponseHead<'_> {
    fn status(&mut self) -> u32 {
        self.0
            .header(MapType::HttpResponseHeaders, ":status")
            .ok()
            .flatten()
            .and_then(|s| std::str::from_utf8(&s).ok()?.parse().ok())
            .unwrap_or(0)
    }

    fn header(&mut self, name: &str) -> Option<Vec<u8>> {
        self.0.header(MapType::HttpResponseHeaders, name).ok().flatten()
    }

    fn via_upstream(&mut self) -> bool {
        let details = self.0.property(&["response", "code_details"]).ok().flatten();
        details.as_deref() == Some(b"via_upstream".as_slice())
    }
}

/// Applies a forward plan while the headers are still held.
fn apply(host: &dyn Host, plan: &ForwardPlan, body_size: usize) -> Result<(), (&'static str, HostError)> {
    let headers = MapType::HttpRequestHeaders;
    for name in &plan.remove_headers {
        host.remove_header(headers, name)
            .map_err(|e| ("remove a request header", e))?;
    }
    for (name, value) in &plan.set_headers {
        // Changing request headers makes Envoy clear its route cache, so the route
        // matching `x-genai-upstream` is chosen.
        host.set_header(headers, name, value.as_str().as_bytes())
            .map_err(|e| ("set a request header", e))?;
    }
    if let Some(body) = &plan.new_body {
        host.set_buffer(BufferType::HttpRequestBody, 0, body_size, body)
            .map_err(|e| ("replace the request body", e))?;
    }
    // (`genai_team` was set at the header stage.)
    for (name, value) in [
        ("genai_model", plan.model.as_str()),
        ("genai_provider", plan.provider.as_str()),
    ] {
        host.set_property(name, value.as_bytes())
            .map_err(|e| ("record filter state", e))?;
    }
    Ok(())
}

fn respond(host: &dyn Host, r: &LocalResponse) -> Action {
    let code = r.code.map_or("ok", |c| c.as_str());
    if r.code.is_some() {
        let _ = host.set_property("genai_error_code", code.as_bytes());
    }
    let details = format!("genai_{code}");
    let mut headers: Vec<(&str, &str)> = vec![("content-type", "application/json")];
    if r.code.is_some() {
        headers.push(("x-genai-error-code", code));
    }
    headers.extend(r.headers.iter().map(|(k, v)| (*k, v.as_str())));
    if let Err(e) = host.send_response(r.status, &details, &headers, &r.body) {
        let msg = format!("genai filter: could not send a local response (host status {})", e.0);
        host::log(host, LogLevel::Error, &msg);
    }
    Action::Pause
}

fn fail(host: &dyn Host, flow: &mut RequestFlow, what: &str, e: HostError) -> Action {
    host::log(
        host,
        LogLevel::Error,
        &format!("genai filter: could not {what} (host status {})", e.0),
    );
    let r = flow.internal_error(what);
    respond(host, &r)
}

/// No valid configuration: refuse, in the same error shape as every other refusal.
fn unconfigured(host: &dyn Host) -> Action {
    host::log(
        host,
        LogLevel::Error,
        "genai filter: no configuration; refusing the request",
    );
    let err = GatewayError::new(
        ErrorCode::GatewayInternalError,
        "the gateway filter has no valid configuration; the request was not forwarded",
    );
    let body = err.body(genai_policy::config::raw::DEFAULT_RUNBOOK_BASE_URL);
    respond(
        host,
        &LocalResponse {
            status: err.status(),
            body,
            code: Some(err.code),
            headers: Vec::new(),
        },
    )
}

#[cfg(test)]
mod tests;
