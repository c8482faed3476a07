//! The S3 state backend's object store ([`ObjectStore`]) over the SDK: conditional
//! PutObject (`If-Match` / `If-None-Match: *`), GetObject, conditional DeleteObject,
//! ListObjectsV2 (paged), and the bucket's versioning status.
//!
//! The port is synchronous (a state write finishes before the next IAM call); the SDK is
//! async, so the client runs on a small runtime of its own and each call waits for its
//! answer there. That works from any thread, inside keyrot's runtime or not, and lets the
//! lease renewal run on a plain thread.

use super::calls::CallLog;
use crate::adapters::store::object::{Condition, Object, ObjectError, ObjectStore, Versioning};
use crate::core::config::S3Backend;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, ServerSideEncryption};
use aws_sdk_s3::Client;
use std::future::Future;
use std::time::Duration;

pub struct AwsObjects {
    client: Client,
    bucket: String,
    kms_key_id: Option<String>,
    runtime: Option<tokio::runtime::Runtime>,
}

/// A bound on one S3 call with its retries: a lease must not wait on a hung call.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

impl AwsObjects {
    /// A client for the backend. `env_endpoint` is `AWS_ENDPOINT_URL_S3` or
    /// `AWS_ENDPOINT_URL` when set: with any custom endpoint, requests are path-style
    /// unless `use_path_style = false`.
    pub fn connect(backend: &S3Backend, env_endpoint: Option<String>) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("keyrot-s3")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the S3 client's runtime: {e}"))?;
        let endpoint = backend.endpoint_url.clone().or(env_endpoint);
        let path_style = backend.use_path_style.unwrap_or(endpoint.is_some());
        let backend_owned = backend.clone();
        let conf = run(&runtime, async move {
            let b = backend_owned;
            let timeouts = aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(CALL_TIMEOUT)
                .connect_timeout(Duration::from_secs(10))
                .build();
            let mut loader =
                aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts);
            if let Some(profile) = &b.profile {
                loader = loader.profile_name(profile);
            }
            if let Some(region) = &b.region {
                loader = loader.region(Region::new(region.clone()));
            }
            if let Some(url) = &endpoint {
                loader = loader.endpoint_url(url);
            }
            let mut shared = loader.load().await;
            if shared.region().is_none() {
                shared = shared
                    .into_builder()
                    .region(Region::new("us-east-1"))
                    .build();
            }
            if let Some(arn) = &b.role_arn {
                let role = aws_config::sts::AssumeRoleProvider::builder(arn)
                    .session_name("keyrot-state")
                    .configure(&shared)
                    .build()
                    .await;
                shared = shared
                    .into_builder()
                    .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(role))
                    .build();
            }
            aws_sdk_s3::config::Builder::from(&shared)
                .force_path_style(path_style)
                .interceptor(CallLog)
                .build()
        })?;
        Ok(AwsObjects {
            client: Client::from_conf(conf),
            bucket: backend.bucket.clone(),
            kms_key_id: backend.kms_key_id.clone(),
            runtime: Some(runtime),
        })
    }

    fn run<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, ObjectError> {
        match &self.runtime {
            Some(rt) => run(rt, fut).map_err(ObjectError::Failed),
            None => Err(ObjectError::Failed("the S3 client is shut down".into())),
        }
    }
}

/// Runs `fut` on `rt` and waits for it on this thread.
fn run<T: Send + 'static>(
    rt: &tokio::runtime::Runtime,
    fut: impl Future<Output = T> + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    rt.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv()
        .map_err(|_| "the S3 call was abandoned".to_string())
}

/// An SDK error as text: its code and message, or the HTTP status (never a secret: S3
/// errors carry none).
fn describe<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
    e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> String {
    let status = e.raw_response().map(|r| r.status().as_u16());
    match (e.code(), e.message(), status) {
        (Some(code), Some(msg), _) => format!("{code}: {msg}"),
        (Some(code), None, _) => code.to_string(),
        (None, _, Some(status)) => format!("HTTP {status}"),
        (None, _, None) => aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
    }
}

fn status<E>(e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> u16 {
    e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0)
}

impl ObjectStore for AwsObjects {
    fn get(&self, key: &str) -> Result<Option<Object>, ObjectError> {
        let call = self.client.get_object().bucket(&self.bucket).key(key);
        self.run(async move {
            let out = match call.send().await {
                Ok(out) => out,
                Err(e) if status(&e) == 404 && e.code() != Some("NoSuchBucket") => return Ok(None),
                Err(e) => return Err(ObjectError::Failed(describe(&e))),
            };
            let etag = out.e_tag().unwrap_or_default().to_string();
            let body = out
                .body
                .collect()
                .await
                .map_err(|e| ObjectError::Failed(format!("reading the object: {e}")))?;
            Ok(Some(Object {
                body: body.into_bytes().to_vec(),
                etag,
            }))
        })?
    }

    fn put(&self, key: &str, body: &[u8], condition: &Condition) -> Result<String, ObjectError> {
        let mut call = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body.to_vec()));
        call = match condition {
            Condition::Absent => call.if_none_match("*"),
            Condition::Matches(etag) => call.if_match(etag),
        };
        if let Some(kms) = &self.kms_key_id {
            call = call
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(kms);
        }
        self.run(async move {
            match call.send().await {
                Ok(out) => Ok(out.e_tag().unwrap_or_default().to_string()),
                // 412: the condition failed; 409: a concurrent conditional write won; 404
                // on If-Match: the object is gone. Each means someone else wrote.
                Err(e) if matches!(status(&e), 412 | 409) => Err(ObjectError::Conflict),
                Err(e) if status(&e) == 404 && e.code() != Some("NoSuchBucket") => {
                    Err(ObjectError::Conflict)
                }
                Err(e) => Err(ObjectError::Failed(describe(&e))),
            }
        })?
    }

    fn delete(&self, key: &str, etag: &str) -> Result<(), ObjectError> {
        let call = self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .if_match(etag);
        self.run(async move {
            match call.send().await {
                Ok(_) => Ok(()),
                Err(e) if matches!(status(&e), 412 | 404) => Err(ObjectError::Conflict),
                Err(e) => Err(ObjectError::Failed(describe(&e))),
            }
        })?
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, ObjectError> {
        let pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        self.run(async move {
            let mut pages = pages;
            let mut keys = Vec::new();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| ObjectError::Failed(describe(&e)))?;
                keys.extend(
                    page.contents()
                        .iter()
                        .filter_map(|o| o.key().map(str::to_string)),
                );
            }
            Ok(keys)
        })?
    }

    fn versioning(&self) -> Versioning {
        let call = self.client.get_bucket_versioning().bucket(&self.bucket);
        let answer = self.run(async move { call.send().await.map(|o| o.status().cloned()) });
        match answer {
            Ok(Ok(Some(BucketVersioningStatus::Enabled))) => Versioning::Enabled,
            Ok(Ok(_)) => Versioning::Off,
            _ => Versioning::Unknown,
        }
    }

    fn location(&self) -> String {
        format!("s3://{}", self.bucket)
    }
}

impl Drop for AwsObjects {
    fn drop(&mut self) {
        // Dropping a runtime may block; keyrot may be inside its own runtime here.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
