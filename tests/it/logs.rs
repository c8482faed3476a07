//! `KEYROT_LOG`: a full rotation logged at `trace` (with the SDK's own switch for logging
//! bodies on) shows every AWS call, lock, journal and state write — and no secret access
//! key or private key; JSON lines parse; unset, stderr is as it always was.

use crate::certs::upload;
use crate::common::proxy::{Fault, Proxy};
use crate::common::*;
use crate::sinks::{parameter, parse_json, secret_value};
use chrono::{DateTime, Duration, Utc};
use keyrot::core::config::KeyAlgorithm;

fn config(user: &str) -> String {
    format!(
        r#"defaults {{
  max_age      = "90d"
  overlap      = "7d"
  unused_for   = "3d"
  inactive_for = "7d"
}}

user "{user}" {{
  access_key {{
    deliver "secrets_manager" {{
      secret_id = "{user}/access-key"
      create    = true
    }}
    deliver "ssm_parameter" {{
      name = "/{user}/access-key"
    }}
    deliver "file" {{
      path   = "secrets/{user}.json"
      format = "json"
    }}
  }}
  signing_certificate {{
    generate {{
      algorithm = "ecdsa-p256"
      validity  = "400d"
      subject   = "CN={user},O=keyrot tests"
    }}
    deliver "file" {{
      path   = "secrets/{user}.pem"
      format = "pem"
    }}
  }}
}}
"#
    )
}

/// A user with an access key and a signing certificate, both due on `day0`.
fn seeded(prefix: &str) -> (&'static Moto, String, Project) {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user(prefix);
    seed_user(&iam, &user);
    let now = Utc::now();
    let cert = keyrot::adapters::certs::generate(KeyAlgorithm::EcdsaP256, &[], &user, 365, now)
        .expect("generate a certificate");
    upload(&iam, &user, &cert.certificate_pem);
    let project = Project::new(&moto.endpoint, &config(&user));
    (moto, user, project)
}

/// Runs keyrot with `env` added; it must exit 0.
fn run_ok(project: &Project, args: &[&str], now: DateTime<Utc>, env: &[(&str, &str)]) -> Run {
    let run = project.run_env(args, Some(now), env);
    assert_eq!(
        run.code, 0,
        "keyrot {args:?} with {env:?}\n--- stdout\n{}\n--- stderr\n{}",
        run.stdout, run.stderr
    );
    run
}

/// Create (delivered to Secrets Manager, SSM and files, proven through STS), deactivate,
/// delete: for the access key and the signing certificate. Returns all of stderr, the new
/// secret access key and the generated private key.
fn rotate(log: &str) -> (String, String, String) {
    let (moto, user, project) = seeded("logs");
    let env = [("KEYROT_LOG", log), ("LOG_SENSITIVE_BODIES", "true")];
    let day0 = days_from_now(100);
    let mut stderr = String::new();
    for day in [0, 8, 16] {
        let run = run_ok(
            &project,
            &["apply", "--auto-approve"],
            day0 + Duration::days(day),
            &env,
        );
        stderr.push_str(&run.stderr);
    }
    let file = std::fs::read_to_string(project.path(&format!("secrets/{user}.json"))).unwrap();
    let (id, secret) = parse_json(&file);
    let secret_id = format!("{user}/access-key");
    let delivered = [
        secret_value(&moto.endpoint, &secret_id, "AWSCURRENT").expect("secret"),
        parameter(&moto.endpoint, &format!("/{user}/access-key")).expect("parameter"),
    ];
    for text in &delivered {
        assert_eq!(parse_json(text), (id.clone(), secret.clone()));
    }
    let pem = std::fs::read_to_string(project.path(&format!("secrets/{user}.pem"))).unwrap();
    let key_start = pem
        .find("-----BEGIN PRIVATE KEY-----")
        .expect("private key");
    let after = project.run_env(
        &["plan", "--detailed-exitcode"],
        Some(day0 + Duration::days(16)),
        &[],
    );
    assert_eq!(after.code, 3, "rotated and waiting: {}", after.stdout);
    (stderr, secret, pem[key_start..].to_string())
}

/// No secret, whole or by any line of the PEM (a log may escape the newlines between).
fn assert_no_secret(stderr: &str, secret: &str, private_key: &str) {
    assert!(!stderr.contains(secret), "secret access key in the log");
    let body: Vec<&str> = private_key
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        .collect();
    assert!(!body.is_empty(), "no private key to look for");
    for line in body {
        assert!(
            !stderr.contains(line),
            "private key line in the log: {line}"
        );
    }
}

/// The per-call line of a successful `service` / `operation`, with a request id.
fn assert_call_logged(stderr: &str, service: &str, operation: &str) {
    let line = stderr
        .lines()
        .find(|l| {
            l.contains(" keyrot::aws: aws call ")
                && l.contains(&format!("service=\"{service}\""))
                && l.contains(&format!("operation=\"{operation}\""))
                && l.contains("status=200")
        })
        .unwrap_or_else(|| panic!("no `aws call` line for {service} {operation}:\n{stderr}"));
    for field in ["request_id=\"", "attempts=1", "duration_ms="] {
        assert!(line.contains(field), "{field} missing: {line}");
    }
}

fn assert_logged_everything(stderr: &str) {
    for (service, operation) in [
        ("IAM", "CreateAccessKey"),
        ("IAM", "UploadSigningCertificate"),
        ("IAM", "UpdateAccessKey"),
        ("IAM", "DeleteSigningCertificate"),
        ("STS", "GetCallerIdentity"),
        ("Secrets Manager", "CreateSecret"),
        ("Secrets Manager", "GetSecretValue"),
        ("SSM", "PutParameter"),
    ] {
        assert_call_logged(stderr, service, operation);
    }
    for message in [
        "lock taken",
        "lock released",
        "journal intent recorded",
        "journal cleared",
        "state written",
    ] {
        assert!(stderr.contains(message), "no `{message}` line:\n{stderr}");
    }
    // The SDK's own debug lines come through (at `trace`); none of its trace lines do.
    let level_and_target = |l: &str| {
        let level = l.split_whitespace().nth(1).unwrap_or_default().to_string();
        (level, l.contains(": aws_smithy_runtime::"))
    };
    let lines: Vec<(String, bool)> = stderr.lines().map(level_and_target).collect();
    assert!(
        lines.contains(&("DEBUG".into(), true)),
        "no SDK debug line:\n{stderr}"
    );
    let foreign_trace: Vec<&str> = stderr
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some("TRACE") && !l.contains(": keyrot::"))
        .collect();
    assert!(foreign_trace.is_empty(), "{foreign_trace:#?}");
}

#[test]
fn a_rotation_logged_at_trace_shows_every_call_and_no_secret() {
    let (stderr, secret, private_key) = rotate("trace");
    assert_no_secret(&stderr, &secret, &private_key);
    assert_logged_everything(&stderr);
}

/// Directives naming the SDK's crates at trace are capped all the same.
#[test]
fn directives_asking_the_sdk_for_trace_still_show_no_secret() {
    let log = "trace,aws_smithy_runtime=trace,aws_sigv4=trace,aws_config=trace,hyper=trace";
    let (stderr, secret, private_key) = rotate(log);
    assert_no_secret(&stderr, &secret, &private_key);
    assert_logged_everything(&stderr);
}

/// Throttled and failed attempts are each logged at debug; the call line counts them.
#[test]
fn a_retried_call_logs_each_attempt() {
    let (moto, user, _) = seeded("logs-retry");
    let proxy = Proxy::start(&moto.endpoint, 0.3, &[Fault::Status503], 0x10c5);
    let project = Project::new(&proxy.endpoint, &config(&user));
    let run = project.run_env(
        &["plan"],
        Some(days_from_now(100)),
        &[("KEYROT_LOG", "debug")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let retried = run
        .stderr
        .lines()
        .find(|l| l.contains("aws call") && l.contains("status=200") && !l.contains("attempts=1"))
        .unwrap_or_else(|| panic!("no retried call:\n{}", run.stderr));
    let operation = retried
        .split_whitespace()
        .find(|f| f.starts_with("operation="))
        .expect("an operation");
    let attempts: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("aws attempt") && l.contains(operation))
        .collect();
    assert!(
        attempts.iter().any(|l| l.contains("attempt=1 status=503")),
        "{attempts:#?}"
    );
    assert!(
        attempts.iter().any(|l| l.contains("status=200")),
        "{attempts:#?}"
    );
}

#[test]
fn json_log_lines_each_parse_and_stdout_stays_clean() {
    let (_, _, project) = seeded("logs-json");
    let day0 = days_from_now(100);
    let run = project.run_env(
        &["plan", "--json", "--log-format", "json"],
        Some(day0),
        &[("KEYROT_LOG", "debug")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).expect("stdout is the plan");
    assert_matches_schema("plan.schema.json", &plan);
    // Every log line is a JSON object; the rest of stderr is what keyrot says without logs.
    let (json, text): (Vec<&str>, Vec<&str>) = run.stderr.lines().partition(|l| l.starts_with('{'));
    let plain = project.run_env(&["plan", "--json"], Some(day0), &[]);
    assert_eq!(text, plain.stderr.lines().collect::<Vec<_>>());
    let lines: Vec<serde_json::Value> = json
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(lines.iter().all(serde_json::Value::is_object));
    let call = lines
        .iter()
        .find(|l| l["message"] == "aws call" && l["operation"] == "ListAccessKeys")
        .unwrap_or_else(|| panic!("no ListAccessKeys call:\n{}", run.stderr));
    assert_eq!(call["level"], "INFO");
    assert_eq!(call["target"], "keyrot::aws");
    assert_eq!(call["service"], "IAM");
    assert_eq!(call["status"], 200);
    assert!(
        call["request_id"].as_str().is_some_and(|id| !id.is_empty()),
        "{call}"
    );
    assert!(
        call["duration_ms"].is_number() && call["timestamp"].is_string(),
        "{call}"
    );
    assert!(lines.iter().any(|l| l["message"] == "aws attempt"));
}

#[test]
fn without_keyrot_log_stderr_is_as_before_and_a_bad_filter_is_refused() {
    let (_, _, project) = seeded("logs-off");
    let day0 = days_from_now(100);
    let plain = project.run_env(&["plan"], Some(day0), &[]);
    assert_eq!(plain.code, 0, "{}", plain.stderr);
    // Neither the SDK's switch nor RUST_LOG turns logs on.
    let quiet = [("LOG_SENSITIVE_BODIES", "true"), ("RUST_LOG", "trace")];
    let run = project.run_env(&["plan"], Some(day0), &quiet);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stderr, plain.stderr);
    assert!(!run.stderr.contains("aws call") && !run.stderr.contains("DEBUG"));
    let logged = project.run_env(&["plan"], Some(day0), &[("KEYROT_LOG", "info")]);
    // The plan's findings read the account-wide credential report, which other tests on
    // the shared moto change: compare what logging could add, not the whole text.
    for marker in ["aws call", "aws attempt", "keyrot::", "INFO", "DEBUG"] {
        assert!(
            !logged.stdout.contains(marker),
            "logs reached stdout:\n{}",
            logged.stdout
        );
    }
    assert!(logged.stdout.contains("user."), "{}", logged.stdout);
    assert!(logged.stderr.contains("aws call"), "{}", logged.stderr);

    let bad = project.run_env(
        &["apply", "--auto-approve"],
        Some(day0),
        &[("KEYROT_LOG", "keyrot=loud")],
    );
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    assert!(
        bad.stderr
            .contains("KEYROT_LOG=\"keyrot=loud\" is not a log filter"),
        "{}",
        bad.stderr
    );
    assert!(
        !project.path("state/keyrot.json").exists(),
        "nothing was done"
    );
}
