//! The rotation state machine, one row per transition, and focused planner cases.

use super::*;

// ---------------------------------------------------------------------------------------
// 1. The state machine, one row per transition (all for user alice, default windows)
// ---------------------------------------------------------------------------------------

struct Case {
    name: &'static str,
    state: State,
    inventory: Inventory,
    now: Time,
    options: PlanOptions,
    phase: Phase,
    actions: Vec<Act>,
    waits: Vec<Wt>,
    drift: Vec<(KeyId, DriftKind)>,
    /// What `evidence_needed` asks the inventory reader for.
    evidence: Vec<&'static str>,
}

impl Default for Case {
    fn default() -> Self {
        Case {
            name: "",
            state: State::new("test-lineage".into()),
            inventory: Inventory::default(),
            now: day(0),
            options: PlanOptions::default(),
            phase: Phase::Empty,
            actions: Vec::new(),
            waits: Vec::new(),
            drift: Vec::new(),
            evidence: Vec::new(),
        }
    }
}

fn alice(keys: Vec<LiveKey>) -> Inventory {
    inventory(vec![("alice", keys)])
}

fn force_alice() -> PlanOptions {
    PlanOptions {
        force_rotate: vec![addr("alice")],
        ..PlanOptions::default()
    }
}

fn transitions() -> Vec<Case> {
    use Role::{Current, Previous};
    vec![
        // --- first run -------------------------------------------------------------
        Case {
            name: "first run: Active key younger than max_age is imported, create waits for max_age",
            inventory: alice(vec![live(OLD, "Active", day(30))]),
            now: day(100),
            actions: vec![imp(Current, "Active", day(30), OLD)],
            waits: vec![wait(Step::Rotate, Some(OLD), Some(day(120)), "max_age")],
            ..Case::default()
        },
        Case {
            name: "first run: Active key older than max_age is imported and rotated",
            inventory: alice(vec![live(OLD, "Active", day(0))]),
            now: day(100),
            actions: vec![imp(Current, "Active", day(0), OLD), create("max_age")],
            ..Case::default()
        },
        Case {
            name: "first run: a key exactly max_age old is rotated",
            inventory: alice(vec![live(OLD, "Active", day(0))]),
            now: day(90),
            actions: vec![imp(Current, "Active", day(0), OLD), create("max_age")],
            ..Case::default()
        },
        Case {
            name: "first run: no keys at all, create one",
            inventory: alice(vec![]),
            now: day(0),
            actions: vec![create("no_active_key")],
            ..Case::default()
        },
        Case {
            name: "user missing from IAM: blocked, nothing else",
            inventory: Inventory::default(),
            now: day(0),
            waits: vec![wait(Step::Blocked, None, None, "user_missing")],
            ..Case::default()
        },
        Case {
            name: "first run: a single Inactive key is retired and a new key created (slot free)",
            inventory: alice(vec![live(OLD, "Inactive", day(0))]),
            now: day(100),
            actions: vec![imp(Previous, "Inactive", day(0), OLD), create("no_active_key")],
            waits: vec![wait(Step::Delete, Some(OLD), Some(day(107)), "inactive_for")],
            ..Case::default()
        },
        Case {
            name: "first run: two Active keys, the newest is current, the older is retired",
            inventory: alice(vec![live(OLD, "Active", day(0)), live(NEW, "Active", day(50))]),
            now: day(52),
            actions: vec![
                imp(Current, "Active", day(50), NEW),
                imp(Previous, "Active", day(0), OLD),
            ],
            waits: vec![wait(Step::Deactivate, Some(OLD), Some(day(57)), "overlap")],
            ..Case::default()
        },
        // --- steady ----------------------------------------------------------------
        Case {
            name: "steady: young key waits for max_age",
            state: steady().done(),
            inventory: alice(vec![live(OLD, "Active", day(0))]),
            now: day(89),
            phase: Phase::Steady,
            waits: vec![wait(Step::Rotate, Some(OLD), Some(day(90)), "max_age")],
            ..Case::default()
        },
        Case {
            name: "steady: key reaches max_age, create",
            state: steady().done(),
            inventory: alice(vec![live(OLD, "Active", day(0))]),
            now: day(90),
            phase: Phase::Steady,
            actions: vec![create("max_age")],
            ..Case::default()
        },
        Case {
            name: "steady: force_rotate creates whatever the age",
            state: steady().done(),
            inventory: alice(vec![live(OLD, "Active", day(0))]),
            now: day(10),
            options: force_alice(),
            phase: Phase::Steady,
            actions: vec![create("forced")],
            ..Case::default()
        },
        // --- overlap ---------------------------------------------------------------
        Case {
            name: "overlap: new key younger than overlap, deactivate waits for born+overlap",
            state: overlap().done(),
            inventory: alice(live_overlap()),
            now: day(93),
            phase: Phase::Overlap,
            waits: vec![wait(Step::Deactivate, Some(OLD), Some(day(97)), "overlap")],
            ..Case::default()
        },
        Case {
            name: "overlap: passed, old key never used, deactivate",
            state: overlap().done(),
            inventory: with_last_used(alice(live_overlap()), OLD, LastUsed::Never),
            now: day(98),
            phase: Phase::Overlap,
            actions: vec![deactivate(OLD)],
            evidence: vec![OLD],
            ..Case::default()
        },
        Case {
            name: "overlap: exactly at born+overlap counts as passed",
            state: overlap().done(),
            inventory: with_last_used(alice(live_overlap()), OLD, LastUsed::Never),
            now: day(97),
            phase: Phase::Overlap,
            actions: vec![deactivate(OLD)],
            evidence: vec![OLD],
            ..Case::default()
        },
        Case {
            name: "overlap: passed but old key used recently, wait until last_used+unused_for",
            state: overlap().done(),
            inventory: with_last_used(alice(live_overlap()), OLD, LastUsed::At(day(97))),
            now: day(98),
            phase: Phase::Overlap,
            waits: vec![wait(Step::Deactivate, Some(OLD), Some(day(100)), "recently_used")],
            evidence: vec![OLD],
            ..Case::default()
        },
        Case {
            name: "overlap: passed and old key used long ago, deactivate",
            state: overlap().done(),
            inventory: with_last_used(alice(live_overlap()), OLD, LastUsed::At(day(90))),
            now: day(98),
            phase: Phase::Overlap,
            actions: vec![deactivate(OLD)],
            evidence: vec![OLD],
            ..Case::default()
        },
        Case {
            name: "overlap: last use exactly unused_for ago, deactivate",
            state: overlap().done(),
            inventory: with_last_used(alice(live_overlap()), OLD, LastUsed::At(day(95))),
            now: day(98),
            phase: Phase::Overlap,
            actions: vec![deactivate(OLD)],
            evidence: vec![OLD],
            ..Case::default()
        },
        Case {
            name: "overlap: passed but no evidence read, wait with no due date",
            state: overlap().done(),
            inventory: alice(live_overlap()),
            now: day(98),
            phase: Phase::Overlap,
            waits: vec![wait(Step::Deactivate, Some(OLD), None, "no_evidence")],
            evidence: vec![OLD],
            ..Case::default()
        },
        Case {
            name: "overlap: long overdue, only the deactivate (never its delete in the same plan)",
            state: overlap().done(),
            inventory: with_last_used(alice(live_overlap()), OLD, LastUsed::Never),
            now: day(400),
            phase: Phase::Overlap,
            actions: vec![deactivate(OLD)],
            evidence: vec![OLD],
            ..Case::default()
        },
        Case {
            name: "overlap: force_rotate does not start a second rotation",
            state: overlap().done(),
            inventory: alice(live_overlap()),
            now: day(93),
            options: force_alice(),
            phase: Phase::Overlap,
            waits: vec![wait(Step::Deactivate, Some(OLD), Some(day(97)), "overlap")],
            ..Case::default()
        },
        // --- inactive (checkpoint) ---------------------------------------------------
        Case {
            name: "inactive: before inactive_for, delete waits for status_since+inactive_for",
            state: inactive().done(),
            inventory: alice(live_inactive()),
            now: day(100),
            phase: Phase::Inactive,
            waits: vec![wait(Step::Delete, Some(OLD), Some(day(105)), "inactive_for")],
            ..Case::default()
        },
        Case {
            name: "inactive: inactive_for passed, delete",
            state: inactive().done(),
            inventory: alice(live_inactive()),
            now: day(105),
            phase: Phase::Inactive,
            actions: vec![delete(OLD)],
            ..Case::default()
        },
        // --- held --------------------------------------------------------------------
        Case {
            name: "held: only a resume wait, even when every gate has passed",
            state: held().done(),
            inventory: with_last_used(alice(live_overlap()), OLD, LastUsed::Never),
            now: day(300),
            phase: Phase::Held,
            waits: vec![wait(Step::Resume, Some(OLD), None, "held")],
            ..Case::default()
        },
        Case {
            name: "held: force_rotate does not break the hold",
            state: held().done(),
            inventory: alice(live_overlap()),
            now: day(300),
            options: force_alice(),
            phase: Phase::Held,
            waits: vec![wait(Step::Resume, Some(OLD), None, "held")],
            ..Case::default()
        },
        // --- quota -------------------------------------------------------------------
        Case {
            name: "quota: rotation due while previous Inactive and its delete due, delete frees the slot",
            state: inactive().done(),
            inventory: alice(live_inactive()),
            now: day(180),
            phase: Phase::Inactive,
            actions: vec![delete_freeing(OLD), create("max_age")],
            ..Case::default()
        },
        Case {
            name: "quota: rotation due while previous Inactive and its delete not due, create waits",
            state: overlap().deactivate("alice", OLD, day(178)).done(),
            inventory: alice(live_inactive()),
            now: day(180),
            phase: Phase::Inactive,
            waits: vec![
                wait(Step::Delete, Some(OLD), Some(day(185)), "inactive_for"),
                wait(Step::Rotate, None, Some(day(185)), "quota"),
            ],
            ..Case::default()
        },
        Case {
            name: "quota: forced rotation at the checkpoint waits for the delete",
            state: inactive().done(),
            inventory: alice(live_inactive()),
            now: day(100),
            options: force_alice(),
            phase: Phase::Inactive,
            waits: vec![
                wait(Step::Delete, Some(OLD), Some(day(105)), "inactive_for"),
                wait(Step::Rotate, None, Some(day(105)), "quota"),
            ],
            ..Case::default()
        },
        Case {
            name: "quota: two Inactive untracked keys, newest adopted, create waits for its delete",
            inventory: alice(vec![live(OLD, "Inactive", day(10)), live(OTH, "Inactive", day(20))]),
            now: day(100),
            actions: vec![imp(Previous, "Inactive", day(20), OTH)],
            waits: vec![
                wait(Step::Blocked, Some(OLD), None, "second_leftover"),
                wait(Step::Delete, Some(OTH), Some(day(107)), "inactive_for"),
                wait(Step::Rotate, None, Some(day(107)), "quota"),
            ],
            ..Case::default()
        },
        // --- drift -------------------------------------------------------------------
        Case {
            name: "drift: the only (current) key deleted outside keyrot, untrack and create",
            state: steady().done(),
            inventory: alice(vec![]),
            now: day(10),
            phase: Phase::Steady,
            actions: vec![untrack(OLD), create("no_active_key")],
            drift: vec![(kid(OLD), DriftKind::Deleted)],
            ..Case::default()
        },
        Case {
            name: "drift: new current key deleted in overlap, Active previous becomes current (and is overdue)",
            state: overlap().done(),
            inventory: alice(vec![live(OLD, "Active", day(0))]),
            now: day(93),
            phase: Phase::Overlap,
            actions: vec![untrack(NEW), create("max_age")],
            drift: vec![(kid(NEW), DriftKind::Deleted)],
            ..Case::default()
        },
        Case {
            name: "drift: previous key deleted outside keyrot in overlap, back to steady",
            state: overlap().done(),
            inventory: alice(vec![live(NEW, "Active", day(90))]),
            now: day(93),
            phase: Phase::Overlap,
            actions: vec![untrack(OLD)],
            waits: vec![wait(Step::Rotate, Some(NEW), Some(day(180)), "max_age")],
            drift: vec![(kid(OLD), DriftKind::Deleted)],
            ..Case::default()
        },
        Case {
            name: "drift: previous key deactivated by hand in overlap, delete waits inactive_for from now",
            state: overlap().done(),
            inventory: alice(live_inactive()),
            now: day(93),
            phase: Phase::Overlap,
            actions: vec![refresh(OLD, "Inactive", false)],
            waits: vec![wait(Step::Delete, Some(OLD), Some(day(100)), "inactive_for")],
            drift: vec![status_changed(OLD, "Active", "Inactive")],
            ..Case::default()
        },
        Case {
            name: "drift: previous key reactivated by hand at the checkpoint, held, not deactivated again",
            state: inactive().done(),
            inventory: with_last_used(alice(live_overlap()), OLD, LastUsed::Never),
            now: day(101),
            phase: Phase::Inactive,
            actions: vec![refresh(OLD, "Active", true)],
            waits: vec![wait(Step::Resume, Some(OLD), None, "held")],
            drift: vec![status_changed(OLD, "Inactive", "Active")],
            ..Case::default()
        },
        Case {
            name: "drift: current key deactivated by hand, blocked, no create",
            state: steady().done(),
            inventory: alice(vec![live(OLD, "Inactive", day(0))]),
            now: day(50),
            phase: Phase::Steady,
            actions: vec![refresh(OLD, "Inactive", false)],
            waits: vec![wait(Step::Blocked, Some(OLD), None, "current_not_active")],
            drift: vec![status_changed(OLD, "Active", "Inactive")],
            ..Case::default()
        },
        Case {
            name: "drift: current key deactivated by hand, force_rotate creates",
            state: steady().done(),
            inventory: alice(vec![live(OLD, "Inactive", day(0))]),
            now: day(50),
            options: force_alice(),
            phase: Phase::Steady,
            actions: vec![refresh(OLD, "Inactive", false), create("forced")],
            drift: vec![status_changed(OLD, "Active", "Inactive")],
            ..Case::default()
        },
        Case {
            name: "drift: new key deactivated by hand in overlap, blocked",
            state: overlap().done(),
            inventory: alice(vec![live(OLD, "Active", day(0)), live(NEW, "Inactive", day(90))]),
            now: day(93),
            phase: Phase::Overlap,
            actions: vec![refresh(NEW, "Inactive", false)],
            waits: vec![wait(Step::Blocked, Some(OLD), None, "current_not_active")],
            drift: vec![status_changed(NEW, "Active", "Inactive")],
            ..Case::default()
        },
        Case {
            name: "drift: a newer key made outside keyrot becomes current; the old one retires",
            state: steady().done(),
            inventory: alice(vec![live(OLD, "Active", day(0)), live(EXT, "Active", day(40))]),
            now: day(50),
            phase: Phase::Steady,
            actions: vec![imp(Current, "Active", day(40), EXT)],
            waits: vec![wait(Step::Deactivate, Some(OLD), None, "no_evidence")],
            drift: vec![(kid(EXT), DriftKind::Appeared)],
            evidence: vec![OLD],
            ..Case::default()
        },
        Case {
            name: "drift: a key made outside keyrot just now keeps the old key Active for overlap",
            state: steady().done(),
            inventory: alice(vec![live(OLD, "Active", day(0)), live(EXT, "Active", day(49))]),
            now: day(50),
            phase: Phase::Steady,
            actions: vec![imp(Current, "Active", day(49), EXT)],
            waits: vec![wait(Step::Deactivate, Some(OLD), Some(day(56)), "overlap")],
            drift: vec![(kid(EXT), DriftKind::Appeared)],
            ..Case::default()
        },
        // --- unknown statuses ------------------------------------------------------------
        Case {
            name: "unknown status: an Expired key on first run is imported and blocks",
            inventory: alice(vec![live(OLD, "Expired", day(0))]),
            now: day(10),
            actions: vec![imp(Previous, "Expired", day(0), OLD)],
            waits: vec![wait(Step::Blocked, Some(OLD), None, "unknown_status")],
            ..Case::default()
        },
        Case {
            name: "unknown status: the current key turns Expired, refresh and block",
            state: steady().done(),
            inventory: alice(vec![live(OLD, "Expired", day(0))]),
            now: day(200),
            phase: Phase::Steady,
            actions: vec![refresh(OLD, "Expired", false)],
            waits: vec![wait(Step::Blocked, Some(OLD), None, "current_not_active")],
            drift: vec![status_changed(OLD, "Active", "Expired")],
            ..Case::default()
        },
        Case {
            name: "unknown status: the previous key turns Expired in overlap, refresh and block",
            state: overlap().done(),
            inventory: alice(vec![live(OLD, "Expired", day(0)), live(NEW, "Active", day(90))]),
            now: day(200),
            phase: Phase::Overlap,
            actions: vec![refresh(OLD, "Expired", false)],
            waits: vec![wait(Step::Blocked, Some(OLD), None, "unknown_status")],
            drift: vec![status_changed(OLD, "Active", "Expired")],
            ..Case::default()
        },
        // --- refresh only ------------------------------------------------------------------
        Case {
            name: "refresh_only: first run imports but does not create",
            inventory: alice(vec![live(OLD, "Active", day(0))]),
            now: day(100),
            options: PlanOptions {
                refresh_only: true,
                ..PlanOptions::default()
            },
            actions: vec![imp(Current, "Active", day(0), OLD)],
            ..Case::default()
        },
        Case {
            name: "refresh_only: drift is recorded, the due deactivate is not planned",
            state: overlap().done(),
            inventory: with_last_used(
                alice(vec![live(OLD, "Active", day(0)), live(NEW, "Inactive", day(90))]),
                OLD,
                LastUsed::Never,
            ),
            now: day(100),
            options: PlanOptions {
                refresh_only: true,
                ..PlanOptions::default()
            },
            phase: Phase::Overlap,
            actions: vec![refresh(NEW, "Inactive", false)],
            drift: vec![status_changed(NEW, "Active", "Inactive")],
            ..Case::default()
        },
    ]
}

#[test]
fn state_machine_transitions() {
    let config = config(&["alice"]);
    let cases = transitions();
    let mut failures = Vec::new();
    for case in &cases {
        let plan = planner::plan(
            &config,
            &case.inventory,
            &case.state,
            case.now,
            &case.options,
        );
        let got = set(&plan, "alice");
        let evidence = planner::evidence_needed(&config, &case.inventory, &case.state, case.now);
        let want_evidence: Vec<KeyId> = case.evidence.iter().map(|id| kid(id)).collect();
        let mut problems = Vec::new();
        if plan.sets.len() != 1 {
            problems.push(format!("{} sets planned, want 1", plan.sets.len()));
        }
        if plan.now != case.now || plan.refresh_only != case.options.refresh_only {
            problems.push("plan.now / plan.refresh_only not carried over".to_string());
        }
        if got.phase != case.phase {
            problems.push(format!("phase {:?}, want {:?}", got.phase, case.phase));
        }
        if acts(got) != case.actions {
            problems.push(format!(
                "actions\n    got  {:?}\n    want {:?}",
                acts(got),
                case.actions
            ));
        }
        if waits(got) != case.waits {
            problems.push(format!(
                "waits\n    got  {:?}\n    want {:?}",
                waits(got),
                case.waits
            ));
        }
        if drift(got) != case.drift {
            problems.push(format!(
                "drift\n    got  {:?}\n    want {:?}",
                drift(got),
                case.drift
            ));
        }
        if evidence != want_evidence {
            problems.push(format!(
                "evidence_needed {evidence:?}, want {want_evidence:?}"
            ));
        }
        // Never both steps for one key in one plan.
        for a in got.actions.iter().filter(|a| a.kind == ActionKind::Delete) {
            if got
                .actions
                .iter()
                .any(|b| b.kind == ActionKind::Deactivate && b.key == a.key)
            {
                problems.push(format!("delete and deactivate of {:?} together", a.key));
            }
        }
        if case.options.refresh_only && got.actions.iter().any(|a| a.kind.mutates_iam()) {
            problems.push("refresh_only plan touches IAM".to_string());
        }
        if !problems.is_empty() {
            failures.push(format!("{}:\n  {}", case.name, problems.join("\n  ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} transitions wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

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
                let _ = render::text::plan(&plan, Style { color: false });
                let _ = render::json::plan(&plan);
            }
        }
    }
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
        certs: BTreeMap::from([("alice".to_string(), certs)]),
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
