//! The attempt role: the same module as an upstream HTTP filter on a fallback chain's
//! aggregate cluster (`root_id: genai_attempt`), run by Envoy once per attempt, before the
//! codec. It changes nothing itself: it finds the request's plan, which the gateway role
//! registered in this VM (the two share it: the same `vm_config`, the same worker), asks it
//! what this attempt's target needs (`genai_policy::fallback::Attempts`) and applies that.
//!
//! Fail closed: an attempt without a plan, or routed to a target the plan does not allow, is
//! answered here with 500 `gateway_internal_error` and never sent. (Envoy sends an upstream
//! filter's local reply straight to the client: it ends the request, no later attempt runs.)

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use genai_policy::fallback::{AttemptRewrite, AttemptStart, Attempts, SharedAttempts};
use genai_policy::flow::LocalResponse;
use genai_policy::{ErrorCode, GatewayError};
use proxy_wasm::types::Action;

use crate::host::{self, BufferType, Host, LogLevel, MapType};

/// The root id that selects this role (`envoy/gateway.yaml`, rendered by scripts/render-envoy).
pub const ROOT_ID: &str = "genai_attempt";
/// Filter state the gateway role sets on a request that may fall back: its plan's key here.
pub const PLAN_PROPERTY: &str = "genai_attempts";
/// Where Envoy's rendered target clusters name the catalog model of their endpoint.
const TARGET_METADATA: [&str; 5] = ["xds", "upstream_host_metadata", "filter_metadata", "genai", "target"];

thread_local! {
    /// The plans of this worker's requests that may fall back, by key. Weak: the request
    /// owns its plan, and its registration removes the entry when the request ends.
    static PLANS: RefCell<Plans> = RefCell::new(Plans::default());
}

#[derive(Default)]
struct Plans {
    next: u64,
    by_key: HashMap<u64, Weak<RefCell<Attempts>>>,
}

/// A request's entry in [`PLANS`], removed when dropped (the request's context ends).
#[derive(Debug)]
pub struct Registration(u64);

impl Registration {
    /// The key, as the filter state value the attempts read.
    pub fn key(&self) -> String {
        self.0.to_string()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let key = self.0;
        let _ = PLANS.try_with(|p| {
            if let Ok(mut p) = p.try_borrow_mut() {
                p.by_key.remove(&key);
            }
        });
    }
}

/// Makes `attempts` findable by this worker's attempt filters.
pub fn register(attempts: &SharedAttempts) -> Option<Registration> {
    PLANS
        .try_with(|p| {
            let mut p = p.try_borrow_mut().ok()?;
            p.next = p.next.wrapping_add(1);
            let key = p.next;
            p.by_key.insert(key, Rc::downgrade(attempts));
            Some(Registration(key))
        })
        .ok()
        .flatten()
}

fn lookup(key: &[u8]) -> Option<SharedAttempts> {
    let key: u64 = std::str::from_utf8(key).ok()?.parse().ok()?;
    PLANS
        .try_with(|p| p.try_borrow().ok()?.by_key.get(&key)?.upgrade())
        .ok()
        .flatten()
}

/// The attempt role needs no configuration of its own: the plan carries the gateway's.
#[derive(Default)]
pub struct Root;

impl Root {
    pub fn configure(&mut self, host: &dyn Host) -> bool {
        host::log(host, LogLevel::Info, "genai attempt filter configured");
        true
    }

    pub fn request(&self) -> Request {
        Request::default()
    }
}

/// One attempt.
#[derive(Default)]
pub struct Request {
    attempts: Option<SharedAttempts>,
    number: usize,
    /// Held until the body is complete.
    pending: Option<AttemptRewrite>,
}

impl Request {
    pub fn on_request_headers(&mut self, host: &dyn Host, end_of_stream: bool) -> Action {
        let key = host.property(&["filter_state", &format!("wasm.{PLAN_PROPERTY}")]);
        let target = host.property(&TARGET_METADATA).ok().flatten();
        let target = target.as_deref().and_then(|t| std::str::from_utf8(t).ok());
        let Some(attempts) = key.ok().flatten().and_then(|k| lookup(&k)) else {
            return without_plan(host, target);
        };
        let now = host.now_ms().unwrap_or(0);
        let Ok(mut plan) = attempts.try_borrow_mut() else {
            return refuse(host, "read the request's fallback plan");
        };
        let (number, start) = plan.begin(target, now);
        drop(plan);
        self.number = number;
        self.attempts = Some(attempts);
        match start {
            AttemptStart::Continue => Action::Continue,
            AttemptStart::Refuse(r) => {
                host::log(
                    host,
                    LogLevel::Error,
                    &format!("genai attempt filter: attempt to {target:?} refused: not in the request's chain"),
                );
                respond(host, &r)
            }
            AttemptStart::Rewrite(r) if !r.needs_body() => match set_headers(host, &r) {
                Ok(()) => Action::Continue,
                Err(what) => refuse(host, what),
            },
            AttemptStart::Rewrite(_) if end_of_stream => refuse(host, "rewrite a request without a body"),
            AttemptStart::Rewrite(r) => {
                // Held (needs `allow_on_headers_stop_iteration`) until the body is complete.
                self.pending = Some(r);
                Action::Pause
            }
        }
    }

    pub fn on_request_body(&mut self, host: &dyn Host, body_size: usize, end_of_stream: bool) -> Action {
        let Some(r) = self.pending.as_ref() else {
            return Action::Continue;
        };
        if !end_of_stream {
            return Action::Pause;
        }
        let body = match host.buffer(BufferType::HttpRequestBody, 0, body_size) {
            Ok(b) => b,
            Err(_) => return refuse(host, "read the request body"),
        };
        let Some(new_body) = r.body(&body) else {
            return refuse(host, "rewrite the request body for the fallback");
        };
        if let Err(what) = set_headers(host, r) {
            return refuse(host, what);
        }
        if host
            .set_buffer(BufferType::HttpRequestBody, 0, body_size, &new_body)
            .is_err()
        {
            return refuse(host, "replace the request body");
        }
        self.pending = None;
        Action::Continue
    }

    pub fn on_response_headers(&mut self, host: &dyn Host) -> Action {
        let status = host
            .header(MapType::HttpResponseHeaders, ":status")
            .ok()
            .flatten()
            .and_then(|s| std::str::from_utf8(&s).ok()?.parse::<u32>().ok())
            .unwrap_or(0);
        if let Some(mut a) = self.attempts.as_ref().and_then(|a| a.try_borrow_mut().ok()) {
            a.on_response(self.number, status);
        }
        Action::Continue
    }

    /// The attempt is over (answered, failed, reset or cut by a timeout).
    pub fn on_done(&mut self, host: &dyn Host) {
        let Some(attempts) = self.attempts.take() else {
            return;
        };
        // An attempt that had its response head (the common case) is settled: nothing to read.
        if attempts.try_borrow().map_or(true, |a| a.settled(self.number)) {
            return;
        }
        let connected = matches!(host.property(&["upstream", "local_address"]), Ok(Some(a)) if !a.is_empty());
        let transport_failure =
            matches!(host.property(&["upstream", "transport_failure_reason"]), Ok(Some(r)) if !r.is_empty());
        let now = host.now_ms().unwrap_or(0);
        if let Ok(mut a) = attempts.try_borrow_mut() {
            a.on_done(self.number, connected, transport_failure, now);
        };
    }
}

/// No plan in this VM: the gateway filter runs in another one (its module was replaced
/// through ECDS while this filter kept the old one), or it registered none. The request was
/// prepared for the chain's first target, which the route names (`model:<first>+...`): that
/// one attempt may go as it is; any other could carry that target's credential elsewhere,
/// so it is refused.
fn without_plan(host: &dyn Host, target: Option<&str>) -> Action {
    let route = host.property(&["xds", "route_name"]).ok().flatten();
    let first = route
        .as_deref()
        .and_then(|r| std::str::from_utf8(r).ok())
        .and_then(|r| r.strip_prefix(genai_policy::config::chains::MODEL_ROUTE_PREFIX))
        .and_then(|chain| chain.split('+').next());
    if target.is_some() && first == target {
        host::log(
            host,
            LogLevel::Warn,
            "genai attempt filter: no fallback plan for this request (the genai filter runs in another VM); \
             sending it to the requested model only",
        );
        return Action::Continue;
    }
    refuse(
        host,
        "find the request's fallback plan (is the genai filter on the listener, in the same VM?)",
    )
}

/// Sends a local reply (it goes to the client: Envoy does not retry an upstream filter's
/// reply) and stops the attempt.
fn respond(host: &dyn Host, r: &LocalResponse) -> Action {
    let code = r.code.map_or("ok", |c| c.as_str());
    let details = format!("genai_{code}");
    let mut headers: Vec<(&str, &str)> = vec![("content-type", "application/json")];
    if r.code.is_some() {
        headers.push(("x-genai-error-code", code));
    }
    headers.extend(r.headers.iter().map(|(k, v)| (*k, v.as_str())));
    if let Err(e) = host.send_response(r.status, &details, &headers, &r.body) {
        let msg = format!(
            "genai attempt filter: could not send a local response (host status {})",
            e.0
        );
        host::log(host, LogLevel::Error, &msg);
    }
    Action::Pause
}

fn set_headers(host: &dyn Host, r: &AttemptRewrite) -> Result<(), &'static str> {
    let map = MapType::HttpRequestHeaders;
    for name in &r.remove_headers {
        host.remove_header(map, name).map_err(|_| "remove a request header")?;
    }
    for (name, value) in &r.set_headers {
        host.set_header(map, name, value.as_str().as_bytes())
            .map_err(|_| "set a request header")?;
    }
    Ok(())
}

/// Answers with 500 and sends nothing: the request ends here.
fn refuse(host: &dyn Host, what: &str) -> Action {
    host::log(
        host,
        LogLevel::Error,
        &format!("genai attempt filter: could not {what}"),
    );
    let err = GatewayError::new(
        ErrorCode::GatewayInternalError,
        format!("the gateway could not {what}; this attempt was not sent"),
    );
    respond(
        host,
        &LocalResponse {
            status: err.status(),
            body: err.body(genai_policy::config::raw::DEFAULT_RUNBOOK_BASE_URL),
            code: Some(err.code),
            headers: Vec::new(),
        },
    )
}

#[cfg(test)]
mod tests;
