//! `users "NAME" { … }`: a selector, a group of IAM users chosen against live IAM at plan
//! time (by path, tags and name patterns), each given the block's credential sets.

use super::blocks::valid_user_name;
use super::syntax::Span;
use super::syntax::{Block, Body};
use super::types::Selector;
use super::walker::{FileCtx, Origin, Walker};

/// What a selector's strings may interpolate: `${account}` only in one that names its account.
const SELECTOR_VARS: &[&str] = &["user"];
const ACCOUNT_SELECTOR_VARS: &[&str] = &["user", "account"];

impl Walker {
    pub(super) fn selector_block(&mut self, ctx: &FileCtx, block: &Block, at: Origin) {
        let labels = self.labels(block, &at, 1, "`users \"NAME\" { … }`");
        let Some(name) = labels.first().map(|n| n.to_string()) else {
            return;
        };
        if !valid_selector_name(&name) {
            self.report(
                &at,
                format!("`{name}` is not a valid selector name"),
                "selector names are 1-64 letters, digits, `_` and `-`",
            );
        }
        if let Some((prev, _)) = self.selectors.iter().find(|(s, _)| s.name == name) {
            let note = format!("merge it into the one at {}", prev.at);
            self.report(&at, format!("duplicate selector `users \"{name}\"`"), note);
            return;
        }
        let body = &block.body;
        self.only(
            ctx,
            body,
            "`users`",
            &["account", "path_prefix", "tags", "names", "exclude"],
            &["access_key", "signing_certificate"],
        );
        let account = self.account_ref(ctx, body);
        let path_prefix = self.path_prefix(ctx, body);
        let tags = self.string_map_attr(ctx, body, "tags").unwrap_or_default();
        let names = self.patterns(ctx, body, "names");
        let exclude = self.patterns(ctx, body, "exclude");
        let narrowed = ["path_prefix", "tags", "names"]
            .iter()
            .any(|k| body.get_attribute(k).is_some());
        if !narrowed {
            self.report(
                &at,
                format!("selector `{name}` has no `path_prefix`, `tags` or `names`: it would take every IAM user"),
                "narrow it, e.g. `path_prefix = \"/ci/\"`; write `names = [\"*\"]` if every user is meant",
            );
        }
        let vars = match account {
            Some(_) => ACCOUNT_SELECTOR_VARS,
            None => SELECTOR_VARS,
        };
        let outside = std::mem::replace(&mut self.template_vars, vars);
        let declared = self.credential_blocks(ctx, body);
        self.template_vars = outside;
        if declared.is_empty() {
            self.report(
                &at,
                format!("selector `{name}` declares no credentials"),
                "add an `access_key { … }` or `signing_certificate { … }` block with a `deliver` block",
            );
        }
        let selector = Selector {
            name,
            account,
            path_prefix,
            tags,
            names,
            exclude,
            sets: Vec::new(),
            at,
        };
        self.selectors.push((selector, declared));
    }

    /// `path_prefix`: an IAM path prefix, from `/` on, in IAM's characters.
    fn path_prefix(&mut self, ctx: &FileCtx, body: &Body) -> Option<String> {
        let prefix = self.string_attr(ctx, body, "path_prefix")?;
        let valid = prefix.starts_with('/')
            && prefix.len() <= 512
            && prefix.chars().all(|c| ('\u{21}'..='\u{7e}').contains(&c));
        if !valid {
            let at = ctx.origin(body.get_attribute("path_prefix").and_then(|a| a.span()));
            self.report(
                &at,
                format!("path_prefix `{prefix}` is not an IAM path prefix"),
                "IAM paths start with `/` and hold no spaces, e.g. `path_prefix = \"/ci/\"`",
            );
            return None;
        }
        Some(prefix)
    }

    /// `names` / `exclude`: glob patterns (`*` any run, `?` one character) over user names.
    fn patterns(&mut self, ctx: &FileCtx, body: &Body, key: &str) -> Vec<String> {
        if body.get_attribute(key).is_none() {
            return Vec::new();
        }
        let Some(patterns) = self.string_list_attr(ctx, body, key, r#""svc-*", "deploy-?""#) else {
            return Vec::new();
        };
        for pattern in &patterns {
            let literal: String = pattern
                .chars()
                .map(|c| if c == '*' || c == '?' { 'x' } else { c })
                .collect();
            if !valid_user_name(&literal) {
                let at = ctx.origin(body.get_attribute(key).and_then(|a| a.value.span()));
                self.report(
                    &at,
                    format!("`{key}` pattern `{pattern}` can never match an IAM user name"),
                    "user names are 1-64 letters, digits and +=,.@_-; patterns add `*` and `?`",
                );
            }
        }
        patterns
    }
}

fn valid_selector_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}
