//! Signing-certificate rotation against moto: generate → upload → deactivate →
//! checkpoint → delete, verified through the SDK; the private key never leaks.

use crate::common::*;
use chrono::Duration;
use keyrot::core::config::KeyAlgorithm;
use secrecy::ExposeSecret;

fn certificates(iam: &aws_sdk_iam::Client, user: &str) -> Vec<(String, String, String)> {
    rt().block_on(async {
        let out = iam
            .list_signing_certificates()
            .user_name(user)
            .send()
            .await
            .expect("list certs");
        let mut certs: Vec<_> = out
            .certificates()
            .iter()
            .map(|c| {
                (
                    c.certificate_id().to_string(),
                    c.status().as_str().to_string(),
                    c.certificate_body().to_string(),
                )
            })
            .collect();
        certs.sort();
        certs
    })
}

pub(crate) fn upload(iam: &aws_sdk_iam::Client, user: &str, pem: &str) -> String {
    rt().block_on(async {
        iam.upload_signing_certificate()
            .user_name(user)
            .certificate_body(pem)
            .send()
            .await
            .expect("upload")
            .certificate()
            .unwrap()
            .certificate_id()
            .to_string()
    })
}

fn create_user(iam: &aws_sdk_iam::Client, user: &str) {
    rt().block_on(async {
        iam.create_user()
            .user_name(user)
            .send()
            .await
            .expect("create user");
    });
}

fn config(user: &str) -> String {
    format!(
        r#"user "{user}" {{
  signing_certificate {{
    max_age      = "90d"
    overlap      = "7d"
    inactive_for = "7d"
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

#[test]
fn certificate_rotation_end_to_end() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("cert");
    create_user(&iam, &user);
    let now = chrono::Utc::now();
    let existing =
        keyrot::adapters::certs::generate(KeyAlgorithm::EcdsaP256, &[], &user, 365, now).unwrap();
    let old_id = upload(&iam, &user, &existing.certificate_pem);
    let project = Project::new(&moto.endpoint, &config(&user));
    let day0 = now + Duration::days(100);
    let address = format!("user.{user}.signing_certificate");

    // Day 0: the uploaded certificate is 100 days old → import + upload a new one.
    let plan = project.ok(&["plan", "--detailed-exitcode"], Some(day0), 2);
    assert!(
        plan.stdout.contains("<= import certificate"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("create a new signing certificate"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains(&format!("subject CN={user}")),
        "the plan shows subject: {}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("not after") && plan.stdout.contains("sha256"),
        "{}",
        plan.stdout
    );
    let json = project.ok(&["plan", "--json"], Some(day0), 0);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_matches_schema("plan.schema.json", &v);
    project.ok(&["apply", "--auto-approve"], Some(day0), 0);

    let certs = certificates(&iam, &user);
    assert_eq!(certs.len(), 2, "{certs:?}");
    let (new_id, _, uploaded) = certs
        .iter()
        .find(|(id, _, _)| *id != old_id)
        .unwrap()
        .clone();
    assert!(certs.iter().all(|(_, status, _)| status == "Active"));
    // The delivered PEM holds exactly the uploaded certificate and the key that matches it.
    let delivered = std::fs::read_to_string(project.path(&format!("secrets/{user}.pem"))).unwrap();
    assert!(
        delivered.contains(&new_id),
        "the id line names the certificate"
    );
    let cert_start = delivered.find("-----BEGIN CERTIFICATE-----").unwrap();
    let cert_end =
        delivered.find("-----END CERTIFICATE-----").unwrap() + "-----END CERTIFICATE-----".len();
    let delivered_cert = &delivered[cert_start..cert_end];
    assert_eq!(
        keyrot::adapters::certs::inspect(delivered_cert)
            .unwrap()
            .fingerprint,
        keyrot::adapters::certs::inspect(&uploaded)
            .unwrap()
            .fingerprint
    );
    let key_start = delivered
        .find("-----BEGIN PRIVATE KEY-----")
        .expect("private key delivered");
    let private_key = delivered[key_start..].to_string();
    let info = keyrot::adapters::certs::check_pair(delivered_cert, &private_key, now)
        .expect("key matches certificate");
    assert!(
        info.subject.contains(&format!("CN={user}")) && info.subject.contains("O=keyrot tests")
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(project.path(&format!("secrets/{user}.pem")))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // Day 8: overlap passed → deactivate the old certificate; checkpoint; rollback works.
    project.ok(
        &["apply", "--auto-approve"],
        Some(day0 + Duration::days(8)),
        0,
    );
    assert!(certificates(&iam, &user).contains(&(
        old_id.clone(),
        "Inactive".into(),
        existing.certificate_pem.clone()
    )));
    project.ok(&["rollback", &address], Some(day0 + Duration::days(9)), 0);
    assert!(certificates(&iam, &user)
        .iter()
        .all(|(_, s, _)| s == "Active"));
    project.ok(&["resume", &address], Some(day0 + Duration::days(9)), 0);
    project.ok(
        &["apply", "--auto-approve"],
        Some(day0 + Duration::days(9)),
        0,
    );

    // Day 17: Inactive for 8 days → delete. One certificate left: the delivered one.
    project.ok(
        &["apply", "--auto-approve"],
        Some(day0 + Duration::days(17)),
        0,
    );
    let certs = certificates(&iam, &user);
    assert_eq!(
        certs
            .iter()
            .map(|(id, s, _)| (id.clone(), s.clone()))
            .collect::<Vec<_>>(),
        vec![(new_id.clone(), "Active".into())]
    );
    project.ok(
        &["plan", "--detailed-exitcode"],
        Some(day0 + Duration::days(17)),
        3,
    );

    // The private keys appear in nothing keyrot wrote or printed, but the sink.
    let sink = format!("secrets/{user}.pem");
    let key_body: String = private_key.lines().nth(1).unwrap().to_string();
    project.assert_secret_nowhere(&key_body, &[sink.as_str()]);
    let existing_key = existing
        .private_key_pem
        .expose_secret()
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    project.assert_secret_nowhere(&existing_key, &[]);
}

#[test]
fn bring_your_own_pairs_are_checked_before_any_iam_call() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("byo");
    create_user(&iam, &user);
    let now = chrono::Utc::now();
    let a = keyrot::adapters::certs::generate(KeyAlgorithm::EcdsaP256, &[], "a", 30, now).unwrap();
    let b = keyrot::adapters::certs::generate(KeyAlgorithm::EcdsaP256, &[], "b", 30, now).unwrap();
    let config = format!(
        "user \"{user}\" {{\n  signing_certificate {{\n    certificate_file = \"cert.pem\"\n    private_key_file = \"key.pem\"\n    deliver \"file\" {{\n      path = \"out.pem\"\n    }}\n  }}\n}}\n"
    );
    let project = Project::new(&moto.endpoint, &config);
    std::fs::write(project.path("cert.pem"), &a.certificate_pem).unwrap();

    // A key that belongs to another certificate.
    std::fs::write(project.path("key.pem"), b.private_key_pem.expose_secret()).unwrap();
    for args in [&["plan"][..], &["apply", "--auto-approve"]] {
        let run = project.ok(args, None, 1);
        assert!(
            run.stderr
                .contains("the private key does not belong to the certificate"),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains("PRIVATE KEY"), "{}", run.stderr);
    }
    // Garbage.
    std::fs::write(project.path("cert.pem"), "not a certificate").unwrap();
    let run = project.ok(&["plan"], None, 1);
    assert!(
        run.stderr.contains("not a PEM certificate"),
        "{}",
        run.stderr
    );
    // Expired by the time the plan is for.
    std::fs::write(project.path("cert.pem"), &a.certificate_pem).unwrap();
    std::fs::write(project.path("key.pem"), a.private_key_pem.expose_secret()).unwrap();
    let run = project.ok(&["plan"], Some(now + Duration::days(60)), 1);
    assert!(
        run.stderr.contains("the certificate expired"),
        "{}",
        run.stderr
    );
    assert!(certificates(&iam, &user).is_empty(), "nothing was uploaded");
    assert!(
        !project.path("state/keyrot.json").exists(),
        "state untouched"
    );

    // A good pair is uploaded and delivered.
    project.ok(&["apply", "--auto-approve"], None, 0);
    let certs = certificates(&iam, &user);
    assert_eq!(certs.len(), 1);
    assert_eq!(
        keyrot::adapters::certs::inspect(&certs[0].2)
            .unwrap()
            .fingerprint,
        keyrot::adapters::certs::inspect(&a.certificate_pem)
            .unwrap()
            .fingerprint
    );
    assert!(std::fs::read_to_string(project.path("out.pem"))
        .unwrap()
        .contains("PRIVATE KEY"));
}
