//! Attribute readers: each reports a problem at the attribute and returns `None`.

use super::syntax::{Attribute, Body, Expr, Part, Span};
use super::walker::{FileCtx, Origin, PartialWindows, Walker};
use crate::core::diagnostic::Diagnostic;
use crate::core::duration::Window;
use std::collections::BTreeMap;

impl Walker {
    pub(super) fn required_string(
        &mut self,
        ctx: &FileCtx,
        body: &Body,
        at: &Origin,
        place: &str,
        key: &str,
        example: &str,
    ) -> Option<String> {
        let value = self.string_attr(ctx, body, key);
        if value.is_none() && body.get_attribute(key).is_none() {
            self.report(
                at,
                format!("{place} needs `{key}`"),
                format!("add `{key} = \"{example}\"`"),
            );
        }
        value
    }

    /// A problem with attribute `key` of `body`, reported at its value.
    pub(super) fn report_attr(
        &mut self,
        ctx: &FileCtx,
        body: &Body,
        key: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        if let Some(attr) = body.get_attribute(key) {
            let at = ctx.origin(attr.value.span().or(attr.span()));
            self.report(&at, message, hint);
        }
    }

    pub(super) fn bool_attr(&mut self, ctx: &FileCtx, body: &Body, key: &str) -> Option<bool> {
        let attr = body.get_attribute(key)?;
        let value = attr.value.as_bool();
        if value.is_none() {
            let at = ctx.origin(attr.value.span().or(attr.span()));
            self.report(
                &at,
                format!("`{key}` must be true or false"),
                format!("write it as `{key} = true`"),
            );
        }
        value
    }

    /// `key = { NAME = "value", … }`: plain string values under identifier or string keys.
    pub(super) fn string_map_attr(
        &mut self,
        ctx: &FileCtx,
        body: &Body,
        key: &str,
    ) -> Option<BTreeMap<String, String>> {
        let attr = body.get_attribute(key)?;
        let entries: Option<BTreeMap<String, String>> = match &attr.value.expr {
            Expr::Object(object) => object
                .iter()
                .map(|(k, v)| {
                    let name = k.as_deref()?.to_string();
                    template_text(v, self.template_vars)
                        .ok()
                        .map(|text| (name, text))
                })
                .collect(),
            _ => None,
        };
        if entries.is_none() {
            let at = ctx.origin(attr.value.span().or(attr.span()));
            self.report(
                &at,
                format!("`{key}` must be a map of plain strings"),
                format!("write it as `{key} = {{ NAME = \"value\" }}`"),
            );
        }
        entries
    }

    /// A non-empty list of strings; `example` is the list's inside in the hint.
    pub(super) fn string_list_attr(
        &mut self,
        ctx: &FileCtx,
        body: &Body,
        key: &str,
        example: &str,
    ) -> Option<Vec<String>> {
        let attr = body.get_attribute(key)?;
        let vars = self.template_vars;
        let items: Option<Vec<String>> = attr.value.as_array().and_then(|array| {
            array
                .iter()
                .map(|e| template_text(&e.expr, vars).ok())
                .collect()
        });
        match items.filter(|v| !v.is_empty()) {
            Some(v) => Some(v),
            None => {
                let at = ctx.origin(attr.value.span().or(attr.span()));
                self.report(
                    &at,
                    format!("`{key}` must be a non-empty list of plain strings"),
                    format!("write it as `{key} = [{example}]`"),
                );
                None
            }
        }
    }

    pub(super) fn windows(&mut self, ctx: &FileCtx, body: &Body) -> PartialWindows {
        let mut w = PartialWindows::default();
        for attr in body.attributes() {
            let slot = match attr.key.as_str() {
                "max_age" => &mut w.max_age,
                "overlap" => &mut w.overlap,
                "unused_for" => &mut w.unused_for,
                "inactive_for" => &mut w.inactive_for,
                _ => continue,
            };
            *slot = duration_attr(ctx, attr)
                .map_err(|d| self.diagnostics.push(d))
                .ok();
        }
        if let (Some(max_age), Some(attr)) = (w.max_age, body.get_attribute("max_age")) {
            if max_age.as_secs() == 0 {
                let at = ctx.origin(attr.span());
                self.report(
                    &at,
                    "max_age must be longer than 0s",
                    "a typical value is \"90d\"",
                );
            }
        }
        w
    }

    pub(super) fn string_attr(&mut self, ctx: &FileCtx, body: &Body, key: &str) -> Option<String> {
        let attr = body.get_attribute(key)?;
        match string_value(attr, self.template_vars) {
            Ok(s) => Some(s),
            Err(message) => {
                let at = ctx.origin(attr.value.span().or(attr.span()));
                self.report(&at, message, format!("write it as `{key} = \"…\"`"));
                None
            }
        }
    }
}

fn string_value(attr: &Attribute, vars: &[&str]) -> Result<String, String> {
    template_text(&attr.value.expr, vars).map_err(|e| format!("`{}` {e}", attr.key.as_str()))
}

/// A string expression's text. In a selector, `${user}` (the names in `vars`) stays in the
/// text as written, to be filled in per user; nothing else is interpolated anywhere.
fn template_text(expr: &Expr, vars: &[&str]) -> Result<String, String> {
    let literal_dollar =
        "must not hold a literal `${` in a `users` block (it would read as `${user}`)";
    match expr {
        Expr::String(s) if !vars.is_empty() && s.contains("${") => Err(literal_dollar.into()),
        Expr::String(s) => Ok(s.to_string()),
        Expr::Template(parts) if !vars.is_empty() => {
            let mut text = String::new();
            for part in parts {
                match part {
                    Part::Literal(l) if l.contains("${") => return Err(literal_dollar.into()),
                    Part::Literal(l) => text.push_str(l),
                    Part::Variable(v) if vars.contains(&v.as_ref()) => {
                        text.push_str(&format!("${{{v}}}"));
                    }
                    Part::Variable(_) | Part::Other => {
                        return Err(format!("can interpolate only {}", names(vars)))
                    }
                }
            }
            Ok(text)
        }
        Expr::Template(_) | Expr::Heredoc => {
            Err("must be a plain string: interpolation is not supported".into())
        }
        _ => Err("must be a string".into()),
    }
}

fn names(vars: &[&str]) -> String {
    let list: Vec<String> = vars.iter().map(|v| format!("`${{{v}}}`")).collect();
    list.join(" and ")
}

pub(super) fn duration_attr(ctx: &FileCtx, attr: &Attribute) -> Result<Window, Diagnostic> {
    let hint = "durations are a number and a unit: \"90d\", \"12h\", \"30m\", \"2w\"";
    let result = string_value(attr, &[]).and_then(|text| {
        Window::parse(&text).map_err(|e| format!("bad duration for `{}`: {e}", attr.key.as_str()))
    });
    result.map_err(|message| {
        let at = ctx.origin(attr.value.span().or(attr.span()));
        Diagnostic {
            file: at.file.to_string(),
            line: at.line,
            column: at.column,
            message,
            hint: Some(hint.to_string()),
        }
    })
}
