//! `notify` channels against a local webhook server and moto's SNS. What SNS published is
//! read back through an HTTP subscription (moto's server POSTs each message to it), so the
//! check does not rely on keyrot's own view.

use crate::common::http_server::{HttpServer, Seen};
use crate::common::*;
use chrono::Duration;
use serde_json::Value;
use std::time::Instant;

/// keyrot's own AWS secret in these runs: it must never reach a message.
const AWS_SECRET: &str = "notify-test-aws-secret-0d1e2f";

fn sns(endpoint: &str) -> aws_sdk_sns::Client {
    let conf = aws_sdk_sns::Config::builder()
        .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
        .region(aws_sdk_sns::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_sns::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .build();
    aws_sdk_sns::Client::from_conf(conf)
}

/// A new topic whose messages moto POSTs to a recording server.
fn topic_with_subscriber(endpoint: &str, name: &str) -> (String, HttpServer) {
    let subscriber = HttpServer::start();
    let client = sns(endpoint);
    let arn = rt().block_on(async {
        let topic = client
            .create_topic()
            .name(name)
            .send()
            .await
            .expect("topic");
        let arn = topic.topic_arn().expect("arn").to_string();
        client
            .subscribe()
            .topic_arn(&arn)
            .protocol("http")
            .endpoint(format!("{}/sns", subscriber.url))
            .send()
            .await
            .expect("subscribe");
        arn
    });
    (arn, subscriber)
}

fn user_block(user: &str, deliver: &str) -> String {
    format!("user \"{user}\" {{\n  access_key {{\n    {deliver}\n  }}\n}}\n")
}

fn file_sink(user: &str) -> String {
    format!("deliver \"file\" {{\n      path = \"secrets/{user}.json\"\n    }}")
}

/// A project whose runs use a recognisable AWS secret of keyrot's own.
fn project(endpoint: &str, config: &str) -> Project {
    Project::new(endpoint, config).with_env("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
}

fn json(seen: &Seen) -> Value {
    serde_json::from_str(&seen.body).unwrap_or_else(|e| panic!("{e}: {}", seen.body))
}

fn delivered(project: &Project, user: &str) -> (String, String) {
    let text = std::fs::read_to_string(project.path(&format!("secrets/{user}.json"))).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let field = |k: &str| v[k].as_str().unwrap().to_string();
    (field("AccessKeyId"), field("SecretAccessKey"))
}

/// Neither the new key's secret, keyrot's own AWS secret, nor a full key id is in `body`.
fn assert_clean(body: &str, secret: &str, ids: &[&str]) {
    assert!(
        !body.contains(secret),
        "the delivered secret leaked: {body}"
    );
    assert!(
        !body.contains(AWS_SECRET),
        "keyrot's AWS secret leaked: {body}"
    );
    for id in ids {
        assert!(!body.contains(id), "full key id {id} in: {body}");
        assert!(
            body.contains(&id[id.len() - 4..]),
            "masked {id} missing: {body}"
        );
    }
}

#[test]
fn an_apply_sends_one_summary_to_the_webhook_and_to_sns() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("notify");
    let old = seed_user(&iam, &user);
    let webhook = HttpServer::start();
    let (topic, subscriber) = topic_with_subscriber(&moto.endpoint, &user);
    let config = format!(
        "{}notify \"webhook\" {{\n  url = \"{}/services/T000/SECRETPATH\"\n}}\nnotify \"sns\" {{\n  topic_arn = \"{topic}\"\n}}\n",
        user_block(&user, &file_sink(&user)),
        webhook.url
    );
    let project = project(&moto.endpoint, &config);
    let day0 = days_from_now(100);

    let applied = project.ok(&["apply", "--auto-approve"], Some(day0), 0);
    let (new_id, secret) = delivered(&project, &user);
    assert!(
        applied
            .stderr
            .contains(&format!("Notified webhook {}", webhook.url)),
        "{}",
        applied.stderr
    );
    assert!(applied.stderr.contains(&format!("Notified sns {topic}")));
    assert!(!applied.stderr.contains("SECRETPATH"), "{}", applied.stderr);

    let hooks = webhook.seen();
    assert_eq!(hooks.len(), 1, "one message per apply: {hooks:?}");
    assert_eq!(
        (hooks[0].method.as_str(), hooks[0].path.as_str()),
        ("POST", "/services/T000/SECRETPATH")
    );
    let body = json(&hooks[0]);
    let text = body["text"].as_str().unwrap();
    assert!(text.starts_with("*keyrot apply: 2 done*"), "{text}");
    let address = format!("user.{user}.access_key");
    assert!(text.contains(&format!("{address}: created key ")), "{text}");
    assert_eq!(body["keyrot"]["events"], serde_json::json!(["applied"]));
    assert_eq!(body["keyrot"]["command"], "apply");
    assert_eq!(body["keyrot"]["counts"]["done"], 2);
    assert_eq!(
        body["keyrot"]["identity"],
        "arn:aws:sts::123456789012:user/moto"
    );
    assert_clean(&hooks[0].body, &secret, &[&new_id, &old.id]);

    let published = subscriber.seen();
    assert_eq!(published.len(), 1, "{published:?}");
    let note = json(&published[0]);
    assert_eq!(note["Type"], "Notification");
    assert_eq!(note["TopicArn"], topic.as_str());
    assert_eq!(note["Subject"], "keyrot apply: 2 done");
    let message = note["Message"].as_str().unwrap();
    assert!(message.starts_with("keyrot apply: 2 done\n"), "{message}");
    assert!(
        message.contains(&format!("• {address}: created key ")),
        "{message}"
    );
    assert_clean(&published[0].body, &secret, &[&new_id, &old.id]);

    // A run with nothing to do (the new key waits for its overlap) sends nothing.
    let quiet = project.ok(&["apply", "--auto-approve"], Some(day0), 0);
    assert!(
        quiet.stdout.contains("Nothing to apply."),
        "{}",
        quiet.stdout
    );
    assert_eq!(webhook.seen().len(), 1);
    assert_eq!(subscriber.seen().len(), 1);
    project.assert_secret_nowhere(&secret, &[&format!("secrets/{user}.json")]);
}

#[test]
fn a_failing_channel_is_a_warning_and_never_fails_the_apply() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("notify-down");
    seed_user(&iam, &user);
    let refusing = HttpServer::start();
    refusing.answer(500, "no_service");
    // Accepts connections (the backlog) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let missing = format!("arn:aws:sns:us-east-1:123456789012:{user}-none");
    let config = format!(
        "{}notify \"webhook\" {{ url = \"{}/hook\" }}\nnotify \"webhook\" {{ url = \"{silent_url}/hook\" }}\nnotify \"sns\" {{ topic_arn = \"{missing}\" }}\n",
        user_block(&user, &file_sink(&user)),
        refusing.url
    );
    let project = project(&moto.endpoint, &config);

    let started = Instant::now();
    let applied = project.ok(&["apply", "--auto-approve"], Some(days_from_now(100)), 0);
    let took = started.elapsed();
    let warnings: Vec<&str> = applied
        .stderr
        .lines()
        .filter(|l| l.starts_with("Warning: could not notify"))
        .collect();
    assert_eq!(warnings.len(), 3, "{}", applied.stderr);
    assert!(
        applied.stderr.contains(&format!(
            "could not notify webhook {}: answered HTTP 500: no_service (the apply itself is not affected)",
            refusing.url
        )),
        "{}",
        applied.stderr
    );
    assert!(
        applied.stderr.contains(&format!(
            "could not notify webhook {silent_url}: {silent_url}: no answer within 5 s"
        )),
        "{}",
        applied.stderr
    );
    assert!(
        applied
            .stderr
            .contains(&format!("could not notify sns {missing}: ")),
        "{}",
        applied.stderr
    );
    assert!(
        applied.stdout.contains("Apply complete!"),
        "{}",
        applied.stdout
    );
    assert_eq!(live_keys(&iam, &user).len(), 2, "the rotation went on");
    assert_eq!(refusing.seen().len(), 1);
    // Sent side by side, each bounded by its 5 s timeout.
    assert!(took.as_secs() < 30, "apply took {took:?}");
    println!("apply with a silent webhook took {took:?}");
}

#[test]
fn a_failed_set_reaches_channels_that_want_failures_only() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let (good, bad, waits) = (
        unique_user("notify-good"),
        unique_user("notify-bad"),
        unique_user("notify-wait"),
    );
    for user in [&good, &bad, &waits] {
        seed_user(&iam, user);
    }
    let failures = HttpServer::start();
    let rollbacks = HttpServer::start();
    let everything = HttpServer::start();
    // `waits` rotates at 200 days: on day 100 it waits.
    let waits_block = format!("max_age = \"200d\"\n    {}", file_sink(&waits));
    let config = format!(
        "{}{}{}notify \"webhook\" {{\n  url = \"{}/f\"\n  events = [\"failed\"]\n}}\nnotify \"webhook\" {{\n  url = \"{}/r\"\n  events = [\"rollback\"]\n}}\nnotify \"webhook\" {{ url = \"{}/all\" }}\n",
        user_block(&good, &file_sink(&good)),
        user_block(&bad, "deliver \"exec\" { command = [\"false\"] }"),
        user_block(&waits, &waits_block),
        failures.url,
        rollbacks.url,
        everything.url,
    );
    let project = project(&moto.endpoint, &config);
    let applied = project.ok(&["apply", "--auto-approve"], Some(days_from_now(100)), 1);
    assert!(
        applied.stderr.contains("1 credential set(s) failed"),
        "{}",
        applied.stderr
    );

    assert!(rollbacks.seen().is_empty(), "no rollback happened");
    let [hook] = &failures.seen()[..] else {
        panic!("one message: {:?}", failures.seen())
    };
    assert_eq!(everything.seen().len(), 1);
    let body = json(hook);
    assert_eq!(
        body["keyrot"]["events"],
        serde_json::json!(["applied", "failed", "waiting"])
    );
    let failed = &body["keyrot"]["failed"][0];
    assert_eq!(failed["target"], format!("user.{bad}.access_key"));
    assert_eq!(failed["action"], "create");
    assert!(
        failed["error"].as_str().unwrap().contains("exec false"),
        "{failed}"
    );
    let waiting = &body["keyrot"]["waiting"];
    assert_eq!(waiting.as_array().unwrap().len(), 1, "{waiting}");
    assert_eq!(waiting[0]["address"], format!("user.{waits}.access_key"));
    assert_eq!(waiting[0]["step"], "rotate");
    assert!(waiting[0]["due"].as_str().is_some(), "{waiting}");
    let text = body["text"].as_str().unwrap();
    assert!(text.contains("*Failed (left as they were)*"), "{text}");
    assert!(text.contains("*Waiting*"), "{text}");
    let (_, secret) = delivered(&project, &good);
    assert_clean(&hook.body, &secret, &[]);
}

#[test]
fn a_rollback_notifies_rollback_channels() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("notify-rb");
    let old = seed_user(&iam, &user);
    let rollbacks = HttpServer::start();
    let config = format!(
        "{}notify \"webhook\" {{\n  url = \"{}/r\"\n  events = [\"rollback\"]\n}}\n",
        user_block(&user, &file_sink(&user)),
        rollbacks.url
    );
    let project = project(&moto.endpoint, &config);
    let day0 = days_from_now(100);
    project.ok(&["apply", "--auto-approve"], Some(day0), 0);
    project.ok(
        &["apply", "--auto-approve"],
        Some(day0 + Duration::days(8)),
        0,
    );
    assert!(rollbacks.seen().is_empty(), "applies are not rollbacks");
    let address = format!("user.{user}.access_key");
    let rolled = project.ok(&["rollback", &address], Some(day0 + Duration::days(9)), 0);
    assert!(
        rolled.stderr.contains("Notified webhook"),
        "{}",
        rolled.stderr
    );

    let [hook] = &rollbacks.seen()[..] else {
        panic!("one message: {:?}", rollbacks.seen())
    };
    let body = json(hook);
    assert_eq!(body["keyrot"]["command"], "rollback");
    assert_eq!(body["keyrot"]["events"], serde_json::json!(["rollback"]));
    let text = body["text"].as_str().unwrap();
    assert!(
        text.starts_with("*keyrot rollback: 1 done, rolled back*"),
        "{text}"
    );
    assert!(
        text.contains(&format!("{address}: the previous key is Active again")),
        "{text}"
    );
    let (new_id, secret) = delivered(&project, &user);
    assert_clean(&hook.body, &secret, &[&old.id]);
    assert!(!hook.body.contains(&new_id));
}
