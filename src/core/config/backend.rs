//! `backend "s3" { … }`: where the state, its lock and its journal live.

use super::attrs::duration_attr;
use super::syntax::Span;
use super::syntax::{Block, Body};
use super::types::S3Backend;
use super::walker::{FileCtx, Origin, Walker};

const ATTRIBUTES: &[&str] = &[
    "bucket",
    "key",
    "region",
    "profile",
    "role_arn",
    "endpoint_url",
    "use_path_style",
    "kms_key_id",
    "lock_lease",
];

impl Walker {
    pub(super) fn backend_block(&mut self, ctx: &FileCtx, block: &Block, at: Origin) {
        let labels = self.labels(block, &at, 1, "`backend \"s3\" { … }`");
        let mut first = self.backend_origin.take();
        let fresh = self.once(&mut first, at.clone(), "backend");
        self.backend_origin = first;
        if let Some(kind) = labels.first().filter(|k| **k != "s3") {
            self.report(
                &at,
                format!("unknown backend `{kind}`"),
                "keyrot stores state in a local file (no backend block) or in `backend \"s3\"`",
            );
            return;
        }
        let body = &block.body;
        self.only(ctx, body, "`backend \"s3\"`", ATTRIBUTES, &[]);
        if !fresh || labels.len() != 1 {
            return;
        }
        let place = "`backend \"s3\"`";
        let bucket = self.required_string(ctx, body, &at, place, "bucket", "acme-keyrot");
        let key = self.required_string(ctx, body, &at, place, "key", "prod/keyrot.json");
        let (Some(bucket), Some(key)) = (bucket, key) else {
            return;
        };
        self.check_bucket(ctx, body, &bucket);
        self.check_key(ctx, body, &key);
        let endpoint_url = self.string_attr(ctx, body, "endpoint_url");
        self.check_url(ctx, body, endpoint_url.as_deref());
        self.backend = Some(S3Backend {
            bucket,
            key,
            region: self.string_attr(ctx, body, "region"),
            profile: self.string_attr(ctx, body, "profile"),
            role_arn: self.string_attr(ctx, body, "role_arn"),
            endpoint_url,
            use_path_style: self.bool_attr(ctx, body, "use_path_style"),
            kms_key_id: self.string_attr(ctx, body, "kms_key_id"),
            lock_lease: self.lease(ctx, body),
        });
    }

    fn lease(&mut self, ctx: &FileCtx, body: &Body) -> crate::core::duration::Window {
        let Some(attr) = body.get_attribute("lock_lease") else {
            return S3Backend::DEFAULT_LEASE;
        };
        match duration_attr(ctx, attr) {
            Ok(w) if (1..=86_400).contains(&w.as_secs()) => w,
            Ok(_) => {
                let at = ctx.origin(attr.value.span().or(attr.span()));
                self.report(
                    &at,
                    "lock_lease must be from 1s to 1d",
                    "e.g. `lock_lease = \"5m\"`: a killed run's lock is taken over after it",
                );
                S3Backend::DEFAULT_LEASE
            }
            Err(d) => {
                self.diagnostics.push(d);
                S3Backend::DEFAULT_LEASE
            }
        }
    }

    /// S3 bucket names: 3–63 lowercase letters, digits, dots and hyphens, starting and
    /// ending with a letter or digit.
    fn check_bucket(&mut self, ctx: &FileCtx, body: &Body, bucket: &str) {
        let edge =
            |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let valid = (3..=63).contains(&bucket.len())
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            && edge(bucket.chars().next())
            && edge(bucket.chars().last())
            && !bucket.contains("..");
        if !valid {
            self.report_attr(
                ctx,
                body,
                "bucket",
                format!("`{bucket}` is not a valid S3 bucket name"),
                "3 to 63 lowercase letters, digits, dots and hyphens, e.g. \"acme-keyrot\"",
            );
        }
    }

    fn check_key(&mut self, ctx: &FileCtx, body: &Body, key: &str) {
        if key.is_empty() || key.ends_with('/') || key.starts_with('/') || key.len() > 1000 {
            self.report_attr(
                ctx,
                body,
                "key",
                format!("`{key}` is not a usable object key for the state"),
                "name the state object, e.g. \"prod/keyrot.json\"",
            );
        }
    }

    fn check_url(&mut self, ctx: &FileCtx, body: &Body, url: Option<&str>) {
        if let Some(url) = url.filter(|u| !(u.starts_with("http://") || u.starts_with("https://")))
        {
            self.report_attr(
                ctx,
                body,
                "endpoint_url",
                format!("endpoint_url `{url}` is not an http(s) URL"),
                "write it like \"https://s3.us-east-1.amazonaws.com\"",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::core::config::{parse, Source};

    fn errors(text: &str) -> Vec<String> {
        let source = Source {
            name: "k.hcl".into(),
            text: text.into(),
        };
        match parse(&[source]) {
            Ok(_) => vec![],
            Err(ds) => ds.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn parses_the_s3_backend() {
        let text = "backend \"s3\" {\n  bucket = \"acme-keyrot\"\n  key = \"prod/keyrot.json\"\n  lock_lease = \"3s\"\n  endpoint_url = \"http://127.0.0.1:5000\"\n}\n";
        let source = Source {
            name: "k.hcl".into(),
            text: text.into(),
        };
        let b = parse(&[source]).unwrap().backend.unwrap();
        assert_eq!(b.url(), "s3://acme-keyrot/prod/keyrot.json");
        assert_eq!(b.lock_lease.as_secs(), 3);
        assert_eq!(b.use_path_style, None);
    }

    #[test]
    fn backend_errors_have_positions() {
        let e = errors("backend \"s3\" {\n  bucket = \"B\"\n  key = \"k\"\n  colour = 1\n}\n");
        assert!(e.iter().any(|e| e.contains("k.hcl:2:")), "{e:?}");
        assert!(
            e.iter()
                .any(|e| e.contains("k.hcl:4:") && e.contains("colour")),
            "{e:?}"
        );
        let e = errors("backend \"gcs\" {\n}\n");
        assert!(
            e[0].contains("k.hcl:1:1") && e[0].contains("unknown backend"),
            "{e:?}"
        );
        let e = errors("backend \"s3\" {\n  key = \"k\"\n}\n");
        assert!(e[0].contains("needs `bucket`"), "{e:?}");
        let e = errors(
            "backend \"s3\" {\n  bucket = \"acme\"\n  key = \"k\"\n  lock_lease = \"0s\"\n}\n",
        );
        assert!(
            e[0].contains("k.hcl:4:") && e[0].contains("lock_lease"),
            "{e:?}"
        );
    }
}
