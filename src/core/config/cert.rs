//! A signing certificate's source: `generate { … }` or certificate and key files.

use super::attrs::duration_attr;
use super::syntax::Span;
use super::syntax::{Block, Body};
use super::types::{CertSource, KeyAlgorithm};
use super::walker::{FileCtx, Origin, Walker};
use crate::core::duration::Window;
use std::path::PathBuf;

impl Walker {
    /// Exactly one of `generate { … }` or `certificate_file` + `private_key_file`.
    pub(super) fn cert_source(
        &mut self,
        ctx: &FileCtx,
        body: &Body,
        at: &Origin,
    ) -> Option<CertSource> {
        let generate: Vec<&Block> = body.get_blocks("generate").collect();
        let cert_file = self.string_attr(ctx, body, "certificate_file");
        let key_file = self.string_attr(ctx, body, "private_key_file");
        let hint = "use either `generate { algorithm = \"ecdsa-p256\" … }` or both `certificate_file` and `private_key_file`";
        match (generate.as_slice(), cert_file, key_file) {
            ([g], None, None) => self.generate_source(ctx, g),
            ([], Some(certificate_file), Some(private_key_file)) => Some(CertSource::Files {
                certificate_file: PathBuf::from(certificate_file),
                private_key_file: PathBuf::from(private_key_file),
            }),
            _ => {
                self.report(at, "signing_certificate needs one certificate source", hint);
                None
            }
        }
    }

    /// `generate { … }`: keyrot makes the key pair and a self-signed certificate.
    fn generate_source(&mut self, ctx: &FileCtx, g: &Block) -> Option<CertSource> {
        let g_at = ctx.origin(g.span());
        self.labels(g, &g_at, 0, "`generate { … }`");
        self.only(
            ctx,
            &g.body,
            "`generate`",
            &["algorithm", "validity", "subject"],
            &[],
        );
        let algorithm = self.key_algorithm(ctx, &g.body);
        let validity = self.cert_validity(ctx, &g.body);
        let subject = self.cert_subject(ctx, &g.body);
        Some(CertSource::Generate {
            algorithm: algorithm?,
            validity: validity?,
            subject: subject?,
        })
    }

    /// `algorithm`, ECDSA P-256 when absent.
    fn key_algorithm(&mut self, ctx: &FileCtx, body: &Body) -> Option<KeyAlgorithm> {
        match self.string_attr(ctx, body, "algorithm") {
            None => Some(KeyAlgorithm::EcdsaP256),
            Some(text) => {
                let parsed = KeyAlgorithm::parse(&text);
                if parsed.is_none() {
                    let a_at =
                        ctx.origin(body.get_attribute("algorithm").and_then(|a| a.value.span()));
                    self.report(
                        &a_at,
                        format!("unknown algorithm `{text}`"),
                        format!("use one of: {}", KeyAlgorithm::NAMES),
                    );
                }
                parsed
            }
        }
    }

    /// `validity`, at least a day; 400 days when absent.
    fn cert_validity(&mut self, ctx: &FileCtx, body: &Body) -> Option<Window> {
        match body.get_attribute("validity") {
            Some(attr) => match duration_attr(ctx, attr) {
                Ok(w) if w >= Window::days(1) => Some(w),
                Ok(_) => {
                    let a_at = ctx.origin(attr.value.span().or(attr.span()));
                    self.report(
                        &a_at,
                        "validity must be at least 1d",
                        "certificates should outlive max_age plus overlap, e.g. `validity = \"400d\"`",
                    );
                    None
                }
                Err(d) => {
                    self.diagnostics.push(d);
                    None
                }
            },
            None => Some(Window::days(400)),
        }
    }

    /// `subject` as DN pairs; empty when absent.
    fn cert_subject(&mut self, ctx: &FileCtx, body: &Body) -> Option<Vec<(String, String)>> {
        match self.string_attr(ctx, body, "subject") {
            None => Some(Vec::new()),
            Some(text) => {
                let parsed = parse_subject(&text);
                if parsed.is_none() {
                    let a_at =
                        ctx.origin(body.get_attribute("subject").and_then(|a| a.value.span()));
                    self.report(
                        &a_at,
                        format!("cannot read subject `{text}`"),
                        "write it like \"CN=ci-deployer,O=Example\"",
                    );
                }
                parsed
            }
        }
    }
}

/// `CN=ci,O=Example` → `[("CN","ci"), ("O","Example")]`.
fn parse_subject(text: &str) -> Option<Vec<(String, String)>> {
    text.split(',')
        .map(|part| {
            let (k, v) = part.split_once('=')?;
            let (k, v) = (k.trim(), v.trim());
            (!k.is_empty() && !v.is_empty()).then(|| (k.to_string(), v.to_string()))
        })
        .collect()
}
