//! `keyrot audit` and plan findings from the IAM credential report, against moto.

use crate::common::*;
use chrono::Duration;

#[test]
fn audit_reports_a_120_day_old_key_and_changes_nothing() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("audit");
    let seeded = seed_user(&iam, &user);
    let project = Project::new(&moto.endpoint, "");
    let later = chrono::Utc::now() + Duration::days(120);

    let run = project.ok(&["audit", "--json"], Some(later), 0);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let mine: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["user"] == user.as_str())
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    assert_eq!(mine, ["key_too_old", "key_unused"], "{}", run.stdout);
    // Today the same key is fine.
    let today = project.ok(&["audit", "--json"], None, 0);
    assert!(!today.stdout.contains(&user), "{}", today.stdout);
    let text = project.ok(
        &["audit", "--max-age", "30d"],
        Some(chrono::Utc::now() + Duration::days(40)),
        0,
    );
    assert!(
        text.stdout
            .contains(&format!("{user}: active access key 1 is 40d")),
        "{}",
        text.stdout
    );
    assert_eq!(
        live_keys(&iam, &user),
        vec![(seeded.id.clone(), "Active".to_string())]
    );

    // plan's findings are about what keyrot does not manage: the declared user's key, which
    // the plan shows with its own age and schedule, is not among them; findings never act.
    std::fs::write(
        project.path("keyrot.hcl"),
        format!("user \"{user}\" {{\n  access_key {{\n    max_age = \"200d\"\n    deliver \"file\" {{\n      path = \"k.json\"\n    }}\n  }}\n}}\n"),
    )
    .unwrap();
    let plan = project.ok(&["plan", "--json"], Some(later), 0);
    let v: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    assert_matches_schema("plan.schema.json", &v);
    let users: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["user"].as_str().unwrap())
        .collect();
    assert!(
        !users.contains(&user.as_str()),
        "a managed key in findings: {users:?}"
    );
    assert_eq!(v["summary"]["create"], 0, "findings never plan anything");
    // An unmanaged user of the account is still a finding.
    let other = unique_user("audit-unmanaged");
    seed_user(&iam, &other);
    let plan = project.ok(&["plan", "--json"], Some(later), 0);
    assert!(plan.stdout.contains(&other), "{}", plan.stdout);
}
