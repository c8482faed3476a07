//! Network faults between keyrot and moto: throttling, 5xx, resets, latency and lost
//! responses. Rotations still converge to the same end state as a clean run, and no key
//! is ever left orphaned.

use crate::common::proxy::{Fault, Proxy};
use crate::common::*;
use chrono::{Duration, Utc};

fn config(user: &str, attempts: u32) -> String {
    users_config(&[user], attempts)
}

fn users_config(users: &[&str], attempts: u32) -> String {
    let mut text = format!("aws {{\n  max_attempts = {attempts}\n}}\n");
    for (i, user) in users.iter().enumerate() {
        let file = if i == 0 {
            "key".to_string()
        } else {
            format!("key-{i}")
        };
        text.push_str(&format!(
            "user \"{user}\" {{\n  access_key {{\n    deliver \"file\" {{\n      path = \"secrets/{file}.json\"\n    }}\n  }}\n}}\n"
        ));
    }
    text
}

fn sink_key_at(project: &Project, file: &str) -> String {
    let text =
        std::fs::read_to_string(project.path(&format!("secrets/{file}.json"))).expect("sink file");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["AccessKeyId"].as_str().unwrap().to_string()
}

/// Every live key keyrot made is tracked in state: nothing orphaned.
fn assert_no_orphans(project: &Project, iam: &aws_sdk_iam::Client, user: &str, seeded: &str) {
    let live = live_keys(iam, user);
    let state = std::fs::read_to_string(project.path("state/keyrot.json")).unwrap_or_default();
    for (id, _) in live.iter().filter(|(id, _)| id != seeded) {
        assert!(
            state.contains(id.as_str()),
            "orphaned key {id}: {live:?}\n{state}"
        );
    }
}

fn assert_converged(project: &Project, iam: &aws_sdk_iam::Client, user: &str, seeded: &str) {
    assert_converged_at(project, iam, user, seeded, "key");
}

fn assert_converged_at(
    project: &Project,
    iam: &aws_sdk_iam::Client,
    user: &str,
    seeded: &str,
    file: &str,
) {
    let key = sink_key_at(project, file);
    assert_ne!(key, seeded);
    assert_eq!(
        live_keys(iam, user),
        vec![(key.clone(), "Active".to_string())]
    );
    let state = project.state_json();
    let set = &state["credential_sets"][format!("user.{user}.access_key")];
    assert_eq!(set["phase"], "steady");
    assert_eq!(set["current"]["id"], key.as_str());
}

#[test]
fn rotation_completes_through_twenty_percent_faults() {
    let moto = Moto::shared();
    let faults = [
        Fault::Throttle,
        Fault::Status500,
        Fault::Status503,
        Fault::ResetBefore,
        Fault::Latency,
    ];
    let proxy = Proxy::start(&moto.endpoint, 0.2, &faults, 0x5eed);
    let iam = admin(&moto.endpoint);
    let users: Vec<String> = (0..6).map(|_| unique_user("faults")).collect();
    let names: Vec<&str> = users.iter().map(String::as_str).collect();
    let seeded: Vec<_> = users.iter().map(|u| seed_user(&iam, u)).collect();
    let project = Project::new(&proxy.endpoint, &users_config(&names, 10));
    let day0 = Utc::now() + Duration::days(100);
    for day in [0, 8, 16] {
        project.ok(
            &["apply", "--auto-approve"],
            Some(day0 + Duration::days(day)),
            0,
        );
        for (user, key) in users.iter().zip(&seeded) {
            assert_no_orphans(&project, &iam, user, &key.id);
        }
    }
    for (i, (user, key)) in users.iter().zip(&seeded).enumerate() {
        let file = if i == 0 {
            "key".to_string()
        } else {
            format!("key-{i}")
        };
        assert_converged_at(&project, &iam, user, &key.id, &file);
    }
    let injected = proxy.injected.lock().unwrap().clone();
    let requests = proxy.requests.load(std::sync::atomic::Ordering::Relaxed);
    println!("faults injected: {injected:?} over {requests} requests");
    assert!(
        proxy.total_injected() >= 8,
        "too few faults to mean anything: {injected:?}"
    );
}

#[test]
fn lost_responses_never_orphan_a_key() {
    let moto = Moto::shared();
    let proxy = Proxy::start(&moto.endpoint, 0.3, &[Fault::LoseResponse], 0xdead);
    let iam = admin(&moto.endpoint);
    let user = unique_user("lost");
    let seeded = seed_user(&iam, &user);
    let project = Project::new(&proxy.endpoint, &config(&user, 4));
    let day0 = Utc::now() + Duration::days(100);
    let mut failures = 0;
    for day in [0, 8, 16] {
        let now = day0 + Duration::days(day);
        let mut tries = 0;
        loop {
            tries += 1;
            let run = project.run(&["apply", "--auto-approve"], Some(now));
            assert_no_orphans(&project, &iam, &user, &seeded.id);
            if run.code == 0 {
                break;
            }
            failures += 1;
            assert_eq!(run.code, 1, "{}", run.stderr);
            assert!(run.stderr.contains("Error:"), "{}", run.stderr);
            assert!(tries < 15, "apply never got through: {}", run.stderr);
        }
    }
    assert_converged(&project, &iam, &user, &seeded.id);
    println!(
        "lost responses: {} of {} requests; {failures} applies failed and were re-run",
        proxy.total_injected(),
        proxy.requests.load(std::sync::atomic::Ordering::Relaxed)
    );
    assert!(proxy.total_injected() > 0);
}

#[test]
fn exhausted_retries_stop_cleanly_with_state_untouched() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("exhaust");
    let seeded = seed_user(&iam, &user);
    let mut clean = Project::new(&moto.endpoint, &config(&user, 2));
    let now = Utc::now() + Duration::days(10);
    clean.ok(&["apply", "--auto-approve"], Some(now), 0);
    let state_before = std::fs::read(clean.path("state/keyrot.json")).unwrap();

    let proxy = Proxy::start(&moto.endpoint, 1.0, &[Fault::Status503], 7);
    clean.endpoint = proxy.endpoint.clone();
    let run = clean.run(&["apply", "--auto-approve"], Some(now + Duration::days(90)));
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("Error:") && run.stderr.contains("503"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read(clean.path("state/keyrot.json")).unwrap(),
        state_before
    );
    assert_eq!(
        live_keys(&iam, &user),
        vec![(seeded.id.clone(), "Active".to_string())]
    );
    assert!(
        !clean.path("state/keyrot.json.lock").exists(),
        "lock released after a failure"
    );

    // Throttling is recognised and retried: max_attempts = 2 means exactly two requests.
    let throttled = Proxy::start(&moto.endpoint, 1.0, &[Fault::Throttle], 9);
    clean.endpoint = throttled.endpoint.clone();
    let run = clean.run(&["plan"], Some(now));
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("Rate exceeded"), "{}", run.stderr);
    assert_eq!(
        throttled
            .requests
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
}
