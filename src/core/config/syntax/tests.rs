//! The fast parser against hcl-edit: wherever it accepts a text, hcl-edit accepts it too
//! and makes the same tree (names, values, positions); and it does accept the configs
//! people write, or it would speed nothing up.

use super::{convert, fast, Body, Expr, Part};
use crate::core::config::format::tests::EXAMPLES;
use proptest::prelude::*;
use std::borrow::Cow;

/// hcl-edit's reading of `text`, in keyrot's tree.
fn reference(text: &str) -> Option<Body<'static>> {
    hcl::edit::parser::parse_body(text)
        .ok()
        .map(|b| convert::body(&b))
}

/// The fast parser's answer is hcl-edit's, or none.
fn check(text: &str) -> Option<Body<'_>> {
    let fast = fast::parse(text);
    if let Some(tree) = &fast {
        match reference(text) {
            Some(expected) => assert_eq!(tree, &expected, "trees differ for:\n{text}"),
            None => panic!("fast parser accepted what hcl-edit refuses:\n{text}"),
        }
    }
    fast
}

#[test]
fn every_example_config_takes_the_fast_path_and_reads_as_hcl_edit_reads_it() {
    for (name, text) in EXAMPLES {
        assert!(check(text).is_some(), "{name} fell back to hcl-edit");
    }
}

#[test]
fn a_fleet_file_takes_the_fast_path() {
    let text = "defaults {\n  max_age = \"90d\"\n}\n\nuser \"svc-000001\" {\n  access_key {\n    deliver \"file\" {\n      path = \"secrets/svc-000001.json\"\n    }\n  }\n}\n";
    let body = check(text).expect("fast path");
    let user = body.get_blocks("user").next().expect("user block");
    assert_eq!(user.labels[0].as_str(), "svc-000001");
    // Names and plain strings are slices of the text, not copies.
    assert!(matches!(user.labels[0].0, Cow::Borrowed(_)));
}

#[test]
fn templates_escapes_and_values_read_as_hcl_edit_reads_them() {
    let cases = [
        "a = \"ci/${user}/aws\"\n",
        "a = \"${user}\"\n",
        "a = \"x\\ty\\n\\\"q\\\" \\\\ end\"\n",
        "a = \"$$ and 100% and $x\"\n",
        "a = \"\"\n",
        "a = [\"x\", \"y\",]\n",
        "a = [\n  \"x\", # one\n  \"y\" // two\n]\n",
        "a = []\n",
        "a = { rotate = \"true\", \"team-name\" : \"x\" }\n",
        "a = {\n  k = \"v\" # note\n  l = \"w\"\n}\n",
        "a = {}\n",
        "a = 12\nb = true\nc = false\nd = null\n",
        "b \"x\" y {}\n",
        "b { }\n",
        "b {\n}\n",
        "b { # c\n  x = 1\n}",
        "# only a comment",
        "",
        "\n\n",
        "x = \"unicode: é ✓\"\n",
    ];
    for text in cases {
        assert!(check(text).is_some(), "declined: {text:?}");
    }
    let body = check("a = \"ci/${user}/aws\"\n").expect("fast path");
    let parts = match &body.get_attribute("a").expect("a").value.expr {
        Expr::Template(parts) => parts.clone(),
        other => panic!("not a template: {other:?}"),
    };
    assert_eq!(
        parts,
        vec![
            Part::Literal("ci/".into()),
            Part::Variable("user".into()),
            Part::Literal("/aws".into())
        ]
    );
}

#[test]
fn what_it_does_not_know_goes_to_hcl_edit() {
    let declined = [
        "a = 1.5\n",
        "a = -1\n",
        "a = 1e3\n",
        "a = var.x\n",
        "a = upper(\"x\")\n",
        "a = \"x\" + \"y\"\n",
        "a = true ? 1 : 2\n",
        "a = <<EOF\nx\nEOF\n",
        "a = \"${upper(user)}\"\n",
        "a = \"${ user }\"\n",
        "a = \"$${user}\"\n",
        "a = \"%{if true}x%{endif}\"\n",
        "a = \"\\u00e9\"\n",
        "a = 1\r\n",
        "/* block */\na = 1\n",
        "b { x = 1 }\n",
        "a = 1\na = 2\n",
        "a = { k = 1, k = 2 }\n",
        "a = { (k) = 1 }\n",
        "a = [for x in y : x]\n",
        "é = 1\n",
        "a = \"x\"\n  .y\n",
        "b {\n  x = 1 }\n",
        "a = 1 b = 2\n",
        "user \"${x}\" {}\n",
        &format!("a = {}{}\n", "[".repeat(100_000), "]".repeat(100_000)),
        &format!("{}{}", "b {\n".repeat(100_000), "}\n".repeat(100_000)),
    ];
    for text in declined {
        assert!(check(text).is_none(), "accepted: {text:?}");
    }
}

#[test]
fn positions_are_hcl_edits() {
    let text = "user \"a\" {\n  access_key {\n    max_age = \"30d\"\n    events = [\"x\", \"y\"]\n  }\n}\n";
    let body = check(text).expect("fast path");
    let user = body.blocks().next().expect("user");
    let key = user.body.blocks().next().expect("access_key");
    let attr = key.body.get_attribute("max_age").expect("max_age");
    assert_eq!((user.at, key.at, attr.at, attr.value.at), (0, 13, 30, 40));
}

/// Pieces of HCL, valid and broken, that generated texts are made of.
const PIECES: &[&str] = &[
    "user",
    "\"svc-1\"",
    "access_key",
    "deliver",
    "\"file\"",
    "path",
    "max_age",
    "tags",
    "a-b",
    "_x",
    "x1",
    "true",
    "false",
    "null",
    "var.x",
    "f(1)",
    "\"${user}\"",
    "\"${ user }\"",
    "\"$${user}\"",
    "\"a\\nb\"",
    "\"a\\qb\"",
    "\"%{x}\"",
    "\"100%\"",
    "\"$\"",
    "\"é\"",
    "\"\"",
    "0",
    "007",
    "42",
    "1.5",
    "-1",
    "1e3",
    "18446744073709551616",
    "=",
    "==",
    ":",
    "{",
    "}",
    "[",
    "]",
    ",",
    ".",
    "+",
    "?",
    "(",
    ")",
    " ",
    "  ",
    "\t",
    "\n",
    "\n\n",
    "# c\n",
    "// c\n",
    "/* c */",
    "/",
    "<<EOF\nx\nEOF\n",
    "\r\n",
    "\"",
    "\\",
    "é",
];

/// A config-shaped text: blocks and attributes with values, laid out one of several ways.
fn config_text() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        Just("\"90d\"".to_string()),
        Just("\"ci/${user}/aws\"".to_string()),
        Just("true".to_string()),
        Just("12".to_string()),
        Just("[\"a\", \"b\"]".to_string()),
        Just("[\n  \"a\",\n  \"b\",\n]".to_string()),
        Just("{ rotate = \"true\" }".to_string()),
        Just("{\n  team = \"x\"\n  \"k\" : \"v\"\n}".to_string()),
    ];
    let attr = (
        "[a-z_]{1,3}",
        value,
        prop_oneof![Just(" = "), Just("="), Just("\t=  ")],
    )
        .prop_map(|(k, v, eq)| format!("{k}{eq}{v}"));
    let leaf = prop::collection::vec(attr, 0..4).prop_map(|a| a.join("\n"));
    let block = (
        prop_oneof![
            Just("user \"svc\""),
            Just("access_key"),
            Just("deliver \"file\" x")
        ],
        leaf,
        prop_oneof![Just(""), Just(" # c"), Just("  // c")],
    )
        .prop_map(|(head, inner, comment)| format!("{head} {{{comment}\n{inner}\n}}"));
    prop::collection::vec(block, 0..4).prop_map(|b| b.join("\n\n") + "\n")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn config_shaped_texts_read_alike(text in config_text()) {
        check(&text);
    }

    #[test]
    fn damaged_config_texts_read_alike_or_go_to_hcl_edit(
        text in config_text(),
        at in any::<prop::sample::Index>(),
        piece in prop::sample::select(PIECES),
        cut in 0usize..3,
    ) {
        let mut chars: Vec<char> = text.chars().collect();
        let i = at.index(chars.len() + 1);
        let end = (i + cut).min(chars.len());
        chars.splice(i..end, piece.chars());
        check(&chars.into_iter().collect::<String>());
    }

    #[test]
    fn texts_of_random_pieces_read_alike_or_go_to_hcl_edit(
        pieces in prop::collection::vec(prop::sample::select(PIECES), 0..24),
    ) {
        check(&pieces.concat());
    }
}
