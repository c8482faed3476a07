//! Reading IAM at fleet scale: the concurrency limit adapts to Throttling (through the
//! fault proxy, random and rate-limited like IAM's per-account token bucket), and the
//! progress bar shows on a terminal only.

use crate::common::proxy::{Bucket, Fault, Options, Proxy};
use crate::common::*;
use aws_config::retry::RetryConfig;
use aws_config::BehaviorVersion;
use aws_sdk_iam::config::{Credentials, Region};
use keyrot::adapters::aws::AwsIam;
use keyrot::adapters::iam::Iam;
use keyrot::core::concurrency::Aimd;
use keyrot::core::model::{Address, CredentialKind};
use keyrot::ops::inventory::Reader;
use std::time::{Duration, Instant};

/// keyrot's IAM adapter, in this process, through `endpoint`.
fn iam_through(endpoint: &str, attempts: u32) -> AwsIam {
    rt().block_on(async {
        let shared = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .retry_config(RetryConfig::standard().with_max_attempts(attempts))
            .load()
            .await;
        AwsIam::new(&shared)
    })
}

fn access_keys(users: &[String]) -> Vec<Address> {
    users
        .iter()
        .map(|u| Address {
            account: None,
            user: u.clone(),
            kind: CredentialKind::AccessKey,
        })
        .collect()
}

#[test]
fn reads_adapt_to_twenty_percent_throttling_and_see_every_throttled_attempt() {
    let moto = Moto::shared();
    let admin = admin(&moto.endpoint);
    let users: Vec<String> = (0..40).map(|_| unique_user("throttled")).collect();
    let seeded: Vec<_> = users.iter().map(|u| seed_user(&admin, u)).collect();
    let proxy = Proxy::start(&moto.endpoint, 0.2, &[Fault::Throttle], 0x7407);
    let iam = iam_through(&proxy.endpoint, 10);
    let mut reader = Reader::new(&iam, 32);
    let sets = access_keys(&users);
    let inventory = rt()
        .block_on(reader.credentials(&sets))
        .expect("plan reads");
    for (set, key) in sets.iter().zip(&seeded) {
        let keys = inventory.credentials(set).expect("user exists");
        assert_eq!(keys.len(), 1, "{set}");
        assert_eq!(keys[0].id.0, key.id);
    }
    println!(
        "20 % Throttling: {} of {} requests throttled; the limit was cut {} times, ended at {}",
        proxy.throttled(),
        proxy.requests.load(std::sync::atomic::Ordering::Relaxed),
        reader.limit().decreases(),
        reader.limit().limit()
    );
    assert!(proxy.throttled() >= 4, "too few to mean anything");
    assert_eq!(
        iam.throttled(),
        u64::from(proxy.throttled()),
        "every throttled attempt, retries included, reaches the limit"
    );
    assert!(reader.limit().decreases() > 0);
}

/// Reads `sets` through a fresh rate-limited proxy: (throttled requests, time taken).
fn read_through_a_bucket(sets: &[Address], limit: Aimd) -> (u32, Duration) {
    let options = Options {
        bucket: Some(Bucket {
            per_second: 100.0,
            burst: 10.0,
        }),
        delay: Duration::from_millis(20),
        ..Options::default()
    };
    let proxy = Proxy::launch(&Moto::shared().endpoint, options);
    let iam = iam_through(&proxy.endpoint, 20);
    let mut reader = Reader::with_limit(&iam, limit);
    let started = Instant::now();
    let read = rt().block_on(reader.credentials(sets));
    let took = started.elapsed();
    let inventory = read.expect("the reads complete");
    assert_eq!(inventory.credentials.len(), sets.len());
    (proxy.throttled(), took)
}

#[test]
fn adaptive_concurrency_is_throttled_less_than_a_fixed_high_one() {
    let moto = Moto::shared();
    let admin = admin(&moto.endpoint);
    let users: Vec<String> = (0..120).map(|_| unique_user("bucket")).collect();
    rt().block_on(async {
        for user in &users {
            admin.create_user().user_name(user).send().await.unwrap();
        }
    });
    let sets = access_keys(&users);
    let (fixed, fixed_took) = read_through_a_bucket(&sets, Aimd::fixed(48));
    let (adaptive, adaptive_took) = read_through_a_bucket(&sets, Aimd::new(48));
    println!(
        "{} reads against 100 calls/s (burst 10), 20 ms away: fixed 48 in flight: {fixed} \
         throttled, {fixed_took:.1?}; adaptive (cap 48): {adaptive} throttled, {adaptive_took:.1?}",
        sets.len()
    );
    assert!(
        adaptive < fixed,
        "adaptive {adaptive} throttled, fixed {fixed}"
    );
}

#[test]
fn plan_completes_through_twenty_percent_throttling() {
    let moto = Moto::shared();
    let admin = admin(&moto.endpoint);
    let users: Vec<String> = (0..30).map(|_| unique_user("planthrottle")).collect();
    for user in &users {
        seed_user(&admin, user);
    }
    let proxy = Proxy::start(&moto.endpoint, 0.2, &[Fault::Throttle], 0x91a4);
    let mut config = "aws {\n  max_attempts = 10\n}\n".to_string();
    for user in &users {
        config.push_str(&format!(
            "user \"{user}\" {{\n  access_key {{\n    deliver \"file\" {{\n      path = \"secrets/{user}.json\"\n    }}\n  }}\n}}\n"
        ));
    }
    let project = Project::new(&proxy.endpoint, &config);
    let run = project.ok(&["plan", "--json", "--parallelism", "16"], None, 0);
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).expect("json plan");
    let planned = plan["credential_sets"].as_array().expect("sets").len();
    println!(
        "plan of {planned} sets: {} of {} requests throttled",
        proxy.throttled(),
        proxy.requests.load(std::sync::atomic::Ordering::Relaxed)
    );
    assert_eq!(planned, users.len());
    assert!(proxy.throttled() > 0);
    assert!(!run.stderr.contains("Reading IAM"), "no bar off a terminal");
}

#[test]
fn reading_iam_shows_a_bar_on_a_terminal_only() {
    let moto = Moto::shared();
    let admin = admin(&moto.endpoint);
    let user = unique_user("bar");
    seed_user(&admin, &user);
    let config = format!(
        "user \"{user}\" {{\n  access_key {{\n    deliver \"file\" {{\n      path = \"secrets/k.json\"\n    }}\n  }}\n}}\n"
    );
    let project = Project::new(&moto.endpoint, &config);
    let plain = project.ok(&["plan"], None, 0);
    assert!(!plain.stderr.contains("Reading IAM"), "{}", plain.stderr);
    let mut plan = project.command(&["plan"], None);
    // indicatif, like most tools, draws nothing on a terminal without TERM (or `dumb`).
    plan.env("TERM", "xterm");
    let out = under_a_terminal(&plan).output().expect("script");
    let seen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{seen}");
    assert!(seen.contains("Reading IAM"), "{seen}");
    assert!(seen.contains(&format!("user.{user}.access_key")), "{seen}");
}

#[test]
fn parallelism_takes_one_to_256() {
    let config = "user \"p\" {\n  access_key {\n    deliver \"file\" {\n      path = \"k.json\"\n    }\n  }\n}\n";
    let project = Project::new("http://127.0.0.1:9", config);
    project.ok(&["--parallelism", "4", "validate"], None, 0);
    for wrong in ["0", "257", "many"] {
        let run = project.run(&["--parallelism", wrong, "validate"], None);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(run.stderr.contains("from 1 to 256"), "{}", run.stderr);
    }
}
