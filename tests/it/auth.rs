//! moto with signature checking on (`INITIAL_NO_AUTH_ACTION_COUNT`): the delivered secret
//! really signs requests, and keyrot's own STS proof of a new key is a real check.

use crate::common::*;
use chrono::Duration;

struct Creds {
    id: String,
    secret: String,
}

/// The first seven calls are unauthenticated; every later call must be signed by a known
/// key with the right secret, and be allowed by the caller's policies.
fn seed(endpoint: &str) -> (Creds, Creds) {
    let iam = admin(endpoint);
    rt().block_on(async {
        let key = |out: aws_sdk_iam::operation::create_access_key::CreateAccessKeyOutput| {
            let k = out.access_key().unwrap();
            Creds {
                id: k.access_key_id().to_string(),
                secret: k.secret_access_key().to_string(),
            }
        };
        let everything = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        iam.create_user().user_name("admin").send().await.unwrap();
        let admin_key = key(iam.create_access_key().user_name("admin").send().await.unwrap());
        let policy = iam
            .create_policy()
            .policy_name("everything")
            .policy_document(everything)
            .send()
            .await
            .unwrap();
        let arn = policy.policy().unwrap().arn().unwrap().to_string();
        iam.attach_user_policy().user_name("admin").policy_arn(&arn).send().await.unwrap();
        iam.create_user().user_name("app").send().await.unwrap();
        iam.attach_user_policy().user_name("app").policy_arn(&arn).send().await.unwrap();
        let app_key = key(iam.create_access_key().user_name("app").send().await.unwrap());
        (admin_key, app_key)
    })
}

#[test]
fn with_signatures_checked_the_delivered_secret_works_and_a_wrong_one_does_not() {
    let moto = Moto::start(&[("INITIAL_NO_AUTH_ACTION_COUNT", "7")]);
    let (admin_key, app_key) = seed(&moto.endpoint);
    assert!(
        whoami(&moto.endpoint, "testing", "testing").is_err(),
        "auth is on"
    );
    let config = "user \"app\" {\n  access_key {\n    deliver \"file\" {\n      path = \"app.json\"\n    }\n  }\n}\n";
    let project = Project::new(&moto.endpoint, config);
    // Credentials IAM does not know: exit 6 (fix credentials), not a general error.
    let denied = project.ok(&["plan"], None, 6);
    assert!(
        denied.stderr.contains("credentials were refused"),
        "{}",
        denied.stderr
    );
    let mut apply = project.command(
        &["apply", "--auto-approve"],
        Some(chrono::Utc::now() + Duration::days(100)),
    );
    apply
        .env("AWS_ACCESS_KEY_ID", &admin_key.id)
        .env("AWS_SECRET_ACCESS_KEY", &admin_key.secret);
    let run = with_stdin(apply, "");
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    let delivered: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(project.path("app.json")).unwrap()).unwrap();
    let id = delivered["AccessKeyId"].as_str().unwrap();
    let secret = delivered["SecretAccessKey"].as_str().unwrap();
    assert_ne!(id, app_key.id);
    assert_eq!(whoami(&moto.endpoint, id, secret).as_deref(), Ok("app"));
    // The last character changed: to `x`, unless it already is one (then the "wrong"
    // secret would be the right one, about one run in 64).
    let last = if secret.ends_with('x') { 'y' } else { 'x' };
    let wrong = format!("{}{last}", &secret[..secret.len() - 1]);
    assert_ne!(wrong, secret);
    let refused = whoami(&moto.endpoint, id, &wrong).unwrap_err();
    assert!(refused.contains("SignatureDoesNotMatch"), "{refused}");
}
