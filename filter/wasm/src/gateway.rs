//! The gateway role: the filter on the listener, in front of the router. Its root reads the
//! configuration; each request is a [`Request`] that reads from Envoy, asks the policy, and
//! applies the answer. Any host call that fails while a request is held fails it closed
//! (500, not forwarded).
//!
//! Everything here talks to Envoy through [`Host`], so `tests` below drive it with the
//! recording fake and pin its host calls.

use std::rc::Rc;
use std::sync::Arc;

use genai_policy::flow::{Effects, Forward, Next, ResponseHead};
use genai_policy::metrics::budget_points;
use genai_policy::{compile, Compiled, RequestFlow};
use proxy_wasm::types::Action;

use genai_usage::Encoding;

use crate::attempt::{self, Registration};
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
                self.metrics.note_memory(host);
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
        self.metrics.note_memory(host);
    }

    /// A new request; its clock starts now.
    pub fn request(&self, host: &dyn Host) -> Request {
        let now = host.now_ms().unwrap_or(0);
        Request {
            flow: self.config.clone().map(|c| RequestFlow::new(c, now)),
            metrics: Rc::clone(&self.metrics),
            attempts: None,
        }
    }
}

/// One request. `flow` is `None` only if the plugin was never configured, and then every
/// request is refused rather than forwarded unchecked.
pub struct Request {
    flow: Option<RequestFlow>,
    metrics: Rc<Metrics>,
    /// A request that may fall back: its plan, findable by its attempts until it ends.
    attempts: Option<Registration>,
}

impl Request {
    pub fn on_request_headers(&mut self, host: &dyn Host, end_of_stream: bool) -> Action {
        let Some(flow) = self.flow.as_mut() else {
            return apply(host, None, Effects::unconfigured());
        };
        if flow.config().wants_peer_identity() {
            // The client certificate's URI SAN (a SPIFFE id) names the workload.
            let san = host
                .property(&["connection", "uri_san_peer_certificate"])
                .ok()
                .flatten();
            flow.set_peer_uri_san(san.map(|v| String::from_utf8_lossy(&v).into_owned()));
        }
        let fx = match host.header_pairs(MapType::HttpRequestHeaders) {
            Ok(pairs) => flow.request_headers(&pairs, end_of_stream),
            Err(e) => failed(host, flow, "read the request headers", e),
        };
        apply(host, Some(flow), fx)
    }

    pub fn on_request_body(&mut self, host: &dyn Host, body_size: usize, end_of_stream: bool) -> Action {
        let Some(flow) = self.flow.as_mut() else {
            return apply(host, None, Effects::unconfigured());
        };
        if let Some(fx) = flow.request_body_progress(body_size, end_of_stream) {
            return apply(host, Some(flow), fx);
        }
        let mut fx = match host.buffer(BufferType::HttpRequestBody, 0, body_size) {
            Ok(body) => flow.request_body(body),
            Err(e) => failed(host, flow, "read the request body", e),
        };
        if let Some(shared) = fx.attempts.take() {
            // The attempts (the module again, on the chain's route) find the plan by this
            // key; without it a fallback attempt is never sent.
            match attempt::register(&shared) {
                Some(reg) => {
                    fx.properties.push((attempt::PLAN_PROPERTY, reg.key()));
                    self.attempts = Some(reg);
                }
                None => fx = failed(host, flow, "register the fallback plan", HostError(host::MALFORMED)),
            }
        }
        apply(host, Some(flow), fx)
    }

    pub fn on_request_trailers(&mut self, host: &dyn Host) -> Action {
        let Some(flow) = self.flow.as_mut() else {
            return apply(host, None, Effects::unconfigured());
        };
        let fx = flow.request_trailers();
        apply(host, Some(flow), fx)
    }

    pub fn on_response_headers(&mut self, host: &dyn Host) -> Action {
        let Some(exchange) = self.flow.as_mut().and_then(RequestFlow::exchange) else {
            return Action::Continue;
        };
        let plan = exchange.on_response_headers(&mut HostResponseHead(host));
        if plan.remove_content_length {
            let _ = host.remove_header(MapType::HttpResponseHeaders, "content-length");
        }
        // A fallback served, or was skipped: the access log names the model that served.
        for (name, value) in &plan.properties {
            let _ = host.set_property(name, value.as_bytes());
        }
        Action::Continue
    }

    pub fn on_response_body(&mut self, host: &dyn Host, body_size: usize, end_of_stream: bool) -> Action {
        let Some(flow) = self.flow.as_mut() else {
            return Action::Continue;
        };
        let Some(exchange) = flow.exchange() else {
            return Action::Continue;
        };
        if exchange.wants_body() {
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
        }
        if end_of_stream {
            // The charge Envoy's rate limit filters read at stream end (with `rate_limits`).
            finish_effects(host, flow.response_end());
        }
        Action::Continue
    }

    pub fn on_log(&mut self, host: &dyn Host) {
        if let Some(flow) = self.flow.as_mut() {
            // A response cut off before its end: charge what it used (Envoy reads the filter
            // state when the stream is destroyed, after the access log). Once per request.
            finish_effects(host, flow.response_end());
            let outcome = flow.finish(host.now_ms().unwrap_or(0));
            self.metrics.emit_outcome(host, &outcome);
        }
        self.metrics.note_memory(host);
    }
}

/// Applies the policy's effects, in order. A host call that fails while the request is held
/// (removing or setting a header, replacing the body) fails it closed: a 500, not forwarded.
fn apply(host: &dyn Host, flow: Option<&mut RequestFlow>, fx: Effects) -> Action {
    match apply_changes(host, &fx) {
        Ok(()) => finish_effects(host, fx),
        Err((what, e)) => match flow {
            Some(flow) => {
                let fx = failed(host, flow, what, e);
                finish_effects(host, fx)
            }
            None => finish_effects(host, Effects::unconfigured()),
        },
    }
}

/// The request's changes: headers and body.
fn apply_changes(host: &dyn Host, fx: &Effects) -> Result<(), (&'static str, HostError)> {
    let headers = MapType::HttpRequestHeaders;
    for name in &fx.remove_headers {
        host.remove_header(headers, name)
            .map_err(|e| ("remove a request header", e))?;
    }
    for (name, value) in &fx.set_headers {
        host.set_header(headers, name, value.as_str().as_bytes())
            .map_err(|e| ("set a request header", e))?;
    }
    if let Some(body) = &fx.body {
        host.set_buffer(BufferType::HttpRequestBody, 0, body.drain, &body.prefix)
            .map_err(|e| ("replace the request body", e))?;
    }
    Ok(())
}

/// Filter state, the audit record, the local reply; then whether the request goes on.
fn finish_effects(host: &dyn Host, fx: Effects) -> Action {
    for (name, value) in &fx.properties {
        if let Err(e) = host.set_property(name, value.as_bytes()) {
            let msg = format!("genai filter: cannot record {name} (host status {})", e.0);
            host::log(host, LogLevel::Warn, &msg);
        }
    }
    if let Some(audit) = &fx.audit {
        host::log(host, LogLevel::Info, audit);
    }
    if let Some(r) = &fx.reply {
        let headers: Vec<(&str, &str)> = r.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        if let Err(e) = host.send_response(r.status, &r.details, &headers, &r.body) {
            let msg = format!("genai filter: could not send a local response (host status {})", e.0);
            host::log(host, LogLevel::Error, &msg);
        }
    }
    match fx.next {
        Next::Continue => Action::Continue,
        Next::Pause => Action::Pause,
    }
}

/// A failed host call while the request is held: logged, and the policy's 500.
fn failed(host: &dyn Host, flow: &mut RequestFlow, what: &'static str, e: HostError) -> Effects {
    let msg = format!("genai filter: could not {what} (host status {})", e.0);
    host::log(host, LogLevel::Error, &msg);
    flow.failed(what)
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

#[cfg(test)]
mod tests;
