//! Interceptors that read every IAM response: the server's clock, and Throttling (each
//! attempt, retries included, since the SDK retries a throttled call on its own).

use aws_sdk_iam::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeDeserializationInterceptorContextRef,
};
use aws_sdk_iam::config::{ConfigBag, Intercept, RuntimeComponents};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

/// Reads every IAM response's `Date`: IAM stamps CreateDate with its own clock, and keyrot's
/// journal must say when a create started on that same clock.
#[derive(Debug)]
pub(super) struct ServerClock(pub(super) Arc<AtomicI64>);

impl Intercept for ServerClock {
    fn name(&self) -> &'static str {
        "keyrot-server-clock"
    }

    fn read_after_transmit(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), aws_sdk_iam::error::BoxError> {
        let date = context.response().headers().get("date");
        if let Some(server) = date.and_then(|d| chrono::DateTime::parse_from_rfc2822(d).ok()) {
            let skew = server.with_timezone(&chrono::Utc) - chrono::Utc::now();
            self.0.store(skew.num_milliseconds(), Ordering::Relaxed);
        }
        Ok(())
    }
}

/// Counts attempts IAM refused for rate: the inventory reader halves its concurrency on
/// them. After deserialization the body is loaded, so its error code can be read.
#[derive(Debug)]
pub(super) struct Throttles(pub(super) Arc<AtomicU64>);

impl Intercept for Throttles {
    fn name(&self) -> &'static str {
        "keyrot-throttles"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), aws_sdk_iam::error::BoxError> {
        let response = context.response();
        let status = response.status().as_u16();
        let throttled = status == 429
            || (status >= 400
                && response
                    .body()
                    .bytes()
                    .and_then(body_code)
                    .is_some_and(|code| is_throttling(&code)));
        if throttled {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// The error codes AWS services use for "slow down" (IAM's is `Throttling`; IAM's
/// `LimitExceeded` is a quota, not a rate, and is not one of them).
fn is_throttling(code: &str) -> bool {
    matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "RequestThrottled"
            | "RequestThrottledException"
            | "RequestLimitExceeded"
            | "TooManyRequestsException"
            | "SlowDown"
    )
}

/// The `<Code>` of an XML error body (IAM's shape, and moto's, which the SDK does not
/// always parse).
pub(super) fn body_code(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let start = text.find("<Code>")? + "<Code>".len();
    let end = text[start..].find("</Code>")? + start;
    Some(text[start..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_code_of_iam_and_moto_error_bodies() {
        let iam = b"<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>";
        let code = body_code(iam);
        assert_eq!(code.as_deref(), Some("Throttling"));
        assert!(is_throttling("Throttling"));
        assert!(!is_throttling("LimitExceeded"), "a quota is not a rate");
        assert_eq!(body_code(b"<ListAccessKeysResponse/>"), None);
        assert_eq!(body_code(b"<Code>unterminated"), None);
    }
}
