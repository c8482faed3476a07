//! Hostile state files against the real binary: damaged, inconsistent, from the future,
//! with unknown fields, not UTF-8.

use super::{applied, edit_json, STATE};
use serde_json::{json, Value};

#[test]
fn hostile_state_files_are_refused_and_left_as_they_are() {
    let fx = applied("hstate");
    let good = fx.read(STATE);
    let address = format!("user.{}.access_key", fx.user);
    let unusable = "state file state/keyrot.json is unusable";
    fn set_in<'a>(doc: &'a mut Value, address: &str) -> &'a mut Value {
        &mut doc["credential_sets"][address]
    }

    let cases: Vec<(&str, Vec<u8>, Vec<String>)> = vec![
        (
            "truncated",
            good[..good.len() / 2].to_vec(),
            vec![unusable.into(), "EOF while parsing".into()],
        ),
        (
            "garbage",
            b"\x1b[2Jrm -rf / ; DROP TABLE keys; -- \x07".to_vec(),
            vec![unusable.into(), "expected value at line 1 column 1".into()],
        ),
        (
            "binary garbage",
            (0..4096u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
            vec!["state/keyrot.json".into(), "UTF-8".into()],
        ),
        (
            "steady with a previous key",
            edit_json(&good, |d| set_in(d, &address)["phase"] = json!("steady")).into_bytes(),
            vec![
                unusable.into(),
                format!("{address}: phase `steady` does not match its keys (they say `overlap`)"),
            ],
        ),
        (
            "same key current and previous",
            edit_json(&good, |d| {
                let id = set_in(d, &address)["current"]["id"].clone();
                set_in(d, &address)["previous"]["id"] = id;
            })
            .into_bytes(),
            vec![unusable.into(), "is both current and previous".into()],
        ),
        (
            "held without a previous key",
            edit_json(&good, |d| {
                let s = set_in(d, &address);
                s.as_object_mut().unwrap().remove("previous");
                s["held"] = json!(true);
                s["phase"] = json!("held");
            })
            .into_bytes(),
            vec![
                unusable.into(),
                format!("{address}: held with no previous key"),
            ],
        ),
        (
            "future format_version",
            edit_json(&good, |d| d["format_version"] = json!(3)).into_bytes(),
            vec![
                unusable.into(),
                "state format_version 3 is newer than this keyrot understands (2); upgrade keyrot"
                    .into(),
            ],
        ),
        (
            "unknown top-level field",
            edit_json(&good, |d| d["bogus"] = json!(1)).into_bytes(),
            vec![unusable.into(), "unknown field `bogus`".into()],
        ),
        (
            "unknown field in a set",
            edit_json(&good, |d| set_in(d, &address)["note"] = json!("hand edit")).into_bytes(),
            vec![unusable.into(), "unknown field `note`".into()],
        ),
        (
            "unknown field in a key",
            edit_json(&good, |d| {
                set_in(d, &address)["current"]["secret"] = json!("x")
            })
            .into_bytes(),
            vec![unusable.into(), "unknown field `secret`".into()],
        ),
    ];
    for (case, bytes, want) in &cases {
        fx.write(STATE, bytes);
        let want: Vec<&str> = want.iter().map(String::as_str).collect();
        fx.all_refuse(case, false, &want);
        // validate reads no state: the config itself is fine.
        fx.project.ok(&["validate"], None, 0);
    }

    // The good state again: the refusals left IAM as it was.
    fx.write(STATE, &good);
    let plan = fx
        .project
        .ok(&["plan", "--detailed-exitcode"], Some(fx.later()), 2);
    assert!(plan.stdout.contains("1 to deactivate"), "{}", plan.stdout);
}

#[test]
fn a_state_file_that_is_not_utf8_gets_a_position_and_the_backup_hint() {
    let fx = applied("hutf8");
    let mut bytes = fx.read(STATE);
    let line3 = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(1)
        .map(|(i, _)| i + 1)
        .unwrap();
    bytes.splice(line3 + 4..line3 + 4, [0xff, 0xfe]);
    fx.write(STATE, &bytes);
    for args in [&["plan"][..], &["apply", "--auto-approve"]] {
        let run = fx.refused(
            "state not UTF-8",
            args,
            &[
                "state file state/keyrot.json is unusable",
                "restore it from state/keyrot.json.backup",
            ],
        );
        let position = run.stderr.contains("state/keyrot.json:3:5")
            || (run.stderr.contains("line 3") && run.stderr.contains("column 5"));
        assert!(
            position,
            "no position (line 3, column 5) in: {}",
            run.stderr
        );
    }
}
