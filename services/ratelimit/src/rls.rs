//! Envoy's rate limit service protocol (RLS v3, `envoy.service.ratelimit.v3`).

use std::sync::Arc;

use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_server::RateLimitService;
use envoy_types::pb::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};
use tonic::{Request, Response, Status};

use crate::descriptors;
use crate::engine::{Decision, Engine};
use crate::refusal;

pub struct Rls {
    pub engine: Arc<Engine>,
    /// Log every request's descriptors (`GENAI_RATELIMIT_DEBUG=1`).
    pub debug: bool,
}

#[tonic::async_trait]
impl RateLimitService for Rls {
    async fn should_rate_limit(
        &self,
        request: Request<RateLimitRequest>,
    ) -> Result<Response<RateLimitResponse>, Status> {
        let req = request.into_inner();
        let parsed = descriptors::parse(&req);
        if self.debug {
            eprintln!("genai-ratelimit: debug: hits_addend={} {:?}", req.hits_addend, parsed);
        }
        let scope = parsed.scope_metadata();
        match self.engine.decide(&parsed).await {
            Ok(Decision::Ok(rate)) => Ok(Response::new(refusal::ok(&rate, &scope))),
            Ok(Decision::Over(r, rate)) => {
                let base = self.engine.table().runbook_base_url.clone();
                Ok(Response::new(refusal::over_limit(
                    &r,
                    parsed.api,
                    &base,
                    &rate,
                    parsed.request_id.as_deref(),
                )))
            }
            Err(e) => {
                // Redis cannot answer: each kind of limit fails as configured (rate limits
                // open, budgets closed by default). Refusing is an error, so that Envoy's
                // failure mode for that filter answers 503 rate_limit_unavailable.
                self.engine.metrics.check("error");
                self.engine.log_error(&e);
                let table = self.engine.table();
                let open = if parsed.checks_budget() {
                    table.budgets_fail_open
                } else if parsed.checks_rate() {
                    table.rates_fail_open
                } else {
                    true // charges only: they wait in the backlog
                };
                if open {
                    self.engine.metrics.failed_open();
                    Ok(Response::new(refusal::ok(&Default::default(), &scope)))
                } else {
                    Err(Status::unavailable(format!(
                        "the rate limit service cannot reach its counters: {e}"
                    )))
                }
            }
        }
    }
}
