//! Sets in other accounts: an account that could not be reached makes only its own sets
//! wait, and what it held is never forgotten on that account.

use super::*;
use keyrot::core::config::Selection;

fn in_prod(user: &str) -> Address {
    addr(user).in_account(Some("prod".into()))
}

/// alice in keyrot's own account and in prod (declared), bob in prod tracked only.
fn scene() -> (Config, State, Inventory) {
    let mut config = config(&["alice"]);
    let prod_alice = SetConfig {
        address: in_prod("alice"),
        ..config.sets[&addr("alice")].clone()
    };
    config.sets.insert(in_prod("alice"), prod_alice);
    let mut state = steady().done();
    for user in ["alice", "bob"] {
        let kind = ActionKind::Import {
            role: Role::Current,
            status: KeyStatus::Active,
            born: day(0),
        };
        state.record(&in_prod(user), &action(kind, Some(OTH)), None, day(0));
    }
    let inv = alice(vec![live(OLD, "Active", day(0))]);
    (config, state, inv)
}

#[test]
fn an_unreachable_account_makes_only_its_sets_wait() {
    let (config, state, mut inv) = scene();
    inv.unreachable.insert(
        "prod".into(),
        "account prod cannot be reached: AccessDenied".into(),
    );
    let plan = planner::plan(&config, &inv, &state, day(100), &PlanOptions::default());
    let shown: Vec<(String, Vec<&str>, Vec<ReasonCode>)> = plan
        .sets
        .iter()
        .map(|s| {
            (
                s.address.to_string(),
                s.actions.iter().map(|a| a.kind.name()).collect(),
                s.waits.iter().map(|w| w.reason.code).collect(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        vec![
            ("user.alice.access_key".into(), vec!["create"], vec![]),
            (
                "account.prod.user.alice.access_key".into(),
                vec![],
                vec![ReasonCode::AccountUnreachable]
            ),
            (
                "account.prod.user.bob.access_key".into(),
                vec![],
                vec![ReasonCode::AccountUnreachable]
            ),
        ],
        "bob is not forgotten on an account keyrot could not read"
    );
    assert!(plan.sets[1].waits[0].needs_a_person());
    assert_eq!(plan.summary().blocked, 2);
}

#[test]
fn an_account_whose_users_could_not_be_listed_forgets_nothing() {
    let (mut config, state, mut inv) = scene();
    config.sets.remove(&in_prod("alice"));
    inv.credentials.remove(&in_prod("alice"));
    let listed = |unlisted: &[&str]| Selection {
        chosen: Default::default(),
        unlisted: unlisted
            .iter()
            .map(|a| (a.to_string(), "ListUsers: access denied".to_string()))
            .collect(),
    };
    config.selection = Some(listed(&["prod"]));
    let plan = planner::plan(&config, &inv, &state, day(100), &PlanOptions::default());
    let forgets = plan
        .sets
        .iter()
        .filter(|s| s.actions.iter().any(|a| a.kind == ActionKind::Forget))
        .count();
    assert_eq!(forgets, 0, "{:#?}", plan.sets);
    config.selection = Some(listed(&[]));
    let plan = planner::plan(&config, &inv, &state, day(100), &PlanOptions::default());
    let forgotten: Vec<String> = plan
        .sets
        .iter()
        .filter(|s| s.actions.iter().any(|a| a.kind == ActionKind::Forget))
        .map(|s| s.address.to_string())
        .collect();
    assert_eq!(
        forgotten,
        [
            "account.prod.user.alice.access_key",
            "account.prod.user.bob.access_key"
        ],
        "listed and not chosen: forgotten (state only)"
    );
}
