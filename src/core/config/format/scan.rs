//! A small lexer over the text the `hcl::edit` tree leaves to the formatter: the source of
//! a value that spans lines, and the whitespace and comments between structures. It knows
//! just enough HCL (strings, templates, heredocs, comments, brackets) to say, line by line,
//! what may be re-indented, where an assignment and a trailing comment start, and which
//! comments the text holds. The parser has already accepted the text, so it can be lenient.

/// One physical line of scanned text.
#[derive(Debug)]
pub(super) struct CodeLine<'a> {
    pub(super) text: &'a str,
    /// Starts inside a heredoc, a block comment or a string: written exactly as it was.
    pub(super) verbatim: bool,
    /// Opening minus closing brackets, counted up to a heredoc opener (as `terraform fmt`).
    pub(super) net_brackets: i32,
    /// Byte offset of the first `=` that assigns (not `==`, `<=`, `>=`, `!=` or `=>`).
    pub(super) assign: Option<usize>,
    /// Opening minus closing brackets from that `=` to the end of the line.
    pub(super) brackets_after_assign: i32,
    /// Byte offset of the comment that ends the line, if one does.
    pub(super) comment: Option<usize>,
}

enum Nest {
    Bracket,
    /// A quoted string (or template).
    Str,
    /// `${ … }` or `%{ … }` inside a string.
    Interp,
}

#[derive(Default)]
struct Scanner {
    stack: Vec<Nest>,
    /// The closing marker of the heredoc whose body comes next.
    heredoc: Option<String>,
    /// Inside a `/* … */` that began on an earlier line; its text so far.
    block_comment: Option<String>,
    /// Every comment seen, in order, each line of it trimmed.
    comments: Vec<String>,
}

/// The lines of `text` (split at `\n`), each with what the formatter needs to know.
pub(super) fn lines(text: &str) -> Vec<CodeLine<'_>> {
    let mut scanner = Scanner::default();
    text.split('\n').map(|line| scanner.line(line)).collect()
}

/// Every comment in `text`, in order, each of its lines trimmed: what formatting must keep.
pub(super) fn comments(text: &str) -> Vec<String> {
    let mut scanner = Scanner::default();
    for line in text.split('\n') {
        scanner.line(line);
    }
    scanner.comments
}

fn normalized(comment: &str) -> String {
    comment
        .split('\n')
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n")
}

impl Scanner {
    fn in_template(&self) -> bool {
        self.stack
            .iter()
            .any(|n| matches!(n, Nest::Str | Nest::Interp))
    }

    fn line<'a>(&mut self, text: &'a str) -> CodeLine<'a> {
        let mut line = CodeLine {
            text,
            verbatim: self.heredoc.is_some() || self.block_comment.is_some() || self.in_template(),
            net_brackets: 0,
            assign: None,
            brackets_after_assign: 0,
            comment: None,
        };
        if let Some(marker) = &self.heredoc {
            if text.trim() == marker {
                self.heredoc = None;
            }
            return line;
        }
        let mut start = 0;
        if let Some(mut open) = self.block_comment.take() {
            open.push('\n');
            let Some(end) = text.find("*/") else {
                open.push_str(text);
                self.block_comment = Some(open);
                return line;
            };
            open.push_str(&text[..end + 2]);
            self.comments.push(normalized(&open));
            start = end + 2;
        }
        self.code(text, start, &mut line);
        line
    }

    /// Scans `text` from byte `i`, filling in `line`.
    fn code(&mut self, text: &str, mut i: usize, line: &mut CodeLine) {
        let b = text.as_bytes();
        let at = |j: usize| b.get(j).copied().unwrap_or(0);
        while i < b.len() {
            if matches!(self.stack.last(), Some(Nest::Str)) {
                i += self.string_byte(b, i);
                continue;
            }
            let counted = !self.in_template();
            match (b[i], at(i + 1)) {
                (b'"', _) => self.stack.push(Nest::Str),
                (b'#', _) | (b'/', b'/') => {
                    line.comment = Some(i);
                    self.comments.push(text[i..].trim_end().to_string());
                    return;
                }
                (b'/', b'*') => match text[i + 2..].find("*/") {
                    Some(e) => {
                        let end = i + 2 + e + 2;
                        self.comments.push(normalized(&text[i..end]));
                        if text[end..].trim().is_empty() {
                            line.comment = Some(i);
                            return;
                        }
                        i = end;
                        continue;
                    }
                    None => {
                        line.comment = Some(i);
                        self.block_comment = Some(text[i..].to_string());
                        return;
                    }
                },
                (b'<', b'<') => {
                    if let Some(marker) = heredoc_marker(&text[i + 2..]) {
                        // Counting stops at a heredoc opener, as in `terraform fmt`.
                        self.heredoc = Some(marker.to_string());
                        return;
                    }
                    i += 1;
                }
                (b'{' | b'[' | b'(', _) => {
                    self.stack.push(Nest::Bracket);
                    if counted {
                        line.bracket(1);
                    }
                }
                (b'}' | b']' | b')', _) => match self.stack.pop() {
                    // The end of `${ … }`: back inside the string below it.
                    Some(Nest::Interp) => {}
                    _ => {
                        if !self.in_template() {
                            line.bracket(-1);
                        }
                    }
                },
                (b'=', b'=' | b'>') | (b'!' | b'<' | b'>', b'=') => i += 1,
                (b'=', _) if counted && line.assign.is_none() => line.assign = Some(i),
                _ => {}
            }
            i += 1;
        }
    }

    /// One step inside a quoted string at `b[i]`; returns how many bytes it took.
    fn string_byte(&mut self, b: &[u8], i: usize) -> usize {
        let at = |j: usize| b.get(j).copied().unwrap_or(0);
        match (b[i], at(i + 1), at(i + 2)) {
            (b'\\', _, _) => 2,
            (b'"', _, _) => {
                self.stack.pop();
                1
            }
            // `$${` and `%%{` are literal text.
            (b'$', b'$', b'{') | (b'%', b'%', b'{') => 3,
            (b'$' | b'%', b'{', _) => {
                self.stack.push(Nest::Interp);
                2
            }
            _ => 1,
        }
    }
}

impl CodeLine<'_> {
    fn bracket(&mut self, change: i32) {
        self.net_brackets += change;
        if self.assign.is_some() {
            self.brackets_after_assign += change;
        }
    }
}

/// The marker of a heredoc opened by `<<` (or `<<-`) followed by `rest`, when the rest of
/// the line is just that marker.
fn heredoc_marker(rest: &str) -> Option<&str> {
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(rest.len());
    let (marker, after) = rest.split_at(end);
    (!marker.is_empty() && after.trim().is_empty()).then_some(marker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_assignments_and_trailing_comments() {
        let lines = lines("env = { # why\n  A = \"}{\" # x\n  B = a == b\n}");
        assert_eq!(lines[0].net_brackets, 1);
        assert_eq!(lines[0].assign, Some(4));
        assert_eq!(lines[0].brackets_after_assign, 1);
        assert_eq!(lines[0].comment, Some(8));
        assert_eq!(
            lines[1].net_brackets, 0,
            "brackets in a string do not count"
        );
        assert_eq!(lines[1].comment, Some(11));
        assert_eq!(lines[2].assign, Some(4), "`==` is not an assignment");
        assert_eq!(lines[3].net_brackets, -1);
        assert!(lines.iter().all(|l| !l.verbatim));
    }

    #[test]
    fn heredoc_bodies_and_block_comments_are_verbatim() {
        let text = "x = <<-EOT\n  { not code\n  EOT\ny = 1 /* a\n  b */ z\n";
        let lines = lines(text);
        assert!(!lines[0].verbatim && lines[0].net_brackets == 0);
        assert!(lines[1].verbatim && lines[2].verbatim);
        assert!(!lines[3].verbatim && lines[3].comment == Some(6));
        assert!(lines[4].verbatim);
        assert_eq!(comments(text), ["/* a\nb */"]);
    }

    #[test]
    fn templates_and_their_interpolations() {
        let text = "a = \"${f({x = 1})} $${lit} # no\" # yes";
        let lines = lines(text);
        assert_eq!(lines[0].net_brackets, 0);
        assert_eq!(lines[0].assign, Some(2));
        assert_eq!(lines[0].comment, text.rfind('#'));
        assert_eq!(comments("a = \"#\" // c\n# d"), ["// c", "# d"]);
    }
}
