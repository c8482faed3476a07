//! Hostile configs against the real binary: malformed, truncated, oversized, deeply nested,
//! not UTF-8, and empty.

use super::{applied, config, STATE};
use crate::common::*;

#[test]
fn hostile_configs_are_refused_with_file_and_position() {
    let fx = applied("hcfg");
    let good = config(&fx.user);

    let malformed = good.replace("overlap      = \"7d\"", "overlap      = = \"7d\"");
    fx.write("keyrot.hcl", &malformed);
    fx.all_refuse("malformed", true, &["keyrot.hcl:3:18: HCL syntax error"]);

    // Cut in the middle of the sink block, inside the path string.
    let cut = good.find("secrets/").unwrap() + 4;
    fx.write("keyrot.hcl", &good[..cut]);
    fx.all_refuse("truncated", true, &["keyrot.hcl:11:7: HCL syntax error"]);

    // A file that is too big to be a config is refused before parsing.
    let mut huge = good.clone();
    while huge.len() < 5 << 20 {
        huge.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    fx.write("keyrot.hcl", &huge);
    fx.all_refuse(
        "5 MiB",
        true,
        &[&format!(
            "config keyrot.hcl is {} bytes; keyrot reads at most 4194304",
            huge.len()
        )],
    );

    // 10,000-deep nesting, balanced and unbalanced, of expressions and of blocks.
    let deep = |open: &str, close: &str| {
        good.replace(
            "  overlap      = \"7d\"",
            &format!(
                "  overlap      = {}{}",
                open.repeat(10_000),
                close.repeat(10_000)
            ),
        )
    };
    for (case, text) in [
        ("deep [ ]", deep("[", "]")),
        ("deep { }", deep("{", "}")),
        ("deep (", deep("(", "")),
        ("deep blocks", good.replace("user", &"b {\n".repeat(10_000))),
    ] {
        fx.write("keyrot.hcl", text);
        fx.all_refuse(
            case,
            true,
            &["keyrot.hcl:", "nesting depth; expected at most 64"],
        );
    }

    // Invalid UTF-8 in the middle of line 3.
    let mut bytes = good.clone().into_bytes();
    let mid = good.find("= \"7d\"").unwrap();
    let column = mid - good.find("  overlap").unwrap() + 1;
    bytes.splice(mid..mid, [0xff, 0xfe, 0xc3]);
    fx.write("keyrot.hcl", &bytes);
    fx.all_refuse(
        "invalid UTF-8",
        true,
        &[&format!("keyrot.hcl:3:{column}: not valid UTF-8")],
    );

    // The good config again: the refusals left everything as it was.
    fx.write("keyrot.hcl", &good);
    let plan = fx
        .project
        .ok(&["plan", "--detailed-exitcode"], Some(fx.later()), 2);
    assert!(plan.stdout.contains("1 to deactivate"), "{}", plan.stdout);
}

#[test]
fn an_empty_config_declares_nothing() {
    let fx = applied("hempty");
    for empty in ["", "\n\n", "# nothing here yet\n"] {
        fx.write("keyrot.hcl", empty);
        let before = fx.snapshot();
        let run = fx.project.ok(&["validate"], None, 0);
        assert!(
            run.stdout
                .contains("The configuration is valid: 0 credential set(s)."),
            "{}",
            run.stdout
        );
        // With a state tracking a set, plan proposes to stop tracking it, leaving IAM alone;
        // planning itself changes nothing.
        let plan = fx.project.ok(&["plan"], Some(fx.later()), 0);
        for want in [
            "forget this credential set (state only; IAM untouched)",
            "its keys stay in IAM as they are",
            "0 to create, 0 to deactivate, 0 to delete",
            "1 state-only",
        ] {
            assert!(
                plan.stdout.contains(want),
                "want {want:?} in\n{}",
                plan.stdout
            );
        }
        assert_eq!(fx.snapshot(), before);
    }
    // In a project without state, an empty config plans nothing at all.
    let fresh = Project::new(&fx.project.endpoint, "");
    let run = fresh.ok(&["plan", "--detailed-exitcode"], None, 0);
    assert!(run.stdout.starts_with("No changes."), "{}", run.stdout);
    assert!(!fresh.path(STATE).exists(), "plan wrote a state");
}
