//! `account "NAME" { role_arn = … }`: other AWS accounts, reached by AssumeRole from
//! keyrot's own credentials, and the `account = "NAME"` attributes that refer to them.

use super::attrs::duration_attr;
use super::syntax::Span;
use super::syntax::{Block, Body};
use super::types::AccountSpec;
use super::walker::{FileCtx, Origin, Walker};
use crate::core::duration::Window;
use crate::core::model::valid_account_name;
use std::collections::BTreeMap;

const ATTRIBUTES: &[&str] = &["role_arn", "external_id", "session_name", "duration"];

impl Walker {
    pub(super) fn account_block(&mut self, ctx: &FileCtx, block: &Block, at: Origin) {
        let labels = self.labels(block, &at, 1, "`account \"NAME\" { … }`");
        let Some(name) = labels.first().map(|n| n.to_string()) else {
            return;
        };
        if !valid_account_name(&name) {
            self.report(
                &at,
                format!("`{name}` is not a valid account name"),
                "account names are 1-64 letters, digits, `_` and `-`",
            );
        }
        if let Some((_, prev)) = self.accounts.iter().find(|(a, _)| a.name == name) {
            let note = format!("merge it into the one at {prev}");
            self.report(&at, format!("duplicate `account \"{name}\"`"), note);
            return;
        }
        let body = &block.body;
        self.only(ctx, body, "`account`", ATTRIBUTES, &[]);
        let place = "`account`";
        let example = "arn:aws:iam::222222222222:role/keyrot";
        let role_arn = self.required_string(ctx, body, &at, place, "role_arn", example);
        if let Some(arn) = &role_arn {
            let parts: Vec<&str> = arn.splitn(6, ':').collect();
            let valid = matches!(parts.as_slice(), ["arn", _, "iam", "", id, role]
                if id.len() == 12 && id.chars().all(|c| c.is_ascii_digit()) && role.starts_with("role/") && role.len() > 5);
            if !valid {
                self.report_attr(
                    ctx,
                    body,
                    "role_arn",
                    format!("role_arn `{arn}` is not an IAM role ARN"),
                    format!("write it like \"{example}\""),
                );
            }
        }
        let external_id = self.bounded_text(ctx, body, "external_id", 2, 1224);
        let session_name = self.bounded_text(ctx, body, "session_name", 2, 64);
        let duration = self.session_duration(ctx, body);
        let Some(role_arn) = role_arn else {
            return;
        };
        let spec = AccountSpec {
            name,
            role_arn,
            external_id,
            session_name,
            duration,
        };
        self.accounts.push((spec, at));
    }

    /// A string attribute of `min..=max` characters (AWS's bounds).
    fn bounded_text(
        &mut self,
        ctx: &FileCtx,
        body: &Body,
        key: &str,
        min: usize,
        max: usize,
    ) -> Option<String> {
        let text = self.string_attr(ctx, body, key)?;
        if !(min..=max).contains(&text.chars().count()) {
            let message = format!("`{key}` must be {min} to {max} characters");
            self.report_attr(ctx, body, key, message, "");
            return None;
        }
        Some(text)
    }

    /// `duration`: how long assumed credentials last, 15m to 12h (AWS's bounds).
    fn session_duration(&mut self, ctx: &FileCtx, body: &Body) -> Option<Window> {
        let attr = body.get_attribute("duration")?;
        match duration_attr(ctx, attr) {
            Ok(w) if (900..=43_200).contains(&w.as_secs()) => Some(w),
            Ok(_) => {
                let message = "duration must be from 15m to 12h (AWS's bounds for AssumeRole)";
                self.report_attr(ctx, body, "duration", message, "e.g. `duration = \"1h\"`");
                None
            }
            Err(d) => {
                self.diagnostics.push(d);
                None
            }
        }
    }

    /// `account = "NAME"` in a `user`, `users` or sink block: a name an `account` block
    /// must declare (checked once every file is read).
    pub(super) fn account_ref(&mut self, ctx: &FileCtx, body: &Body) -> Option<String> {
        let name = self.string_attr(ctx, body, "account")?;
        let at = ctx.origin(body.get_attribute("account").and_then(|a| a.value.span()));
        self.account_refs.push((name.clone(), at));
        Some(name)
    }

    /// Every referred account is declared; returns the declared ones by name.
    pub(super) fn check_accounts(&mut self) -> BTreeMap<String, AccountSpec> {
        let declared: BTreeMap<String, AccountSpec> = std::mem::take(&mut self.accounts)
            .into_iter()
            .map(|(spec, _)| (spec.name.clone(), spec))
            .collect();
        for (name, at) in std::mem::take(&mut self.account_refs) {
            if !declared.contains_key(&name) {
                let known: Vec<String> = declared.keys().map(|k| format!("`{k}`")).collect();
                let hint = match known.is_empty() {
                    true => format!("declare it: `account \"{name}\" {{ role_arn = \"arn:aws:iam::…:role/…\" }}`"),
                    false => format!("declared accounts: {}", known.join(", ")),
                };
                self.report(&at, format!("unknown account `{name}`"), hint);
            }
        }
        declared
    }
}
