//! The AWS services besides IAM: Secrets Manager and SSM (sinks), STS (proving a new key
//! works), SNS (notifications). Implements [`Remote`] over the shared SDK configuration.

use super::calls::CallLog;
use crate::adapters::remote::{ParameterMeta, Remote};
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

/// A secret keyrot created in a delivery that then failed can still be restored this long.
const RECOVERY_WINDOW_DAYS: i64 = 7;

pub struct AwsServices {
    shared: aws_config::SdkConfig,
    sm: aws_sdk_secretsmanager::Client,
    ssm: aws_sdk_ssm::Client,
}

impl AwsServices {
    pub fn new(shared: &aws_config::SdkConfig) -> Self {
        AwsServices {
            shared: shared.clone(),
            sm: aws_sdk_secretsmanager::Client::from_conf(
                aws_sdk_secretsmanager::config::Builder::from(shared)
                    .interceptor(CallLog)
                    .build(),
            ),
            ssm: aws_sdk_ssm::Client::from_conf(
                aws_sdk_ssm::config::Builder::from(shared)
                    .interceptor(CallLog)
                    .build(),
            ),
        }
    }
}

/// A message for an SDK error; never contains a secret (requests are not echoed).
fn message<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    err: &aws_sdk_secretsmanager::error::SdkError<E, R>,
) -> String {
    match (err.code(), err.message()) {
        (Some(code), Some(msg)) => format!("{code}: {msg}"),
        (Some(code), None) => code.to_string(),
        _ => DisplayErrorContext(err).to_string(),
    }
}

impl Remote for AwsServices {
    async fn secret_get(
        &self,
        id: &str,
        previous: bool,
    ) -> Result<Option<Zeroizing<String>>, String> {
        let stage = if previous {
            "AWSPREVIOUS"
        } else {
            "AWSCURRENT"
        };
        match self
            .sm
            .get_secret_value()
            .secret_id(id)
            .version_stage(stage)
            .send()
            .await
        {
            // A secret that exists with binary data only is not one keyrot may overwrite
            // (or, on a failure, delete as if it had created it).
            Ok(out) => match out.secret_string() {
                Some(s) => Ok(Some(Zeroizing::new(s.to_string()))),
                None => Err(format!(
                    "secret {id} holds binary data; keyrot writes only text secrets"
                )),
            },
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(message(&e)),
        }
    }

    async fn secret_put(&self, id: &str, value: &str, create: bool) -> Result<(), String> {
        let put = self
            .sm
            .put_secret_value()
            .secret_id(id)
            .secret_string(value)
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(e) if create && e.code() == Some("ResourceNotFoundException") => self
                .sm
                .create_secret()
                .name(id)
                .secret_string(value)
                .description("access key delivered by keyrot")
                .send()
                .await
                .map(|_| ())
                .map_err(|e| message(&e)),
            Err(e) => Err(message(&e)),
        }
    }

    async fn secret_exists(&self, id: &str) -> Result<bool, String> {
        match self.sm.describe_secret().secret_id(id).send().await {
            Ok(out) => Ok(out.deleted_date().is_none()),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(false),
            Err(e) => Err(message(&e)),
        }
    }

    async fn secret_delete(&self, id: &str) -> Result<(), String> {
        self.sm
            .delete_secret()
            .secret_id(id)
            .recovery_window_in_days(RECOVERY_WINDOW_DAYS)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| message(&e))
    }

    async fn parameter_get(&self, name: &str) -> Result<Option<Zeroizing<String>>, String> {
        match self
            .ssm
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .parameter()
                .and_then(|p| p.value())
                .map(|v| Zeroizing::new(v.to_string()))),
            Err(e) if e.code() == Some("ParameterNotFound") => Ok(None),
            Err(e) => Err(message(&e)),
        }
    }

    async fn parameter_put(
        &self,
        name: &str,
        value: &str,
        kms_key_id: Option<&str>,
    ) -> Result<(), String> {
        self.ssm
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .overwrite(true)
            .set_key_id(kms_key_id.map(str::to_string))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| message(&e))
    }

    async fn parameter_meta(&self, name: &str) -> Result<Option<ParameterMeta>, String> {
        let filter = aws_sdk_ssm::types::ParameterStringFilter::builder()
            .key("Name")
            .option("Equals")
            .values(name)
            .build()
            .map_err(|e| e.to_string())?;
        let out = self
            .ssm
            .describe_parameters()
            .parameter_filters(filter)
            .send()
            .await
            .map_err(|e| message(&e))?;
        Ok(out
            .parameters()
            .iter()
            .find(|p| p.name() == Some(name))
            .map(|p| ParameterMeta {
                key_id: p.key_id().map(str::to_string),
                tier: p.tier().map(|t| t.as_str().to_string()),
                description: p.description().map(str::to_string),
            }))
    }

    async fn parameter_restore(
        &self,
        name: &str,
        value: &str,
        meta: &ParameterMeta,
    ) -> Result<(), String> {
        self.ssm
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .overwrite(true)
            .set_key_id(meta.key_id.clone())
            .set_tier(
                meta.tier
                    .as_deref()
                    .map(aws_sdk_ssm::types::ParameterTier::from),
            )
            .set_description(meta.description.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| message(&e))
    }

    async fn parameter_delete(&self, name: &str) -> Result<(), String> {
        self.ssm
            .delete_parameter()
            .name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| message(&e))
    }

    async fn caller_arn(&self, key_id: &str, secret: &SecretString) -> Result<String, String> {
        let creds = aws_sdk_sts::config::Credentials::new(
            key_id,
            secret.expose_secret(),
            None,
            None,
            "keyrot-new-key",
        );
        let conf = aws_sdk_sts::config::Builder::from(&self.shared)
            .credentials_provider(creds)
            .interceptor(CallLog)
            .build();
        aws_sdk_sts::Client::from_conf(conf)
            .get_caller_identity()
            .send()
            .await
            .map(|out| out.arn().unwrap_or_default().to_string())
            .map_err(|e| message(&e))
    }

    async fn publish(
        &self,
        topic_arn: &str,
        subject: &str,
        text: &str,
        timeout: std::time::Duration,
    ) -> Result<(), String> {
        use aws_config::retry::RetryConfig;
        use aws_config::timeout::TimeoutConfig;
        // A topic is published to in its own region (the ARN's fourth part).
        let region = topic_arn.split(':').nth(3).unwrap_or_default().to_string();
        // Bounded: a notification must never hold up the run for IAM's long timeouts.
        let timeouts = TimeoutConfig::builder()
            .operation_timeout(timeout)
            .connect_timeout(timeout)
            .build();
        let conf = aws_sdk_sns::config::Builder::from(&self.shared)
            .region(aws_config::Region::new(region))
            .timeout_config(timeouts)
            .retry_config(RetryConfig::standard().with_max_attempts(2))
            .build();
        aws_sdk_sns::Client::from_conf(conf)
            .publish()
            .topic_arn(topic_arn)
            .subject(subject)
            .message(text)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| message(&e))
    }
}
