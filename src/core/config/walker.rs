//! The walk over the syntax tree: shared state, positions, and the checks every
//! block uses (labels, allowed names, duplicates). The blocks themselves are in
//! `blocks`, `cert` and `sink`; attribute readers in `attrs`.

use super::syntax::Span;
use super::syntax::{Block, Body};
use super::types::{
    AccountSpec, AwsSettings, CertSource, Config, Confirm, DisplaySettings, Notify, S3Backend,
    Selector, SetConfig, SetTemplate, Sink, Windows,
};
use super::Source;
use crate::core::diagnostic::{Diagnostic, LineIndex, Position};
use crate::core::duration::Window;
use crate::core::model::{Address, CredentialKind};
use crate::core::policy::PolicySpec;
use std::collections::{BTreeMap, HashMap};

/// Where a definition stood, for "first defined at" notes.
pub(super) type Origin = Position;

#[derive(Default)]
pub(super) struct Walker {
    pub(super) diagnostics: Vec<Diagnostic>,
    /// Accepted but worth a look (windows under an hour).
    pub(super) warnings: Vec<Diagnostic>,
    pub(super) aws: AwsSettings,
    pub(super) aws_origin: Option<Origin>,
    pub(super) defaults: PartialWindows,
    pub(super) defaults_origin: Option<Origin>,
    pub(super) policy: Option<PolicySpec>,
    pub(super) policy_origin: Option<Origin>,
    pub(super) users: Vec<UserDecl>,
    /// Each declared user's index in `users`: duplicates are found in constant time.
    pub(super) user_index: HashMap<(String, Option<String>), usize>,
    pub(super) backend: Option<S3Backend>,
    pub(super) backend_origin: Option<Origin>,
    pub(super) selectors: Vec<SelectorDecl>,
    pub(super) accounts: Vec<(AccountSpec, Origin)>,
    /// Every `account = "NAME"` read, checked against the `account` blocks at the end.
    pub(super) account_refs: Vec<(String, Origin)>,
    /// The variables a string may interpolate here: `user` inside a selector, none elsewhere.
    pub(super) template_vars: &'static [&'static str],
    pub(super) display: DisplaySettings,
    pub(super) display_origin: Option<Origin>,
    /// `notify` blocks in order, with where each stands (for duplicates).
    pub(super) notify: Vec<(Notify, Origin)>,
}

/// A user block: name, account, where it stands, and its credential blocks.
pub(super) struct UserDecl {
    pub(super) name: String,
    pub(super) account: Option<String>,
    pub(super) at: Origin,
    pub(super) declared: Vec<(CredentialKind, KeyDecl)>,
}

/// A `users` block: the selector (its `sets` still empty) and its credential blocks, whose
/// windows take `defaults` once every file is read.
pub(super) type SelectorDecl = (Selector, Vec<(CredentialKind, KeyDecl)>);

/// A credential block as declared: its own windows (defaults not yet applied), sinks,
/// for certificates their source, and its step-4 evidence (new-key use, confirm checks).
pub(super) struct KeyDecl {
    pub(super) windows: PartialWindows,
    pub(super) sinks: Vec<Sink>,
    pub(super) certificate: Option<CertSource>,
    pub(super) require_new_key_use: bool,
    pub(super) confirm: Confirm,
}

#[derive(Clone, Copy, Default)]
pub(super) struct PartialWindows {
    pub(super) max_age: Option<Window>,
    pub(super) overlap: Option<Window>,
    pub(super) unused_for: Option<Window>,
    pub(super) inactive_for: Option<Window>,
}

impl PartialWindows {
    pub(super) fn or(self, fallback: PartialWindows) -> PartialWindows {
        PartialWindows {
            max_age: self.max_age.or(fallback.max_age),
            overlap: self.overlap.or(fallback.overlap),
            unused_for: self.unused_for.or(fallback.unused_for),
            inactive_for: self.inactive_for.or(fallback.inactive_for),
        }
    }

    pub(super) fn resolve(self) -> Windows {
        let d = Windows::default();
        Windows {
            max_age: self.max_age.unwrap_or(d.max_age),
            overlap: self.overlap.unwrap_or(d.overlap),
            unused_for: self.unused_for.unwrap_or(d.unused_for),
            inactive_for: self.inactive_for.unwrap_or(d.inactive_for),
        }
    }
}

pub(super) const WINDOW_NAMES: [&str; 4] = ["max_age", "overlap", "unused_for", "inactive_for"];

/// One file being walked: its name and a byte-offset → position map.
pub(super) struct FileCtx<'a> {
    name: std::sync::Arc<str>,
    index: LineIndex<'a>,
}

impl FileCtx<'_> {
    pub(super) fn origin(&self, span: Option<std::ops::Range<usize>>) -> Origin {
        let (line, column) = self.index.position(span.map_or(0, |s| s.start));
        Origin {
            file: self.name.clone(),
            line,
            column,
        }
    }
}

impl Walker {
    pub(super) fn report(
        &mut self,
        at: &Origin,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        let hint: String = hint.into();
        self.diagnostics.push(Diagnostic {
            file: at.file.to_string(),
            line: at.line,
            column: at.column,
            message: message.into(),
            hint: (!hint.is_empty()).then_some(hint),
        });
    }

    pub(super) fn file(&mut self, source: &Source) {
        let ctx = FileCtx {
            name: source.name.as_str().into(),
            index: LineIndex::new(&source.text),
        };
        let first_new = self.diagnostics.len();
        self.walk_file(&ctx, source);
        self.diagnostics[first_new..].sort_by_key(|d| (d.line, d.column));
    }

    fn walk_file(&mut self, ctx: &FileCtx, source: &Source) {
        let body = match super::syntax::parse(&source.text) {
            Ok(body) => body,
            Err(err) => {
                self.diagnostics
                    .push(syntax_error(&source.name, &ctx.index, &err));
                return;
            }
        };
        self.no_attributes(ctx, &body, "at the top level");
        for block in body.blocks() {
            let at = ctx.origin(block.span());
            match block.ident.as_str() {
                "aws" => self.aws_block(ctx, block, at),
                "defaults" => self.defaults_block(ctx, block, at),
                "user" => self.user_block(ctx, block, at),
                "users" => self.selector_block(ctx, block, at),
                "account" => self.account_block(ctx, block, at),
                "password_policy" => self.policy_block(ctx, block, at),
                "backend" => self.backend_block(ctx, block, at),
                "display" => self.display_block(ctx, block, at),
                "notify" => self.notify_block(ctx, block, at),
                other => self.report(
                    &at,
                    format!("unknown block `{other}`"),
                    "top-level blocks are `account \"NAME\"`, `aws`, `backend \"s3\"`, `defaults`, `display`, `notify \"webhook\"`, `notify \"sns\"`, `password_policy`, `user \"NAME\"` and `users \"NAME\"`",
                ),
            }
        }
    }

    fn no_attributes(&mut self, ctx: &FileCtx, body: &Body, place: &str) {
        for attr in body.attributes() {
            let at = ctx.origin(attr.span());
            self.report(
                &at,
                format!("unexpected attribute `{}` {place}", attr.key.as_str()),
                "attributes belong inside a block",
            );
        }
    }

    pub(super) fn labels<'b>(
        &mut self,
        block: &'b Block,
        at: &Origin,
        want: usize,
        usage: &str,
    ) -> Vec<&'b str> {
        let labels: Vec<&str> = block.labels.iter().map(|l| l.as_str()).collect();
        if labels.len() != want {
            self.report(
                at,
                format!(
                    "block `{}` takes {want} label(s), found {}",
                    block.ident.as_str(),
                    labels.len()
                ),
                format!("write it as {usage}"),
            );
        }
        labels
    }

    /// Reports blocks and attributes of `body` not named in the allowed lists.
    pub(super) fn only(
        &mut self,
        ctx: &FileCtx,
        body: &Body,
        place: &str,
        attrs: &[&str],
        blocks: &[&str],
    ) {
        for attr in body.attributes() {
            let key = attr.key.as_str();
            if !attrs.contains(&key) {
                let at = ctx.origin(attr.span());
                self.report(
                    &at,
                    format!("unknown attribute `{key}` in {place}"),
                    expected_list("attributes", attrs),
                );
            }
        }
        for block in body.blocks() {
            let ident = block.ident.as_str();
            if !blocks.contains(&ident) {
                let at = ctx.origin(block.span());
                self.report(
                    &at,
                    format!("unknown block `{ident}` in {place}"),
                    expected_list("blocks", blocks),
                );
            }
        }
    }

    pub(super) fn once(&mut self, first: &mut Option<Origin>, at: Origin, what: &str) -> bool {
        if let Some(prev) = first {
            let note = format!(
                "merge it into the one at {}:{}:{}",
                prev.file, prev.line, prev.column
            );
            self.report(&at, format!("duplicate `{what}` block"), note);
            return false;
        }
        *first = Some(at);
        true
    }

    /// A rotation must be able to finish before the next falls due; windows under an hour
    /// are allowed (tests, demos) but rarely meant.
    pub(super) fn check_windows(
        &mut self,
        address: &dyn std::fmt::Display,
        windows: &Windows,
        at: &Origin,
    ) {
        let parts = [
            ("overlap", windows.overlap),
            ("unused_for", windows.unused_for),
            ("inactive_for", windows.inactive_for),
        ];
        let needed: u64 = parts.iter().map(|(_, w)| w.as_secs()).sum();
        if windows.max_age.as_secs() <= needed {
            let sum = parts
                .iter()
                .filter(|(_, w)| w.as_secs() > 0)
                .map(|(name, w)| format!("{name} {w}"))
                .collect::<Vec<_>>()
                .join(" + ");
            self.report(
                at,
                format!(
                    "{address}: max_age {} does not exceed {sum} = {}: a rotation could never finish before the next falls due",
                    windows.max_age,
                    Window::from_secs(needed)
                ),
                "raise max_age, or shorten the other windows",
            );
        }
        let short: Vec<String> = [("max_age", windows.max_age)]
            .into_iter()
            .chain(parts)
            .filter(|(_, w)| w.as_secs() > 0 && w.as_secs() < 3_600)
            .map(|(name, w)| format!("{name} = \"{w}\""))
            .collect();
        if !short.is_empty() {
            self.warnings.push(Diagnostic {
                file: at.file.to_string(),
                line: at.line,
                column: at.column,
                message: format!("{address}: {} is under an hour", short.join(", ")),
                hint: Some("durations count `m` as minutes: write days as `d` (`90d`)".into()),
            });
        }
    }

    /// A set's windows: its own, else `defaults`, else keyrot's; checked they can finish.
    pub(super) fn set_windows(
        &mut self,
        label: &dyn std::fmt::Display,
        kind: CredentialKind,
        own: PartialWindows,
        at: &Origin,
    ) -> Windows {
        let mut windows = own.or(self.defaults).resolve();
        if kind == CredentialKind::SigningCertificate {
            // No last-use evidence exists for certificates.
            windows.unused_for = Window::from_secs(0);
        }
        self.check_windows(label, &windows, at);
        windows
    }

    pub(super) fn finish_with_warnings(
        mut self,
    ) -> Result<(Config, Vec<Diagnostic>), Vec<Diagnostic>> {
        let mut sets = BTreeMap::new();
        // Every file is read: the duplicate index is done with, and goes before the sets
        // are built (a fleet's peak is here).
        self.user_index = HashMap::new();
        for user in std::mem::take(&mut self.users) {
            let account = user.account.as_deref();
            for (kind, decl) in user.declared {
                let KeyDecl {
                    windows,
                    sinks,
                    certificate,
                    require_new_key_use,
                    confirm,
                } = decl;
                let address = Address {
                    account: user.account.clone(),
                    user: user.name.clone(),
                    kind,
                };
                let windows = self.set_windows(&address, kind, windows, &user.at);
                let sinks = sinks.into_iter().map(|s| s.in_account(account)).collect();
                let set = SetConfig {
                    address: address.clone(),
                    windows,
                    sinks,
                    certificate,
                    selector: None,
                    require_new_key_use,
                    confirm,
                };
                sets.insert(address, set);
            }
        }
        let mut selectors = Vec::new();
        for (mut selector, declared) in std::mem::take(&mut self.selectors) {
            for (kind, decl) in declared {
                let KeyDecl {
                    windows,
                    sinks,
                    certificate,
                    require_new_key_use,
                    confirm,
                } = decl;
                let label = format!("users.{}.{}", selector.name, kind.as_str());
                let windows = self.set_windows(&label, kind, windows, &selector.at);
                let account = selector.account.as_deref();
                let sinks = sinks.into_iter().map(|s| s.in_account(account)).collect();
                selector.sets.push(SetTemplate {
                    kind,
                    windows,
                    sinks,
                    certificate,
                    require_new_key_use,
                    confirm,
                });
            }
            selectors.push(selector);
        }
        let accounts = self.check_accounts();
        if self.diagnostics.is_empty() {
            let config = Config {
                aws: self.aws,
                sets,
                selectors,
                accounts,
                selection: None,
                password_policy: self.policy,
                backend: self.backend,
                display: self.display,
                notify: self.notify.into_iter().map(|(n, _)| n).collect(),
            };
            Ok((config, self.warnings))
        } else {
            Err(self.diagnostics)
        }
    }
}

/// A file that is not HCL: where, what the parser expected, and the text there.
pub(super) fn syntax_error(
    file: &str,
    index: &LineIndex,
    err: &hcl::edit::parser::Error,
) -> Diagnostic {
    // hcl-edit's column counts bytes; ours count characters.
    let (line, column) = index.position(err.location().offset());
    Diagnostic {
        file: file.to_string(),
        line,
        column,
        message: format!("HCL syntax error: {}", err.message()),
        hint: Some(format!("near `{}`", excerpt(err.line().trim()))),
    }
}

/// At most 60 characters of a source line, for hints.
fn excerpt(line: &str) -> String {
    match line.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
}

fn expected_list(what: &str, names: &[&str]) -> String {
    if names.is_empty() {
        return format!("this block takes no {what}");
    }
    let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    format!("expected {what}: {}", list.join(", "))
}
