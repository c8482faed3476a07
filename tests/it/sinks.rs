//! Delivery to where applications read: Secrets Manager, SSM, a shared credentials
//! profile and a command, all at once, against moto; read back, proven to work, restored
//! on failure, and never leaked elsewhere.

use crate::common::*;
use chrono::Duration;

fn sm(endpoint: &str) -> aws_sdk_secretsmanager::Client {
    let conf = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
        .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "testing", "testing", None, None, "t",
        ))
        .build();
    aws_sdk_secretsmanager::Client::from_conf(conf)
}

fn ssm(endpoint: &str) -> aws_sdk_ssm::Client {
    let conf = aws_sdk_ssm::Config::builder()
        .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest())
        .region(aws_sdk_ssm::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_ssm::config::Credentials::new(
            "testing", "testing", None, None, "t",
        ))
        .build();
    aws_sdk_ssm::Client::from_conf(conf)
}

pub(crate) fn secret_value(endpoint: &str, id: &str, stage: &str) -> Option<String> {
    rt().block_on(async {
        sm(endpoint)
            .get_secret_value()
            .secret_id(id)
            .version_stage(stage)
            .send()
            .await
            .ok()
            .and_then(|o| o.secret_string().map(str::to_string))
    })
}

/// A secret holding `key` as JSON, as a consumer's secret did before keyrot ran.
pub(crate) fn put_key_secret(endpoint: &str, id: &str, key: &SeededKey) {
    let value = format!(
        r#"{{"AccessKeyId":"{}","SecretAccessKey":"{}"}}"#,
        key.id, key.secret
    );
    put_secret(endpoint, id, &value);
}

pub(crate) fn put_secret(endpoint: &str, id: &str, value: &str) {
    rt().block_on(async {
        sm(endpoint)
            .create_secret()
            .name(id)
            .secret_string(value)
            .send()
            .await
            .expect("create secret");
    })
}

pub(crate) fn parameter(endpoint: &str, name: &str) -> Option<String> {
    rt().block_on(async {
        ssm(endpoint)
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
            .ok()
            .and_then(|o| o.parameter().and_then(|p| p.value()).map(str::to_string))
    })
}

/// (key id, secret) from a JSON-format delivery.
pub(crate) fn parse_json(text: &str) -> (String, String) {
    let v: serde_json::Value = serde_json::from_str(text).expect("json credential");
    (
        v["AccessKeyId"].as_str().unwrap().to_string(),
        v["SecretAccessKey"].as_str().unwrap().to_string(),
    )
}

const PROFILES: &str = "# shared by the team\n[default]\naws_access_key_id = AKIADEFAULTDEFAULT00\naws_secret_access_key = default-secret\n\n[ci]\n# keyrot rotates this one\nregion = eu-west-1\naws_access_key_id = AKIAOLDPROFILEKEY000\naws_secret_access_key = old-profile-secret\n\n[other]\naws_access_key_id = AKIAOTHERPROFILE0000\n";

fn config(
    user: &str,
    secret_id: &str,
    param: &str,
    exec_script: &str,
    exec_create: bool,
) -> String {
    format!(
        r#"user "{user}" {{
  access_key {{
    deliver "secrets_manager" {{
      secret_id = "{secret_id}"
      create    = {exec_create}
    }}
    deliver "ssm_parameter" {{
      name = "{param}"
    }}
    deliver "aws_profile" {{
      file    = "creds/credentials"
      profile = "ci"
    }}
    deliver "exec" {{
      command = ["sh", "-c", "{exec_script}"]
      timeout = "20s"
    }}
  }}
}}
"#
    )
}

#[test]
fn rotation_delivers_to_every_sink_and_retires_the_old_key_everywhere() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("sinks");
    let old = seed_user(&iam, &user);
    let secret_id = format!("{user}/access-key");
    let param = format!("/{user}/access-key");
    let project = Project::new(
        &moto.endpoint,
        &config(&user, &secret_id, &param, "cat > exec-got.json", true),
    );
    std::fs::create_dir_all(project.path("creds")).unwrap();
    std::fs::write(project.path("creds/credentials"), PROFILES).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        let private = std::fs::Permissions::from_mode(0o640);
        std::fs::set_permissions(project.path("creds/credentials"), private).unwrap();
    }
    let day0 = days_from_now(100);

    let run = project.ok(&["apply", "--auto-approve"], Some(day0), 0);
    assert!(
        run.stdout.contains("delivered to secrets_manager"),
        "{}",
        run.stdout
    );
    let (new_id, new_secret) =
        parse_json(&secret_value(&moto.endpoint, &secret_id, "AWSCURRENT").expect("secret"));
    assert_ne!(new_id, old.id);
    assert_eq!(
        parse_json(&parameter(&moto.endpoint, &param).expect("parameter")),
        (new_id.clone(), new_secret.clone())
    );
    assert_eq!(
        parse_json(&std::fs::read_to_string(project.path("exec-got.json")).unwrap()),
        (new_id.clone(), new_secret.clone())
    );
    let profiles = std::fs::read_to_string(project.path("creds/credentials")).unwrap();
    let expected = PROFILES
        .replace("aws_access_key_id = AKIAOLDPROFILEKEY000\naws_secret_access_key = old-profile-secret\n", "")
        .replace("[ci]\n", &format!("[ci]\naws_access_key_id = {new_id}\naws_secret_access_key = {new_secret}\n"));
    assert_eq!(
        profiles, expected,
        "only the ci profile's key lines changed"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(project.path("creds/credentials"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o640,
        "the consumer's file keeps its mode"
    );
    // The delivered key works: a call signed with it answers as the user.
    assert_eq!(
        whoami(&moto.endpoint, &new_id, &new_secret).as_deref(),
        Ok(user.as_str())
    );

    project.ok(
        &["apply", "--auto-approve"],
        Some(day0 + Duration::days(8)),
        0,
    );
    project.ok(
        &["apply", "--auto-approve"],
        Some(day0 + Duration::days(16)),
        0,
    );
    assert_eq!(
        live_keys(&iam, &user),
        vec![(new_id.clone(), "Active".to_string())]
    );
    // The old key is in no sink any more (AWSPREVIOUS aside: it held the seeded value).
    for text in [
        secret_value(&moto.endpoint, &secret_id, "AWSCURRENT").unwrap(),
        parameter(&moto.endpoint, &param).unwrap(),
        std::fs::read_to_string(project.path("creds/credentials")).unwrap(),
        std::fs::read_to_string(project.path("exec-got.json")).unwrap(),
    ] {
        assert!(!text.contains(&old.id) && text.contains(&new_id));
    }
    project.assert_secret_nowhere(&new_secret, &["creds/credentials", "exec-got.json"]);
}

#[test]
fn a_failing_command_leaves_no_new_key_and_puts_sinks_back() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("execfail");
    let old = seed_user(&iam, &user);
    let secret_id = format!("{user}/access-key");
    let param = format!("/{user}/access-key");
    put_secret(&moto.endpoint, &secret_id, "the previous value");
    let project = Project::new(
        &moto.endpoint,
        &config(
            &user,
            &secret_id,
            &param,
            "cat > exec-got.json; echo reload failed >&2; exit 1",
            false,
        ),
    );
    std::fs::create_dir_all(project.path("creds")).unwrap();
    std::fs::write(project.path("creds/credentials"), PROFILES).unwrap();

    let run = project.ok(&["apply", "--auto-approve"], Some(days_from_now(100)), 1);
    assert!(
        run.stderr.contains("delivery to exec sh failed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("reload failed"),
        "the command's stderr is shown: {}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("may still hold the deleted key: exec sh"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("was deleted again"), "{}", run.stderr);
    assert_eq!(
        live_keys(&iam, &user),
        vec![(old.id.clone(), "Active".to_string())],
        "no new key left in IAM"
    );
    assert_eq!(
        secret_value(&moto.endpoint, &secret_id, "AWSCURRENT").as_deref(),
        Some("the previous value")
    );
    assert_eq!(
        parameter(&moto.endpoint, &param),
        None,
        "a parameter keyrot created is removed again"
    );
    assert_eq!(
        std::fs::read_to_string(project.path("creds/credentials")).unwrap(),
        PROFILES
    );
    let (leaked_id, leaked_secret) =
        parse_json(&std::fs::read_to_string(project.path("exec-got.json")).unwrap());
    assert!(!live_keys(&iam, &user).iter().any(|(k, _)| *k == leaked_id));
    project.assert_secret_nowhere(&leaked_secret, &["exec-got.json"]);
}

#[test]
fn a_missing_secret_without_create_fails_before_the_later_sinks() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("smfail");
    let old = seed_user(&iam, &user);
    let project = Project::new(
        &moto.endpoint,
        &config(
            &user,
            &format!("{user}/missing"),
            &format!("/{user}/p"),
            "cat > exec-got.json",
            false,
        ),
    );
    let run = project.ok(&["apply", "--auto-approve"], Some(days_from_now(100)), 1);
    assert!(
        run.stderr.contains("delivery to secrets_manager"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("create = true"), "{}", run.stderr);
    assert_eq!(live_keys(&iam, &user), vec![(old.id, "Active".to_string())]);
    assert!(
        !project.path("exec-got.json").exists(),
        "later sinks never ran"
    );
}

#[test]
fn rollback_puts_the_previous_key_back_in_secrets_manager() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("smroll");
    seed_user(&iam, &user);
    let secret_id = format!("{user}/access-key");
    let config = format!(
        "user \"{user}\" {{\n  access_key {{\n    deliver \"secrets_manager\" {{\n      secret_id = \"{secret_id}\"\n      create = true\n    }}\n    deliver \"file\" {{\n      path = \"secrets/k.json\"\n    }}\n  }}\n}}\n"
    );
    let project = Project::new(&moto.endpoint, &config);
    let day0 = days_from_now(100);
    project.ok(&["apply", "--auto-approve"], Some(day0), 0);
    let (first, _) = parse_json(&secret_value(&moto.endpoint, &secret_id, "AWSCURRENT").unwrap());
    // A second rotation, so AWSPREVIOUS holds the key that rollback brings back.
    project.ok(
        &["apply", "--auto-approve"],
        Some(day0 + Duration::days(8)),
        0,
    );
    project.ok(
        &["apply", "--auto-approve"],
        Some(day0 + Duration::days(16)),
        0,
    );
    project.ok(
        &[
            "apply",
            "--auto-approve",
            "--force-rotate",
            &format!("user.{user}.access_key"),
        ],
        Some(day0 + Duration::days(17)),
        0,
    );
    let (second, _) = parse_json(&secret_value(&moto.endpoint, &secret_id, "AWSCURRENT").unwrap());
    assert_ne!(first, second);
    project.ok(
        &["apply", "--auto-approve"],
        Some(day0 + Duration::days(25)),
        0,
    );
    assert!(live_keys(&iam, &user).contains(&(first.clone(), "Inactive".into())));

    let run = project.ok(
        &["rollback", &format!("user.{user}.access_key")],
        Some(day0 + Duration::days(26)),
        0,
    );
    assert!(
        run.stdout
            .contains("restored the previous key (from AWSPREVIOUS)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("file secrets/k.json: still holds the new key"),
        "{}",
        run.stdout
    );
    assert_eq!(
        parse_json(&secret_value(&moto.endpoint, &secret_id, "AWSCURRENT").unwrap()).0,
        first
    );
    assert!(live_keys(&iam, &user).contains(&(first.clone(), "Active".into())));

    // Resuming keeps the key consumers were put back on, and retires the other one.
    let address = format!("user.{user}.access_key");
    let run = project.ok(&["resume", &address], Some(day0 + Duration::days(27)), 0);
    assert!(
        run.stdout.contains("stays the current key"),
        "{}",
        run.stdout
    );
    project.ok(
        &["apply", "--auto-approve"],
        Some(day0 + Duration::days(28)),
        0,
    );
    assert!(
        live_keys(&iam, &user).contains(&(first.clone(), "Active".into())),
        "the restored key stays Active"
    );
    assert!(
        live_keys(&iam, &user).contains(&(second.clone(), "Inactive".into())),
        "the other key retires"
    );
    project.ok(
        &["apply", "--auto-approve"],
        Some(day0 + Duration::days(36)),
        0,
    );
    assert!(!live_keys(&iam, &user).iter().any(|(k, _)| *k == second));
    // The next rotation starts from the restored key (made on day 0, max_age 90d) and
    // delivers a fresh one.
    project.ok(
        &["apply", "--auto-approve"],
        Some(day0 + Duration::days(95)),
        0,
    );
    let (third, _) = parse_json(&secret_value(&moto.endpoint, &secret_id, "AWSCURRENT").unwrap());
    assert!(third != first && third != second);
    assert!(live_keys(&iam, &user).contains(&(third, "Active".into())));
}

#[test]
fn a_key_that_never_works_and_a_denied_secret_leave_nothing_behind() {
    use crate::common::proxy::{Proxy, Rule};
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("unverified");
    let old = seed_user(&iam, &user);
    let denied = "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message></Error><RequestId>p</RequestId></ErrorResponse>";
    let proxy = Proxy::with_rules(
        &moto.endpoint,
        0.0,
        &[],
        1,
        vec![Rule {
            // Only calls signed by a key IAM issued (the new key's proof), not keyrot's own
            // identity check, which is signed with the test credentials.
            marker: "Credential=AKIA",
            respond: "403 Forbidden",
            body: denied,
        }],
    );
    let config = format!(
        "aws {{\n  verify_timeout = \"2s\"\n  max_attempts = 1\n}}\nuser \"{user}\" {{\n  access_key {{\n    deliver \"file\" {{\n      path = \"k.json\"\n    }}\n  }}\n}}\n"
    );
    let project = Project::new(&proxy.endpoint, &config);
    let run = project.ok(&["apply", "--auto-approve"], Some(days_from_now(100)), 1);
    assert!(run.stderr.contains("never worked"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("no successful STS GetCallerIdentity within 2s"),
        "{}",
        run.stderr
    );
    assert_eq!(
        live_keys(&iam, &user),
        vec![(old.id.clone(), "Active".to_string())],
        "the new key was deleted"
    );
    assert!(!project.path("k.json").exists(), "nothing was delivered");

    // Secrets Manager refuses the write: the file written before it is put back.
    let user = unique_user("smdenied");
    let old = seed_user(&iam, &user);
    let secret_id = format!("{user}/k");
    put_secret(&moto.endpoint, &secret_id, "previous");
    let body = "{\"__type\":\"AccessDeniedException\",\"message\":\"not allowed\"}";
    let proxy = Proxy::with_rules(
        &moto.endpoint,
        0.0,
        &[],
        2,
        vec![Rule {
            marker: "secretsmanager.PutSecretValue",
            respond: "400 Bad Request",
            body,
        }],
    );
    let config = format!(
        "user \"{user}\" {{\n  access_key {{\n    deliver \"file\" {{\n      path = \"first.json\"\n    }}\n    deliver \"secrets_manager\" {{\n      secret_id = \"{secret_id}\"\n    }}\n  }}\n}}\n"
    );
    let project = Project::new(&proxy.endpoint, &config);
    std::fs::write(project.path("first.json"), "the old credential").unwrap();
    let run = project.ok(&["apply", "--auto-approve"], Some(days_from_now(100)), 1);
    assert!(
        run.stderr
            .contains(&format!("delivery to secrets_manager {secret_id} failed")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("AccessDenied"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(project.path("first.json")).unwrap(),
        "the old credential"
    );
    assert_eq!(
        secret_value(&moto.endpoint, &secret_id, "AWSCURRENT").as_deref(),
        Some("previous")
    );
    assert_eq!(live_keys(&iam, &user), vec![(old.id, "Active".to_string())]);
}

fn secret_exists(endpoint: &str, id: &str) -> bool {
    rt().block_on(async {
        sm(endpoint)
            .describe_secret()
            .secret_id(id)
            .send()
            .await
            .is_ok_and(|d| d.deleted_date().is_none())
    })
}

/// The usual Terraform pattern: the secret is created empty, the rotator fills it. A later
/// sink failing must not delete that secret (its policy, KMS key, tags and replicas),
/// whatever `create` says.
#[test]
fn a_failed_delivery_never_deletes_a_secret_keyrot_did_not_create() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("smempty");
    let old = seed_user(&iam, &user);
    let secret_id = format!("{user}/access-key");
    rt().block_on(async {
        sm(&moto.endpoint)
            .create_secret()
            .name(&secret_id)
            .description("made by Terraform, filled by the rotator")
            .send()
            .await
            .expect("create an empty secret");
    });
    let project = Project::new(
        &moto.endpoint,
        &config(&user, &secret_id, &format!("/{user}/p"), "exit 1", true),
    );
    let run = project.ok(&["apply", "--auto-approve"], Some(days_from_now(100)), 1);
    assert!(
        run.stderr.contains("delivery to exec sh failed"),
        "{}",
        run.stderr
    );
    assert_eq!(live_keys(&iam, &user), vec![(old.id, "Active".to_string())]);
    assert!(
        secret_exists(&moto.endpoint, &secret_id),
        "the secret keyrot did not create still exists: {}",
        run.stderr
    );
}

/// A secret keyrot itself created in a delivery that then failed is deleted with a
/// recovery window, never forced: it can still be restored.
#[test]
fn a_secret_keyrot_created_is_deleted_with_a_recovery_window() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("smnew");
    seed_user(&iam, &user);
    let secret_id = format!("{user}/access-key");
    let project = Project::new(
        &moto.endpoint,
        &config(&user, &secret_id, &format!("/{user}/p"), "exit 1", true),
    );
    project.ok(&["apply", "--auto-approve"], Some(days_from_now(100)), 1);
    let deleted = rt().block_on(async {
        sm(&moto.endpoint)
            .describe_secret()
            .secret_id(&secret_id)
            .send()
            .await
    });
    let described = deleted.expect("still described: scheduled for deletion, not forced");
    assert!(described.deleted_date().is_some(), "{described:?}");
}

/// The apply role's credentials can create and delete every managed user's keys: a
/// command sink never sees them (nor any other variable it was not given).
#[test]
fn a_command_sink_never_sees_the_apply_credentials() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("execenv");
    seed_user(&iam, &user);
    let config = format!(
        r#"user "{user}" {{
  access_key {{
    deliver "exec" {{
      command  = ["sh", "-c", "env > exec-env.txt"]
      env      = {{ SERVICE = "web" }}
      pass_env = ["LANG"]
    }}
  }}
}}
"#
    );
    let project = Project::new(&moto.endpoint, &config);
    project.ok(&["apply", "--auto-approve"], Some(days_from_now(100)), 0);
    let env = std::fs::read_to_string(project.path("exec-env.txt")).unwrap();
    assert!(env.contains("SERVICE=web\n"), "{env}");
    for banned in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "KEYROT_NOW",
    ] {
        assert!(
            !env.contains(banned),
            "{banned} leaked to the command:\n{env}"
        );
    }
}
