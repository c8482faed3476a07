//! The rotation state machine, one row per transition.

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
