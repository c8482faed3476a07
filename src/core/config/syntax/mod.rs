//! The config's syntax tree: what the walker reads, borrowed from the source text.
//!
//! Two parsers make it. [`fast`] reads the plain HCL configs are nearly always written in
//! (blocks, attributes, literal strings, numbers, lists and maps, `${user}`) in one pass
//! without copying, and declines anything else. hcl-edit then parses that file and its
//! tree is converted ([`convert`]): the whole language, and its syntax errors, stay
//! hcl-edit's. The fast parser accepts a file only where hcl-edit would make the same tree
//! of it (`tests` checks that difference on generated and real configs).

mod convert;
mod fast;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::ops::Range;

/// A file's top level, or a block's inside.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Body<'s> {
    attributes: Vec<Attribute<'s>>,
    blocks: Vec<Block<'s>>,
}

impl<'s> Body<'s> {
    pub fn attributes(&self) -> std::slice::Iter<'_, Attribute<'s>> {
        self.attributes.iter()
    }

    pub fn blocks(&self) -> std::slice::Iter<'_, Block<'s>> {
        self.blocks.iter()
    }

    /// The blocks named `ident`, in order.
    pub fn get_blocks<'b>(&'b self, ident: &'b str) -> impl Iterator<Item = &'b Block<'s>> + 'b {
        self.blocks
            .iter()
            .filter(move |b| b.ident.as_str() == ident)
    }

    pub fn get_attribute(&self, key: &str) -> Option<&Attribute<'s>> {
        self.attributes.iter().find(|a| a.key.as_str() == key)
    }
}

/// `ident label… { body }`; `at` is the byte offset of its identifier.
#[derive(Clone, Debug, PartialEq)]
pub struct Block<'s> {
    pub ident: Name<'s>,
    pub labels: Vec<Name<'s>>,
    pub body: Body<'s>,
    at: usize,
}

/// `key = value`; `at` is the byte offset of its key.
#[derive(Clone, Debug, PartialEq)]
pub struct Attribute<'s> {
    pub key: Name<'s>,
    pub value: Value<'s>,
    at: usize,
}

/// An attribute's value and the byte offset where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Value<'s> {
    pub expr: Expr<'s>,
    at: usize,
}

impl<'s> Value<'s> {
    pub fn as_bool(&self) -> Option<bool> {
        match self.expr {
            Expr::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<Number> {
        match self.expr {
            Expr::Number(n) => Some(n),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value<'s>]> {
        match &self.expr {
            Expr::Array(items) => Some(items),
            _ => None,
        }
    }
}

/// An identifier, label or key: text that is usually a slice of the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Name<'s>(Cow<'s, str>);

impl Name<'_> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A number as keyrot reads numbers: a whole number ≥ 0, or not one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Number(Option<u64>);

impl Number {
    pub fn as_u64(self) -> Option<u64> {
        self.0
    }
}

/// An expression, reduced to what a config may hold; everything else is `Other`.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr<'s> {
    Null,
    Bool(bool),
    Number(Number),
    /// A quoted string with no interpolation, escapes resolved.
    String(Cow<'s, str>),
    /// A quoted string with interpolations: literal runs merged, none empty.
    Template(Vec<Part<'s>>),
    Heredoc,
    Array(Vec<Value<'s>>),
    /// Entries in order; a key that is neither an identifier nor a plain string is `None`.
    Object(Vec<(Option<Cow<'s, str>>, Expr<'s>)>),
    /// A variable, function call, operator, traversal, conditional or `for`.
    Other,
}

/// A piece of a template string.
#[derive(Clone, Debug, PartialEq)]
pub enum Part<'s> {
    Literal(Cow<'s, str>),
    /// `${name}`
    Variable(Cow<'s, str>),
    /// Any other interpolation, or a directive.
    Other,
}

/// Where a node starts, as hcl-edit's `Span` gives it (a start-only range).
pub trait Span {
    fn span(&self) -> Option<Range<usize>>;
}

impl Span for Block<'_> {
    fn span(&self) -> Option<Range<usize>> {
        Some(self.at..self.at)
    }
}

impl Span for Attribute<'_> {
    fn span(&self) -> Option<Range<usize>> {
        Some(self.at..self.at)
    }
}

impl Span for Value<'_> {
    fn span(&self) -> Option<Range<usize>> {
        Some(self.at..self.at)
    }
}

/// A whole file: the fast parser's tree when it accepts the text, else hcl-edit's.
pub fn parse(text: &str) -> Result<Body<'_>, hcl::edit::parser::Error> {
    match fast::parse(text) {
        Some(body) => Ok(body),
        None => hcl::edit::parser::parse_body(text).map(|body| convert::body(&body)),
    }
}
