//! Credentials beyond access keys: the account password policy and signing certificates.

use super::*;

#[test]
fn password_policy_is_planned_with_the_sets_but_not_when_narrowed() {
    use keyrot::core::policy::{PasswordPolicy, PolicyAction, PolicySpec};
    let mut config = config(&["alice"]);
    config.password_policy = Some(PolicySpec {
        minimum_password_length: Some(14),
        ..PolicySpec::default()
    });
    let mut inv = inventory(vec![("alice", vec![live(OLD, "Active", day(0))])]);
    inv.password_policy = Some(Some(PasswordPolicy {
        require_symbols: true,
        ..PasswordPolicy::default()
    }));
    let state = State::new("l".into());
    let plan = planner::plan(&config, &inv, &state, day(10), &PlanOptions::default());
    let policy = plan.password_policy.as_ref().expect("policy planned");
    assert_eq!(policy.action, PolicyAction::Update);
    assert!(policy
        .fields
        .iter()
        .any(|f| f.field == "require_symbols" && f.resets));
    assert_eq!(plan.summary().policy, 1);
    assert!(plan.labels().contains(&"has-policy-change"));
    for narrowed in [
        PlanOptions {
            targets: vec![addr("alice")],
            ..PlanOptions::default()
        },
        PlanOptions {
            refresh_only: true,
            ..PlanOptions::default()
        },
    ] {
        assert_eq!(
            planner::plan(&config, &inv, &state, day(10), &narrowed).password_policy,
            None
        );
    }
    // Converged, and a config that does not manage it: nothing planned.
    inv.password_policy = Some(Some(config.password_policy.clone().unwrap().effective()));
    assert_eq!(
        planner::plan(&config, &inv, &state, day(10), &PlanOptions::default()).password_policy,
        None
    );
    config.password_policy = None;
    inv.password_policy = None;
    assert_eq!(
        planner::plan(&config, &inv, &state, day(10), &PlanOptions::default()).password_policy,
        None
    );
}

// ---------------------------------------------------------------------------------------
// Signing certificates: the same machine, no last-use evidence, expiry-driven rotation.
// ---------------------------------------------------------------------------------------

fn cert_config() -> Config {
    let mut config = Config::default();
    let address = keyrot::core::model::Address::signing_certificate("alice");
    config.sets.insert(
        address.clone(),
        SetConfig {
            address,
            windows: Windows {
                unused_for: keyrot::core::duration::Window::from_secs(0),
                ..default_windows()
            },
            sinks: Vec::new(),
            certificate: None,
            selector: None,
            require_new_key_use: false,
            confirm: Default::default(),
        },
    );
    config
}

fn live_cert(id: &str, status: &str, created: Time, not_after: Time) -> LiveKey {
    LiveKey {
        cert: Some(keyrot::core::model::CertInfo {
            subject: "CN=alice".into(),
            not_after,
            fingerprint: "ab".repeat(32),
        }),
        ..live(id, status, created)
    }
}

fn cert_inventory(certs: Vec<LiveKey>) -> Inventory {
    Inventory {
        credentials: BTreeMap::from([(Address::signing_certificate("alice"), certs)]),
        ..Inventory::default()
    }
}

#[test]
fn certificates_rotate_early_when_they_would_expire_first() {
    let config = cert_config();
    let state = State::new("l".into());
    // max_age 90d, but the certificate expires on day 50: due at day 50 - overlap (7d).
    let inv = cert_inventory(vec![live_cert(OLD, "Active", day(0), day(50))]);
    let plan = planner::plan(&config, &inv, &state, day(20), &PlanOptions::default());
    let set = &plan.sets[0];
    assert_eq!(set.waits.len(), 1, "{:?}", set.waits);
    assert_eq!(set.waits[0].step, Step::Rotate);
    assert_eq!(set.waits[0].due, Some(day(43)));
    assert_eq!(set.waits[0].reason.code, ReasonCode::Expiry);
    let plan = planner::plan(&config, &inv, &state, day(43), &PlanOptions::default());
    let create = plan.sets[0]
        .actions
        .iter()
        .find(|a| a.kind == ActionKind::Create)
        .expect("early rotation");
    assert_eq!(create.reason.code, ReasonCode::Expiry);
    assert!(
        create.reason.message.contains("expires"),
        "{}",
        create.reason.message
    );
    // A certificate that outlives max_age rotates on age as usual.
    let inv = cert_inventory(vec![live_cert(OLD, "Active", day(0), day(400))]);
    let plan = planner::plan(&config, &inv, &state, day(20), &PlanOptions::default());
    assert_eq!(plan.sets[0].waits[0].due, Some(day(90)));
    assert_eq!(plan.sets[0].waits[0].reason.code, ReasonCode::MaxAge);
}

#[test]
fn certificates_need_no_last_use_evidence_and_respect_the_quota() {
    let config = cert_config();
    let address = keyrot::core::model::Address::signing_certificate("alice");
    let mut state = State::new("l".into());
    let old = live_cert(OLD, "Active", day(0), day(400));
    let new = live_cert(NEW, "Active", day(100), day(500));
    // Adopt both: the newer is current, overlap counts from it.
    let plan = planner::plan(
        &config,
        &cert_inventory(vec![old.clone(), new.clone()]),
        &state,
        day(100),
        &PlanOptions::default(),
    );
    for (si, ai) in plan.execution_order() {
        state.record(&address, &plan.sets[si].actions[ai], None, day(100));
    }
    assert!(planner::evidence_needed(
        &config,
        &cert_inventory(vec![old.clone(), new.clone()]),
        &state,
        day(110)
    )
    .is_empty());
    let plan = planner::plan(
        &config,
        &cert_inventory(vec![old.clone(), new.clone()]),
        &state,
        day(107),
        &PlanOptions::default(),
    );
    let deactivate = &plan.sets[0].actions[0];
    assert_eq!(
        (deactivate.kind.clone(), deactivate.key.clone()),
        (ActionKind::Deactivate, Some(kid(OLD)))
    );
    // Both slots full and a rotation forced: never a third certificate.
    let forced = PlanOptions {
        force_rotate: vec![address.clone()],
        ..PlanOptions::default()
    };
    let plan = planner::plan(
        &config,
        &cert_inventory(vec![old, new]),
        &state,
        day(101),
        &forced,
    );
    assert!(
        plan.sets[0]
            .actions
            .iter()
            .all(|a| a.kind != ActionKind::Create),
        "{:?}",
        plan.sets[0].actions
    );
}
