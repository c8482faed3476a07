//! Top-level blocks (`aws`, `password_policy`, `defaults`, `user`) and credential blocks.

use super::attrs::duration_attr;
use super::syntax::Span;
use super::syntax::{Block, Body};
use super::types::RetryMode;
use super::walker::{FileCtx, KeyDecl, Origin, UserDecl, Walker, WINDOW_NAMES};
use crate::core::model::{CredentialKind, KeyIds};
use crate::core::policy::PolicySpec;

impl Walker {
    pub(super) fn aws_block(&mut self, ctx: &FileCtx, block: &Block, at: Origin) {
        self.labels(block, &at, 0, "`aws { … }`");
        let mut first = self.aws_origin.take();
        let fresh = self.once(&mut first, at, "aws");
        self.aws_origin = first;
        let body = &block.body;
        self.only(
            ctx,
            body,
            "`aws`",
            &[
                "region",
                "profile",
                "endpoint_url",
                "max_attempts",
                "timeout",
                "retry_mode",
                "verify_timeout",
            ],
            &[],
        );
        if !fresh {
            return;
        }
        self.aws_retries(ctx, body);
        self.aws.region = self.string_attr(ctx, body, "region");
        self.aws.profile = self.string_attr(ctx, body, "profile");
        self.aws.endpoint_url = self.string_attr(ctx, body, "endpoint_url");
        if let (Some(url), Some(attr)) =
            (&self.aws.endpoint_url, body.get_attribute("endpoint_url"))
        {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                let at = ctx.origin(attr.span());
                self.report(
                    &at,
                    format!("endpoint_url `{url}` is not an http(s) URL"),
                    "write it like \"https://iam.amazonaws.com\"",
                );
            }
        }
    }

    /// The attributes that bound IAM calls: attempts, timeouts, retry mode.
    fn aws_retries(&mut self, ctx: &FileCtx, body: &Body) {
        if let Some(attr) = body.get_attribute("max_attempts") {
            let n = attr.value.as_number().and_then(|n| n.as_u64());
            match n.filter(|n| (1..=20).contains(n)) {
                Some(n) => self.aws.max_attempts = Some(n as u32),
                None => {
                    let at = ctx.origin(attr.value.span().or(attr.span()));
                    self.report(
                        &at,
                        "max_attempts must be a whole number from 1 to 20",
                        "e.g. `max_attempts = 8`",
                    );
                }
            }
        }
        if let Some(attr) = body.get_attribute("timeout") {
            match duration_attr(ctx, attr) {
                Ok(w) if w.as_secs() > 0 => self.aws.timeout = Some(w),
                Ok(_) => {
                    let at = ctx.origin(attr.value.span().or(attr.span()));
                    self.report(
                        &at,
                        "timeout must be longer than 0s",
                        "e.g. `timeout = \"60s\"`",
                    );
                }
                Err(d) => self.diagnostics.push(d),
            }
        }
        if let Some(attr) = body.get_attribute("verify_timeout") {
            self.aws.verify_timeout = duration_attr(ctx, attr)
                .map_err(|d| self.diagnostics.push(d))
                .ok();
        }
        if let Some(mode) = self.string_attr(ctx, body, "retry_mode") {
            self.aws.retry_mode = match mode.as_str() {
                "standard" => Some(RetryMode::Standard),
                "adaptive" => Some(RetryMode::Adaptive),
                other => {
                    let attr = body.get_attribute("retry_mode");
                    let at = ctx.origin(attr.and_then(|a| a.value.span()));
                    self.report(
                        &at,
                        format!("unknown retry_mode `{other}`"),
                        "use \"standard\" or \"adaptive\"",
                    );
                    None
                }
            };
        }
    }

    pub(super) fn policy_block(&mut self, ctx: &FileCtx, block: &Block, at: Origin) {
        self.labels(block, &at, 0, "`password_policy { … }`");
        let mut first = self.policy_origin.take();
        let fresh = self.once(&mut first, at.clone(), "password_policy");
        self.policy_origin = first;
        let body = &block.body;
        const BOOLS: [&str; 6] = [
            "require_symbols",
            "require_numbers",
            "require_uppercase_characters",
            "require_lowercase_characters",
            "allow_users_to_change_password",
            "hard_expiry",
        ];
        let mut allowed: Vec<&str> = BOOLS.to_vec();
        allowed.extend(crate::core::policy::RANGES.iter().map(|(n, _, _)| *n));
        allowed.push("delete");
        self.only(ctx, body, "`password_policy`", &allowed, &[]);
        if !fresh {
            return;
        }
        let mut spec = PolicySpec::default();
        let [sym, num, upper, lower, change, hard] = BOOLS.map(|k| self.bool_attr(ctx, body, k));
        spec.require_symbols = sym;
        spec.require_numbers = num;
        spec.require_uppercase_characters = upper;
        spec.require_lowercase_characters = lower;
        spec.allow_users_to_change_password = change;
        spec.hard_expiry = hard;
        for (name, min, max) in crate::core::policy::RANGES {
            let Some(attr) = body.get_attribute(name) else {
                continue;
            };
            let n = attr.value.as_number().and_then(|n| n.as_u64());
            let value = match n.filter(|n| (*min as u64..=*max as u64).contains(n)) {
                Some(n) => Some(n as u32),
                None => {
                    let a_at = ctx.origin(attr.value.span().or(attr.span()));
                    self.report(
                        &a_at,
                        format!(
                            "`{name}` must be a whole number from {min} to {max} (IAM's range)"
                        ),
                        format!("e.g. `{name} = {}`", (min + max) / 2),
                    );
                    None
                }
            };
            match *name {
                "minimum_password_length" => spec.minimum_password_length = value,
                "max_password_age" => spec.max_password_age = value,
                _ => spec.password_reuse_prevention = value,
            }
        }
        spec.delete = self.bool_attr(ctx, body, "delete").unwrap_or(false);
        if spec.delete && body.attributes().count() > 1 {
            self.report(
                &at,
                "`delete = true` removes the account password policy: it takes no other attribute",
                "keep only `delete = true`, or remove it to manage the policy",
            );
        }
        self.policy = Some(spec);
    }

    /// `display { key_ids = "masked" | "full" }`: how output shows key ids.
    pub(super) fn display_block(&mut self, ctx: &FileCtx, block: &Block, at: Origin) {
        self.labels(block, &at, 0, "`display { … }`");
        let mut first = self.display_origin.take();
        let fresh = self.once(&mut first, at, "display");
        self.display_origin = first;
        self.only(ctx, &block.body, "`display`", &["key_ids"], &[]);
        if !fresh {
            return;
        }
        let Some(value) = self.string_attr(ctx, &block.body, "key_ids") else {
            return;
        };
        self.display.key_ids = match value.as_str() {
            "masked" => KeyIds::Masked,
            "full" => KeyIds::Full,
            other => {
                let attr = block.body.get_attribute("key_ids");
                let at = ctx.origin(attr.and_then(|a| a.value.span()));
                self.report(
                    &at,
                    format!("unknown key_ids `{other}`"),
                    "use \"masked\" (the default: the last four characters) or \"full\"",
                );
                KeyIds::Masked
            }
        };
    }

    pub(super) fn defaults_block(&mut self, ctx: &FileCtx, block: &Block, at: Origin) {
        self.labels(block, &at, 0, "`defaults { … }`");
        let mut first = self.defaults_origin.take();
        let fresh = self.once(&mut first, at, "defaults");
        self.defaults_origin = first;
        self.only(ctx, &block.body, "`defaults`", &WINDOW_NAMES, &[]);
        if fresh {
            self.defaults = self.windows(ctx, &block.body);
        }
    }

    pub(super) fn user_block(&mut self, ctx: &FileCtx, block: &Block, at: Origin) {
        let labels = self.labels(block, &at, 1, "`user \"NAME\" { … }`");
        let Some(name) = labels.first().map(|n| n.to_string()) else {
            return;
        };
        if !valid_user_name(&name) {
            self.report(
                &at,
                format!("`{name}` is not a valid IAM user name"),
                "IAM user names are 1-64 characters of letters, digits and +=,.@_-",
            );
        }
        self.only(
            ctx,
            &block.body,
            "`user`",
            &["account"],
            &["access_key", "signing_certificate"],
        );
        let account = self.account_ref(ctx, &block.body);
        // An index, not a scan of every user so far: configs of 40,000 users stay linear.
        let key = (name.clone(), account.clone());
        if let Some(prev) = self.user_index.get(&key).map(|&i| &self.users[i]) {
            let note = format!(
                "user \"{name}\" is already declared at {}; declare each user once",
                prev.at
            );
            self.report(&at, format!("duplicate user \"{name}\""), note);
            return;
        }
        let declared = self.credential_blocks(ctx, &block.body);
        if declared.is_empty() {
            self.report(
                &at,
                format!("user \"{name}\" declares no credentials"),
                "add an `access_key { … }` or `signing_certificate { … }` block with a `deliver` block",
            );
        }
        self.user_index.insert(key, self.users.len());
        self.users.push(UserDecl {
            name,
            account,
            at,
            declared,
        });
    }

    /// The `access_key` and `signing_certificate` blocks of a `user` or `users` block.
    pub(super) fn credential_blocks(
        &mut self,
        ctx: &FileCtx,
        body: &Body,
    ) -> Vec<(CredentialKind, KeyDecl)> {
        // Sized to fit: a fleet keeps 100,000 of these until every file is read.
        let kinds = ["access_key", "signing_certificate"];
        let count = body.blocks().filter(|b| kinds.contains(&b.ident.as_str()));
        let mut declared = Vec::with_capacity(count.count().min(kinds.len()));
        for kind in [
            CredentialKind::AccessKey,
            CredentialKind::SigningCertificate,
        ] {
            let usage = match kind {
                CredentialKind::AccessKey => "`access_key { … }`",
                CredentialKind::SigningCertificate => "`signing_certificate { … }`",
            };
            let mut first: Option<&Block> = None;
            for cred_block in body.get_blocks(kind.as_str()) {
                let cred_at = ctx.origin(cred_block.span());
                self.labels(cred_block, &cred_at, 0, usage);
                if let Some(first) = first {
                    // Where the first stood is worked out only for the duplicate's message.
                    let mut first_at = Some(ctx.origin(first.span()));
                    self.once(&mut first_at, cred_at, kind.as_str());
                    continue;
                }
                first = Some(cred_block);
                declared.push((kind, self.credential_block(ctx, cred_block, &cred_at, kind)));
            }
        }
        declared
    }

    fn credential_block(
        &mut self,
        ctx: &FileCtx,
        block: &Block,
        at: &Origin,
        kind: CredentialKind,
    ) -> KeyDecl {
        let body = &block.body;
        // The windows, then step 4's evidence (`require_new_key_use` is refused for
        // certificates by name).
        const KEY_ATTRS: [&str; 6] = [
            WINDOW_NAMES[0],
            WINDOW_NAMES[1],
            WINDOW_NAMES[2],
            WINDOW_NAMES[3],
            "require_new_key_use",
            "on_confirm_failure",
        ];
        const CERT_ATTRS: [&str; 7] = [
            "max_age",
            "overlap",
            "inactive_for",
            "certificate_file",
            "private_key_file",
            "require_new_key_use",
            "on_confirm_failure",
        ];
        let certificate = match kind {
            CredentialKind::AccessKey => {
                let blocks = ["deliver", "confirm"];
                self.only(ctx, body, "`access_key`", &KEY_ATTRS, &blocks);
                None
            }
            CredentialKind::SigningCertificate => {
                let blocks = ["deliver", "generate", "confirm"];
                let place = "`signing_certificate`";
                self.only(ctx, body, place, &CERT_ATTRS, &blocks);
                self.cert_source(ctx, body, at)
            }
        };
        let require_new_key_use = self.new_key_use(ctx, body, kind);
        let confirm = self.confirm(ctx, body);
        let windows = self.windows(ctx, body);
        let mut sinks = Vec::with_capacity(body.get_blocks("deliver").count());
        for deliver in body.get_blocks("deliver") {
            let d_at = ctx.origin(deliver.span());
            let labels = self.labels(deliver, &d_at, 1, "`deliver \"file\" { … }`");
            let Some(sink_kind) = labels.first() else {
                continue;
            };
            if let Some(sink) = self.sink(ctx, deliver, sink_kind, &d_at, kind) {
                sinks.push(sink);
            }
        }
        if sinks.is_empty() && !body.get_blocks("deliver").any(|_| true) {
            self.report(
                at,
                format!("{} has no `deliver` block: a new secret would have nowhere to go", kind.as_str()),
                "add a block `deliver \"file\" {` with `path = \"secrets/NAME.json\"` and `format = \"json\"` on lines of their own",
            );
        }
        KeyDecl {
            windows,
            sinks,
            certificate,
            require_new_key_use,
            confirm,
        }
    }
}

pub(super) fn valid_user_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}
