//! The one place that names the AWS SDKs: the shared SDK configuration, [`iam::AwsIam`]
//! (the `Iam` port) and [`services::AwsServices`] (the `Remote` port).

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
