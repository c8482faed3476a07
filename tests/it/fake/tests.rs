//! The fake itself behaves like IAM where keyrot relies on it.

use super::*;
use futures::FutureExt;
use keyrot::adapters::iam::{Iam, NewCredential};
use keyrot::adapters::remote::Remote;
use keyrot::core::model::LastUsed;

fn t0() -> Time {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(f)
}

#[test]
fn quota_unknowns_status_and_sts() {
    let iam = FakeIam::new(t0());
    let remote = iam.remote();
    let a = Address::access_key("ci");
    assert_eq!(block(iam.list_credentials(&a)).unwrap(), None);
    assert!(
        block(iam.create_credential(&Address::access_key("ci"), NewCredential::AccessKey))
            .unwrap_err()
            .is_no_such_entity()
    );
    iam.add_user("ci");
    let k1 =
        block(iam.create_credential(&Address::access_key("ci"), NewCredential::AccessKey)).unwrap();
    let k2 =
        block(iam.create_credential(&Address::access_key("ci"), NewCredential::AccessKey)).unwrap();
    let third = block(iam.create_credential(&Address::access_key("ci"), NewCredential::AccessKey))
        .unwrap_err();
    assert!(matches!(third, IamError::LimitExceeded { .. }), "{third}");
    assert_eq!(iam.quota_refusals(), 1);
    assert_eq!(k1.key.created, t0());
    let secret = k1.secret.as_ref().unwrap();
    assert_eq!(
        block(remote.caller_arn(&k1.key.id.0, secret)).unwrap(),
        "arn:aws:iam::123456789012:user/ci"
    );
    assert!(block(remote.caller_arn(&k2.key.id.0, secret)).is_err());
    block(iam.set_credential_status(&a, &k1.key.id, KeyStatus::Inactive)).unwrap();
    assert!(block(remote.caller_arn(&k1.key.id.0, secret)).is_err());
    block(iam.delete_credential(&a, &k1.key.id)).unwrap();
    assert!(block(iam.delete_credential(&a, &k1.key.id))
        .unwrap_err()
        .is_no_such_entity());
    assert_eq!(iam.credentials(&a).unwrap().len(), 1);
    iam.set_last_used(&k2.key.id, t0());
    assert_eq!(
        block(iam.last_used(&a, &k2.key.id)).unwrap(),
        LastUsed::At(t0())
    );
    let report = block(iam.credential_report()).unwrap();
    assert!(report.contains("ci,arn:aws:iam::123456789012:user/ci,true"));
    let ops: Vec<Op> = iam.log().iter().map(|c| c.op).collect();
    assert_eq!(ops[..3], [Op::List, Op::Create, Op::Create]);
}

#[test]
fn secrets_keep_the_previous_version_and_policy_round_trips() {
    let iam = FakeIam::new(t0());
    let remote = iam.remote();
    assert!(block(remote.secret_put("s", "one", false)).is_err());
    block(remote.secret_put("s", "one", true)).unwrap();
    block(remote.secret_put("s", "two", false)).unwrap();
    assert_eq!(iam.secret("s"), Some(("two".into(), Some("one".into()))));
    assert_eq!(
        block(remote.secret_get("s", true)).unwrap().as_deref(),
        Some(&"one".to_string())
    );
    block(remote.parameter_put("p", "v", None)).unwrap();
    assert_eq!(iam.parameter("p").as_deref(), Some("v"));
    assert_eq!(block(iam.password_policy()).unwrap(), None);
    let policy = PasswordPolicy::default();
    block(iam.set_password_policy(&policy)).unwrap();
    assert_eq!(block(iam.password_policy()).unwrap(), Some(policy));
    block(iam.delete_password_policy()).unwrap();
    assert!(block(iam.delete_password_policy()).is_err());
}

#[test]
fn faults_fail_lose_retry_and_crash() {
    quiet_crashes();
    let iam = FakeIam::new(t0());
    iam.add_user("ci");
    let a = Address::access_key("ci");
    let rule = |n, fault| Rule {
        op: Some(Op::Create),
        when: When::Nth(n),
        fault,
    };
    iam.arm(
        vec![
            rule(1, Fault::Fail(ErrorKind::Throttled)),
            rule(2, Fault::Lost(ErrorKind::ServerError)),
            rule(3, Fault::Retried),
        ],
        7,
    );
    let create =
        || block(iam.create_credential(&Address::access_key("ci"), NewCredential::AccessKey));
    assert!(matches!(create(), Err(IamError::Other { .. })));
    assert_eq!(
        iam.credentials(&a).unwrap().len(),
        0,
        "failed before the effect"
    );
    assert!(create().is_err());
    assert_eq!(
        iam.credentials(&a).unwrap().len(),
        1,
        "lost after the effect"
    );
    assert!(matches!(create(), Err(IamError::LimitExceeded { .. })));
    assert_eq!(
        iam.credentials(&a).unwrap().len(),
        2,
        "the retry hit the quota"
    );
    iam.disarm();
    let id = iam.credentials(&a).unwrap()[0].id.clone();
    block(iam.delete_credential(&a, &id)).unwrap();
    iam.arm(vec![rule(1, Fault::Crash { after: true })], 7);
    let crashed = block(
        std::panic::AssertUnwindSafe(
            iam.create_credential(&Address::access_key("ci"), NewCredential::AccessKey),
        )
        .catch_unwind(),
    )
    .unwrap_err();
    assert!(crashed.is::<Crashed>());
    assert_eq!(
        iam.credentials(&a).unwrap().len(),
        2,
        "crashed after the effect"
    );
    // The world is still usable after a crash.
    assert!(block(iam.list_credentials(&a)).is_ok());
    assert_eq!(iam.faults_fired(), 4);
    iam.arm(
        vec![Rule {
            op: None,
            when: When::Chance(0.5),
            fault: Fault::Fail(ErrorKind::Denied),
        }],
        42,
    );
    let failed = (0..200)
        .filter(|_| block(iam.list_credentials(&a)).is_err())
        .count();
    assert!((60..140).contains(&failed), "{failed}");
}
