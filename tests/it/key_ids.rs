//! Key ids as people see them: masked to the last four characters by default; in full in
//! text and JSON with `--show-key-ids` or `display { key_ids = "full" }`; in markdown (a
//! public PR comment) only with the flag. A display choice only: saved plans, their config
//! digest and what apply does are the same either way.

use crate::common::*;

fn config(user: &str, display: &str) -> String {
    format!(
        "{display}user \"{user}\" {{\n  access_key {{\n    deliver \"file\" {{\n      path = \"secrets/{user}.json\"\n    }}\n  }}\n}}\n"
    )
}

const FULL: &str = "display {\n  key_ids = \"full\"\n}\n";

fn masked(id: &str) -> String {
    let keep = id.len() - 4;
    format!("{}{}", "*".repeat(keep), &id[keep..])
}

/// Runs `args` and says whether stdout shows `id` in full (and checks it shows it at all).
fn shows_full(project: &Project, args: &[&str], id: &str) -> bool {
    let run = project.ok(args, None, 0);
    let full = run.stdout.contains(id);
    assert!(
        full || run.stdout.contains(&masked(id)),
        "keyrot {args:?} shows the key neither masked nor in full:\n{}",
        run.stdout
    );
    full
}

const TEXT_AND_JSON: [&[&str]; 5] = [
    &["plan"],
    &["plan", "--json"],
    &["status"],
    &["status", "--json"],
    &["show", "plan.json", "--json"],
];
const MARKDOWN: [&[&str]; 2] = [
    &["plan", "--format", "markdown"],
    &["show", "plan.json", "--format", "markdown"],
];

#[test]
fn key_ids_are_masked_by_default_and_shown_in_full_on_request() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("ids");
    let key = seed_user(&iam, &user);
    let project = Project::new(&moto.endpoint, &config(&user, ""));
    project.ok(&["plan", "-out", "plan.json"], None, 0);

    for args in TEXT_AND_JSON.iter().chain(&MARKDOWN) {
        assert!(
            !shows_full(&project, args, &key.id),
            "{args:?}: masked by default"
        );
        let mut flagged = args.to_vec();
        flagged.push("--show-key-ids");
        assert!(
            shows_full(&project, &flagged, &key.id),
            "{flagged:?}: in full"
        );
    }

    std::fs::write(project.path("keyrot.hcl"), config(&user, FULL)).unwrap();
    for args in TEXT_AND_JSON {
        assert!(
            shows_full(&project, args, &key.id),
            "{args:?}: display block"
        );
    }
    for args in MARKDOWN {
        assert!(
            !shows_full(&project, args, &key.id),
            "{args:?}: markdown stays masked without the flag"
        );
    }
    let v: serde_json::Value =
        serde_json::from_str(&project.ok(&["plan", "--json"], None, 0).stdout).unwrap();
    assert_matches_schema("plan.schema.json", &v);
}

#[test]
fn showing_full_ids_changes_no_saved_plan_and_no_apply() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("ids-saved");
    let key = seed_user(&iam, &user);
    let project = Project::new(&moto.endpoint, &config(&user, FULL));
    let read = |file: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(project.path(file)).unwrap()).unwrap()
    };

    // Made with full ids shown, applied after the display block is gone: the config digest
    // does not cover it, so the reviewed plan is still this config's plan.
    // Both plans for one instant, so they can be compared.
    let t0 = days_from_now(0) - chrono::Duration::minutes(1);
    let flagged = ["plan", "-out", "full.json", "--show-key-ids"];
    let made = project.ok(&flagged, Some(t0), 0);
    assert!(made.stdout.contains(&key.id), "{}", made.stdout);
    std::fs::write(project.path("keyrot.hcl"), config(&user, "")).unwrap();
    project.ok(&["plan", "-out", "masked.json"], Some(t0), 0);
    let (full, plain) = (read("full.json"), read("masked.json"));
    for field in ["config_digest", "iam_facts", "credential_sets", "now"] {
        assert_eq!(full[field], plain[field], "{field} differs");
    }
    assert!(
        full["credential_sets"].to_string().contains(&key.id),
        "plan files hold full ids"
    );

    let applied = project.ok(&["apply", "full.json"], Some(t0), 0);
    assert!(
        applied.stdout.contains("Apply complete!"),
        "{}",
        applied.stdout
    );
    assert!(!applied.stdout.contains(&key.id), "masked without the flag");
    assert!(applied.stdout.contains(&masked(&key.id)));

    // apply's own lines follow the choice too: the new key's id in full.
    let later = days_from_now(100);
    std::fs::write(project.path("keyrot.hcl"), config(&user, FULL)).unwrap();
    let rotated = project.ok(&["apply", "--auto-approve"], Some(later), 0);
    let live = live_keys(&iam, &user);
    let new = live
        .iter()
        .find(|(id, _)| *id != key.id)
        .expect("a new key");
    assert!(
        rotated.stdout.contains(&format!("created key {}", new.0)),
        "{}",
        rotated.stdout
    );
}
