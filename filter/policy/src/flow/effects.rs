//! What the host does after each request callback, as data. The filter's glue applies an
//! [`Effects`] value, in the field order below, and decides nothing itself: which headers to
//! remove and set, which bytes of the body to replace, the filter state the access log reads,
//! the audit record, the local reply, and whether the request goes on.
//!
//! Built from the flow's decisions (`HeadersOutcome`, `BodyOutcome`) and its state, so the
//! properties and records a request leaves are unit-tested here, natively.

use std::borrow::Cow;

use super::{BodyOutcome, ForwardPlan, HeaderValue, HeadersOutcome, LocalResponse, RequestFlow};
use crate::error::{ErrorCode, GatewayError};

/// Whether the request goes on after the effects are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Next {
    /// On to the router (and the provider).
    #[default]
    Continue,
    /// Held: the headers wait for the body, the body keeps buffering, or a local reply was
    /// sent.
    Pause,
}

/// Replaces the first `drain` bytes of the request body with `prefix`; the rest of the body
/// stays where it is, in Envoy's buffer (Envoy's `proxy_set_buffer_bytes` with start 0).
#[derive(Clone, PartialEq, Eq)]
pub struct BodyEdit {
    pub drain: usize,
    pub prefix: Vec<u8>,
    /// The new body's whole length (for `content-length`, already among the headers).
    pub new_len: usize,
}

impl std::fmt::Debug for BodyEdit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyEdit")
            .field("drain", &self.drain)
            .field("prefix_len", &self.prefix.len())
            .field("new_len", &self.new_len)
            .finish()
    }
}

impl BodyEdit {
    /// The edit applied to `body` (what Envoy will send on): for tests and dry runs.
    pub fn apply_to(&self, body: &[u8]) -> Vec<u8> {
        let mut out = self.prefix.clone();
        out.extend_from_slice(body.get(self.drain..).unwrap_or_default());
        out
    }
}

/// A local reply, ready to send: `details` shows in Envoy's `%RESPONSE_CODE_DETAILS%`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u32,
    pub details: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// What the host does, in this order.
#[derive(Debug, Default)]
pub struct Effects {
    /// Request headers to remove (the client's credentials and the gateway's own prefixes at
    /// the header stage; `transfer-encoding` when the body changes).
    pub remove_headers: Vec<Cow<'static, str>>,
    /// Request headers to set (changing them makes Envoy clear its route cache, so the route
    /// matching `x-genai-upstream` is chosen).
    pub set_headers: Vec<(&'static str, HeaderValue)>,
    pub body: Option<BodyEdit>,
    /// Filter state for the access log (`wasm.<name>`), each set once per request.
    pub properties: Vec<(&'static str, String)>,
    /// The audit record, one JSON line for Envoy's log.
    pub audit: Option<String>,
    pub reply: Option<Reply>,
    pub next: Next,
    /// A request that may fall back: its plan, which the glue registers where the attempt
    /// role finds it (and records the key as filter state) before the request goes on.
    pub attempts: Option<crate::fallback::SharedAttempts>,
}

impl Effects {
    fn property(&mut self, name: &'static str, value: impl Into<String>) {
        self.properties.push((name, value.into()));
    }

    /// A local reply and what the access log says about it.
    fn reply(&mut self, r: LocalResponse) {
        let code = r.code.map_or("ok", ErrorCode::as_str);
        let mut headers = vec![("content-type", "application/json".to_string())];
        if r.code.is_some() {
            self.property("genai_error_code", code);
            headers.push(("x-genai-error-code", code.to_string()));
        }
        headers.extend(r.headers);
        self.reply = Some(Reply {
            status: r.status,
            details: format!("genai_{code}"),
            headers,
            body: r.body,
        });
        self.next = Next::Pause;
    }
}

/// The provider always gets an identity encoding: the filter reads usage from the bytes it
/// sees (`accept-encoding` from the client would let a provider compress the answer).
const IDENTITY: (&str, &str) = ("accept-encoding", "identity");

impl RequestFlow {
    /// The request's headers: what to strip and whether to hold them for the body, or the
    /// local reply.
    pub fn request_headers(&mut self, pairs: &[(String, Vec<u8>)], end_of_stream: bool) -> Effects {
        let outcome = self.on_headers(pairs, end_of_stream);
        let mut fx = Effects::default();
        if let Some(team) = &self.team {
            fx.property("genai_team", team.clone());
        }
        match outcome {
            HeadersOutcome::HoldForBody { strip } => {
                fx.remove_headers = strip.into_iter().map(Cow::Owned).collect();
                // Held until the body is read: needs `allow_on_headers_stop_iteration`.
                fx.next = Next::Pause;
            }
            HeadersOutcome::Forward { strip, set_headers } => {
                // No body to wait for (the usage endpoint): on to the router at once.
                fx.remove_headers = strip.into_iter().map(Cow::Owned).collect();
                fx.set_headers = set_headers;
                fx.next = Next::Continue;
            }
            HeadersOutcome::Respond(r) => fx.reply(r),
        }
        fx
    }

    /// The response ended (its last chunk, or the request's log when it was cut off): with
    /// `rate_limits`, the request's tokens and cost as filter state, which Envoy's rate limit
    /// filter reads at stream end (`hits_addend: %FILTER_STATE(wasm.genai_cost:PLAIN)%`) to
    /// charge the budgets. Once per request; nothing for a request that is not billed.
    pub fn response_end(&mut self) -> Effects {
        let mut fx = Effects::default();
        if self.config.rate_limits.is_none() {
            return fx;
        }
        if let Some(charge) = self.exchange().and_then(super::Exchange::take_charge) {
            for (name, value) in charge.properties() {
                fx.property(name, value);
            }
        }
        fx
    }

    /// A body chunk arrived, `buffered` bytes so far. `None`: the body is complete; read it
    /// and call [`RequestFlow::request_body`]. `Some`: apply these effects and stop there.
    pub fn request_body_progress(&mut self, buffered: usize, end_of_stream: bool) -> Option<Effects> {
        if !self.awaiting_body() {
            return Some(Effects::default());
        }
        match self.on_body_progress(buffered, end_of_stream)? {
            BodyOutcome::Respond(r) => {
                let mut fx = Effects::default();
                fx.reply(r);
                Some(fx)
            }
            BodyOutcome::Buffer | BodyOutcome::Forward(_) => Some(Effects {
                next: Next::Pause,
                ..Effects::default()
            }),
        }
    }

    /// The complete body: forward it (headers, body edit, filter state, audit) or refuse it.
    pub fn request_body(&mut self, body: Vec<u8>) -> Effects {
        let body_len = body.len();
        let outcome = self.on_body(body);
        let mut fx = Effects::default();
        self.guard_effects(&mut fx);
        match outcome {
            BodyOutcome::Forward(plan) => self.forward_effects(plan, body_len, &mut fx),
            BodyOutcome::Respond(r) => {
                if let Some((model, provider)) = &self.model {
                    fx.property("genai_model", model.clone());
                    fx.property("genai_provider", provider.clone());
                }
                fx.reply(r);
            }
            BodyOutcome::Buffer => fx.next = Next::Pause,
        }
        fx
    }

    /// Trailers: refused while the request is held (nothing is forwarded).
    pub fn request_trailers(&mut self) -> Effects {
        let mut fx = Effects::default();
        if let Some(r) = self.on_trailers() {
            fx.reply(r);
        }
        fx
    }

    /// A host call failed while the request was held: a 500, nothing forwarded.
    pub fn failed(&mut self, what: &str) -> Effects {
        let mut fx = Effects::default();
        fx.reply(self.internal_error(what));
        fx
    }

    /// The guardrails' decision for the access log, and the audit record (types and counts
    /// only: the audit trail must not become a copy of the data).
    fn guard_effects(&self, fx: &mut Effects) {
        let Some(g) = &self.guard else {
            return;
        };
        fx.property("genai_classification", g.classification);
        if !g.detected.is_empty() {
            fx.property("genai_detected", g.detected.clone());
        }
        fx.property("genai_action", g.action);
        if !g.injection_summary.is_empty() {
            fx.property("genai_injection", g.injection_summary.clone());
        }
        if let Some(prompt) = &g.prompt {
            fx.property("genai_prompt", prompt.clone());
        }
        if g.audit {
            let (model, provider) = self.model().unwrap_or(("", ""));
            let record = serde_json::json!({
                "audit": "genai",
                "request_id": self.request_id.as_deref().unwrap_or_default(),
                "team": self.team().unwrap_or_default(),
                "model": model,
                "provider": provider,
                "classification": g.classification,
                "detected": g.detected,
                "action": g.action,
            });
            fx.audit = Some(format!("genai audit: {record}"));
        }
    }

    /// A forward plan as effects: only what differs from what the client sent.
    fn forward_effects(&self, plan: ForwardPlan, body_len: usize, fx: &mut Effects) {
        for name in plan.remove_headers {
            // Removing a header the client did not send is a host call for nothing.
            if name != "transfer-encoding" || self.client_transfer_encoding {
                fx.remove_headers.push(Cow::Borrowed(name));
            }
        }
        for (name, value) in plan.set_headers {
            if name == ":path" && value.as_str() == self.client_path {
                continue;
            }
            fx.set_headers.push((name, value));
        }
        fx.set_headers
            .push((IDENTITY.0, HeaderValue::Plain(IDENTITY.1.to_string())));
        if let Some(mut new_body) = plan.new_body {
            // Only the bytes before the untouched tail are replaced.
            let tail = plan.unchanged_tail.min(body_len).min(new_body.len());
            let new_len = new_body.len();
            new_body.truncate(new_len.saturating_sub(tail));
            fx.body = Some(BodyEdit {
                drain: body_len.saturating_sub(tail),
                prefix: new_body,
                new_len,
            });
        }
        // (`genai_team` was set at the header stage.)
        fx.property("genai_model", plan.model);
        fx.property("genai_provider", plan.provider);
        fx.attempts = plan.attempts;
        fx.next = Next::Continue;
    }
}

impl Effects {
    /// What a request gets when the filter has no valid configuration: a 500, nothing
    /// forwarded.
    pub fn unconfigured() -> Effects {
        let err = GatewayError::new(
            ErrorCode::GatewayInternalError,
            "the gateway filter has no valid configuration; the request was not forwarded",
        );
        let body = err.body(crate::config::raw::DEFAULT_RUNBOOK_BASE_URL);
        let mut fx = Effects::default();
        fx.reply(LocalResponse {
            status: err.status(),
            body,
            code: Some(err.code),
            headers: Vec::new(),
        });
        fx
    }
}

#[cfg(test)]
mod tests;
