//! One request's attempts, as Envoy makes them.
//!
//! The gateway role (the filter on the listener) decides and prepares the request for the
//! requested model, as it always did. When the request may fall back, its route's cluster is
//! an aggregate of one cluster per target, and the module runs again on every attempt as an
//! upstream filter of that cluster. Each attempt learns which target Envoy picked (the
//! endpoint's metadata) and asks [`Attempts::begin`] what to change. Two facts of Envoy shape
//! the answer, both seen in real Envoy 1.36 and 1.40:
//!
//! - every attempt gets the request body as the router buffered it (the gateway's version),
//!   so an attempt's body change is its own;
//! - the attempts share one request header map, so what one attempt set (a credential, a
//!   `content-length`) is still there for the next, and each attempt sets or removes every
//!   header that depends on the target.
//!
//! The same object records how each attempt ended, for the accounting ([`super::report`]).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use super::{target_headers, Chain, CREDENTIAL_HEADERS};
use crate::api::Api;
use crate::config::Compiled;
use crate::error::{Dialect, ErrorCode, GatewayError};
use crate::flow::{HeaderValue, LocalResponse};
use crate::request::strings::encode;

/// Shared by the request's gateway context (which follows the response and does the
/// accounting) and its attempts' contexts, in the same VM on the same worker.
pub type SharedAttempts = Rc<RefCell<Attempts>>;

/// What the attempts need to know, from the gateway role's decision.
#[derive(Debug)]
pub struct AttemptPlan {
    pub config: Arc<Compiled>,
    pub api: Api,
    pub chain: Chain,
    /// The client's query string (`?beta=true`), kept on canonical paths.
    pub query: String,
    pub client_sent_anthropic_version: bool,
    /// Where the `model` value is in the body as the gateway forwards it...
    pub model_span: (usize, usize),
    /// ... the bytes there (a JSON string) ...
    pub forwarded_model: Vec<u8>,
    /// ... and that body's length.
    pub forwarded_len: usize,
}

/// How an attempt without a response head ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// No connection: refused, connect timeout, TLS failure.
    ConnectFailure,
    /// Connected, then closed or reset before the head.
    Reset,
    /// Connected, and no head within the first-byte timeout.
    Timeout,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub target: usize,
    started_ms: u64,
    /// The response head's status, if one came.
    pub status: Option<u32>,
    pub end: Option<End>,
    /// The attempt was refused by the module itself and never sent.
    pub refused: bool,
}

/// What an attempt's filter does before the request leaves.
#[derive(Debug)]
pub enum AttemptStart {
    /// The request is right for this target as it is.
    Continue,
    /// Change these (if [`AttemptRewrite::needs_body`], hold the headers until the body is
    /// complete).
    Rewrite(AttemptRewrite),
    /// Never send it: answer this instead (it ends the request: Envoy sends an upstream
    /// filter's local reply to the client).
    Refuse(LocalResponse),
}

#[derive(Debug)]
pub struct AttemptRewrite {
    pub set_headers: Vec<(&'static str, HeaderValue)>,
    pub remove_headers: Vec<&'static str>,
    /// The target's `model` (a JSON string) and where it goes, when it differs from the
    /// forwarded body's.
    model: Option<(Vec<u8>, (usize, usize))>,
}

impl AttemptRewrite {
    pub fn needs_body(&self) -> bool {
        self.model.is_some()
    }

    /// This attempt's body, made from the forwarded one; `None` if the forwarded body is not
    /// the one planned for (then the attempt must not be sent).
    pub fn body(&self, forwarded: &[u8]) -> Option<Vec<u8>> {
        let Some((value, (start, end))) = &self.model else {
            return Some(forwarded.to_vec());
        };
        let mut out = Vec::with_capacity(forwarded.len() + value.len());
        out.extend_from_slice(forwarded.get(..*start)?);
        out.extend_from_slice(value);
        out.extend_from_slice(forwarded.get(*end..)?);
        Some(out)
    }
}

/// One request's plan and the log of its attempts.
#[derive(Debug)]
pub struct Attempts {
    plan: AttemptPlan,
    /// The target the shared request headers are right for now (credential, `:path`,
    /// `anthropic-version`, `content-length`): the requested model until an attempt changes
    /// them.
    headers_for: usize,
    log: Vec<Attempt>,
}

/// Most attempts recorded: a chain has at most 5 targets; this bounds a misconfigured route
/// that retries more.
const MAX_LOGGED: usize = 16;

impl Attempts {
    pub fn new(plan: AttemptPlan) -> Self {
        let headers_for = plan.chain.targets.first().copied().unwrap_or_default();
        Attempts {
            plan,
            headers_for,
            log: Vec::new(),
        }
    }

    pub fn shared(plan: AttemptPlan) -> SharedAttempts {
        Rc::new(RefCell::new(Attempts::new(plan)))
    }

    pub fn plan(&self) -> &AttemptPlan {
        &self.plan
    }

    pub fn log(&self) -> &[Attempt] {
        &self.log
    }

    /// An attempt starts for the target Envoy picked (the catalog model named in the
    /// endpoint's metadata, `None` if it has none). Returns the attempt's number, for
    /// [`Attempts::on_response`] and [`Attempts::on_done`].
    pub fn begin(&mut self, target: Option<&str>, now_ms: u64) -> (usize, AttemptStart) {
        let config = Arc::clone(&self.plan.config);
        let index = target.and_then(|t| config.model_index(t));
        let approved = index.filter(|i| self.plan.chain.targets.contains(i));
        let id = self.log.len();
        let Some(t) = approved else {
            // Defence in depth: the route's cluster holds only the chain's targets, so this
            // means a configuration Envoy and the filter disagree on. Never send.
            if self.log.len() < MAX_LOGGED {
                self.log.push(Attempt {
                    target: index.unwrap_or(self.headers_for),
                    started_ms: now_ms,
                    status: None,
                    end: None,
                    refused: true,
                });
            }
            let err = GatewayError::new(
                ErrorCode::GatewayInternalError,
                format!(
                    "an attempt was routed to {}, which this request may not use; it was not sent",
                    target.map_or_else(|| "an endpoint without a target".to_string(), |t| format!("`{t}`"))
                ),
            );
            return (id, AttemptStart::Refuse(refusal(&config, self.plan.api, &err)));
        };
        if self.log.len() < MAX_LOGGED {
            self.log.push(Attempt {
                target: t,
                started_ms: now_ms,
                status: None,
                end: None,
                refused: false,
            });
        }
        let model = self.target_model(t);
        let same_model = model.as_deref() == Some(self.plan.forwarded_model.as_slice());
        if t == self.headers_for && same_model {
            return (id, AttemptStart::Continue);
        }
        match self.rewrite(t, model.filter(|_| !same_model)) {
            Some(r) => {
                self.headers_for = t;
                (id, AttemptStart::Rewrite(r))
            }
            None => {
                let err = GatewayError::new(
                    ErrorCode::GatewayInternalError,
                    "the gateway could not prepare a fallback attempt; it was not sent",
                );
                (id, AttemptStart::Refuse(refusal(&config, self.plan.api, &err)))
            }
        }
    }

    /// The attempt's response head arrived.
    pub fn on_response(&mut self, attempt: usize, status: u32) {
        if let Some(a) = self.log.get_mut(attempt) {
            a.status = Some(status);
        }
    }

    /// The attempt is over. `connected`: a connection to the provider was made;
    /// `transport_failure`: Envoy recorded why it could not connect.
    /// Called only for an attempt that is not [`settled`](Self::settled).
    pub fn on_done(&mut self, attempt: usize, connected: bool, transport_failure: bool, now_ms: u64) {
        if self.settled(attempt) {
            return;
        }
        let first_byte_ms = self.first_byte_ms();
        let Some(a) = self.log.get_mut(attempt) else {
            return;
        };
        a.end = Some(if transport_failure || !connected {
            End::ConnectFailure
        } else if now_ms.saturating_sub(a.started_ms).saturating_add(TIMER_SLACK_MS) >= first_byte_ms {
            // Envoy resets the attempt when its per-try timer fires; nothing else tells
            // the filter it was a timeout. The timer starts after the body went out, so an
            // attempt that took this long was cut by it.
            End::Timeout
        } else {
            End::Reset
        });
    }

    /// Whether how the attempt ended is already known (a response head, an end, a refusal),
    /// or it is not in the log: then [`on_done`](Self::on_done) records nothing, and the
    /// glue need not read the upstream's connection state for it (three host calls).
    pub fn settled(&self, attempt: usize) -> bool {
        self.log
            .get(attempt)
            .is_none_or(|a| a.status.is_some() || a.end.is_some() || a.refused)
    }

    /// The target whose response reached the client: the last attempt with a response head.
    pub fn served(&self) -> Option<usize> {
        self.log.iter().rev().find(|a| a.status.is_some()).map(|a| a.target)
    }

    /// The last target tried, if any.
    pub fn last_target(&self) -> Option<usize> {
        self.log.iter().rev().find(|a| !a.refused).map(|a| a.target)
    }

    /// The chain's first-byte timeout (the requested model's: its route's).
    fn first_byte_ms(&self) -> u64 {
        self.plan
            .chain
            .targets
            .first()
            .and_then(|i| self.plan.config.models.get(*i))
            .map_or(u64::MAX, |m| m.timeouts.first_byte_ms)
    }

    /// `t`'s `model` value, as a JSON string.
    fn target_model(&self, t: usize) -> Option<Vec<u8>> {
        self.plan.config.models.get(t).map(|m| encode(&m.upstream_model))
    }

    fn rewrite(&self, t: usize, model: Option<Vec<u8>>) -> Option<AttemptRewrite> {
        let p = &self.plan;
        let mut set_headers = target_headers(&p.config, t, p.api, &p.query, p.client_sent_anthropic_version)?;
        let kept: Vec<&str> = set_headers.iter().map(|(n, _)| *n).collect();
        let mut remove_headers: Vec<&'static str> = CREDENTIAL_HEADERS
            .iter()
            .copied()
            .filter(|h| !kept.contains(h))
            .collect();
        let len = match &model {
            Some(m) => p
                .forwarded_len
                .checked_sub(p.model_span.1.checked_sub(p.model_span.0)?)?
                .checked_add(m.len())?,
            None => p.forwarded_len,
        };
        set_headers.push(("content-length", HeaderValue::Plain(len.to_string())));
        remove_headers.push("transfer-encoding");
        Some(AttemptRewrite {
            set_headers,
            remove_headers,
            model: model.map(|m| (m, p.model_span)),
        })
    }
}

/// Envoy's timers fire on its event loop and the host clock is read in milliseconds.
const TIMER_SLACK_MS: u64 = 20;

/// In the shape of the API called (Anthropic's on `/v1/messages`).
fn refusal(config: &Compiled, api: Api, err: &GatewayError) -> LocalResponse {
    let dialect = Dialect::for_path(api.path().as_bytes());
    LocalResponse {
        status: err.status(),
        body: err.body_for(dialect, &config.runbook_base_url, None),
        code: Some(err.code),
        headers: Vec::new(),
    }
}
