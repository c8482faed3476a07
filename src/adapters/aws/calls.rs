//! The log line of every AWS call, from an interceptor each client carries ([`CallLog`]):
//! service, operation, attempts, HTTP status, request id and duration at `info`, and one
//! line per attempt at `debug`. It reads the operation's metadata and the response's
//! status and request-id headers only — never a body or another header — so it cannot
//! log a secret.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata, OrchestratorError};
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use std::time::Instant;
use tracing::Level;

/// The target of these lines: `KEYROT_LOG=keyrot::aws=debug` selects them.
const TARGET: &str = "keyrot::aws";

/// Logs each call and attempt; attach it to every client (`.interceptor(CallLog)`).
#[derive(Debug, Clone, Copy, Default)]
pub struct CallLog;

/// When the call (all its attempts) started.
#[derive(Debug, Clone, Copy)]
struct CallStarted(Instant);

impl Storable for CallStarted {
    type Storer = StoreReplace<Self>;
}

/// When the current attempt started.
#[derive(Debug, Clone, Copy)]
struct AttemptStarted(Instant);

impl Storable for AttemptStarted {
    type Storer = StoreReplace<Self>;
}

/// What one attempt or call came to, from the metadata and the response's head.
struct Facts<'a> {
    service: &'a str,
    operation: &'a str,
    attempt: u32,
    status: Option<u16>,
    request_id: Option<&'a str>,
    /// Why it failed, when it did: `service` (an error response), `timeout`, `connection`…
    failure: Option<&'static str>,
}

impl<'a> Facts<'a> {
    fn of(ctx: &'a FinalizerInterceptorContextRef<'_>, cfg: &'a ConfigBag) -> Self {
        let meta = cfg.load::<Metadata>();
        let response = ctx.response();
        Facts {
            service: meta.map_or("?", Metadata::service),
            operation: meta.map_or("?", Metadata::name),
            attempt: cfg.load::<RequestAttempts>().map_or(0, |a| a.attempts()),
            status: response.map(|r| r.status().as_u16()),
            request_id: response.and_then(request_id),
            failure: match ctx.output_or_error() {
                Some(Err(e)) => Some(failure(e)),
                _ => None,
            },
        }
    }
}

/// The service's id for this request: `x-amzn-RequestId` (IAM, STS, Secrets Manager,
/// SSM) or S3's `x-amz-request-id`.
fn request_id(response: &HttpResponse) -> Option<&str> {
    let headers = response.headers();
    headers
        .get("x-amzn-requestid")
        .or_else(|| headers.get("x-amz-request-id"))
}

fn failure<E>(error: &OrchestratorError<E>) -> &'static str {
    if error.is_operation_error() {
        "service"
    } else if error.is_timeout_error() {
        "timeout"
    } else if error.is_connector_error() {
        "connection"
    } else if error.is_response_error() {
        "response"
    } else if error.is_interceptor_error() {
        "interceptor"
    } else {
        "other"
    }
}

fn millis_since(started: Option<Instant>) -> u64 {
    started.map_or(0, |s| {
        u64::try_from(s.elapsed().as_millis()).unwrap_or(u64::MAX)
    })
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "keyrot-call-log"
    }

    fn read_before_execution(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state()
            .store_put(CallStarted(Instant::now()));
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state()
            .store_put(AttemptStarted(Instant::now()));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        ctx: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if tracing::enabled!(target: TARGET, Level::DEBUG) {
            let f = Facts::of(ctx, cfg);
            let ms = millis_since(cfg.load::<AttemptStarted>().map(|s| s.0));
            tracing::debug!(target: TARGET, service = f.service, operation = f.operation,
                attempt = f.attempt, status = f.status, request_id = f.request_id,
                duration_ms = ms, failure = f.failure, "aws attempt");
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        ctx: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if tracing::enabled!(target: TARGET, Level::INFO) {
            let f = Facts::of(ctx, cfg);
            let ms = millis_since(cfg.load::<CallStarted>().map(|s| s.0));
            tracing::info!(target: TARGET, service = f.service, operation = f.operation,
                attempts = f.attempt, status = f.status, request_id = f.request_id,
                duration_ms = ms, failure = f.failure, "aws call");
        }
        Ok(())
    }
}
