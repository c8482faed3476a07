//! Saved plans as reviewable artifacts: plan -out → apply FILE, and every refusal provoked
//! for real against moto with state and IAM left untouched.

use crate::common::*;
use chrono::Duration;

fn config(users: &[&str]) -> String {
    let mut text = String::from("defaults {\n  max_age = \"90d\"\n  overlap = \"7d\"\n  unused_for = \"3d\"\n  inactive_for = \"7d\"\n}\n");
    for user in users {
        text.push_str(&format!(
            "user \"{user}\" {{\n  access_key {{\n    deliver \"file\" {{\n      path = \"secrets/{user}.json\"\n    }}\n  }}\n}}\n"
        ));
    }
    text
}

fn read(project: &Project, rel: &str) -> Vec<u8> {
    std::fs::read(project.path(rel)).unwrap_or_default()
}

/// State bytes and live keys, to prove a refusal changed nothing.
fn snapshot(
    project: &Project,
    iam: &aws_sdk_iam::Client,
    users: &[&str],
) -> (Vec<u8>, Vec<Vec<(String, String)>>) {
    (
        read(project, "state/keyrot.json"),
        users.iter().map(|u| live_keys(iam, u)).collect(),
    )
}

fn assert_refused(
    project: &Project,
    iam: &aws_sdk_iam::Client,
    users: &[&str],
    file: &str,
    why: &str,
) {
    let before = snapshot(project, iam, users);
    // Exit 5: a refused saved plan, so CI knows to plan again.
    let run = project.ok(&["apply", file], None, 5);
    assert!(run.stderr.contains("refusing to apply"), "{}", run.stderr);
    assert!(run.stderr.contains(why), "want `{why}` in:\n{}", run.stderr);
    assert_eq!(
        snapshot(project, iam, users),
        before,
        "a refused apply changed state or IAM"
    );
}

#[test]
fn reviewed_plan_applies_exactly_and_only_once() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("saved");
    let old = seed_user(&iam, &user);
    let project = Project::new(&moto.endpoint, &config(&[&user]));
    let day0 = days_from_now(100);

    let plan = project.ok(
        &["plan", "-out", "plan.json", "--detailed-exitcode"],
        Some(day0),
        2,
    );
    assert!(
        plan.stdout.contains("keyrot apply plan.json"),
        "{}",
        plan.stdout
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(project.path("plan.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "plan files are private like state");
    }
    let md = project.ok(&["show", "plan.json", "--format", "markdown"], None, 0);
    assert!(
        md.stdout.contains("<details>")
            && md
                .stdout
                .contains("`keyrot apply plan.json --expect-digest sha256:")
    );
    let summary_pos = md
        .stdout
        .find("**Plan: 1 to import, 1 to create")
        .expect("summary line");
    assert!(
        summary_pos < md.stdout.find("<details>").unwrap(),
        "summary outside <details>"
    );
    let json = project.ok(&["show", "plan.json", "--json"], None, 0);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_matches_schema("plan.schema.json", &v);
    let file: serde_json::Value = serde_json::from_slice(&read(&project, "plan.json")).unwrap();
    assert_matches_schema("plan-file.schema.json", &file);
    assert_eq!(
        v["labels"],
        serde_json::json!(["has-imports", "has-creates"])
    );

    // A plan made for a later instant is not applied before it (this one is for day 100).
    assert_refused(&project, &iam, &[&user], "plan.json", "later than now");
    // Applying the saved plan takes no prompt; the clock must have reached the plan's instant.
    let run = project.ok(&["apply", "plan.json"], Some(day0), 0);
    assert!(run.stdout.contains("Apply complete!"), "{}", run.stdout);
    assert_eq!(live_keys(&iam, &user).len(), 2);
    let secret = std::fs::read_to_string(project.path(&format!("secrets/{user}.json"))).unwrap();
    let secret: serde_json::Value = serde_json::from_str(&secret).unwrap();
    let secret = secret["SecretAccessKey"].as_str().unwrap().to_string();

    assert_refused(&project, &iam, &[&user], "plan.json", "was already applied");
    project.ok(&["show", "plan.json", "--format", "markdown"], None, 0);
    project.assert_secret_nowhere(&secret, &[&format!("secrets/{user}.json")]);
    project.assert_secret_nowhere(&old.secret, &[]);
}

#[test]
fn stale_foreign_and_edited_plans_are_refused() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let a = unique_user("stale-a");
    let b = unique_user("stale-b");
    seed_user(&iam, &a);
    seed_user(&iam, &b);
    let users = [a.as_str(), b.as_str()];
    let project = Project::new(&moto.endpoint, &config(&users));
    let day0 = days_from_now(100);

    // Two reviewed plans; applying one makes the other stale.
    project.ok(
        &[
            "plan",
            "-out",
            "one.json",
            "--target",
            &format!("user.{a}.access_key"),
        ],
        Some(day0),
        0,
    );
    project.ok(
        &[
            "plan",
            "-out",
            "two.json",
            "--target",
            &format!("user.{b}.access_key"),
        ],
        Some(day0),
        0,
    );
    project.ok(&["apply", "one.json"], Some(day0), 0);
    assert_eq!(live_keys(&iam, &a).len(), 2, "--target a touched a");
    assert_eq!(live_keys(&iam, &b).len(), 1, "--target a left b alone");
    assert_refused(&project, &iam, &users, "two.json", "saved plan is stale");

    // A plan made against another state (another lineage).
    let other = Project::new(&moto.endpoint, &config(&users));
    other.ok(
        &[
            "apply",
            "--auto-approve",
            "--target",
            &format!("user.{b}.access_key"),
            "--refresh-only",
        ],
        Some(day0),
        0,
    );
    other.ok(&["plan", "-out", "foreign.json"], Some(day0), 0);
    std::fs::copy(other.path("foreign.json"), project.path("foreign.json")).unwrap();
    assert_refused(
        &project,
        &iam,
        &users,
        "foreign.json",
        "another state (lineage",
    );

    // The config changed after review.
    project.ok(&["plan", "-out", "three.json"], Some(day0), 0);
    let edited = config(&users).replace("max_age = \"90d\"", "max_age = \"60d\"");
    std::fs::write(project.path("keyrot.hcl"), &edited).unwrap();
    assert_refused(&project, &iam, &users, "three.json", "the config changed");
    // A reformatting that keeps the meaning is not a change.
    std::fs::write(
        project.path("keyrot.hcl"),
        format!("# reviewed\n{}", config(&users)),
    )
    .unwrap();
    project.ok(&["apply", "three.json"], Some(day0), 0);

    // A tampered file is refused before anything else.
    std::fs::write(
        project.path("bad.json"),
        "{\"format_version\": \"1\", \"kind\": \"keyrot-saved-plan\"",
    )
    .unwrap();
    let run = project.ok(&["apply", "bad.json"], None, 1);
    assert!(
        run.stderr.contains("not a keyrot saved plan"),
        "{}",
        run.stderr
    );
}

#[test]
fn plans_refuse_when_live_iam_moved() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("moved");
    let old = seed_user(&iam, &user);
    let project = Project::new(&moto.endpoint, &config(&[&user]));
    let day0 = days_from_now(100);
    project.ok(&["apply", "--auto-approve"], Some(day0), 0);

    // Overlap passed: the plan deactivates the old key, which it saw as never used.
    let day8 = day0 + Duration::days(8);
    project.ok(
        &["plan", "-out", "deactivate.json", "--detailed-exitcode"],
        Some(day8),
        2,
    );
    // While the PR waits, something signs with the old key: last use moves.
    assert!(whoami(&moto.endpoint, &old.id, &old.secret).is_ok());
    let file: serde_json::Value =
        serde_json::from_slice(&read(&project, "deactivate.json")).unwrap();
    assert_matches_schema("plan-file.schema.json", &file);
    assert_refused(
        &project,
        &iam,
        &[&user],
        "deactivate.json",
        "last used never ->",
    );

    // Fresh plan; then someone deactivates the old key by hand while it waits.
    project.ok(
        &["plan", "-out", "again.json"],
        Some(day8 + Duration::days(4)),
        0,
    );
    set_status(&iam, &user, &old.id, "Inactive");
    assert_refused(
        &project,
        &iam,
        &[&user],
        "again.json",
        "status Active -> Inactive",
    );
}

#[test]
fn force_rotate_and_refresh_only_do_only_what_they_say() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let young = unique_user("force");
    let other = unique_user("bystander");
    let young_key = seed_user(&iam, &young);
    seed_user(&iam, &other);
    let project = Project::new(&moto.endpoint, &config(&[&young, &other]));
    let now = days_from_now(1);
    project.ok(&["apply", "--auto-approve"], Some(now), 0);

    // Out-of-band change; --refresh-only records it and touches nothing in IAM.
    set_status(&iam, &young, &young_key.id, "Inactive");
    let refresh = project.ok(&["plan", "--refresh-only", "--json"], Some(now), 0);
    let v: serde_json::Value = serde_json::from_str(&refresh.stdout).unwrap();
    assert_eq!(v["refresh_only"], true);
    assert_eq!(v["summary"]["state_only"], 1);
    assert_eq!(v["summary"]["create"], 0);
    project.ok(&["apply", "--refresh-only", "--auto-approve"], Some(now), 0);
    assert_eq!(
        live_keys(&iam, &young),
        vec![(young_key.id.clone(), "Inactive".into())]
    );
    let state = project.state_json();
    assert_eq!(
        state["credential_sets"][format!("user.{young}.access_key")]["current"]["status"],
        "Inactive"
    );
    set_status(&iam, &young, &young_key.id, "Active");
    project.ok(&["apply", "--refresh-only", "--auto-approve"], Some(now), 0);

    // A one-day-old key is not due; --force-rotate rotates it now, and only it.
    let address = format!("user.{young}.access_key");
    let run = project.ok(
        &["plan", "--force-rotate", &address, "--detailed-exitcode"],
        Some(now),
        2,
    );
    assert!(run.stdout.contains("rotation forced"), "{}", run.stdout);
    assert!(
        run.stdout.contains("Plan: 0 to import, 1 to create"),
        "{}",
        run.stdout
    );
    project.ok(
        &["apply", "--auto-approve", "--force-rotate", &address],
        Some(now),
        0,
    );
    assert_eq!(live_keys(&iam, &young).len(), 2);
    assert_eq!(live_keys(&iam, &other).len(), 1);

    // An unknown address is an error, not a silent no-op.
    let run = project.ok(
        &["plan", "--target", "user.nobody.access_key"],
        Some(now),
        1,
    );
    assert!(run.stderr.contains("not declared"), "{}", run.stderr);
}

#[test]
fn schemas_are_strict_enough_to_fail() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("state/schema/state.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for version in [1, 2] {
        let good = serde_json::json!({"format_version": version, "lineage": "x", "serial": 1, "credential_sets": {}});
        assert!(validator.is_valid(&good));
    }
    for bad in [
        serde_json::json!({"format_version": 3, "lineage": "x", "serial": 1, "credential_sets": {}}),
        serde_json::json!({"format_version": 1, "lineage": "x", "serial": 1, "credential_sets": {}, "secret": "s"}),
        serde_json::json!({"format_version": 1, "lineage": "x", "serial": 1,
            "credential_sets": {"user.a.access_key": {"phase": "bogus", "held": false}}}),
    ] {
        assert!(!validator.is_valid(&bad), "{bad}");
    }
}

/// Every `reason_code` in the JSON schemas lists exactly the codes keyrot can write.
#[test]
fn schemas_list_every_reason_code() {
    fn reason_codes<'a>(v: &'a serde_json::Value, found: &mut Vec<&'a serde_json::Value>) {
        match v {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    if key == "reason_code" && value.is_object() {
                        found.push(value);
                    }
                    reason_codes(value, found);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| reason_codes(i, found)),
            _ => {}
        }
    }
    let want: Vec<&str> = keyrot::core::plan::ReasonCode::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    for (file, expected) in [("plan.schema.json", 2), ("plan-file.schema.json", 1)] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("state/schema")
            .join(file);
        let schema: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut found = Vec::new();
        reason_codes(&schema, &mut found);
        assert_eq!(found.len(), expected, "{file}: reason_code properties");
        for property in found {
            let listed: Vec<&str> = property["enum"]
                .as_array()
                .unwrap_or_else(|| panic!("{file}: reason_code without an enum: {property}"))
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(listed, want, "{file}");
        }
    }
}

/// A reviewed plan is pinned by its digest: any other file, even one the re-derivation
/// check would accept, is refused; so is a plan kept around past --max-plan-age.
#[test]
fn apply_file_takes_only_the_reviewed_digest_and_a_fresh_plan() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("digest");
    seed_user(&iam, &user);
    let project = Project::new(&moto.endpoint, &config(&[&user]));
    let address = format!("user.{user}.access_key");
    let plan = project.ok(
        &["plan", "-out", "p.json", "--force-rotate", &address],
        None,
        0,
    );
    let digest = plan
        .stdout
        .split("digest ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .expect("plan -out names the digest")
        .to_string();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    let shown = project.ok(&["show", "p.json", "--json"], None, 0);
    assert!(shown.stdout.contains(&digest), "show carries the digest");
    let md = project.ok(&["show", "p.json", "--format", "markdown"], None, 0);
    let head: String = md.stdout.lines().take(4).collect::<Vec<_>>().join("\n");
    assert!(head.contains(&digest), "markdown's first lines: {head}");

    let before = snapshot(&project, &iam, &[&user]);
    let run = project.ok(
        &[
            "apply",
            "p.json",
            "--expect-digest",
            &format!("sha256:{}", "0".repeat(64)),
        ],
        None,
        5,
    );
    assert!(
        run.stderr.contains("not the plan that was reviewed"),
        "{}",
        run.stderr
    );
    // A copy that differs by one byte is another file.
    let mut text = std::fs::read_to_string(project.path("p.json")).unwrap();
    text.push('\n');
    std::fs::write(project.path("edited.json"), text).unwrap();
    let run = project.ok(
        &["apply", "edited.json", "--expect-digest", &digest],
        None,
        5,
    );
    assert!(
        run.stderr.contains("not the plan that was reviewed"),
        "{}",
        run.stderr
    );
    // Two days later the plan is stale for the default --max-plan-age of 24h.
    let run = project.ok(
        &["apply", "p.json", "--expect-digest", &digest],
        Some(days_from_now(2)),
        5,
    );
    assert!(
        run.stderr.contains("longer than --max-plan-age 1d"),
        "{}",
        run.stderr
    );
    assert_eq!(
        snapshot(&project, &iam, &[&user]),
        before,
        "refusals change nothing"
    );

    let run = project.ok(&["apply", "p.json", "--expect-digest", &digest], None, 0);
    assert!(
        run.stdout
            .starts_with(&format!("Plan file p.json (digest {digest})")),
        "{}",
        run.stdout
    );
    assert_eq!(
        live_keys(&iam, &user).len(),
        2,
        "the reviewed plan was applied"
    );
}
