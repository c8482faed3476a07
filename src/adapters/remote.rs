//! The `Remote` port: the AWS services besides IAM — the stores sinks write to (Secrets
//! Manager, SSM), STS, which proves a new key works, and SNS, where notifications go.

use secrecy::SecretString;
use std::future::Future;
use zeroize::Zeroizing;

/// An SSM parameter's settings besides its value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParameterMeta {
    pub key_id: Option<String>,
    pub tier: Option<String>,
    pub description: Option<String>,
}

/// The AWS services besides IAM: the stores sinks write to (Secrets Manager, SSM), STS
/// to prove a new key works, and SNS for notifications. Errors are messages that never
/// contain a secret.
pub trait Remote: Sync {
    /// The secret's AWSCURRENT value (or AWSPREVIOUS), `None` when there is no secret.
    fn secret_get(
        &self,
        id: &str,
        previous: bool,
    ) -> impl Future<Output = Result<Option<Zeroizing<String>>, String>> + Send;
    /// A new version that becomes AWSCURRENT; the old one becomes AWSPREVIOUS.
    fn secret_put(
        &self,
        id: &str,
        value: &str,
        create: bool,
    ) -> impl Future<Output = Result<(), String>> + Send;
    /// Whether the secret exists (with or without a value): AWS answers GetSecretValue for a
    /// secret that has no version yet exactly as for a missing one.
    fn secret_exists(&self, id: &str) -> impl Future<Output = Result<bool, String>> + Send {
        async move { self.secret_get(id, false).await.map(|v| v.is_some()) }
    }
    /// Schedules deletion with AWS's recovery window (never forced), so it can be undone.
    fn secret_delete(&self, id: &str) -> impl Future<Output = Result<(), String>> + Send;
    fn parameter_get(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<Zeroizing<String>>, String>> + Send;
    fn parameter_put(
        &self,
        name: &str,
        value: &str,
        kms_key_id: Option<&str>,
    ) -> impl Future<Output = Result<(), String>> + Send;
    fn parameter_delete(&self, name: &str) -> impl Future<Output = Result<(), String>> + Send;
    /// What a parameter is besides its value (DescribeParameters): its KMS key, tier and
    /// description, `None` when there is no parameter.
    fn parameter_meta(
        &self,
        _name: &str,
    ) -> impl Future<Output = Result<Option<ParameterMeta>, String>> + Send {
        async { Ok(None) }
    }
    /// Puts a previous value back as it was: same KMS key, tier and description (an
    /// overwrite without a KeyId would re-encrypt it under `alias/aws/ssm`).
    fn parameter_restore(
        &self,
        name: &str,
        value: &str,
        meta: &ParameterMeta,
    ) -> impl Future<Output = Result<(), String>> + Send {
        async move {
            self.parameter_put(name, value, meta.key_id.as_deref())
                .await
        }
    }
    /// STS GetCallerIdentity signed with the given key: the ARN it answers as.
    fn caller_arn(
        &self,
        key_id: &str,
        secret: &SecretString,
    ) -> impl Future<Output = Result<String, String>> + Send;
    /// SNS Publish to the topic (in the topic's own region), ending within `timeout`, retries
    /// included. Test doubles that never notify keep the default.
    fn publish(
        &self,
        _topic_arn: &str,
        _subject: &str,
        _message: &str,
        _timeout: std::time::Duration,
    ) -> impl Future<Output = Result<(), String>> + Send {
        async { Err("no SNS client".to_string()) }
    }
}

/// No remote stores: for sets whose sinks are all local.
pub struct NoRemote;

impl Remote for NoRemote {
    async fn secret_get(&self, _: &str, _: bool) -> Result<Option<Zeroizing<String>>, String> {
        Err("no Secrets Manager client".into())
    }
    async fn secret_put(&self, _: &str, _: &str, _: bool) -> Result<(), String> {
        Err("no Secrets Manager client".into())
    }
    async fn secret_exists(&self, _: &str) -> Result<bool, String> {
        Err("no Secrets Manager client".into())
    }
    async fn secret_delete(&self, _: &str) -> Result<(), String> {
        Err("no Secrets Manager client".into())
    }
    async fn parameter_get(&self, _: &str) -> Result<Option<Zeroizing<String>>, String> {
        Err("no SSM client".into())
    }
    async fn parameter_put(&self, _: &str, _: &str, _: Option<&str>) -> Result<(), String> {
        Err("no SSM client".into())
    }
    async fn parameter_delete(&self, _: &str) -> Result<(), String> {
        Err("no SSM client".into())
    }
    async fn caller_arn(&self, _: &str, _: &SecretString) -> Result<String, String> {
        Err("no STS client".into())
    }
}
