//! The one place that names the AWS SDKs: the shared SDK configuration, [`iam::AwsIam`]
//! (the `Iam` port), [`services::AwsServices`] (the `Remote` port), and
//! [`calls::CallLog`], the log line of every call, attached to every client.

pub mod calls;
pub mod iam;
pub mod s3;
pub mod services;
mod watch;

pub use iam::AwsIam;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};

/// Where and as whom to talk to IAM; command-line values already override the config file.
#[derive(Clone, Debug, Default)]
pub struct Connection {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    pub max_attempts: Option<u32>,
    pub timeout: Option<std::time::Duration>,
    pub adaptive: bool,
}

/// Attempts per call by default: rides out a burst of IAM throttling.
const DEFAULT_MAX_ATTEMPTS: u32 = 5;
const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// The shared SDK configuration for IAM and the other services keyrot uses.
/// Standard credential chain; `AWS_ENDPOINT_URL(_IAM)` is honoured by the SDK itself.
pub async fn load_config(conn: &Connection) -> aws_config::SdkConfig {
    {
        let attempts = conn.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
        // Exponential backoff with full jitter, chosen here rather than left to defaults.
        let retry = if conn.adaptive {
            RetryConfig::adaptive()
        } else {
            RetryConfig::standard()
        }
        .with_max_attempts(attempts);
        let timeouts = TimeoutConfig::builder()
            .operation_timeout(conn.timeout.unwrap_or(DEFAULT_TIMEOUT))
            .connect_timeout(std::time::Duration::from_secs(10))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(retry)
            .timeout_config(timeouts);
        if let Some(profile) = &conn.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &conn.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &conn.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let shared = loader.load().await;
        if shared.region().is_none() {
            // IAM is global; its endpoint still needs a signing region.
            return shared
                .into_builder()
                .region(Region::new("us-east-1"))
                .build();
        }
        shared
    }
}

/// An account keyrot reaches by assuming a role from its own credentials.
#[derive(Clone, Debug)]
pub struct AssumedRole {
    pub role_arn: String,
    pub external_id: Option<String>,
    pub session_name: String,
    pub duration: Option<std::time::Duration>,
}

/// The SDK configuration of an assumed role: the base's endpoint, region, retries and
/// timeouts, with the role's credentials (renewed by the SDK as they expire). The role is
/// assumed once here, so one that cannot be says why at once, for its account only.
pub async fn assume_role(
    shared: &aws_config::SdkConfig,
    role: &AssumedRole,
) -> Result<aws_config::SdkConfig, String> {
    use aws_sdk_iam::config::{ProvideCredentials, SharedCredentialsProvider};
    let mut builder = aws_config::sts::AssumeRoleProvider::builder(&role.role_arn)
        .session_name(&role.session_name)
        .configure(shared);
    if let Some(id) = &role.external_id {
        builder = builder.external_id(id);
    }
    if let Some(length) = role.duration {
        builder = builder.session_length(length);
    }
    let provider = builder.build().await;
    if let Err(e) = provider.provide_credentials().await {
        return Err(format!(
            "AssumeRole {} failed: {}",
            role.role_arn,
            causes(&e)
        ));
    }
    Ok(shared
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build())
}

/// Why AssumeRole failed, in STS's words (`AccessDenied: …`) where STS answered, else the
/// innermost cause (`Connection refused`); never the SDK's debug dump.
fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
    use aws_sdk_sts::operation::assume_role::AssumeRoleError;
    type StsError = SdkError<AssumeRoleError, aws_sdk_sts::config::http::HttpResponse>;
    let mut innermost = err;
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(sts) = e.downcast_ref::<StsError>() {
            if let (Some(code), message) = (sts.code(), sts.message()) {
                return format!("{code}: {}", message.unwrap_or("no message"));
            }
        }
        innermost = e;
        next = e.source();
    }
    innermost.to_string()
}
