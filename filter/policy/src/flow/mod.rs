//! Per-request state, advanced by each Envoy callback.
//!
//! Headers: recognise the endpoint, authenticate, decide what to strip, then hold the
//! request (Envoy keeps the headers back) until the whole body has arrived. Body: parse,
//! resolve the model, and produce the [`ForwardPlan`] the host applies before letting the
//! request go. Every refusal is a [`LocalResponse`] made before anything goes upstream.
//! Response: an [`Exchange`] follows the forwarded request to its end, and [`RequestFlow::finish`]
//! says what the request leaves behind for the metrics.

mod effects;
pub mod exchange;
pub mod limits;

use std::fmt;
use std::sync::Arc;

use serde_json::json;

use crate::api::{endpoint, Api, Endpoint};
use crate::auth::authenticate_caller;
use crate::classification::Classification;
use crate::config::{Caller, Compiled, Model, Provider};
use crate::error::{Dialect, ErrorCode, GatewayError};
use crate::fallback::{self, AttemptPlan, Attempts, SharedAttempts};
use crate::guardrails::verdict::{judge, Target, Verdict};
use crate::headers::{Headers, UPSTREAM_HEADER};
use crate::metrics::{Origin, Outcome, SeriesIds};
use crate::request::{self, strings::apply_edits};
use crate::secret::Secret;
pub use effects::{BodyEdit, Effects, Next, Reply};
use exchange::ExchangeStart;
pub use exchange::{Exchange, ResponseHead, ResponseHeadersPlan};
pub use genai_usage::Forward;

/// A response the gateway sends itself instead of forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalResponse {
    pub status: u32,
    pub body: Vec<u8>,
    /// The error code, for logs; `None` for a successful local answer.
    pub code: Option<ErrorCode>,
    /// Extra response headers (e.g. `allow` on a 405).
    pub headers: Vec<(&'static str, String)>,
}

impl LocalResponse {
    /// An error in the shape of the API the client called. Anthropic's SDKs read the request
    /// id from `request-id`; Envoy sets `x-request-id` on every response itself.
    fn error(config: &Compiled, err: &GatewayError, dialect: Dialect, request_id: Option<&str>) -> Self {
        let mut headers = Vec::new();
        if let (Dialect::Anthropic, Some(id)) = (dialect, request_id) {
            headers.push(("request-id", id.to_string()));
        }
        LocalResponse {
            status: err.status(),
            body: err.body_for(dialect, &config.runbook_base_url, request_id),
            code: Some(err.code),
            headers,
        }
    }
}

#[derive(Debug)]
pub enum HeadersOutcome {
    /// Remove these headers now, then hold the request until the body is complete.
    HoldForBody {
        strip: Vec<String>,
    },
    /// A request without a body that Envoy routes on at once (the usage endpoint): remove
    /// `strip`, set `set_headers`, continue.
    Forward {
        strip: Vec<String>,
        set_headers: Vec<(&'static str, HeaderValue)>,
    },
    Respond(LocalResponse),
}

#[derive(Debug)]
pub enum BodyOutcome {
    /// More body is coming; keep buffering.
    Buffer,
    Forward(ForwardPlan),
    Respond(LocalResponse),
}

/// A header value to set; secrets stay redacted in `Debug`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    Plain(String),
    Secret(Secret),
}

impl HeaderValue {
    pub fn as_str(&self) -> &str {
        match self {
            HeaderValue::Plain(s) => s,
            HeaderValue::Secret(s) => s.expose(),
        }
    }
}

/// What to change before the request may leave for the provider.
pub struct ForwardPlan {
    pub set_headers: Vec<(&'static str, HeaderValue)>,
    pub remove_headers: Vec<&'static str>,
    /// The whole new body, when it changed.
    pub new_body: Option<Vec<u8>>,
    /// Bytes at the end of the original body that no edit touched (the new body ends with
    /// them too): only the part before them needs replacing.
    pub unchanged_tail: usize,
    pub team: String,
    pub model: String,
    pub provider: String,
    pub upstream_model: String,
    pub stream: bool,
    /// When the request may fall back: what its attempts need, shared with them (the
    /// gateway role registers it where the attempt role finds it).
    pub attempts: Option<SharedAttempts>,
}

impl fmt::Debug for ForwardPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForwardPlan")
            .field("set_headers", &self.set_headers)
            .field("remove_headers", &self.remove_headers)
            .field("new_body_len", &self.new_body.as_ref().map(Vec::len))
            .field("team", &self.team)
            .field("model", &self.model)
            .field("provider", &self.provider)
            .finish()
    }
}

/// Guardrail triggers: (guardrail, action).
type Triggers = Vec<(String, &'static str)>;

/// What `plan` produces: the plan, whether usage was forced, the guardrail triggers and the
/// request's fallback chain.
type Planned = (ForwardPlan, bool, Triggers, fallback::Chain);

enum State {
    Start,
    AwaitBody {
        api: Api,
        client_sent_anthropic_version: bool,
        /// The client's query string (`?beta=true`), kept on the canonical path.
        query: String,
        /// The classification the workload declared in its header, if any.
        declared: Option<Classification>,
    },
    Forwarded(Box<Exchange>),
    /// Answered by the gateway (refused, or served locally).
    Answered {
        status: u32,
        guardrails: Vec<(String, &'static str)>,
    },
    /// `POST /v1/gateway/check`: the body is a request to judge, never to forward.
    AwaitCheckBody {
        query: String,
        declared: Option<String>,
    },
    /// The dry run answered, with the decision it reported.
    Checked {
        decision: &'static str,
    },
}

/// How the team is known.
enum Auth {
    /// From the request's key: every real request.
    Key,
    /// A dry run on behalf of a team already known (its key checked by the outer request),
    /// or of no team in particular (`genaictl check`).
    DryRun(Option<String>),
}

pub struct RequestFlow {
    config: Arc<Compiled>,
    state: State,
    /// The authenticated team, once known (kept for logs and metrics of refusals too).
    team: Option<String>,
    /// The team and key indices behind `team` (requests with a key).
    caller: Option<Caller>,
    /// The calling workload, if it is one the configuration names.
    workload: Option<usize>,
    /// The client certificate's URI SAN, when the glue read it (mTLS listener).
    peer_uri_san: Option<String>,
    /// The catalog model and its provider, once resolved.
    model: Option<(String, String)>,
    started_ms: u64,
    /// The guardrails' decision, once made (for the access log and the audit record).
    guard: Option<GuardRecord>,
    /// Guardrail triggers of a request being refused, for the metrics.
    pending_triggers: Triggers,
    /// Whose error shape refusals take (from the path, before anything else is checked).
    dialect: Dialect,
    /// Envoy's `x-request-id`, echoed in Anthropic-shaped errors.
    request_id: Option<String>,
    auth: Auth,
    /// The last refusal, for dry runs to report.
    last_error: Option<GatewayError>,
    /// Team, model and provider as configuration indices, for the metrics.
    ids: SeriesIds,
    /// The client's `:path`, and whether it sent `transfer-encoding` (what the forward plan
    /// need not set or remove again).
    client_path: String,
    client_transfer_encoding: bool,
}

/// What the access log and the audit record say about the guardrails' decision.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardRecord {
    pub classification: &'static str,
    /// `email:2,credit_card:1` (types and counts, never values).
    pub detected: String,
    /// `none`, `allow`, `redact`, `block` or `shadow`.
    pub action: &'static str,
    /// The prompt with every finding redacted, where the classification allows logging.
    pub prompt: Option<String>,
    pub audit: bool,
    /// The effective classification (`classification`, typed).
    pub effective: Classification,
    /// Detected kinds and how many of each, in kind order (what `detected` lists).
    pub detections: Vec<(genai_guard::Kind, u32)>,
    /// Matched injection rules (rule, family, score), typed.
    pub injection: Vec<genai_guard::InjectionHit>,
    /// (guardrail, action) per detected type and per matched injection rule
    /// (`injection_<rule>`), as the metrics count them.
    pub triggers: Vec<(String, &'static str)>,
    /// Triggered prompt-injection families, `family:score:action` (access log `injection`).
    pub injection_summary: String,
    /// Every prompt-injection family with a score above zero, typed (for dry runs).
    pub injection_hits: Vec<crate::guardrails::injection::InjectionHit>,
}

impl RequestFlow {
    /// `now_ms`: the host's clock when the request's headers arrived.
    pub fn new(config: Arc<Compiled>, now_ms: u64) -> Self {
        RequestFlow {
            config,
            state: State::Start,
            team: None,
            caller: None,
            workload: None,
            peer_uri_san: None,
            model: None,
            started_ms: now_ms,
            guard: None,
            pending_triggers: Vec::new(),
            dialect: Dialect::OpenAi,
            request_id: None,
            auth: Auth::Key,
            last_error: None,
            ids: SeriesIds::default(),
            client_path: String::new(),
            client_transfer_encoding: false,
        }
    }

    /// A flow for a dry run (`crate::dryrun`): the team is `team`, no key is looked at.
    pub(crate) fn dry_run(config: Arc<Compiled>, team: Option<String>) -> Self {
        let caller = team
            .as_deref()
            .and_then(|t| config.teams.iter().position(|x| x.name == t))
            .map(|team| Caller { team, key: None });
        let mut flow = RequestFlow::new(config, 0);
        flow.auth = Auth::DryRun(team);
        // The team's allowed models apply to its dry runs too.
        flow.caller = caller;
        flow
    }

    /// The calling workload's name, once the headers were accepted.
    pub fn workload(&self) -> Option<&str> {
        let w = self.workload?;
        self.config.workloads.get(w).map(|w| w.name.as_str())
    }

    /// The client certificate's URI SAN (SPIFFE id), for workload identification. The glue
    /// calls it before `on_headers`, and only when [`Compiled::wants_peer_identity`].
    pub fn set_peer_uri_san(&mut self, san: Option<String>) {
        self.peer_uri_san = san;
    }

    /// The last refusal this flow answered.
    pub fn last_error(&self) -> Option<&GatewayError> {
        self.last_error.as_ref()
    }

    pub fn config(&self) -> &Compiled {
        &self.config
    }

    /// The authenticated team, if any.
    pub fn team(&self) -> Option<&str> {
        self.team.as_deref()
    }

    /// The guardrails' decision, once the body was judged.
    pub fn guard_record(&self) -> Option<&GuardRecord> {
        self.guard.as_ref()
    }

    /// The catalog model and its provider, once the body named one.
    pub fn model(&self) -> Option<(&str, &str)> {
        self.model.as_ref().map(|(m, p)| (m.as_str(), p.as_str()))
    }

    /// True between accepted headers and the complete body.
    pub fn awaiting_body(&self) -> bool {
        matches!(self.state, State::AwaitBody { .. } | State::AwaitCheckBody { .. })
    }

    /// The forwarded request's exchange, while the response flows.
    pub fn exchange(&mut self) -> Option<&mut Exchange> {
        match &mut self.state {
            State::Forwarded(x) => Some(x),
            _ => None,
        }
    }

    /// The response for a failure of the gateway itself; the request is not forwarded.
    pub fn internal_error(&mut self, what: &str) -> LocalResponse {
        self.reject(GatewayError::new(
            ErrorCode::GatewayInternalError,
            format!("the gateway could not {what}; the request was not forwarded"),
        ))
    }

    /// Refuses a request carrying trailers: chat APIs never send them, and the gateway
    /// decides on the whole request before any of it leaves.
    pub fn on_trailers(&mut self) -> Option<LocalResponse> {
        if !self.awaiting_body() {
            return None;
        }
        Some(self.reject(GatewayError::new(
            ErrorCode::InvalidRequest,
            "request trailers are not supported; send the JSON body alone",
        )))
    }

    fn reject(&mut self, err: GatewayError) -> LocalResponse {
        let r = LocalResponse::error(&self.config, &err, self.dialect, self.request_id.as_deref());
        self.state = State::Answered {
            status: r.status,
            guardrails: std::mem::take(&mut self.pending_triggers),
        };
        self.last_error = Some(err);
        r
    }

    pub fn on_headers(&mut self, pairs: &[(String, Vec<u8>)], end_of_stream: bool) -> HeadersOutcome {
        match self.check_headers(pairs, end_of_stream) {
            Ok(outcome) => outcome,
            Err((err, allow)) => {
                let mut r = self.reject(err);
                if let Some(method) = allow {
                    r.headers.push(("allow", method.to_string()));
                }
                HeadersOutcome::Respond(r)
            }
        }
    }

    fn check_headers(
        &mut self,
        pairs: &[(String, Vec<u8>)],
        end_of_stream: bool,
    ) -> Result<HeadersOutcome, (GatewayError, Option<&'static str>)> {
        let headers = Headers::new(pairs);
        let method = headers.get(":method").unwrap_or_default();
        let path = headers.get(":path").unwrap_or_default();
        self.dialect = Dialect::for_path(path);
        self.request_id = headers
            .get("x-request-id")
            .and_then(|v| std::str::from_utf8(v).ok())
            .filter(|v| {
                // Echoed in a header and a body: plain request-id characters only.
                !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
            })
            .map(str::to_string);
        let mut dry_run = false;
        let api = match endpoint(method, path) {
            Endpoint::Api(api) => api,
            Endpoint::Check => {
                dry_run = true;
                Api::ChatCompletions // the body's API is decided with the body
            }
            Endpoint::WrongMethod(m) => {
                let e = GatewayError::new(ErrorCode::MethodNotAllowed, format!("this endpoint takes {m}"));
                return Err((e, Some(m)));
            }
            Endpoint::Unknown => {
                let e = GatewayError::new(
                    ErrorCode::UnsupportedEndpoint,
                    "this gateway serves POST /v1/chat/completions, POST /v1/messages, POST /v1/responses, GET /v1/models, POST /v1/gateway/check and GET /playground",
                );
                return Err((e, None));
            }
        };
        if let Some(name) = headers.first_non_utf8() {
            let e = GatewayError::new(
                ErrorCode::InvalidRequest,
                format!("header `{name}` has a value that is not valid UTF-8"),
            );
            return Err((e, None));
        }
        let config = Arc::clone(&self.config);
        self.team = match &self.auth {
            Auth::Key => {
                let caller = authenticate_caller(&config, &headers).map_err(|e| (e, None))?;
                let team = config.teams.get(caller.team).ok_or_else(|| (internal(), None))?;
                self.ids.team = u32::try_from(caller.team).ok();
                self.caller = Some(caller);
                Some(team.name.clone())
            }
            Auth::DryRun(team) => team.clone(),
        };
        if !dry_run {
            self.workload = self.identify_workload(&headers).map_err(|e| (e, None))?;
            self.ids.workload = self.workload.and_then(|w| u32::try_from(w).ok());
        }
        // A dry run judges the declared classification as part of the request it checks.
        let declared = match headers.get(&self.config.guardrails.classification_header) {
            _ if dry_run => None,
            None => None,
            Some(v) => {
                let v = std::str::from_utf8(v).unwrap_or_default().trim().to_ascii_lowercase();
                let c = Classification::parse(&v).ok_or_else(|| {
                    let e = GatewayError::new(
                        ErrorCode::InvalidRequest,
                        format!(
                            "header `{}` must be public, internal, confidential or restricted",
                            self.config.guardrails.classification_header
                        ),
                    );
                    (e, None)
                })?;
                Some(c)
            }
        };

        if api == Api::ListModels {
            let r = self.models_list();
            self.state = State::Answered {
                status: r.status,
                guardrails: Vec::new(),
            };
            return Ok(HeadersOutcome::Respond(r));
        }
        if let Some(enc) = headers.get("content-encoding") {
            // The gateway inspects the prompt as the provider will read it: a compressed body
            // would either be refused by the provider or read differently than inspected.
            let enc = String::from_utf8_lossy(enc.trim_ascii()).to_ascii_lowercase();
            if !enc.is_empty() && enc != "identity" {
                let e = GatewayError::new(
                    ErrorCode::InvalidRequest,
                    format!("content-encoding `{enc}` is not supported: send the request body uncompressed"),
                );
                return Err((e, None));
            }
        }
        if api == Api::Usage {
            let caller = match (self.config.rate_limits.as_ref(), self.caller) {
                (Some(_), Some(caller)) => caller,
                _ => {
                    let e = GatewayError::new(
                        ErrorCode::UnsupportedEndpoint,
                        "this gateway has no fleet-wide limits (rate_limits), so no usage endpoint",
                    );
                    return Err((e, None));
                }
            };
            // Envoy routes it to the rate limit service, which answers from the shared counters.
            self.state = State::Answered {
                status: 200,
                guardrails: Vec::new(),
            };
            return Ok(HeadersOutcome::Forward {
                strip: headers.to_strip(&self.consumed_headers()),
                set_headers: limits::usage_headers(&self.config, caller),
            });
        }
        if let Some(len) = headers.get("content-length") {
            let len = std::str::from_utf8(len).ok().and_then(|s| s.trim().parse::<u64>().ok());
            match len {
                Some(n) if n > self.config.max_request_body_bytes as u64 => return Err((self.too_large(), None)),
                Some(0) => return Err((body_required(), None)),
                Some(_) => {}
                None => {
                    let e = GatewayError::new(ErrorCode::InvalidRequest, "content-length is not a number");
                    return Err((e, None));
                }
            }
        }
        if end_of_stream {
            return Err((body_required(), None));
        }
        let query = path
            .iter()
            .position(|b| *b == b'?')
            .and_then(|q| path.get(q..))
            .map(|q| String::from_utf8_lossy(q).into_owned())
            .unwrap_or_default();
        if dry_run {
            let header = headers.get(&self.config.guardrails.classification_header);
            self.state = State::AwaitCheckBody {
                query,
                declared: header.map(|v| String::from_utf8_lossy(v).into_owned()),
            };
            return Ok(HeadersOutcome::HoldForBody { strip: Vec::new() });
        }
        self.client_path = String::from_utf8_lossy(path).into_owned();
        self.client_transfer_encoding = headers.get("transfer-encoding").is_some();
        self.state = State::AwaitBody {
            api,
            client_sent_anthropic_version: headers.get("anthropic-version").is_some(),
            query,
            declared,
        };
        Ok(HeadersOutcome::HoldForBody {
            // The classification and workload headers are the gateway's: the provider has no
            // use for them.
            strip: headers.to_strip(&self.consumed_headers()),
        })
    }

    /// Request headers the gateway reads and does not forward.
    fn consumed_headers(&self) -> Vec<&str> {
        let mut v = vec![self.config.guardrails.classification_header.as_str()];
        v.extend(self.config.workload_header.as_deref());
        v
    }

    /// The workload: the client certificate's SPIFFE id if the configuration maps it, else
    /// the declared workload header, whose value must be a configured workload's name.
    fn identify_workload(&self, headers: &Headers<'_>) -> Result<Option<usize>, GatewayError> {
        if let Some(w) = self
            .peer_uri_san
            .as_deref()
            .and_then(|san| self.config.workload_by_spiffe_id(san))
        {
            return Ok(Some(w));
        }
        let Some(name) = self.config.workload_header.as_deref() else {
            return Ok(None);
        };
        let Some(value) = headers.get(name) else {
            return Ok(None);
        };
        let value = std::str::from_utf8(value).unwrap_or_default().trim();
        self.config.workload_by_name(value).map(Some).ok_or_else(|| {
            GatewayError::new(
                ErrorCode::InvalidRequest,
                format!("header `{name}` names no workload this gateway knows"),
            )
        })
    }

    /// Called for each body chunk with the size buffered so far.
    pub fn on_body_progress(&mut self, buffered: usize, end_of_stream: bool) -> Option<BodyOutcome> {
        if !self.awaiting_body() {
            return None;
        }
        if buffered > self.config.max_request_body_bytes {
            let err = self.too_large();
            return Some(BodyOutcome::Respond(self.reject(err)));
        }
        if end_of_stream {
            None
        } else {
            Some(BodyOutcome::Buffer)
        }
    }

    /// Called once with the complete body (which the flow keeps, for usage estimation).
    pub fn on_body(&mut self, body: Vec<u8>) -> BodyOutcome {
        let state = std::mem::replace(
            &mut self.state,
            State::Answered {
                status: 0,
                guardrails: Vec::new(),
            },
        );
        if let State::AwaitCheckBody { query, declared } = state {
            if body.len() > self.config.max_request_body_bytes {
                let err = self.too_large();
                return BodyOutcome::Respond(self.reject(err));
            }
            return BodyOutcome::Respond(self.answer_check(&query, declared.as_deref(), &body));
        }
        let State::AwaitBody {
            api,
            client_sent_anthropic_version,
            query,
            declared,
        } = state
        else {
            return BodyOutcome::Respond(self.reject(GatewayError::new(
                ErrorCode::GatewayInternalError,
                "request body arrived before its headers were accepted",
            )));
        };
        if body.len() > self.config.max_request_body_bytes {
            let err = self.too_large();
            return BodyOutcome::Respond(self.reject(err));
        }
        match self.plan(api, client_sent_anthropic_version, &query, declared, &body) {
            Ok((plan, forced_usage, triggers, chain)) => {
                let pricing = self.config.model(&plan.model).and_then(|m| m.pricing);
                self.state = State::Forwarded(Box::new(Exchange::new(ExchangeStart {
                    team: plan.team.clone(),
                    model: plan.model.clone(),
                    provider: plan.provider.clone(),
                    ids: self.ids,
                    upstream_model: plan.upstream_model.clone(),
                    pricing,
                    api,
                    forced_usage,
                    request_body: body,
                    started_ms: self.started_ms,
                    guardrails: triggers,
                    workload: self.workload().map(str::to_string),
                    fallback: (chain.targets.len() > 1 || !chain.skipped.is_empty()).then(|| exchange::Fallback {
                        config: Arc::clone(&self.config),
                        chain,
                        attempts: plan.attempts.clone(),
                    }),
                })));
                BodyOutcome::Forward(plan)
            }
            Err(e) => BodyOutcome::Respond(self.reject(e)),
        }
    }

    /// The decision on a complete body, in named steps: parse the request, resolve the
    /// model in the catalog, judge the guardrails, choose the targets it may fall back to,
    /// then build the upstream headers and the body edits. Any step may refuse; nothing is
    /// forwarded until all have passed.
    fn plan(
        &mut self,
        api: Api,
        client_sent_anthropic_version: bool,
        query: &str,
        declared: Option<Classification>,
        body: &[u8],
    ) -> Result<Planned, GatewayError> {
        let req = request::parse(api, body)?;
        let config = Arc::clone(&self.config);
        let route = self.resolve_route(&config, api, &req)?;
        let team = match (&self.auth, self.team.clone()) {
            (_, Some(team)) => team,
            (Auth::DryRun(_), None) => String::new(), // genaictl check, for no team in particular
            (Auth::Key, None) => return Err(internal()),
        };
        let mut verdict = self.judge_guardrails(&config, &route, &req, declared, body)?;
        // The targets this request may be served by: the model, then each fallback approved
        // for the effective classification that the team may use (a fallback outside the
        // team's allowed models is skipped, and counted, like one above the tier).
        let classification = verdict.classification.unwrap_or(Classification::Public);
        let caller = self.caller;
        let chain = fallback::select(&config, route.index, api, classification, |t| {
            caller.is_none_or(|c| config.model_allowed(c.team, t))
        });
        let route_key = config.route_key(&chain.targets).ok_or_else(internal)?;
        let mut set_headers = upstream_headers(&config, &route, route_key, api, query, client_sent_anthropic_version)?;
        if let (Some(_), Some(caller)) = (config.rate_limits.as_ref(), self.caller) {
            // Who is calling and the worst case over every target it may be served by, for
            // Envoy's rate limit filters.
            let targets = chain.targets.iter().filter_map(|t| config.models.get(*t));
            let worst = limits::worst_case_of_chain(targets, body, req.max_output_tokens)
                .unwrap_or_else(|| limits::worst_case(route.model, body, req.max_output_tokens));
            set_headers.extend(limits::request_headers(&config, caller, self.workload, api, &worst));
        }
        let (new_body, forced_usage, unchanged_tail, model_span) =
            rewrite_body(api, &req, &route, std::mem::take(&mut verdict.edits), body)?;
        let attempts = if chain.targets.len() > 1 {
            let forwarded = new_body.as_deref().unwrap_or(body);
            Some(Attempts::shared(AttemptPlan {
                config: Arc::clone(&config),
                api,
                chain: chain.clone(),
                query: query.to_string(),
                client_sent_anthropic_version,
                model_span,
                forwarded_model: forwarded.get(model_span.0..model_span.1).ok_or_else(internal)?.to_vec(),
                forwarded_len: forwarded.len(),
            }))
        } else {
            None
        };
        let mut remove_headers = Vec::new();
        if let Some(b) = &new_body {
            set_headers.push(("content-length", HeaderValue::Plain(b.len().to_string())));
            remove_headers.push("transfer-encoding");
        }
        let plan = ForwardPlan {
            set_headers,
            remove_headers,
            new_body,
            unchanged_tail,
            team,
            model: route.model.name.clone(),
            provider: route.provider.name.clone(),
            upstream_model: route.model.upstream_model.clone(),
            stream: req.stream,
            attempts,
        };
        Ok((plan, forced_usage, verdict.triggers, chain))
    }

    /// Step 2: the catalog model named by the request, its provider (which must serve
    /// `api`), the provider's credential and the model's tier.
    fn resolve_route<'c>(
        &mut self,
        config: &'c Compiled,
        api: Api,
        req: &request::ChatRequest,
    ) -> Result<Route<'c>, GatewayError> {
        let index = config.model_index(&req.model);
        let model = config.model(&req.model).ok_or_else(|| {
            GatewayError::new(
                ErrorCode::ModelNotFound,
                format!(
                    "model `{}` is not in the gateway's catalog; GET /v1/models lists the models you can use",
                    req.model
                ),
            )
            .with_param("model")
        })?;
        let provider = config.provider(model.provider).ok_or_else(internal)?;
        self.model = Some((model.name.clone(), provider.name.clone()));
        self.ids.model = config.model_id(model).and_then(|i| u32::try_from(i).ok());
        self.ids.provider = u32::try_from(model.provider).ok();
        if let Some(caller) = self.caller {
            let index = config.model_index(&req.model).ok_or_else(internal)?;
            if !config.model_allowed(caller.team, index) {
                return Err(GatewayError::new(
                    ErrorCode::ModelNotAllowed,
                    format!(
                        "your team may not use model `{}`; GET /v1/gateway/usage lists the models it may use",
                        req.model
                    ),
                )
                .with_param("model"));
            }
        }
        if !provider.kind.serves(api) {
            return Err(GatewayError::new(
                ErrorCode::ModelApiMismatch,
                format!(
                    "model `{}` is served through {} ({} provider), not {}",
                    req.model,
                    provider.kind.paths(),
                    provider.kind.as_str(),
                    api.path()
                ),
            )
            .with_param("model"));
        }
        let index = index.ok_or_else(internal)?;
        let tier = config.tier(model.tier).ok_or_else(internal)?;
        Ok(Route {
            index,
            model,
            provider,
            tier_name: &tier.name,
            approved: tier.approved_for,
        })
    }

    /// Step 3: classify the whole prompt and hold it against the model's approval. Records
    /// the decision for the access log; a refusal keeps its triggers for the metrics.
    fn judge_guardrails(
        &mut self,
        config: &Compiled,
        route: &Route<'_>,
        req: &request::ChatRequest,
        declared: Option<Classification>,
        body: &[u8],
    ) -> Result<Verdict, GatewayError> {
        let target = Target {
            model: &route.model.name,
            tier: route.tier_name,
            approved: route.approved,
        };
        let mut verdict = judge(&config.guardrails, body, req.model_span(), declared, &target)?;
        let effective = verdict.classification.unwrap_or(Classification::Public);
        self.guard = Some(GuardRecord {
            classification: effective.as_str(),
            detected: verdict.detected_summary(),
            action: verdict.action,
            prompt: verdict.loggable_prompt.take(),
            audit: verdict.audit && verdict.refusal.is_none(),
            effective,
            detections: verdict.detected.iter().map(|(k, n)| (*k, *n)).collect(),
            injection: verdict.injection.clone(),
            triggers: verdict.triggers.clone(),
            injection_summary: crate::guardrails::injection::summary(&verdict.families),
            injection_hits: std::mem::take(&mut verdict.families),
        });
        if let Some(refusal) = verdict.refusal.take() {
            self.pending_triggers = std::mem::take(&mut verdict.triggers);
            return Err(refusal);
        }
        Ok(verdict)
    }

    /// The request is over; what it leaves behind for the metrics. `now_ms` is the host clock.
    pub fn finish(&mut self, now_ms: u64) -> Outcome {
        let state = std::mem::replace(
            &mut self.state,
            State::Answered {
                status: 0,
                guardrails: Vec::new(),
            },
        );
        let (model, provider) = match self.model.clone() {
            Some((m, p)) => (Some(m), Some(p)),
            None => (None, None),
        };
        match state {
            State::Forwarded(x) => x.finish(now_ms),
            State::Answered { status, guardrails } => Outcome {
                team: self.team.clone(),
                model,
                provider,
                ids: self.ids,
                status,
                origin: Some(Origin::Gateway),
                duration_ms: Some(now_ms.saturating_sub(self.started_ms)),
                guardrails,
                ..Outcome::default()
            },
            State::Checked { decision } => Outcome {
                team: self.team.clone(),
                status: 200,
                origin: Some(Origin::Gateway),
                dry_run: Some(decision),
                ..Outcome::default()
            },
            // Abandoned before the gateway decided: nothing left, nothing to bill.
            State::Start | State::AwaitBody { .. } | State::AwaitCheckBody { .. } => Outcome {
                team: self.team.clone(),
                ids: SeriesIds {
                    team: self.ids.team,
                    ..SeriesIds::default()
                },
                status: 0,
                origin: Some(Origin::Gateway),
                duration_ms: Some(now_ms.saturating_sub(self.started_ms)),
                ..Outcome::default()
            },
        }
    }

    /// `POST /v1/gateway/check`: the verdict on the body, for this team, as `genaictl check`
    /// gives it (both are `crate::dryrun::check`). The access log gets the guardrails'
    /// record (the prompt only where the logging rule allows it) with action `dry_run`.
    fn answer_check(&mut self, query: &str, declared: Option<&str>, body: &[u8]) -> LocalResponse {
        let endpoint = query
            .trim_start_matches('?')
            .split('&')
            .find_map(|kv| kv.strip_prefix("endpoint="));
        let api = match endpoint.map(crate::dryrun::parse_api) {
            Some(Some(api)) => Some(api),
            Some(None) => {
                return self.reject(
                    GatewayError::new(
                        ErrorCode::InvalidRequest,
                        "`endpoint` must be chat_completions, messages or responses",
                    )
                    .with_param("endpoint"),
                )
            }
            None => None,
        };
        let input = crate::dryrun::CheckInput {
            api,
            team: self.team.clone(),
            declared,
            body,
        };
        let (verdict, guard) = crate::dryrun::check_with_record(&self.config, &input);
        self.guard = guard.map(|mut g| {
            g.action = "dry_run";
            g.audit = false;
            g
        });
        self.state = State::Checked {
            decision: verdict.decision.as_str(),
        };
        LocalResponse {
            status: 200,
            body: verdict.to_json(&self.config.runbook_base_url).to_string().into_bytes(),
            code: None,
            headers: Vec::new(),
        }
    }

    fn too_large(&self) -> GatewayError {
        GatewayError::new(
            ErrorCode::RequestTooLarge,
            format!(
                "the request body is larger than this gateway's limit of {} bytes",
                self.config.max_request_body_bytes
            ),
        )
    }

    /// OpenAI's `GET /v1/models` answer, from the catalog. Each entry also carries, under
    /// `gateway`, what a developer choosing a model needs (the playground shows it): the
    /// catalog model an alias stands for, the API to call it through, its tier and the
    /// classifications that tier is approved for, and its prices. SDKs ignore the extra key.
    fn models_list(&self) -> LocalResponse {
        let c = &self.config;
        let data: Vec<_> = c
            .model_names()
            .into_iter()
            .filter_map(|name| {
                let m = c.model(name)?;
                let p = c.provider(m.provider)?;
                let tier = c.tier(m.tier)?;
                let api = if p.kind.serves(Api::Messages) {
                    Api::Messages
                } else {
                    Api::ChatCompletions
                };
                let endpoints: Vec<&str> = [Api::ChatCompletions, Api::Messages, Api::Responses]
                    .into_iter()
                    .filter(|a| p.kind.serves(*a))
                    .map(Api::path)
                    .collect();
                let pricing = m.pricing.map(|pr| {
                    let dollars = |micro: u64| micro as f64 / 1_000_000.0;
                    json!({
                        "input_per_million": dollars(pr.input),
                        "cached_input_per_million": dollars(pr.cached_input),
                        "cache_write_per_million": dollars(pr.cache_write),
                        "output_per_million": dollars(pr.output),
                        "input_microdollars_per_million": pr.input,
                        "cached_input_microdollars_per_million": pr.cached_input,
                        "cache_write_microdollars_per_million": pr.cache_write,
                        "output_microdollars_per_million": pr.output,
                    })
                });
                let approved: Vec<&str> = tier.approved_for.iter().map(Classification::as_str).collect();
                Some(json!({
                    "id": name, "object": "model", "created": 0, "owned_by": p.name,
                    "gateway": {
                        "model": m.name,
                        "alias_of": (name != m.name).then_some(m.name.as_str()),
                        "provider": p.name,
                        "api": api.name(),
                        "endpoints": endpoints,
                        "tier": tier.name,
                        "approved_for": approved,
                        "pricing": pricing,
                    }
                }))
            })
            .collect();
        LocalResponse {
            status: 200,
            body: json!({"object": "list", "data": data}).to_string().into_bytes(),
            code: None,
            headers: Vec::new(),
        }
    }
}

/// Where a request goes: the catalog model, its provider, the model's tier.
struct Route<'c> {
    /// The model's index in the catalog.
    index: usize,
    model: &'c Model,
    provider: &'c Provider,
    tier_name: &'c str,
    approved: crate::classification::ClassificationSet,
}

/// Step 4: the headers the provider gets: the route Envoy must take (the provider's, or
/// the request's fallback chain's), then the path (the canonical one with the client's
/// query string, or Azure's deployment path) and the provider's credential. Each fallback
/// attempt sets the same for its own target (crate::fallback).
fn upstream_headers(
    config: &Compiled,
    route: &Route<'_>,
    route_key: String,
    api: Api,
    query: &str,
    client_sent_anthropic_version: bool,
) -> Result<Vec<(&'static str, HeaderValue)>, GatewayError> {
    let mut set_headers = vec![(UPSTREAM_HEADER, HeaderValue::Plain(route_key))];
    set_headers.extend(
        fallback::target_headers(config, route.index, api, query, client_sent_anthropic_version)
            .ok_or_else(internal)?,
    );
    Ok(set_headers)
}

/// Step 5: one edit list (the guardrails' redactions, the `model` rewrite, forcing
/// `stream_options.include_usage` on a chat completions stream), spliced into the body
/// once. Returns the new body (`None` when nothing changed), whether usage was forced, how
/// many bytes at the end of the body no edit touched, and where the `model` value is in the
/// body forwarded (the attempts of a fallback rewrite it).
fn rewrite_body(
    api: Api,
    req: &request::ChatRequest,
    route: &Route<'_>,
    redactions: Vec<request::strings::Edit>,
    body: &[u8],
) -> Result<RewrittenBody, GatewayError> {
    let mut edits = redactions;
    edits.extend(req.model_edit(&route.model.upstream_model));
    // Chat completions only: the Responses API always reports usage in `response.completed`.
    let usage_edit = if api == Api::ChatCompletions {
        req.force_usage_edit(body)
    } else {
        None
    };
    // A redaction inside `stream_options` would overlap rewriting it: then usage is not
    // forced (and will be estimated if the stream carries none) rather than failing.
    let usage_edit = usage_edit.filter(|u| !edits.iter().any(|e| overlaps(u, e)));
    let forced_usage = usage_edit.is_some();
    edits.extend(usage_edit);
    let edited_to = edits.iter().map(|e| e.end).max().unwrap_or(0).min(body.len());
    let model_span = span_after(req.model_span(), &edits).ok_or_else(internal)?;
    let new_body = if edits.is_empty() {
        None
    } else {
        Some(apply_edits(body, edits).ok_or_else(internal)?)
    };
    Ok((new_body, forced_usage, body.len().saturating_sub(edited_to), model_span))
}

/// The new body (`None` if unchanged), whether usage was forced, the untouched tail's length,
/// the `model` value's byte range in the forwarded body.
type RewrittenBody = (Option<Vec<u8>>, bool, usize, (usize, usize));

/// Where the byte range `span` (the `model` value) is once `edits` are applied: moved by the
/// edits before it, resized if an edit replaces exactly it; `None` if an edit cuts into it.
fn span_after(span: (usize, usize), edits: &[request::strings::Edit]) -> Option<(usize, usize)> {
    let mut len = span.1.checked_sub(span.0)?;
    let (mut added, mut removed) = (0usize, 0usize);
    for e in edits {
        if (e.start, e.end) == span {
            len = e.with.len();
        } else if e.end <= span.0 {
            added = added.checked_add(e.with.len())?;
            removed = removed.checked_add(e.end.checked_sub(e.start)?)?;
        } else if e.start < span.1 {
            return None;
        }
    }
    let start = span.0.checked_add(added)?.checked_sub(removed)?;
    Some((start, start.checked_add(len)?))
}

/// Whether two edits touch the same bytes (an insertion only if strictly inside the other).
fn overlaps(a: &request::strings::Edit, b: &request::strings::Edit) -> bool {
    if a.start == a.end {
        b.start < a.start && a.start < b.end
    } else {
        b.start < a.end && a.start < b.end
    }
}

fn body_required() -> GatewayError {
    GatewayError::new(
        ErrorCode::InvalidRequest,
        "a request body is required: a JSON object with `model` and `messages`",
    )
}

fn internal() -> GatewayError {
    GatewayError::new(
        ErrorCode::GatewayInternalError,
        "the gateway's catalog is inconsistent; the request was not forwarded",
    )
}

#[cfg(test)]
mod tests;
