//! hcl-edit's tree, for files the fast parser declines, as keyrot's.

use super::{Attribute, Block, Body, Expr, Name, Number, Part, Value};
use hcl::edit::expr::{Expression, ObjectKey};
use hcl::edit::structure;
use hcl::edit::template::Element;
use hcl::edit::Span as _;
use std::borrow::Cow;

pub(super) fn body(body: &structure::Body) -> Body<'static> {
    Body {
        attributes: body.attributes().map(attribute).collect(),
        blocks: body.blocks().map(block).collect(),
    }
}

fn start(span: Option<std::ops::Range<usize>>) -> usize {
    span.map_or(0, |s| s.start)
}

fn block(block: &structure::Block) -> Block<'static> {
    Block {
        ident: owned(block.ident.as_str()),
        labels: block.labels.iter().map(|l| owned(l.as_str())).collect(),
        body: body(&block.body),
        at: start(block.span()),
    }
}

fn attribute(attr: &structure::Attribute) -> Attribute<'static> {
    let at = start(attr.span());
    Attribute {
        key: owned(attr.key.as_str()),
        value: value(&attr.value, at),
        at,
    }
}

/// An expression and where it starts (`or` when hcl-edit has no span for it).
fn value(e: &Expression, or: usize) -> Value<'static> {
    Value {
        expr: expr(e),
        at: e.span().map_or(or, |s| s.start),
    }
}

fn owned(text: &str) -> Name<'static> {
    Name(Cow::Owned(text.to_string()))
}

fn expr(e: &Expression) -> Expr<'static> {
    match e {
        Expression::Null(_) => Expr::Null,
        Expression::Bool(b) => Expr::Bool(*b.value()),
        Expression::Number(n) => Expr::Number(Number(n.value().as_u64())),
        Expression::String(s) => Expr::String(Cow::Owned(s.value().clone())),
        Expression::StringTemplate(t) => Expr::Template(parts(t.iter())),
        Expression::HeredocTemplate(_) => Expr::Heredoc,
        Expression::Array(items) => Expr::Array(items.iter().map(|e| value(e, 0)).collect()),
        Expression::Object(object) => Expr::Object(
            object
                .iter()
                .map(|(k, v)| (object_key(k), expr(v.expr())))
                .collect(),
        ),
        _ => Expr::Other,
    }
}

fn object_key(key: &ObjectKey) -> Option<Cow<'static, str>> {
    match key {
        ObjectKey::Ident(ident) => Some(Cow::Owned(ident.as_str().to_string())),
        ObjectKey::Expression(Expression::String(s)) => Some(Cow::Owned(s.value().clone())),
        ObjectKey::Expression(_) => None,
    }
}

/// Template elements with adjacent literals merged and empty ones dropped, as the fast
/// parser makes them.
fn parts<'a>(elements: impl Iterator<Item = &'a Element>) -> Vec<Part<'static>> {
    let mut parts: Vec<Part<'static>> = Vec::new();
    for element in elements {
        let part = match element {
            Element::Literal(l) if l.is_empty() => continue,
            Element::Literal(l) => {
                if let Some(Part::Literal(text)) = parts.last_mut() {
                    text.to_mut().push_str(l);
                    continue;
                }
                Part::Literal(Cow::Owned(l.to_string()))
            }
            Element::Interpolation(i) => match &i.expr {
                Expression::Variable(v) => Part::Variable(Cow::Owned(v.as_str().to_string())),
                _ => Part::Other,
            },
            Element::Directive(_) => Part::Other,
        };
        parts.push(part);
    }
    parts
}
