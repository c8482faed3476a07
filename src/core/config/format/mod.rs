//! `keyrot fmt`: the canonical layout of a config file, the one `terraform fmt` gives
//! Terraform files — two-space indentation, `=` aligned within each run of single-line
//! attributes, trailing comments aligned, one blank line between a block and its
//! neighbours, no trailing whitespace, one newline at the end. Every comment stays where it
//! was; values keep their text (only the lines of a value that spans lines are
//! re-indented) and heredoc bodies are kept byte for byte.
//!
//! Blocks and attributes, and the whitespace and comments around them ("decor"), come from
//! the `hcl::edit` tree. The result is parsed again before it is returned: it must mean
//! the same and hold the same comments, or the file is reported and left alone.

mod layout;
mod scan;
#[cfg(test)]
pub(super) mod tests;

use super::walker::syntax_error;
use super::Source;
use crate::core::diagnostic::{Diagnostic, LineIndex};
use hcl::edit::structure::{Attribute, Block, Body, Structure};
use hcl::edit::{Decor, Decorate, Span};
use layout::Line;

/// `source` in the canonical layout, or where it is not HCL (file:line:column).
pub fn canonical(source: &Source) -> Result<String, Diagnostic> {
    let text = source.text.replace("\r\n", "\n");
    let body = hcl::edit::parser::parse_body(&text)
        .map_err(|e| syntax_error(&source.name, &LineIndex::new(&text), &e))?;
    let mut emitter = Emitter {
        text: &text,
        lines: Vec::new(),
    };
    let laid_out = emitter
        .body(&body, 0)
        .map(|()| layout::render(emitter.lines));
    match laid_out {
        Some(out) if same_meaning(&text, &out) => Ok(out),
        _ => Err(Diagnostic {
            file: source.name.clone(),
            line: 1,
            column: 1,
            message: "keyrot fmt cannot lay this file out without changing its meaning or its \
                      comments, so it was left as it is"
                .into(),
            hint: Some("this is a bug in keyrot fmt; please report it with the file".into()),
        }),
    }
}

/// Whether `after` parses to the same body as `before` and holds the same comments.
fn same_meaning(before: &str, after: &str) -> bool {
    match (hcl::parse(before), hcl::parse(after)) {
        (Ok(a), Ok(b)) => a == b && scan::comments(before) == scan::comments(after),
        _ => false,
    }
}

/// How many blank lines go before the first thing (a comment or the structure) of a gap.
#[derive(Clone, Copy)]
enum Gap {
    /// At the start of a file or a block: none.
    None,
    /// Between a block and its neighbour: exactly one.
    One,
    /// Between attributes: one if there was any.
    AsWritten,
}

struct Emitter<'a> {
    text: &'a str,
    lines: Vec<Line>,
}

/// The words of a line, joined by single spaces, empty ones left out.
fn words<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let parts: Vec<&str> = parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    parts.join(" ")
}

fn prefix(decor: &Decor) -> &str {
    decor.prefix().map_or("", |r| &**r)
}

fn suffix(decor: &Decor) -> &str {
    decor.suffix().map_or("", |r| &**r)
}

impl Emitter<'_> {
    /// The source text of a node; `None` only if the parser gave it no span.
    fn source(&self, span: Option<std::ops::Range<usize>>) -> Option<&str> {
        span.and_then(|r| self.text.get(r))
    }

    fn body(&mut self, body: &Body, depth: usize) -> Option<()> {
        let mut previous_was_block = None;
        for structure in body.iter() {
            let is_block = structure.is_block();
            let gap = match previous_was_block {
                None => Gap::None,
                Some(prev) if prev || is_block => Gap::One,
                Some(_) => Gap::AsWritten,
            };
            let leftover = self.trivia(prefix(structure.decor()), depth, gap, false);
            let after = suffix(structure.decor());
            match structure {
                Structure::Attribute(attr) => self.attribute(attr, depth, &leftover, after)?,
                Structure::Block(block) => self.block(block, depth, &leftover, after)?,
            }
            previous_was_block = Some(is_block);
        }
        // Comments before the closing brace, or at the end of the file.
        let gap = match previous_was_block {
            None => Gap::None,
            Some(_) => Gap::AsWritten,
        };
        self.trivia(suffix(body.decor()), depth, gap, true);
        Some(())
    }

    /// Lays out whitespace and comments found before a structure (or, `closing`, before a
    /// closing brace): comment lines re-indented, blank lines as `gap` says. Returns what
    /// stood on the structure's own line before it (an inline `/* … */`).
    fn trivia(&mut self, text: &str, depth: usize, gap: Gap, closing: bool) -> String {
        let lines = scan::lines(text);
        let Some((own, before)) = lines.split_last() else {
            return String::new();
        };
        let mut blanks = 0;
        let mut first = true;
        let separate = |lines: &mut Vec<Line>, blanks: &mut usize, first: &mut bool| {
            let wanted = match (*first, gap) {
                (true, Gap::None) => 0,
                (true, Gap::One) => 1,
                _ => (*blanks).min(1),
            };
            lines.extend((0..wanted).map(|_| Line::Blank));
            *blanks = 0;
            *first = false;
        };
        for line in before {
            if line.verbatim {
                self.lines.push(Line::Verbatim(line.text.to_string()));
            } else if line.text.trim().is_empty() {
                blanks += 1;
            } else {
                separate(&mut self.lines, &mut blanks, &mut first);
                self.lines.push(Line::lead(depth, line.text.trim()));
            }
        }
        if own.verbatim {
            // The end of a block comment that began on an earlier line.
            self.lines.push(Line::Verbatim(own.text.to_string()));
            return String::new();
        }
        let leftover = own.text.trim();
        if !closing {
            separate(&mut self.lines, &mut blanks, &mut first);
        } else if !leftover.is_empty() {
            separate(&mut self.lines, &mut blanks, &mut first);
            self.lines.push(Line::lead(depth, leftover));
            return String::new();
        }
        leftover.to_string()
    }

    fn attribute(
        &mut self,
        attr: &Attribute,
        depth: usize,
        before: &str,
        after: &str,
    ) -> Option<()> {
        let key = words([before, attr.key.as_str(), suffix(attr.key.decor())]);
        let value = self.source(attr.value.span())?;
        let value = words([prefix(attr.value.decor()), value]);
        layout::code(&format!("{key} = {value}"), depth, &mut self.lines);
        self.trailing_comment(after);
        Some(())
    }

    fn block(&mut self, block: &Block, depth: usize, before: &str, after: &str) -> Option<()> {
        let mut head = vec![before, block.ident.as_str(), suffix(block.ident.decor())];
        for label in &block.labels {
            head.push(prefix(label.decor()));
            head.push(self.source(label.span())?);
            head.push(suffix(label.decor()));
        }
        let head = words(head);
        let one_line = !self.source(block.span())?.contains('\n');
        if block.body.prefer_oneline() && one_line {
            let inner = self.one_line_body(&block.body)?;
            let line = if inner.is_empty() {
                format!("{head} {{}}")
            } else {
                format!("{head} {{ {inner} }}")
            };
            self.lines.push(Line::lead(depth, line));
            self.trailing_comment(after);
            return Some(());
        }
        self.lines.push(Line::lead(depth, format!("{head} {{")));
        self.trailing_comment(prefix(block.body.decor()));
        self.body(&block.body, depth + 1)?;
        self.lines.push(Line::lead(depth, "}"));
        self.trailing_comment(after);
        Some(())
    }

    /// `key = value` of a block written on one line (`deliver "stdout" { format = "env" }`).
    fn one_line_body(&self, body: &Body) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(attr) = body.attributes().next() {
            parts.extend([
                prefix(attr.decor()),
                attr.key.as_str(),
                suffix(attr.key.decor()),
            ]);
            parts.extend(["=", prefix(attr.value.decor())]);
            parts.push(self.source(attr.value.span())?);
            parts.push(suffix(attr.decor()));
        }
        parts.push(suffix(body.decor()));
        Some(words(parts))
    }

    /// Puts `text` (what followed a structure on its last line) in that line's comment cell.
    fn trailing_comment(&mut self, text: &str) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        // An inline `/* … */` may span lines: its later lines are kept as they are.
        let mut lines = text.split('\n');
        let first = lines.next().unwrap_or_default().trim_end().to_string();
        match self.lines.last_mut() {
            Some(Line::Cells(cells)) => {
                cells.comment = Some(match cells.comment.take() {
                    Some(earlier) => format!("{earlier} {first}"),
                    None => first,
                });
            }
            Some(Line::Verbatim(line)) => {
                line.push(' ');
                line.push_str(&first);
            }
            _ => self.lines.push(Line::lead(0, first)),
        }
        self.lines
            .extend(lines.map(|l| Line::Verbatim(l.to_string())));
    }
}
