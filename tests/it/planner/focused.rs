//! Focused planner cases: execution order, separate runs, targets, refresh-only, sets
//! removed from the config, changes made outside keyrot, and known bugs, each pinned by a
//! focused test.

use super::*;

/// Applies every action of `plan` to `state` in execution order; creates get `new_ids`.
fn record_all(state: &mut State, plan: &Plan, new_ids: &[&str]) {
    let mut ids = new_ids.iter();
    for (si, ai) in plan.execution_order() {
        let set = &plan.sets[si];
        let a = &set.actions[ai];
        let created = (a.kind == ActionKind::Create).then(|| {
            let id = ids.next().expect("more creates than ids");
            fresh_key(id, plan.now)
        });
        state.record(&set.address, a, created.as_ref(), plan.now);
    }
}

#[test]
fn quota_delete_runs_before_create() {
    let config = config(&["alice"]);
    let state = inactive().done();
    let inv = alice(live_inactive());
    let plan = planner::plan(&config, &inv, &state, day(180), &PlanOptions::default());
    let order: Vec<&ActionKind> = plan
        .execution_order()
        .into_iter()
        .map(|(si, ai)| &plan.sets[si].actions[ai].kind)
        .collect();
    assert_eq!(order, [&ActionKind::Delete, &ActionKind::Create]);
    // In the plan's own list the delete also comes first, and it is the slot-freeing one.
    assert!(set(&plan, "alice").actions[0].frees_slot);

    // After applying: NEW is the previous key (still Active), the fresh key is current.
    let mut state = state;
    record_all(&mut state, &plan, &["AKIAFRESHFRESHFR0005"]);
    let s = &state.sets[&addr("alice")];
    assert_eq!(s.phase(), Phase::Overlap);
    assert_eq!(s.current.as_ref().unwrap().id, kid("AKIAFRESHFRESHFR0005"));
    assert_eq!(s.previous.as_ref().unwrap().id, kid(NEW));
}

#[test]
fn execution_order_is_stage_major_across_sets() {
    // alice: slot-freeing delete + create; bob: deactivate; carol: import + plain delete later.
    let config = config(&["alice", "bob", "carol"]);
    let mut state = inactive().done();
    let bob = Story::new()
        .import("bob", Role::Current, OLD, "Active", day(0))
        .create("bob", NEW, day(90))
        .done();
    state.sets.extend(bob.sets);
    let inv = with_last_used(
        inventory(vec![
            ("alice", live_inactive()),
            ("bob", live_overlap()),
            ("carol", vec![live(EXT, "Active", day(0))]),
        ]),
        OLD,
        LastUsed::Never,
    );
    let plan = planner::plan(&config, &inv, &state, day(180), &PlanOptions::default());
    let order: Vec<(String, &'static str)> = plan
        .execution_order()
        .into_iter()
        .map(|(si, ai)| {
            let s = &plan.sets[si];
            (s.address.user.clone(), s.actions[ai].kind.name())
        })
        .collect();
    let want = [
        ("carol", "import"),
        ("alice", "delete"),
        ("alice", "create"),
        ("carol", "create"),
        ("bob", "deactivate"),
    ];
    let want: Vec<(String, &str)> = want.iter().map(|(u, k)| (u.to_string(), *k)).collect();
    assert_eq!(order, want);
}

#[test]
fn deactivate_and_delete_are_planned_in_separate_runs() {
    let config = config(&["alice"]);
    let mut state = overlap().done();
    // Well past overlap, while NEW (born day 90) is still younger than max_age.
    let now = day(150);
    let inv = with_last_used(alice(live_overlap()), OLD, LastUsed::Never);
    let first = planner::plan(&config, &inv, &state, now, &PlanOptions::default());
    assert_eq!(acts(set(&first, "alice")), vec![deactivate(OLD)]);
    record_all(&mut state, &first, &[]);

    // Same instant, IAM now shows OLD Inactive: the delete waits the full inactive_for.
    let inv = alice(live_inactive());
    let again = planner::plan(&config, &inv, &state, now, &PlanOptions::default());
    assert_eq!(acts(set(&again, "alice")), vec![]);
    assert_eq!(
        waits(set(&again, "alice")),
        vec![wait(
            Step::Delete,
            Some(OLD),
            Some(now + Duration::days(7)),
            "inactive_for"
        )]
    );
    let later = planner::plan(
        &config,
        &inv,
        &state,
        now + Duration::days(7),
        &PlanOptions::default(),
    );
    assert_eq!(acts(set(&later, "alice")), vec![delete(OLD)]);
    record_all(&mut state, &later, &[]);
    let s = &state.sets[&addr("alice")];
    assert_eq!(s.phase(), Phase::Steady);
    assert_eq!(s.current.as_ref().unwrap().id, kid(NEW));
}

#[test]
fn reactivated_previous_is_held_by_the_refresh() {
    let config = config(&["alice"]);
    let mut state = inactive().done();
    let inv = with_last_used(alice(live_overlap()), OLD, LastUsed::Never);
    let plan = planner::plan(&config, &inv, &state, day(101), &PlanOptions::default());
    record_all(&mut state, &plan, &[]);
    let s = &state.sets[&addr("alice")];
    assert!(s.held);
    assert_eq!(s.phase(), Phase::Held);
    assert_eq!(s.previous.as_ref().unwrap().status, KeyStatus::Active);
    // Weeks later, with every gate open, still only the resume wait.
    let later = planner::plan(&config, &inv, &state, day(200), &PlanOptions::default());
    assert_eq!(acts(set(&later, "alice")), vec![]);
    assert_eq!(
        waits(set(&later, "alice")),
        vec![wait(Step::Resume, Some(OLD), None, "held")]
    );
    assert!(planner::evidence_needed(&config, &inv, &state, day(200)).is_empty());
}

#[test]
fn deleted_current_promotes_active_previous() {
    let config = config(&["alice"]);
    let mut state = overlap().done();
    let inv = alice(vec![live(OLD, "Active", day(0))]);
    let plan = planner::plan(&config, &inv, &state, day(93), &PlanOptions::default());
    // Apply only the state-only part (untrack), not the create.
    let untrack_only = Plan {
        sets: vec![SetPlan {
            actions: vec![set(&plan, "alice").actions[0].clone()],
            ..set(&plan, "alice").clone()
        }],
        ..plan.clone()
    };
    record_all(&mut state, &untrack_only, &[]);
    let s = &state.sets[&addr("alice")];
    assert_eq!(s.phase(), Phase::Steady);
    assert_eq!(s.current.as_ref().unwrap().id, kid(OLD));
    assert_eq!(s.current.as_ref().unwrap().born, day(0));
    assert!(s.previous.is_none());
}

#[test]
fn deleted_current_with_inactive_previous_keeps_previous_and_creates() {
    let config = config(&["alice"]);
    let state = inactive().done();
    let inv = alice(vec![live(OLD, "Inactive", day(0))]);
    let plan = planner::plan(&config, &inv, &state, day(100), &PlanOptions::default());
    let got = set(&plan, "alice");
    assert_eq!(acts(got), vec![untrack(NEW), create("no_active_key")]);
    assert_eq!(
        waits(got),
        vec![wait(
            Step::Delete,
            Some(OLD),
            Some(day(105)),
            "inactive_for"
        )]
    );
    assert_eq!(drift(got), vec![(kid(NEW), DriftKind::Deleted)]);
}

#[test]
fn removed_from_config_is_forgotten() {
    let config = config(&["alice"]);
    let state = Story::new()
        .import("alice", Role::Current, OLD, "Active", day(0))
        .import("bob", Role::Current, NEW, "Active", day(0))
        .done();
    let inv = inventory(vec![
        ("alice", vec![live(OLD, "Active", day(0))]),
        ("bob", vec![live(NEW, "Active", day(0))]),
    ]);
    let plan = planner::plan(&config, &inv, &state, day(200), &PlanOptions::default());
    let addresses: Vec<&Address> = plan.sets.iter().map(|s| &s.address).collect();
    assert_eq!(
        addresses,
        [&addr("alice"), &addr("bob")],
        "sorted by address"
    );
    let bob = set(&plan, "bob");
    assert_eq!(
        acts(bob),
        vec![(
            ActionKind::Forget,
            None,
            "removed_from_config".to_string(),
            false
        )]
    );
    assert!(bob.waits.is_empty() && bob.keys.is_empty() && bob.drift.is_empty());
    assert_eq!(bob.phase, Phase::Steady);
    // Bob's key is old, but keyrot does not touch IAM for a forgotten set.
    assert!(!bob.actions.iter().any(|a| a.kind.mutates_iam()));

    let mut state = state;
    record_all(&mut state, &plan, &["AKIAFRESHFRESHFR0005"]);
    assert!(!state.sets.contains_key(&addr("bob")));
}

#[test]
fn targets_limit_the_plan() {
    let config = config(&["alice", "bob"]);
    let state = Story::new()
        .import("alice", Role::Current, OLD, "Active", day(0))
        .import("carol", Role::Current, EXT, "Active", day(0))
        .done();
    let inv = inventory(vec![
        ("alice", vec![live(OLD, "Active", day(0))]),
        ("bob", vec![]),
    ]);
    let only_bob = PlanOptions {
        targets: vec![addr("bob")],
        ..PlanOptions::default()
    };
    let plan = planner::plan(&config, &inv, &state, day(200), &only_bob);
    assert_eq!(plan.sets.len(), 1);
    assert_eq!(acts(set(&plan, "bob")), vec![create("no_active_key")]);

    // A forget is targeted too.
    let only_carol = PlanOptions {
        targets: vec![addr("carol")],
        ..PlanOptions::default()
    };
    let plan = planner::plan(&config, &inv, &state, day(200), &only_carol);
    assert_eq!(plan.sets.len(), 1);
    assert_eq!(plan.sets[0].actions[0].kind, ActionKind::Forget);

    // A target that is neither configured nor tracked plans nothing.
    let nobody = PlanOptions {
        targets: vec![addr("zed")],
        ..PlanOptions::default()
    };
    let plan = planner::plan(&config, &inv, &state, day(200), &nobody);
    assert!(plan.sets.is_empty());
}

#[test]
fn refresh_only_gives_only_state_only_actions() {
    let config = config(&["alice", "bob", "carol", "dave"]);
    let mut state = overlap().done();
    let bob = Story::new()
        .import("bob", Role::Current, EXT, "Active", day(0))
        .done();
    state.sets.extend(bob.sets);
    let forgotten = Story::new()
        .import("erin", Role::Current, OTH, "Active", day(0))
        .done();
    state.sets.extend(forgotten.sets);
    let inv = with_last_used(
        inventory(vec![
            ("alice", live_inactive()),
            ("bob", vec![]),
            ("carol", vec![live(OTH, "Active", day(0))]),
        ]),
        OLD,
        LastUsed::Never,
    );
    let options = PlanOptions {
        refresh_only: true,
        force_rotate: vec![addr("alice"), addr("carol")],
        ..PlanOptions::default()
    };
    let plan = planner::plan(&config, &inv, &state, day(300), &options);
    assert!(plan.refresh_only);
    let kinds: Vec<(String, &'static str)> = plan
        .sets
        .iter()
        .flat_map(|s| {
            s.actions
                .iter()
                .map(|a| (s.address.user.clone(), a.kind.name()))
        })
        .collect();
    let want: Vec<(String, &str)> = [
        ("alice", "refresh"),
        ("bob", "untrack"),
        ("carol", "import"),
        ("erin", "forget"),
    ]
    .iter()
    .map(|(u, k)| (u.to_string(), *k))
    .collect();
    assert_eq!(kinds, want);
    assert!(plan
        .sets
        .iter()
        .flat_map(|s| &s.actions)
        .all(|a| !a.kind.mutates_iam()));
    // dave (missing user) is the only set with a wait: nothing else is evaluated.
    let waiting: Vec<&str> = plan
        .sets
        .iter()
        .filter(|s| !s.waits.is_empty())
        .map(|s| s.address.user.as_str())
        .collect();
    assert_eq!(waiting, ["dave"]);
}

#[test]
fn unknown_status_never_panics_anywhere_in_the_machine() {
    let config = config(&["alice"]);
    let stories = [
        ("empty", Story::new().done()),
        ("steady", steady().done()),
        ("overlap", overlap().done()),
        ("inactive", inactive().done()),
        ("held", held().done()),
    ];
    for (name, state) in &stories {
        for keys in [
            vec![live(OLD, "Expired", day(0))],
            vec![live(NEW, "Expired", day(90))],
            vec![live(OLD, "Expired", day(0)), live(NEW, "Active", day(90))],
            vec![live(OLD, "Inactive", day(0)), live(NEW, "Expired", day(90))],
            vec![live(OLD, "Expired", day(0)), live(NEW, "Expired", day(90))],
        ] {
            for now in [day(50), day(95), day(300)] {
                let inv = with_last_used(alice(keys.clone()), OLD, LastUsed::Never);
                let options = force_alice();
                let plan = planner::plan(&config, &inv, state, now, &options);
                let got = set(&plan, "alice");
                // Never act on a key whose status keyrot does not know.
                for a in got.actions.iter().filter(|a| a.kind.mutates_iam()) {
                    let target = keys.iter().find(|k| Some(&k.id) == a.key.as_ref());
                    assert!(
                        !matches!(target.map(|k| &k.status), Some(KeyStatus::Other(_))),
                        "{name} {keys:?} {now}: {a:?} on a key of unknown status"
                    );
                }
                let _ = render::text::plan(&plan, Style { color: false }, KeyIds::Masked);
                let _ = render::json::plan(&plan, KeyIds::Masked);
            }
        }
    }
}

/// Incident response at the checkpoint: the new key deleted by hand, the old one turned back
/// on. keyrot must end in a state its own loader accepts, with the old key as current.
#[test]
fn new_key_deleted_and_old_reactivated_by_hand_leaves_a_loadable_state() {
    let config = config(&["alice"]);
    let address = addr("alice");
    let mut state = State::new("l".into());
    let both = inventory(vec![(
        "alice",
        vec![live(OLD, "Active", day(0)), live(NEW, "Active", day(90))],
    )]);
    for at in [day(90), day(100)] {
        let mut inv = both.clone();
        inv.last_used.insert(kid(OLD), LastUsed::Never);
        let plan = planner::plan(&config, &inv, &state, at, &PlanOptions::default());
        for (si, ai) in plan.execution_order() {
            let a = &plan.sets[si].actions[ai];
            // Imports and the deactivation; no create is due in this story.
            if !a.kind.mutates_iam() || a.kind == ActionKind::Deactivate {
                state.record(&address, a, None, at);
            }
        }
    }
    assert_eq!(
        state.sets[&address].phase(),
        keyrot::core::state::Phase::Inactive
    );
    // By hand: NEW deleted, OLD reactivated.
    let inv = inventory(vec![("alice", vec![live(OLD, "Active", day(0))])]);
    let plan = planner::plan(&config, &inv, &state, day(101), &PlanOptions::default());
    for (si, ai) in plan.execution_order() {
        state.record(&address, &plan.sets[si].actions[ai], None, day(101));
    }
    let set = &state.sets[&address];
    assert_eq!(set.current.as_ref().map(|k| k.id.clone()), Some(kid(OLD)));
    assert!(set.previous.is_none() && !set.held, "{set:?}");
    let text = keyrot::core::state::file::to_json(&state);
    keyrot::core::state::file::from_json(&text).expect("keyrot can load the state it wrote");
}

// ---------------------------------------------------------------------------------------
// Known bugs, each pinned by a focused test
// ---------------------------------------------------------------------------------------

#[test]

fn single_inactive_key_stays_tracked_through_the_first_create() {
    let config = config(&["alice"]);
    let mut state = State::new("test-lineage".into());
    let now = day(100);
    let inv = alice(vec![live(OLD, "Inactive", day(0))]);
    let plan = planner::plan(&config, &inv, &state, now, &PlanOptions::default());
    assert_eq!(
        acts(set(&plan, "alice")),
        vec![
            imp(Role::Previous, "Inactive", day(0), OLD),
            create("no_active_key")
        ]
    );
    record_all(&mut state, &plan, &[NEW]);

    let s = &state.sets[&addr("alice")];
    assert_eq!(s.current.as_ref().map(|k| &k.id), Some(&kid(NEW)));
    assert_eq!(
        s.previous.as_ref().map(|k| &k.id),
        Some(&kid(OLD)),
        "the Inactive key still exists in IAM and must stay tracked"
    );

    let inv = alice(vec![
        live(OLD, "Inactive", day(0)),
        live(NEW, "Active", now),
    ]);
    let again = planner::plan(&config, &inv, &state, now, &PlanOptions::default());
    let got = set(&again, "alice");
    assert_eq!(drift(got), vec![], "no change was made outside keyrot");
    assert_eq!(acts(got), vec![]);
    assert_eq!(
        waits(got),
        vec![wait(
            Step::Delete,
            Some(OLD),
            Some(now + Duration::days(7)),
            "inactive_for"
        )]
    );
}

#[test]

fn inactive_previous_stays_tracked_when_current_deleted_outside() {
    let config = config(&["alice"]);
    let mut state = inactive().done();
    let now = day(100);
    let inv = alice(vec![live(OLD, "Inactive", day(0))]);
    let plan = planner::plan(&config, &inv, &state, now, &PlanOptions::default());
    assert_eq!(
        acts(set(&plan, "alice")),
        vec![untrack(NEW), create("no_active_key")]
    );
    record_all(&mut state, &plan, &[EXT]);
    let s = &state.sets[&addr("alice")];
    assert_eq!(s.current.as_ref().map(|k| &k.id), Some(&kid(EXT)));
    assert_eq!(s.previous.as_ref().map(|k| &k.id), Some(&kid(OLD)));
    // Its Inactive window still counts from the deactivation on day 98.
    assert_eq!(s.previous.as_ref().map(|k| k.status_since), Some(day(98)));

    let inv = alice(vec![
        live(OLD, "Inactive", day(0)),
        live(EXT, "Active", now),
    ]);
    let again = planner::plan(&config, &inv, &state, now, &PlanOptions::default());
    let got = set(&again, "alice");
    assert_eq!(drift(got), vec![]);
    assert_eq!(acts(got), vec![]);
}

#[test]

fn two_inactive_keys_are_retired_without_false_drift() {
    let config = config(&["alice"]);
    let mut state = State::new("test-lineage".into());
    let mut keys = vec![
        live(OLD, "Inactive", day(10)),
        live(OTH, "Inactive", day(20)),
    ];

    let mut now = day(100);
    let mut all_drift = Vec::new();
    let mut fresh = ["AKIAFRESHFRESHFR0005", "AKIAFRESHFRESHFR0006"].into_iter();
    // Run plan/apply at each due time until nothing is left to do.
    for _ in 0..10 {
        let plan = planner::plan(
            &config,
            &alice(keys.clone()),
            &state,
            now,
            &PlanOptions::default(),
        );
        let got = set(&plan, "alice");
        all_drift.extend(drift(got));
        // Done once only the next rotation is left to wait for.
        if got.actions.is_empty()
            && got
                .waits
                .iter()
                .all(|w| w.step == Step::Rotate && w.reason.code == ReasonCode::MaxAge)
        {
            break;
        }
        let mut created = Vec::new();
        for (si, ai) in plan.execution_order() {
            let a = &plan.sets[si].actions[ai];
            match a.kind {
                ActionKind::Create => {
                    let id = fresh.next().unwrap();
                    keys.push(live(id, "Active", now));
                    created.push(id);
                }
                ActionKind::Delete => keys.retain(|k| Some(&k.id) != a.key.as_ref()),
                _ => {}
            }
        }
        record_all(&mut state, &plan, &created);
        if got.actions.is_empty() {
            // Nothing to do yet: go to the next due time.
            now = got
                .waits
                .iter()
                .filter_map(|w| w.due)
                .min()
                .expect("a due wait");
        }
    }
    assert_eq!(all_drift, vec![], "keyrot was the only actor");
    let ids: Vec<&KeyId> = keys.iter().map(|k| &k.id).collect();
    assert_eq!(ids, [&kid("AKIAFRESHFRESHFR0005")]);
}
