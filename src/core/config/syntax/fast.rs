//! One pass over the plain HCL nearly every config is: blocks with identifier or quoted
//! labels, attributes holding quoted strings (the escapes `\n \r \t \" \\`, `${name}`),
//! whole numbers, `true`, `false`, `null`, lists and maps of those, `#` and `//` comments.
//! Names and plain strings are slices of the text. Anything else, or anything it is unsure
//! of, returns `None` and hcl-edit reads the file instead: this parser never reports an
//! error and never accepts text hcl-edit would read differently or refuse.

use super::{Attribute, Block, Body, Expr, Name, Number, Part, Value};
use std::borrow::Cow;

pub(super) fn parse(text: &str) -> Option<Body<'_>> {
    if text.contains('\r') {
        return None; // CRLF line ends: left to hcl-edit
    }
    let mut parser = Fast {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        depth: 0,
    };
    let body = parser.body(false)?;
    (parser.pos == text.len()).then_some(body)
}

struct Fast<'s> {
    text: &'s str,
    bytes: &'s [u8],
    pos: usize,
    /// Blocks, lists and maps open around `pos`: deep nesting is hcl-edit's to refuse.
    depth: usize,
}

/// Deeper than any config nests; hostile text must not run the stack out.
const MAX_DEPTH: usize = 32;

fn ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn ident_continue(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

impl<'s> Fast<'s> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos + ahead).copied()
    }

    /// Spaces and tabs.
    fn sp(&mut self) {
        while let Some(b' ' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    /// A `#` or `//` comment up to its line end, if one starts here; `/*` declines.
    fn line_comment(&mut self) -> Option<()> {
        match (self.peek(), self.peek_at(1)) {
            (Some(b'#'), _) | (Some(b'/'), Some(b'/')) => {
                let rest = &self.bytes[self.pos..];
                self.pos += rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
                Some(())
            }
            (Some(b'/'), _) => None,
            _ => Some(()),
        }
    }

    /// Spaces, newlines and line comments.
    fn ws(&mut self) -> Option<()> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\n') => self.pos += 1,
                Some(b'#' | b'/') => self.line_comment()?,
                _ => return Some(()),
            }
        }
    }

    /// The end of an attribute or block line: spaces, a comment, then a newline or the end.
    fn line_end(&mut self) -> Option<()> {
        self.sp();
        self.line_comment()?;
        match self.peek() {
            Some(b'\n') => {
                self.pos += 1;
                Some(())
            }
            None => Some(()),
            _ => None,
        }
    }

    fn ident(&mut self) -> Option<&'s str> {
        let start = self.pos;
        if !self.peek().is_some_and(ident_start) {
            return None;
        }
        self.pos += 1;
        while self.peek().is_some_and(ident_continue) {
            self.pos += 1;
        }
        if self.peek().is_some_and(|b| !b.is_ascii()) {
            return None; // a Unicode identifier: hcl-edit's to read
        }
        Some(&self.text[start..self.pos])
    }

    fn body(&mut self, nested: bool) -> Option<Body<'s>> {
        let mut body = Body::default();
        loop {
            self.ws()?;
            match self.peek() {
                None if !nested => return Some(body),
                Some(b'}') if nested => return Some(body),
                Some(b) if ident_start(b) => {}
                _ => return None,
            }
            let at = self.pos;
            let ident = self.ident()?;
            self.sp();
            if self.peek() == Some(b'=') {
                self.pos += 1;
                self.sp();
                if body.get_attribute(ident).is_some() {
                    return None; // redefined: hcl-edit's error
                }
                let value = self.value()?;
                body.attributes.push(Attribute {
                    key: Name(Cow::Borrowed(ident)),
                    value,
                    at,
                });
            } else {
                let block = self.block(ident, at)?;
                body.blocks.push(block);
            }
            self.line_end()?;
        }
    }

    /// After a block's identifier: its labels and `{ … }`.
    fn block(&mut self, ident: &'s str, at: usize) -> Option<Block<'s>> {
        let mut labels = Vec::new();
        loop {
            match self.peek()? {
                b'"' => match self.quoted()? {
                    Expr::String(label) => labels.push(Name(label)),
                    _ => return None,
                },
                b'{' => break,
                b if ident_start(b) => labels.push(Name(Cow::Borrowed(self.ident()?))),
                _ => return None,
            }
            self.sp();
        }
        self.pos += 1; // `{`
        self.sp();
        self.line_comment()?;
        let body = match self.peek()? {
            b'}' => Body::default(), // `name {}`
            b'\n' => {
                self.pos += 1;
                self.nested(|p| p.body(true))?
            }
            _ => return None, // a one-line block with an attribute
        };
        self.pos += 1; // `}`
        Some(Block {
            ident: Name(Cow::Borrowed(ident)),
            labels,
            body,
            at,
        })
    }

    /// An expression and where it starts.
    fn value(&mut self) -> Option<Value<'s>> {
        let at = self.pos;
        let expr = self.expr()?;
        Some(Value { expr, at })
    }

    /// `parse` one level deeper, declining past [`MAX_DEPTH`].
    fn nested<T>(&mut self, parse: impl FnOnce(&mut Self) -> Option<T>) -> Option<T> {
        if self.depth >= MAX_DEPTH {
            return None;
        }
        self.depth += 1;
        let parsed = parse(self);
        self.depth -= 1;
        parsed
    }

    fn expr(&mut self) -> Option<Expr<'s>> {
        match self.peek()? {
            b'"' => self.quoted(),
            b'[' => self.nested(Self::array),
            b'{' => self.nested(Self::object),
            b'0'..=b'9' => self.number(),
            b if ident_start(b) => match self.ident()? {
                "true" => Some(Expr::Bool(true)),
                "false" => Some(Expr::Bool(false)),
                "null" => Some(Expr::Null),
                _ => None, // a variable, call or traversal
            },
            _ => None,
        }
    }

    /// Digits only: fractions, exponents and signs are hcl-edit's.
    fn number(&mut self) -> Option<Expr<'s>> {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        if self
            .peek()
            .is_some_and(|b| b == b'.' || ident_continue(b) || !b.is_ascii())
        {
            return None;
        }
        let n = self.text[start..self.pos].parse::<u64>().ok()?;
        Some(Expr::Number(Number(Some(n))))
    }

    /// `[a, b, …]`, newlines and comments allowed between items, a trailing comma too.
    fn array(&mut self) -> Option<Expr<'s>> {
        self.pos += 1; // `[`
        let mut items = Vec::new();
        loop {
            self.ws()?;
            if self.peek()? == b']' {
                self.pos += 1;
                return Some(Expr::Array(items));
            }
            items.push(self.value()?);
            self.ws()?;
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {}
                _ => return None,
            }
        }
    }

    /// `{ key = value, … }`: keys identifiers or plain strings, each once; `=` or `:`;
    /// entries end with a comma or a newline.
    fn object(&mut self) -> Option<Expr<'s>> {
        self.pos += 1; // `{`
        let mut entries: Vec<(Option<Cow<'s, str>>, Expr<'s>)> = Vec::new();
        loop {
            self.ws()?;
            let key = match self.peek()? {
                b'}' => {
                    self.pos += 1;
                    return Some(Expr::Object(entries));
                }
                b'"' => match self.quoted()? {
                    Expr::String(key) => key,
                    _ => return None,
                },
                _ => match self.ident()? {
                    "true" | "false" | "null" => return None,
                    ident => Cow::Borrowed(ident),
                },
            };
            if entries.iter().any(|(k, _)| k.as_deref() == Some(&key)) {
                return None;
            }
            self.sp();
            match self.peek()? {
                b'=' | b':' => self.pos += 1,
                _ => return None,
            }
            self.sp();
            let value = self.expr()?;
            entries.push((Some(key), value));
            self.sp();
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {}
                b'\n' | b'#' | b'/' => self.line_end()?,
                _ => return None,
            }
        }
    }

    /// A quoted string: `Expr::String` when it interpolates nothing, else a template of
    /// literals and `${name}`s. Other escapes, `$${`, `%{`, and newlines decline.
    fn quoted(&mut self) -> Option<Expr<'s>> {
        self.pos += 1; // `"`
        let mut parts: Vec<Part<'s>> = Vec::new();
        let mut literal: Cow<'s, str> = Cow::Borrowed("");
        let mut run = self.pos; // start of the literal run not yet in `literal`
        loop {
            let b = self.peek()?;
            match b {
                b'"' | b'\\' | b'$' | b'%' | b'\n' => {}
                _ => {
                    self.pos += 1;
                    continue;
                }
            }
            let pending = &self.text[run..self.pos];
            match b {
                b'"' => {
                    append(&mut literal, pending);
                    self.pos += 1;
                    if parts.is_empty() {
                        return Some(Expr::String(literal));
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Literal(literal));
                    }
                    return Some(Expr::Template(parts));
                }
                b'\\' => {
                    let unescaped = match self.peek_at(1)? {
                        b'n' => "\n",
                        b'r' => "\r",
                        b't' => "\t",
                        b'"' => "\"",
                        b'\\' => "\\",
                        _ => return None,
                    };
                    append(&mut literal, pending);
                    literal.to_mut().push_str(unescaped);
                    self.pos += 2;
                    run = self.pos;
                }
                b'$' if self.peek_at(1) == Some(b'{') => {
                    append(&mut literal, pending);
                    self.pos += 2;
                    let name = self.ident()?;
                    if matches!(name, "true" | "false" | "null") || self.peek()? != b'}' {
                        return None;
                    }
                    self.pos += 1;
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Variable(Cow::Borrowed(name)));
                    run = self.pos;
                }
                b'$' | b'%' => {
                    let marker = self.peek_at(1) == Some(b'{')
                        || (self.peek_at(1) == Some(b) && self.peek_at(2) == Some(b'{'));
                    if marker {
                        return None; // a directive, or an escaped `${` / `%{`
                    }
                    self.pos += 1;
                }
                _ => return None, // a newline inside quotes
            }
        }
    }
}

/// `literal` followed by `more`, still borrowed while it is one slice of the text.
fn append<'s>(literal: &mut Cow<'s, str>, more: &'s str) {
    if more.is_empty() {
        return;
    }
    if literal.is_empty() {
        *literal = Cow::Borrowed(more);
    } else {
        literal.to_mut().push_str(more);
    }
}
