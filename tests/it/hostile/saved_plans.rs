//! Hostile saved plans against the real binary: damaged, of another kind or version, and
//! tampered with (a key of the set, a key of a user the plan never looked at).

use super::{applied, edit_json};
use crate::common::*;
use serde_json::{json, Value};

#[test]
fn hostile_saved_plans_are_refused_before_anything_changes() {
    let fx = applied("hplan");
    fx.project.ok(
        &["plan", "-out", "good.json", "--detailed-exitcode"],
        Some(fx.later()),
        2,
    );
    let good = String::from_utf8(fx.read("good.json")).unwrap();
    assert!(good.contains("\"action\": \"deactivate\""), "{good}");
    let cases = [
        (
            "truncated",
            good[..good.len() / 2].to_string(),
            "bad.json: not a keyrot saved plan: EOF while parsing",
        ),
        (
            "unknown action kind",
            good.replace("\"action\": \"deactivate\"", "\"action\": \"explode\""),
            "bad.json: saved plan is damaged: unknown action `explode`",
        ),
        (
            "kind changed",
            good.replace("\"keyrot-saved-plan\"", "\"terraform-plan\""),
            "bad.json: saved plan is damaged: kind is `terraform-plan`",
        ),
        (
            "future format_version",
            good.replace("\"format_version\": \"1\"", "\"format_version\": \"2\""),
            "bad.json: saved plan format_version 2 is not supported by this keyrot (it reads 1)",
        ),
    ];
    for (case, text, want) in &cases {
        assert_ne!(text, &good, "{case}: the edit did nothing");
        fx.write("bad.json", text);
        fx.refused(
            case,
            &["apply", "bad.json"],
            &[want, "keyrot plan -out bad.json"],
        );
        fx.refused(case, &["show", "bad.json"], &[want]);
    }
    // None of the refusals consumed the reviewed plan or moved the state.
    let run = fx.project.ok(&["apply", "good.json"], Some(fx.later()), 0);
    assert!(run.stdout.contains("Apply complete!"), "{}", run.stdout);
}

#[test]
fn a_saved_plan_with_a_tampered_key_id_is_refused_before_any_iam_change() {
    let fx = applied("htamper");
    fx.project.ok(
        &["plan", "-out", "good.json", "--detailed-exitcode"],
        Some(fx.later()),
        2,
    );
    let good = String::from_utf8(fx.read("good.json")).unwrap();
    let plan: Value = serde_json::from_str(&good).unwrap();
    let action = &plan["credential_sets"][0]["actions"][0];
    assert_eq!(action["action"], "deactivate", "{plan:#}");
    let old = action["key_id"].as_str().unwrap().to_string();
    let state = fx.project.state_json();
    let current = state["credential_sets"][format!("user.{}.access_key", fx.user)]["current"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(old, current);
    // Point the deactivation at the key applications now use.
    let tampered = edit_json(good.as_bytes(), |d| {
        d["credential_sets"][0]["actions"][0]["key_id"] = json!(current);
    });
    fx.write("bad.json", &tampered);
    // Exit 5: a refused saved plan (make a new plan).
    fx.refused_with(
        "tampered key_id",
        &["apply", "bad.json"],
        &[
            "refusing to apply bad.json",
            "the file was edited after it was made",
            "nothing was changed",
        ],
        5,
    );
}

#[test]
fn a_saved_plan_with_a_foreign_key_id_is_refused_before_anything_changes() {
    let fx = applied("hforeign");
    let stranger = unique_user("hstranger");
    let foreign = seed_user(&fx.iam, &stranger);
    fx.project.ok(
        &["plan", "-out", "good.json", "--detailed-exitcode"],
        Some(fx.later()),
        2,
    );
    let good = String::from_utf8(fx.read("good.json")).unwrap();
    // Point the deactivation at a key of a user the plan never looked at.
    let tampered = edit_json(good.as_bytes(), |d| {
        d["credential_sets"][0]["actions"][0]["key_id"] = json!(foreign.id);
    });
    fx.write("bad.json", &tampered);
    let stranger_before = live_keys(&fx.iam, &stranger);
    // Exit 5: a refused saved plan (make a new plan).
    fx.refused_with(
        "foreign key_id",
        &["apply", "bad.json"],
        &[
            "refusing to apply bad.json",
            "the file was edited after it was made",
            "nothing was changed",
        ],
        5,
    );
    assert_eq!(live_keys(&fx.iam, &stranger), stranger_before);
}
