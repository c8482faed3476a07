//! Step 4 of AWS's rotation, declared per credential set: `require_new_key_use`, the
//! `confirm "exec"` / `confirm "http"` checks, and `on_confirm_failure`.

use super::attrs::duration_attr;
use super::syntax::Body;
use super::syntax::Span;
use super::types::{Check, Confirm, OnConfirmFailure};
use super::walker::{FileCtx, Origin, Walker};
use crate::core::duration::Window;
use crate::core::model::CredentialKind;

/// How long an http check waits for its answer unless its block says otherwise.
const HTTP_TIMEOUT: Window = Window::from_secs(30);

impl Walker {
    /// `require_new_key_use = true`: access keys only (certificates have no last-use record).
    pub(super) fn new_key_use(&mut self, ctx: &FileCtx, body: &Body, kind: CredentialKind) -> bool {
        let Some(attr) = body.get_attribute("require_new_key_use") else {
            return false;
        };
        if !kind.has_last_use() {
            let at = ctx.origin(attr.span());
            self.report(
                &at,
                format!(
                    "`require_new_key_use` needs a last-use record, and IAM keeps none for {}s",
                    kind.noun()
                ),
                "remove it: a certificate's deactivation waits for its overlap window alone",
            );
            return false;
        }
        self.bool_attr(ctx, body, "require_new_key_use")
            .unwrap_or(false)
    }

    /// The set's `confirm` blocks and `on_confirm_failure`.
    pub(super) fn confirm(&mut self, ctx: &FileCtx, body: &Body) -> Confirm {
        let mut checks = Vec::new();
        for block in body.get_blocks("confirm") {
            let at = ctx.origin(block.span());
            let usage = "`confirm \"exec\" { … }` or `confirm \"http\" { … }`";
            let labels = self.labels(block, &at, 1, usage);
            let check = match labels.first().copied() {
                Some("exec") => self.exec_check(ctx, &block.body, &at),
                Some("http") => self.http_check(ctx, &block.body, &at),
                Some(other) => {
                    self.report(
                        &at,
                        format!("unknown confirm check `{other}`"),
                        "checks are `exec` (a command) and `http` (a GET that must answer a status)",
                    );
                    None
                }
                None => None,
            };
            checks.extend(check);
        }
        let on_failure = self.on_confirm_failure(ctx, body);
        if let Some(attr) = body.get_attribute("on_confirm_failure") {
            if body.get_blocks("confirm").next().is_none() {
                let at = ctx.origin(attr.span());
                self.report(
                    &at,
                    "`on_confirm_failure` without a `confirm` block has nothing to act on",
                    "add a `confirm \"exec\"` or `confirm \"http\"` block, or remove it",
                );
            }
        }
        Confirm { checks, on_failure }
    }

    fn on_confirm_failure(&mut self, ctx: &FileCtx, body: &Body) -> OnConfirmFailure {
        match self.string_attr(ctx, body, "on_confirm_failure").as_deref() {
            None | Some("rollback") => OnConfirmFailure::Rollback,
            Some("hold") => OnConfirmFailure::Hold,
            Some(other) => {
                let attr = body.get_attribute("on_confirm_failure");
                let at = ctx.origin(attr.and_then(|a| a.value.span()));
                self.report(
                    &at,
                    format!("unknown on_confirm_failure `{other}`"),
                    "use \"rollback\" (reactivate the old key and hold) or \"hold\" (hold, old key left Inactive)",
                );
                OnConfirmFailure::default()
            }
        }
    }

    fn exec_check(&mut self, ctx: &FileCtx, body: &Body, at: &Origin) -> Option<Check> {
        let place = "`confirm \"exec\"`";
        self.only(
            ctx,
            body,
            place,
            &["command", "timeout", "env", "pass_env"],
            &[],
        );
        let (command, timeout, env) = self.exec_command(ctx, body, at, place)?;
        Some(Check::Exec {
            command,
            timeout,
            env,
        })
    }

    fn http_check(&mut self, ctx: &FileCtx, body: &Body, at: &Origin) -> Option<Check> {
        let place = "`confirm \"http\"`";
        self.only(ctx, body, place, &["url", "status", "timeout"], &[]);
        let url = self.required_string(ctx, body, at, place, "url", "https://app.internal/health");
        if let (Some(text), Some(attr)) = (&url, body.get_attribute("url")) {
            if let Err(why) = crate::core::weburl::check_url(text) {
                let a_at = ctx.origin(attr.value.span().or(attr.span()));
                self.report(
                    &a_at,
                    format!("url `{}`: {why}", crate::core::weburl::display_text(text)),
                    "use an https URL, or http://127.0.0.1:PORT/… for a service on this host",
                );
                return None;
            }
        }
        let status = match body.get_attribute("status") {
            None => Some(200),
            Some(attr) => {
                let n = attr.value.as_number().and_then(|n| n.as_u64());
                let valid = n.filter(|n| (100..=599).contains(n)).map(|n| n as u16);
                if valid.is_none() {
                    let a_at = ctx.origin(attr.value.span().or(attr.span()));
                    self.report(
                        &a_at,
                        "`status` must be an HTTP status code from 100 to 599",
                        "e.g. `status = 200`",
                    );
                }
                valid
            }
        };
        let timeout = match body.get_attribute("timeout") {
            None => Some(HTTP_TIMEOUT),
            Some(attr) => match duration_attr(ctx, attr) {
                Ok(w) if w.as_secs() > 0 => Some(w),
                Ok(_) => {
                    let a_at = ctx.origin(attr.value.span().or(attr.span()));
                    self.report(
                        &a_at,
                        "timeout must be longer than 0s",
                        "e.g. `timeout = \"30s\"`",
                    );
                    None
                }
                Err(d) => {
                    self.diagnostics.push(d);
                    None
                }
            },
        };
        Some(Check::Http {
            url: url?,
            status: status?,
            timeout: timeout?,
        })
    }
}
