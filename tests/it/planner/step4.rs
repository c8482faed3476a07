//! Step 4 by machine, in the pure planner: the new key must be seen in use before the old
//! one is switched off (`require_new_key_use`), and confirm checks run after the
//! deactivation and before the delete; a set held by a failed check needs a person.

use super::*;
use keyrot::core::config::{Check, Confirm, ExecEnv, OnConfirmFailure};
use keyrot::core::planner::manual;
use keyrot::core::state::CheckRecord;

/// The plan at `at` with the default options.
fn plan_at(config: &Config, inv: &Inventory, state: &State, at: Time) -> Plan {
    planner::plan(config, inv, state, at, &PlanOptions::default())
}

fn gated() -> Config {
    let mut config = config(&["alice"]);
    if let Some(set) = config.sets.get_mut(&addr("alice")) {
        set.require_new_key_use = true;
    }
    config
}

fn smoke_test() -> Check {
    Check::Exec {
        command: vec!["./smoke-test".into()],
        timeout: Window::from_secs(60),
        env: ExecEnv::default(),
    }
}

fn checked(on_failure: OnConfirmFailure) -> Config {
    let mut config = config(&["alice"]);
    if let Some(set) = config.sets.get_mut(&addr("alice")) {
        set.confirm = Confirm {
            checks: vec![smoke_test()],
            on_failure,
        };
    }
    config
}

/// Day 98: overlap done, the old key never used; the new key's last use is `new_used`.
fn overlap_plan(config: &Config, new_used: Option<LastUsed>) -> SetPlan {
    let mut inv = with_last_used(alice(live_overlap()), OLD, LastUsed::Never);
    if let Some(used) = new_used {
        inv.last_used.insert(kid(NEW), used);
    }
    let plan = plan_at(config, &inv, &overlap().done(), day(98));
    set(&plan, "alice").clone()
}

#[test]
fn the_old_key_waits_until_the_new_one_is_used_after_its_delivery() {
    let config = gated();
    // NEW was delivered on day 90 (the fixture's keyrot and IAM clocks agree).
    let delivered = day(90);
    for (used, why) in [
        (LastUsed::Never, "never used"),
        (
            LastUsed::At(delivered - Duration::seconds(2)),
            "the STS proof, before delivery",
        ),
        (
            LastUsed::At(delivered + Duration::seconds(20)),
            "within the margin of delivery",
        ),
    ] {
        let s = overlap_plan(&config, Some(used));
        assert_eq!(acts(&s), vec![], "{why}");
        assert_eq!(
            waits(&s),
            vec![wait(Step::Deactivate, Some(OLD), None, "new_key_unused")],
            "{why}"
        );
        let message = &s.waits[0].reason.message;
        assert!(
            message.contains("not used since its delivery at 2024-03-31T00:00:00Z"),
            "{message}"
        );
    }
    let used = LastUsed::At(delivered + Duration::minutes(5));
    assert_eq!(
        acts(&overlap_plan(&config, Some(used))),
        vec![deactivate(OLD)]
    );
    // Not read: no decision on a guess.
    let unread = overlap_plan(&config, None);
    assert_eq!(
        waits(&unread),
        vec![wait(Step::Deactivate, Some(OLD), None, "no_evidence")]
    );
    // A wait that a consumer's use releases, not one for a person.
    assert!(!unread.waits[0].needs_a_person());
    // Off by default: the new key's use is not asked for.
    let plain = super::config(&["alice"]);
    assert_eq!(acts(&overlap_plan(&plain, None)), vec![deactivate(OLD)]);
}

#[test]
fn a_key_keyrot_did_not_deliver_counts_any_recorded_use() {
    let config = gated();
    let mut state = overlap().done();
    if let Some(current) = state
        .sets
        .get_mut(&addr("alice"))
        .and_then(|s| s.current.as_mut())
    {
        current.delivered = None;
    }
    let inv = with_last_used(alice(live_overlap()), OLD, LastUsed::Never);
    let never = with_last_used(inv.clone(), NEW, LastUsed::Never);
    let plan = plan_at(&config, &never, &state, day(98));
    let message = &set(&plan, "alice").waits[0].reason.message;
    assert!(message.contains("not used: the old key"), "{message}");
    let used = with_last_used(inv, NEW, LastUsed::At(day(80)));
    let plan = plan_at(&config, &used, &state, day(98));
    assert_eq!(acts(set(&plan, "alice")), vec![deactivate(OLD)]);
}

#[test]
fn the_plan_asks_for_the_new_keys_last_use_only_when_gated() {
    let inv = alice(live_overlap());
    let state = overlap().done();
    let ids = planner::evidence_needed(&gated(), &inv, &state, day(98));
    assert_eq!(ids, vec![kid(NEW), kid(OLD)]);
    let ids = planner::evidence_needed(&config(&["alice"]), &inv, &state, day(98));
    assert_eq!(ids, vec![kid(OLD)]);
}

fn confirm_act(id: &str) -> Act {
    (
        ActionKind::Confirm,
        Some(kid(id)),
        "confirm_checks".to_string(),
        false,
    )
}

fn kinds_in_order(plan: &Plan) -> Vec<ActionKind> {
    plan.execution_order()
        .into_iter()
        .map(|(si, ai)| plan.sets[si].actions[ai].kind.clone())
        .collect()
}

#[test]
fn checks_run_right_after_the_deactivation_and_on_every_run_before_the_delete() {
    let config = checked(OnConfirmFailure::Rollback);
    let inv = with_last_used(alice(live_overlap()), OLD, LastUsed::Never);
    let plan = plan_at(&config, &inv, &overlap().done(), day(98));
    assert_eq!(
        acts(set(&plan, "alice")),
        vec![deactivate(OLD), confirm_act(OLD)]
    );
    assert_eq!(
        kinds_in_order(&plan),
        [ActionKind::Deactivate, ActionKind::Confirm]
    );
    assert!(plan.summary().has_actions());
    assert!(plan.labels().contains(&"has-checks"));

    // Inside inactive_for: every plan runs the checks again; the delete waits.
    let inv = alice(live_inactive());
    let plan = plan_at(&config, &inv, &inactive().done(), day(100));
    let s = set(&plan, "alice");
    assert_eq!(acts(s), vec![confirm_act(OLD)]);
    assert_eq!(
        waits(s),
        vec![wait(
            Step::Delete,
            Some(OLD),
            Some(day(105)),
            "inactive_for"
        )]
    );
    // Once it has passed: the checks, then the delete.
    let plan = plan_at(&config, &inv, &inactive().done(), day(106));
    assert_eq!(
        kinds_in_order(&plan),
        [ActionKind::Confirm, ActionKind::Delete]
    );
    assert_eq!(plan.sets[0].checks.len(), 1);
    assert_eq!(plan.sets[0].checks[0].check, "exec ./smoke-test");
    assert_eq!(plan.sets[0].checks[0].last, None, "not run yet");
}

#[test]
fn a_due_rotation_never_deletes_ahead_of_the_checks() {
    // Day 180: inactive_for has passed and the new key is due too, both slots used.
    let plain = plan_at(
        &config(&["alice"]),
        &alice(live_inactive()),
        &inactive().done(),
        day(180),
    );
    assert_eq!(
        acts(set(&plain, "alice")),
        vec![delete_freeing(OLD), create("max_age")]
    );
    let config = checked(OnConfirmFailure::Rollback);
    let plan = plan_at(
        &config,
        &alice(live_inactive()),
        &inactive().done(),
        day(180),
    );
    let s = set(&plan, "alice");
    assert_eq!(acts(s), vec![confirm_act(OLD), delete(OLD)]);
    assert_eq!(s.waits[0].step, Step::Rotate);
    assert_eq!(
        kinds_in_order(&plan),
        [ActionKind::Confirm, ActionKind::Delete]
    );
}

fn failed_run(at: Time) -> CheckRecord {
    CheckRecord {
        check: "exec ./smoke-test".into(),
        fingerprint: smoke_test().fingerprint(),
        ran: at,
        passed: false,
        last_passed: None,
        output: Some("`./smoke-test` exited with exit status: 1".into()),
    }
}

#[test]
fn a_set_held_by_a_failed_check_needs_a_person_and_shows_the_result() {
    let config = checked(OnConfirmFailure::Rollback);
    // Reverted on day 99: OLD Active again, held, the failure recorded.
    let mut state = held().done();
    if let Some(s) = state.sets.get_mut(&addr("alice")) {
        s.record_checks(vec![failed_run(day(99))]);
    }
    let plan = plan_at(&config, &alice(live_overlap()), &state, day(120));
    let s = set(&plan, "alice");
    assert_eq!(acts(s), vec![]);
    assert_eq!(
        waits(s),
        vec![wait(Step::Resume, Some(OLD), None, "confirm_failed")]
    );
    assert!(s.waits[0]
        .reason
        .message
        .contains("the old key was reactivated"));
    assert_eq!(plan.summary().blocked, 1, "exit 7 until a person resumes");
    assert_eq!(s.checks[0].last, Some(failed_run(day(99))));

    // A person's rollback holds too, but that is their decision: no alarm.
    let plan = plan_at(&config, &alice(live_overlap()), &held().done(), day(120));
    assert_eq!(waits(set(&plan, "alice"))[0].3, "held");
    assert_eq!(plan.summary().blocked, 0);
}

#[test]
fn a_set_held_with_its_old_key_inactive_can_be_rolled_back_or_resumed() {
    // on_confirm_failure = "hold": the failure is recorded and the set held, OLD Inactive.
    let mut state = inactive().done();
    if let Some(s) = state.sets.get_mut(&addr("alice")) {
        s.record_checks(vec![failed_run(day(99))]);
        s.held = true;
    }
    let config = checked(OnConfirmFailure::Hold);
    let plan = plan_at(&config, &alice(live_inactive()), &state, day(120));
    let s = set(&plan, "alice");
    assert!(s.waits[0]
        .reason
        .message
        .contains("the old key stays Inactive"));
    let (rollback, key) = manual::rollback(&state, &addr("alice"), day(120)).unwrap();
    assert_eq!(key.id, kid(OLD));
    assert_eq!(rollback.sets[0].actions[0].kind, ActionKind::Reactivate);
    // Resumed: the checks run again before anything is deleted.
    let resumed = manual::resume(&state, &addr("alice"), false).unwrap();
    state.sets.insert(addr("alice"), resumed);
    let plan = plan_at(&config, &alice(live_inactive()), &state, day(120));
    assert_eq!(
        kinds_in_order(&plan),
        [ActionKind::Confirm, ActionKind::Delete]
    );
}
