//! The S3 state backend on moto: a lease that lets exactly one of many runs proceed,
//! killed runs taken over after their lease with no person, fencing of a run that lost its
//! lease, and migration local → S3 → local keeping lineage and serial.

use crate::common::proxy::{Fault, Proxy};
use crate::common::*;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

pub(crate) fn s3(endpoint: &str) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// A new bucket with versioning on (a DNS-valid name, unique per test).
pub(crate) fn bucket(endpoint: &str) -> String {
    let name = unique_user("kr-state").to_lowercase();
    let client = s3(endpoint);
    rt().block_on(async {
        client
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .expect("create bucket");
        let on = aws_sdk_s3::types::VersioningConfiguration::builder()
            .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
            .build();
        client
            .put_bucket_versioning()
            .bucket(&name)
            .versioning_configuration(on)
            .send()
            .await
            .expect("versioning");
    });
    name
}

/// The object's text, if there is one.
pub(crate) fn object(endpoint: &str, bucket: &str, key: &str) -> Option<String> {
    let client = s3(endpoint);
    rt().block_on(async {
        let out = client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .ok()?;
        let bytes = out.body.collect().await.ok()?.into_bytes();
        Some(String::from_utf8_lossy(&bytes).into_owned())
    })
}

fn s3_state(endpoint: &str, bucket: &str) -> serde_json::Value {
    let text = object(endpoint, bucket, "prod/keyrot.json").expect("state object");
    serde_json::from_str(&text).expect("state parses")
}

pub(crate) fn backend(bucket: &str, s3_endpoint: &str, lease: &str) -> String {
    format!(
        "backend \"s3\" {{\n  bucket = \"{bucket}\"\n  key = \"prod/keyrot.json\"\n  endpoint_url = \"{s3_endpoint}\"\n  lock_lease = \"{lease}\"\n}}\n"
    )
}

fn users(names: &[String]) -> String {
    names
        .iter()
        .map(|u| {
            format!("user \"{u}\" {{\n  access_key {{\n    deliver \"file\" {{\n      path = \"secrets/{u}.json\"\n    }}\n  }}\n}}\n")
        })
        .collect()
}

fn sink_key(project: &Project, user: &str) -> Option<String> {
    let text = std::fs::read_to_string(project.path(&format!("secrets/{user}.json"))).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["AccessKeyId"].as_str().map(str::to_string)
}

/// Every live key is tracked in the S3 state, and the sink's key is Active.
fn assert_converged(project: &Project, iam: &aws_sdk_iam::Client, bucket: &str, user: &str) {
    let state = s3_state(&project.endpoint_s3(), bucket);
    assert_matches_schema("state.schema.json", &state);
    let set = &state["credential_sets"][format!("user.{user}.access_key")];
    let tracked: Vec<&str> = ["current", "previous"]
        .iter()
        .filter_map(|r| set[r]["id"].as_str())
        .collect();
    let live = live_keys(iam, user);
    for (id, _) in &live {
        assert!(
            tracked.contains(&id.as_str()),
            "orphaned key {id}: {live:?} vs {set}"
        );
    }
    if let Some(id) = sink_key(project, user) {
        assert!(
            live.iter().any(|(k, s)| *k == id && s == "Active"),
            "the delivered key {id} is not Active: {live:?}"
        );
    }
    // No secret in the backend's objects, nor in anything keyrot printed or wrote locally.
    if let Some(secret) = sink_secret(project, user) {
        for key in [
            "prod/keyrot.json",
            "prod/keyrot.json.journal",
            "prod/keyrot.json.lock",
        ] {
            let text = object(&project.endpoint_s3(), bucket, key).unwrap_or_default();
            assert!(
                !text.contains(&secret),
                "secret leaked into s3://{bucket}/{key}"
            );
        }
        project.assert_secret_nowhere(&secret, &[&format!("secrets/{user}.json")]);
    }
}

fn sink_secret(project: &Project, user: &str) -> Option<String> {
    let text = std::fs::read_to_string(project.path(&format!("secrets/{user}.json"))).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["SecretAccessKey"].as_str().map(str::to_string)
}

trait S3Endpoint {
    fn endpoint_s3(&self) -> String;
}

impl S3Endpoint for Project {
    /// Tests talk to S3 on moto directly (IAM may go through a proxy).
    fn endpoint_s3(&self) -> String {
        Moto::shared().endpoint.clone()
    }
}

fn spawn(project: &Project, args: &[&str], now: chrono::DateTime<chrono::Utc>) -> Child {
    project
        .command(args, Some(now))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn keyrot")
}

fn finish(child: Child) -> Run {
    let out = child.wait_with_output().expect("wait");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success(), "kill {sig}");
}

/// Whether the process is stopped (SIGSTOP): state `T` in /proc.
fn stopped(child: &Child) -> bool {
    std::fs::read_to_string(format!("/proc/{}/stat", child.id()))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('T'))
        })
        .unwrap_or(false)
}

#[test]
fn eight_concurrent_applies_exactly_one_proceeds() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    // IAM answers slowly, so the winner is still running when the others try.
    let proxy = Proxy::start(&moto.endpoint, 1.0, &[Fault::Latency], 7);
    let names: Vec<String> = (0..3).map(|_| unique_user("s3race")).collect();
    let seeded: Vec<SeededKey> = names.iter().map(|u| seed_user(&iam, u)).collect();
    let bucket = bucket(&moto.endpoint);
    let config = format!(
        "{}{}",
        backend(&bucket, &moto.endpoint, "30s"),
        users(&names)
    );
    let project = Project::new(&proxy.endpoint, &config);
    project.ok(&["apply", "--auto-approve"], None, 0);
    let before = s3_state(&moto.endpoint, &bucket)["serial"]
        .as_u64()
        .unwrap();

    let due = days_from_now(100);
    let started = Instant::now();
    let children: Vec<Child> = (0..8)
        .map(|_| spawn(&project, &["apply", "--auto-approve"], due))
        .collect();
    let runs: Vec<Run> = children.into_iter().map(finish).collect();
    let took = started.elapsed();
    let winners: Vec<&Run> = runs.iter().filter(|r| r.code == 0).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one proceeds: {:#?}",
        codes(&runs)
    );
    for loser in runs.iter().filter(|r| r.code != 0) {
        assert_eq!(loser.code, 4, "locked exit code\n{}", loser.stderr);
        assert!(
            loser.stderr.contains("state is locked by `keyrot apply`")
                && loser.stderr.contains("pid"),
            "names the holder: {}",
            loser.stderr
        );
    }
    for (user, old) in names.iter().zip(&seeded) {
        let live = live_keys(&iam, user);
        assert_eq!(live.len(), 2, "one new key for {user}: {live:?}");
        assert!(live.iter().any(|(k, _)| *k == old.id));
    }
    let done = winners[0].stdout.matches(": created key").count();
    assert_eq!(done, 3, "{}", winners[0].stdout);
    let after = s3_state(&moto.endpoint, &bucket)["serial"]
        .as_u64()
        .unwrap();
    // Steps that finish together share one write (group commit): at most one per step.
    let writes = after - before;
    assert!(
        (1..=done as u64).contains(&writes),
        "serial moved by {writes} for {done} steps"
    );
    assert!(
        object(&moto.endpoint, &bucket, "prod/keyrot.json.lock").is_none(),
        "released"
    );
    eprintln!("8 concurrent applies on S3 took {took:?}");
}

fn codes(runs: &[Run]) -> Vec<(i32, String)> {
    runs.iter()
        .map(|r| {
            (
                r.code,
                r.stderr.lines().next().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_killed_apply_is_taken_over_after_its_lease_with_no_person() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let proxy = Proxy::start(&moto.endpoint, 1.0, &[Fault::Latency], 11);
    // Kill moments spread over a slow apply (each IAM call takes 250 ms more).
    let mut killed_mid_run = 0;
    for (round, kill_after_ms) in [250u64, 500, 750, 1000, 1250].into_iter().enumerate() {
        let user = unique_user("s3kill");
        seed_user(&iam, &user);
        let bucket = bucket(&moto.endpoint);
        let config = format!(
            "{}{}",
            backend(&bucket, &moto.endpoint, "2s"),
            users(std::slice::from_ref(&user))
        );
        let project = Project::new(&proxy.endpoint, &config);
        project.ok(&["apply", "--auto-approve"], None, 0);
        let due = days_from_now(100);
        let mut child = spawn(&project, &["apply", "--auto-approve"], due);
        std::thread::sleep(Duration::from_millis(kill_after_ms));
        child.kill().expect("SIGKILL");
        let killed = finish(child);
        // After the lease, the next run goes on by itself and converges.
        std::thread::sleep(Duration::from_millis(2500));
        let next = project.ok(&["apply", "--auto-approve"], Some(due), 0);
        let took_over = next.stderr.contains("took over the lock");
        assert_converged(&project, &iam, &bucket, &user);
        let live = live_keys(&iam, &user);
        assert_eq!(
            live.len(),
            2,
            "round {round}: rotated once: {live:?}\n{}",
            next.stdout
        );
        assert!(
            sink_key(&project, &user).is_some(),
            "round {round}: delivered"
        );
        eprintln!(
            "round {round}: killed after {kill_after_ms} ms (exit {}), next run took over: {took_over}",
            killed.code
        );
        killed_mid_run += usize::from(killed.code == -1);
    }
    assert!(killed_mid_run >= 3, "most rounds must kill a running apply");
}

#[test]
fn a_paused_apply_that_lost_its_lease_is_fenced_off() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("s3fence");
    let old = seed_user(&iam, &user);
    let bucket = bucket(&moto.endpoint);
    let config = format!(
        "{}{}",
        backend(&bucket, &moto.endpoint, "2s"),
        users(std::slice::from_ref(&user))
    );
    let project = Project::new(&moto.endpoint, &config);
    project.ok(&["apply", "--auto-approve"], None, 0);
    let due = days_from_now(100);
    // A stops itself just before journaling its create (as a debugger or SIGSTOP would).
    let mut cmd = project.command(&["apply", "--auto-approve"], Some(due));
    cmd.env("KEYROT_PAUSE_AT", "before-journal-write")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let paused = cmd.spawn().expect("spawn");
    let waited = Instant::now();
    while !stopped(&paused) {
        assert!(waited.elapsed() < Duration::from_secs(30), "never paused");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(2500));
    let second = project.ok(&["apply", "--auto-approve"], Some(due), 0);
    assert!(
        second.stderr.contains("took over the lock"),
        "{}",
        second.stderr
    );
    let state_after_second = object(&moto.endpoint, &bucket, "prod/keyrot.json").unwrap();
    let keys_after_second = live_keys(&iam, &user);
    assert_eq!(keys_after_second.len(), 2, "{keys_after_second:?}");
    signal(&paused, "-CONT");
    let first = finish(paused);
    assert_eq!(first.code, 1, "{}\n{}", first.stdout, first.stderr);
    assert!(first.stderr.contains("lost the lock"), "{}", first.stderr);
    assert_eq!(
        live_keys(&iam, &user),
        keys_after_second,
        "no IAM call after resuming"
    );
    assert_eq!(
        object(&moto.endpoint, &bucket, "prod/keyrot.json").unwrap(),
        state_after_second,
        "the fenced run wrote nothing"
    );
    assert!(keys_after_second.iter().any(|(k, _)| *k == old.id));
    assert_converged(&project, &iam, &bucket, &user);
}

#[test]
fn migration_local_to_s3_and_back_keeps_lineage_and_serial() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("s3move");
    seed_user(&iam, &user);
    let project = Project::new(&moto.endpoint, &users(std::slice::from_ref(&user)));
    project.ok(&["apply", "--auto-approve"], None, 0);
    project.ok(&["plan", "-out", "local.plan"], None, 0);
    let local = project.state_json();
    let (lineage, serial) = (local["lineage"].clone(), local["serial"].clone());

    let bucket = bucket(&moto.endpoint);
    let s3_config = format!(
        "{}{}",
        backend(&bucket, &moto.endpoint, "30s"),
        users(std::slice::from_ref(&user))
    );
    std::fs::write(project.path("keyrot.hcl"), &s3_config).unwrap();
    project.ok(&["state", "push", "state/keyrot.json"], None, 0);
    let remote = s3_state(&moto.endpoint, &bucket);
    assert_eq!((&remote["lineage"], &remote["serial"]), (&lineage, &serial));
    let pulled = project.ok(&["state", "pull"], None, 0).stdout;
    let pulled: serde_json::Value = serde_json::from_str(&pulled).expect("pull prints the state");
    assert_eq!(pulled, remote);
    // A plan made against the local file is refused against the S3 backend.
    let refused = project.ok(&["apply", "local.plan"], None, 5);
    assert!(refused.stderr.contains("s3://"), "{}", refused.stderr);

    // A foreign lineage, or an older serial, is refused; nothing changes.
    let mut foreign = local.clone();
    foreign["lineage"] = "00000000-0000-4000-8000-000000000000".into();
    std::fs::write(project.path("foreign.json"), foreign.to_string()).unwrap();
    let run = project.ok(&["state", "push", "foreign.json"], None, 1);
    assert!(
        run.stderr.contains("refusing to push") && run.stderr.contains("lineage"),
        "{}",
        run.stderr
    );
    assert_eq!(s3_state(&moto.endpoint, &bucket), remote);

    // Back to the local file.
    std::fs::remove_file(project.path("state/keyrot.json")).unwrap();
    std::fs::write(
        project.path("keyrot.hcl"),
        users(std::slice::from_ref(&user)),
    )
    .unwrap();
    std::fs::write(
        project.path("pulled.json"),
        serde_json::to_string_pretty(&pulled).unwrap(),
    )
    .unwrap();
    project.ok(&["state", "push", "pulled.json"], None, 0);
    let back = project.state_json();
    assert_eq!((&back["lineage"], &back["serial"]), (&lineage, &serial));
    // Nothing to do (3: only waiting steps): the local file is the state it was.
    project.ok(&["plan", "--detailed-exitcode"], None, 3);
}
