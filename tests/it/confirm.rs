//! Step 4 by machine, against moto with the real binary: the old key waits for the new one
//! to be used (`require_new_key_use`), confirm checks run after the deactivation and before
//! the delete, and a failing check reverts the set in the same run.

use crate::common::http_server::HttpServer;
use crate::common::*;
use crate::sinks::{put_key_secret, secret_value};
use chrono::{DateTime, Duration, Utc};

/// A set with a file sink and the given extra lines in its `access_key` block.
fn config(user: &str, extra: &str) -> String {
    format!(
        r#"user "{user}" {{
  access_key {{
    deliver "file" {{
      path = "secrets/{user}.json"
    }}
{extra}
  }}
}}
"#
    )
}

fn delivered(project: &Project, user: &str) -> (String, String) {
    let text = std::fs::read_to_string(project.path(&format!("secrets/{user}.json"))).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    (
        json["AccessKeyId"].as_str().unwrap().to_string(),
        json["SecretAccessKey"].as_str().unwrap().to_string(),
    )
}

fn set_state(project: &Project, user: &str) -> serde_json::Value {
    project.state_json()["credential_sets"][format!("user.{user}.access_key")].clone()
}

#[test]
fn the_old_key_is_switched_off_only_after_the_delivered_key_is_used() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("newuse");
    let old = seed_user(&iam, &user);
    let project = Project::new(
        &moto.endpoint,
        &config(&user, "    require_new_key_use = true"),
    );
    let day0 = days_from_now(100);
    project.ok(&["apply", "--auto-approve"], Some(day0), 0);
    let (new_id, new_secret) = delivered(&project, &user);
    let set = set_state(&project, &user);
    let delivery: DateTime<Utc> = set["current"]["delivered"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // On the real (IAM's) clock, though keyrot's clock was moved 100 days on.
    assert!((delivery - Utc::now()).num_seconds().abs() < 120, "{set}");

    // Overlap and unused_for long past, the old key never used: only the new key's use is
    // missing (keyrot's own STS proof signed with it before delivery, and does not count).
    let later = day0 + Duration::days(8);
    let plan = project.ok(&["plan", "--detailed-exitcode"], Some(later), 3);
    assert!(
        plan.stdout.contains("not used since its delivery at"),
        "{}",
        plan.stdout
    );
    let json = project.ok(&["plan", "--json"], Some(later), 0);
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_matches_schema("plan.schema.json", &json);
    assert_eq!(
        json["credential_sets"][0]["waits"][0]["reason_code"],
        "new_key_unused"
    );
    project.ok(&["apply", "--auto-approve"], Some(later), 0);
    assert!(live_keys(&iam, &user).contains(&(old.id.clone(), "Active".into())));
    // status shows the new key's last use (the proof's, as IAM records it).
    let status = project.ok(&["status"], Some(later), 0);
    let line = status
        .stdout
        .lines()
        .find(|l| l.contains(&new_id[new_id.len() - 4..]))
        .unwrap();
    assert!(
        line.contains("last used") && !line.contains("never"),
        "{line}"
    );

    // A consumer signs with the delivered key, past the margin after delivery.
    let wait = delivery + Duration::seconds(32) - Utc::now();
    if let Ok(wait) = wait.to_std() {
        std::thread::sleep(wait);
    }
    assert_eq!(
        whoami(&moto.endpoint, &new_id, &new_secret).as_deref(),
        Ok(user.as_str())
    );
    let run = project.ok(&["apply", "--auto-approve"], Some(later), 0);
    assert!(run.stdout.contains("is now Inactive"), "{}", run.stdout);
    assert!(live_keys(&iam, &user).contains(&(old.id.clone(), "Inactive".into())));
    project.assert_secret_nowhere(&new_secret, &[&format!("secrets/{user}.json")]);
}

/// An exec check that passes while `healthy` exists in the project, records the
/// environment it was given, and on failure prints the delivered credentials file (as a
/// careless smoke test might): keyrot masks the secret in what it shows and keeps.
const SMOKE: &str = r#"    confirm "exec" {
      command = ["sh", "-c", "env > check-env.txt; test -e healthy || { echo 'GET /orders: 503'; cat secrets/*.json; exit 1; }"]
      timeout = "30s"
    }"#;

#[test]
fn a_failing_exec_check_reverts_in_the_same_apply_and_resume_completes() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("confirmexec");
    let old = seed_user(&iam, &user);
    let project = Project::new(&moto.endpoint, &config(&user, SMOKE));
    let address = format!("user.{user}.access_key");
    let day0 = days_from_now(100);
    project.ok(&["apply", "--auto-approve"], Some(day0), 0);
    let (new_id, new_secret) = delivered(&project, &user);

    // Day 8: the deactivation, then the check in the same apply: it fails, so the old
    // key is reactivated at once, the set held, and the exit code says so.
    let day8 = day0 + Duration::days(8);
    let run = project.ok(&["apply", "--auto-approve"], Some(day8), 8);
    assert!(run.stdout.contains("is now Inactive"), "{}", run.stdout);
    assert!(
        run.stderr.contains("confirm check failed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("check exec sh failed"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("GET /orders: 503"), "{}", run.stderr);
    assert!(
        run.stderr.contains("\"SecretAccessKey\": \"[REDACTED]\""),
        "{}",
        run.stderr
    );
    assert_eq!(
        live_keys(&iam, &user),
        sorted(vec![
            (old.id.clone(), "Active".into()),
            (new_id.clone(), "Active".into())
        ])
    );
    let set = set_state(&project, &user);
    assert_eq!(set["phase"], "held", "{set}");
    assert_eq!(set["confirm"][0]["passed"], false, "{set}");
    // The check ran with no secret and no AWS credentials.
    let env = std::fs::read_to_string(project.path("check-env.txt")).unwrap();
    assert!(
        !env.contains("AWS_ACCESS_KEY_ID") && !env.contains("AWS_SECRET_ACCESS_KEY"),
        "{env}"
    );
    assert!(
        !env.contains(&new_secret) && !env.contains("testing"),
        "{env}"
    );

    // Held until a person acts: later plans and applies say so (exit 7) and delete nothing.
    let later = day0 + Duration::days(20);
    let plan = project.ok(&["plan", "--detailed-exitcode"], Some(later), 7);
    assert!(
        plan.stdout.contains("confirm check failed"),
        "{}",
        plan.stdout
    );
    project.ok(&["apply", "--auto-approve"], Some(later), 7);
    assert_eq!(live_keys(&iam, &user).len(), 2);
    let status = project.ok(&["status"], Some(later), 0);
    assert!(
        status.stdout.contains("check exec sh: FAILED"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("| GET /orders: 503"),
        "{}",
        status.stdout
    );

    // Fixed: resume, and the rotation goes through its checks to the end.
    std::fs::write(project.path("healthy"), "").unwrap();
    project.ok(&["resume", &address], Some(later), 0);
    let run = project.ok(&["apply", "--auto-approve"], Some(later), 0);
    assert!(
        run.stdout.contains("1 confirm check(s) passed"),
        "{}",
        run.stdout
    );
    let done = project.ok(
        &["apply", "--auto-approve"],
        Some(later + Duration::days(8)),
        0,
    );
    assert!(done.stdout.contains("deleted key"), "{}", done.stdout);
    assert_eq!(
        live_keys(&iam, &user),
        vec![(new_id.clone(), "Active".into())]
    );
    project.assert_secret_nowhere(&new_secret, &[&format!("secrets/{user}.json")]);
}

fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
    v.sort();
    v
}

#[test]
fn an_http_check_lets_the_delete_happen_and_a_failing_one_reverts_before_it() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let server = HttpServer::start();
    let user = unique_user("confirmhttp");
    let old = seed_user(&iam, &user);
    // Secrets Manager holds the seeded key, so a revert can put it back from AWSPREVIOUS.
    let secret_id = format!("keyrot/{user}");
    put_key_secret(&moto.endpoint, &secret_id, &old);
    let extra = format!(
        "    deliver \"secrets_manager\" {{\n      secret_id = \"{secret_id}\"\n    }}\n    \
         confirm \"http\" {{\n      url    = \"{}/health\"\n      status = 200\n    }}",
        server.url
    );
    let project = Project::new(&moto.endpoint, &config(&user, &extra));
    let day0 = days_from_now(100);

    // A passing check lets the rotation finish: create, deactivate + check, check + delete.
    project.ok(&["apply", "--auto-approve"], Some(day0), 0);
    let (first, _) = delivered(&project, &user);
    let run = project.ok(
        &["apply", "--auto-approve"],
        Some(day0 + Duration::days(8)),
        0,
    );
    assert!(
        run.stdout.contains("1 confirm check(s) passed"),
        "{}",
        run.stdout
    );
    let run = project.ok(
        &["apply", "--auto-approve"],
        Some(day0 + Duration::days(16)),
        0,
    );
    assert!(run.stdout.contains("deleted key"), "{}", run.stdout);
    assert_eq!(
        live_keys(&iam, &user),
        vec![(first.clone(), "Active".into())]
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen
        .iter()
        .all(|s| s.method == "GET" && s.path == "/health"));

    // The next rotation: the check passes after the deactivation…
    let day100 = day0 + Duration::days(100);
    project.ok(&["apply", "--auto-approve"], Some(day100), 0);
    let (second, second_secret) = delivered(&project, &user);
    project.ok(
        &["apply", "--auto-approve"],
        Some(day100 + Duration::days(8)),
        0,
    );
    // …and fails on the run that would delete: revert before the delete.
    server.answer(500, "database down");
    let run = project.ok(
        &["apply", "--auto-approve"],
        Some(day100 + Duration::days(16)),
        8,
    );
    let origin = server.url.clone();
    assert!(
        run.stderr.contains(&format!("check http {origin} failed")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("answered HTTP 500 (expected 200)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("database down"), "{}", run.stderr);
    assert!(!run.stdout.contains("deleted key"), "{}", run.stdout);
    assert_eq!(
        live_keys(&iam, &user),
        sorted(vec![
            (first.clone(), "Active".into()),
            (second.clone(), "Active".into())
        ])
    );
    // Consumers reading Secrets Manager are back on the old key (as `keyrot rollback` does).
    let current = secret_value(&moto.endpoint, &secret_id, "AWSCURRENT").unwrap();
    assert!(current.contains(&first), "{current}");
    assert!(
        run.stderr.contains("restored the previous key"),
        "{}",
        run.stderr
    );

    // Every rendering shows the check and its last result.
    let later = day100 + Duration::days(17);
    let json = project.ok(&["plan", "--json"], Some(later), 0);
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_matches_schema("plan.schema.json", &json);
    let check = &json["credential_sets"][0]["checks"][0];
    assert_eq!(check["check"], format!("http {origin}"));
    assert_eq!(check["last_run"]["passed"], false, "{check}");
    assert!(check["last_run"]["last_passed"].is_string(), "{check}");
    let markdown = project.ok(&["plan", "--format", "markdown"], Some(later), 0);
    assert!(
        markdown
            .stdout
            .contains(&format!("check `http {origin}`: ❌ **failed**")),
        "{}",
        markdown.stdout
    );
    let status = project.ok(&["status", "--json"], Some(later), 0);
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(
        status["credential_sets"][0]["checks"][0]["last_run"]["passed"],
        false
    );
    project.assert_secret_nowhere(&second_secret, &[&format!("secrets/{user}.json")]);
}
