//! Lines as `terraform fmt` lays them out: an indentation, then cells — a lead, an `=` with
//! its value, a trailing comment — where the `=` and the comments of neighbouring lines
//! line up. A line without an `=` cell (a comment line, a blank line, a block, an attribute
//! whose value opens brackets it closes on a later line) ends a run of aligned `=`.

use super::scan::{self, CodeLine};

pub(super) enum Line {
    Blank,
    Cells(Cells),
    /// Written exactly as it was: heredoc bodies, the inner lines of a block comment.
    Verbatim(String),
}

#[derive(Default)]
pub(super) struct Cells {
    /// Levels of two spaces.
    pub(super) indent: usize,
    pub(super) lead: String,
    /// The value after an aligned `=`.
    pub(super) assign: Option<String>,
    pub(super) comment: Option<String>,
}

impl Line {
    /// A line of just `lead` (a block's first or last line, a comment line).
    pub(super) fn lead(indent: usize, lead: impl Into<String>) -> Line {
        Line::Cells(Cells {
            indent,
            lead: lead.into(),
            ..Cells::default()
        })
    }
}

/// The lines of `text`, code that may span lines, its first line at `depth`: each later
/// line is indented by the brackets still open before it, as `terraform fmt` does.
pub(super) fn code(text: &str, depth: usize, out: &mut Vec<Line>) {
    let mut open: Vec<i32> = Vec::new();
    for line in scan::lines(text) {
        if line.verbatim {
            out.push(Line::Verbatim(line.text.to_string()));
        } else if line.text.trim().is_empty() {
            out.push(Line::Blank);
        } else {
            let level = indent_level(&mut open, line.net_brackets);
            out.push(Line::Cells(cells(&line, depth + level)));
        }
    }
}

/// `terraform fmt`'s indentation: a line that opens brackets indents what follows by one
/// level (however many it opened); a line that closes them is itself dedented.
fn indent_level(open: &mut Vec<i32>, net: i32) -> usize {
    if net > 0 {
        open.push(net);
        return open.len() - 1;
    }
    let mut closed = -net;
    while closed > 0 {
        let Some(top) = open.last_mut() else { break };
        if closed >= *top {
            closed -= *top;
            open.pop();
        } else {
            *top -= closed;
            closed = 0;
        }
    }
    open.len()
}

fn cells(line: &CodeLine, indent: usize) -> Cells {
    let end = line.comment.unwrap_or(line.text.len());
    let code = line.text[..end].trim();
    let comment = line.comment.map(|c| line.text[c..].trim_end().to_string());
    let code_start = line.text[..end].len() - line.text[..end].trim_start().len();
    let split = line
        .assign
        .filter(|&eq| eq > code_start && eq < end)
        .map(|eq| (line.text[..eq].trim(), line.text[eq + 1..end].trim()));
    match split {
        // A whole value on this line: its `=` is aligned with its neighbours'.
        Some((key, value)) if line.brackets_after_assign == 0 => Cells {
            indent,
            lead: key.to_string(),
            assign: Some(value.to_string()),
            comment,
        },
        Some((key, value)) => Cells {
            indent,
            lead: format!("{key} = {value}"),
            assign: None,
            comment,
        },
        // A comment on a line of its own is the line's lead.
        None if code.is_empty() => Cells {
            indent,
            lead: comment.unwrap_or_default(),
            ..Cells::default()
        },
        None => Cells {
            indent,
            lead: code.to_string(),
            assign: None,
            comment,
        },
    }
}

/// The text of `lines`: aligned, no trailing whitespace, at most one blank line in a row,
/// none at either end, and one newline at the end (an empty file stays empty).
pub(super) fn render(mut lines: Vec<Line>) -> String {
    align_assignments(&mut lines);
    let code: Vec<Option<String>> = lines.iter().map(code_text).collect();
    let columns = comment_columns(&lines, &code);
    let mut out = String::new();
    let mut blank = false;
    for (i, line) in lines.iter().enumerate() {
        let text = match (line, &code[i]) {
            (Line::Verbatim(text), _) => text.clone(),
            (
                Line::Cells(Cells {
                    comment: Some(comment),
                    ..
                }),
                Some(code),
            ) => {
                let pad = columns[i].saturating_sub(width(code));
                format!("{code}{}{comment}", " ".repeat(pad))
            }
            (_, code) => code.as_deref().unwrap_or_default().trim_end().to_string(),
        };
        if text.trim().is_empty() && !matches!(line, Line::Verbatim(_)) {
            blank = !out.is_empty();
            continue;
        }
        if blank {
            out.push('\n');
            blank = false;
        }
        out.push_str(&text);
        out.push('\n');
    }
    out
}

/// Pads the lead of each line in a run of lines with an `=` cell to the run's widest.
fn align_assignments(lines: &mut [Line]) {
    let mut i = 0;
    while i < lines.len() {
        let run = lines[i..]
            .iter()
            .take_while(|l| matches!(l, Line::Cells(c) if c.assign.is_some()))
            .count();
        if run == 0 {
            i += 1;
            continue;
        }
        let widest = lines[i..i + run]
            .iter()
            .filter_map(|l| match l {
                Line::Cells(c) => Some(2 * c.indent + width(&c.lead)),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        for line in &mut lines[i..i + run] {
            if let Line::Cells(c) = line {
                let pad = widest - (2 * c.indent + width(&c.lead));
                c.lead.push_str(&" ".repeat(pad));
            }
        }
        i += run;
    }
}

/// A line's code, indentation included (no comment); `None` for blank and verbatim lines.
fn code_text(line: &Line) -> Option<String> {
    let Line::Cells(c) = line else { return None };
    let indent = "  ".repeat(c.indent);
    Some(match &c.assign {
        Some(value) => format!("{indent}{} = {value}", c.lead),
        None => format!("{indent}{}", c.lead),
    })
}

/// Where each trailing comment starts: one space after the widest code of its run of
/// consecutive lines with trailing comments.
fn comment_columns(lines: &[Line], code: &[Option<String>]) -> Vec<usize> {
    let commented = |l: &Line| matches!(l, Line::Cells(c) if c.comment.is_some());
    let mut columns = vec![0; lines.len()];
    let mut i = 0;
    while i < lines.len() {
        let run = lines[i..].iter().take_while(|l| commented(l)).count();
        let widest = code[i..i + run]
            .iter()
            .map(|c| c.as_deref().map_or(0, width))
            .max()
            .unwrap_or(0);
        columns[i..i + run].fill(widest + 1);
        i += run.max(1);
    }
    columns
}

fn width(text: &str) -> usize {
    text.chars().count()
}
