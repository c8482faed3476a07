//! Focused cases found by the properties.

use super::harness::{Harness, Outcome};
use super::schedule::{Schedule, Sinks, UserSpec};
use super::Stats;
use crate::fake::{quiet_crashes, ErrorKind, Fault, Op, Rule, When};
use chrono::{Duration, TimeZone, Utc};
use keyrot::adapters::store::journal::Journal;
use keyrot::adapters::store::StateStore;
use keyrot::core::config::Windows;
use keyrot::core::model::{Address, KeyStatus, Time};
use keyrot::core::plan::ActionKind;
use keyrot::core::plan::PlanOptions;
use keyrot::ops::apply::Applier;
use keyrot::ops::inventory::Reader;

/// A runtime, the schedule's start, and a harness over one user `u0` with default windows,
/// `sinks`, and the keys IAM has at the start ((Active, age in hours)).
fn one_user(sinks: Sinks, keys: Vec<(bool, i64)>) -> (tokio::runtime::Runtime, Time, Harness) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let start = Utc.with_ymd_and_hms(2027, 3, 1, 0, 0, 0).unwrap();
    let sc = Schedule {
        users: vec![UserSpec {
            windows: Windows::default(),
            sinks,
            keys,
        }],
        cert: None,
        steps: Vec::new(),
        parallelism: 1,
    };
    let h = Harness::new(&sc, start);
    (rt, start, h)
}

/// A delivery fails, a sink cannot be put back, and the process dies right after the clean-up
/// deleted the new key: the sink holds a deleted key. The next command's recovery must say
/// so, as the live failure would have (otherwise consumers read a dead key until the next
/// rotation, and nobody was told).
#[test]
fn recovery_names_a_sink_holding_a_key_an_interrupted_clean_up_deleted() {
    quiet_crashes();
    let (rt, start, mut h) = one_user(Sinks::ParameterAndSecret, vec![(true, 24 * 100)]);
    let rule = |op, fault| Rule {
        op: Some(op),
        when: When::Nth(1),
        fault,
    };
    h.iam.arm(
        vec![
            // The second sink fails, the first cannot be put back, the undo delete dies.
            rule(Op::SecretPut, Fault::Fail(ErrorKind::ServerError)),
            rule(Op::ParameterDelete, Fault::Fail(ErrorKind::ServerError)),
            rule(Op::Delete, Fault::Crash { after: true }),
        ],
        0,
    );
    let outcome = h.run(&rt, start, &PlanOptions::default(), &mut Stats::default());
    assert!(matches!(outcome, Outcome::Crashed), "{outcome:?}");
    h.iam.disarm();
    let address = Address::access_key("u0");
    let held = h
        .held_id(&h.iam.parameter("/keyrot/u0").expect("parameter written"))
        .expect("a key id");
    let live = h.iam.credentials(&address).unwrap();
    assert!(live.iter().all(|k| k.id != held), "the new key was deleted");

    let intent = Journal::for_state(&h.state_path).pending().unwrap()[0].clone();
    let mut state = StateStore::new(h.state_path.clone()).load().unwrap();
    let said = h.reconcile(&rt, &mut state, &intent, start).said;
    assert!(
        said.iter()
            .any(|l| l.contains("ssm_parameter /keyrot/u0") && l.contains(&held.masked())),
        "{said:?}"
    );
    assert!(
        !said.iter().any(|l| l.contains("secrets_manager")),
        "the secret never held it: {said:?}"
    );
}

/// A plan waits (at the prompt, in review) and meanwhile the old key is used again: the
/// deactivation re-reads last use and leaves the key Active, the other sets unaffected.
#[test]
fn a_key_used_after_the_plan_is_not_deactivated() {
    let (rt, start, mut h) = one_user(Sinks::File, vec![(true, 24 * 100)]);
    let address = Address::access_key("u0");
    // Day 0: import and create; the old key is now the previous one.
    let first = h.run(&rt, start, &PlanOptions::default(), &mut Stats::default());
    assert!(matches!(first, Outcome::Done { .. }), "{first:?}");
    let state = StateStore::new(h.state_path.clone()).load().unwrap();
    let old = state.sets[&address]
        .previous
        .clone()
        .expect("previous key")
        .id;
    // Past overlap and unused_for: the plan deactivates the old key…
    let later = start + Duration::days(30);
    h.iam.set_now(later);
    let planned = rt
        .block_on(keyrot::ops::plan::make(
            &mut Reader::new(&h.iams, 8),
            &h.config,
            &state,
            &PlanOptions::default(),
            later,
        ))
        .unwrap()
        .plan;
    assert!(
        planned.sets[0]
            .actions
            .iter()
            .any(|a| a.kind == ActionKind::Deactivate),
        "{planned:?}"
    );
    // …but a consumer uses it before apply runs.
    h.iam.set_last_used(&old, later - Duration::hours(1));
    let mut store = StateStore::new(h.state_path.clone());
    let mut state = store.load().unwrap();
    let journal = Journal::for_state(&h.state_path);
    let events = h.recorder(later);
    let clock = move || later;
    let mut applier = Applier {
        iam: &h.iam,
        remote: &h.remotes,
        config: &h.config,
        store: &mut store,
        state: &mut state,
        now: later,
        stdout: &mut Vec::new(),
        journal: &journal,
        events: &events,
        wall_clock: &clock,
        parallelism: 8,
    };
    let report = rt.block_on(applier.run(&planned, &mut |_| {})).unwrap();
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(
        report.failed[0]
            .error
            .to_string()
            .contains("was not deactivated"),
        "{report:?}"
    );
    let live = h.iam.credentials(&address).unwrap();
    assert!(live
        .iter()
        .any(|k| k.id == old && k.status == KeyStatus::Active));
    assert!(journal.pending().unwrap().is_empty());
}

/// A create dies before IAM's answer arrives, and a person (or another run) made a key in
/// the same minutes: recovery cannot tell which key is whose, so it deletes neither, marks
/// both unresolved, and the plan shows them for a person instead of adopting one. A person's
/// `import` hands a key back to the planner.
#[test]
fn ambiguous_keys_after_an_interrupted_create_are_kept_for_a_person() {
    quiet_crashes();
    let (rt, start, mut h) = one_user(Sinks::File, Vec::new());
    let address = Address::access_key("u0");
    // The create happens in IAM, then the process dies before the answer is journaled.
    h.iam.arm(
        vec![Rule {
            op: Some(Op::Create),
            when: When::Nth(1),
            fault: Fault::Crash { after: true },
        }],
        0,
    );
    let outcome = h.run(&rt, start, &PlanOptions::default(), &mut Stats::default());
    assert!(matches!(outcome, Outcome::Crashed), "{outcome:?}");
    h.iam.disarm();
    // Someone else makes a key in the same minutes.
    let by_hand = h.iam.seed(&address, KeyStatus::Active, start, None);
    let made: Vec<_> = h.iam.credentials(&address).unwrap();
    assert_eq!(made.len(), 2);

    let journal = Journal::for_state(&h.state_path);
    let intent = journal.pending().unwrap()[0].clone();
    assert!(intent.key_id.is_none(), "died before the answer");
    let mut store = StateStore::new(h.state_path.clone());
    let mut state = store.load().unwrap();
    let said = h.reconcile(&rt, &mut state, &intent, start).said;
    assert_eq!(
        h.iam.credentials(&address).unwrap().len(),
        2,
        "nothing deleted on a guess: {said:?}"
    );
    assert!(said.iter().all(|l| l.contains("unresolved")), "{said:?}");
    assert_eq!(state.sets[&address].unresolved.len(), 2);
    store.save(&mut state).unwrap();
    journal.clear(&intent.address).unwrap();

    // The plan adopts neither and shows both for a person.
    let plan = rt
        .block_on(keyrot::ops::plan::make(
            &mut Reader::new(&h.iams, 8),
            &h.config,
            &state,
            &PlanOptions::default(),
            start,
        ))
        .unwrap()
        .plan;
    let set = &plan.sets[0];
    assert!(
        !set.actions
            .iter()
            .any(|a| matches!(a.kind, ActionKind::Import { .. })),
        "{set:?}"
    );
    let blocked: Vec<_> = set
        .waits
        .iter()
        .filter(|w| w.reason.code == keyrot::core::plan::ReasonCode::UnresolvedKey)
        .collect();
    assert_eq!(blocked.len(), 2, "{set:?}");
    assert_eq!(set.drift.len(), 2, "shown as drift: {set:?}");

    // A person decides the hand-made key is to be managed: the next plan imports it.
    assert!(state.sets.get_mut(&address).unwrap().resolve(&by_hand));
    let plan = rt
        .block_on(keyrot::ops::plan::make(
            &mut Reader::new(&h.iams, 8),
            &h.config,
            &state,
            &PlanOptions::default(),
            start,
        ))
        .unwrap()
        .plan;
    assert!(
        plan.sets[0].actions.iter().any(
            |a| matches!(a.kind, ActionKind::Import { .. }) && a.key.as_ref() == Some(&by_hand)
        ),
        "{plan:?}"
    );
}

/// One candidate, but it has been used: someone holds its secret, so it is not deleted.
#[test]
fn a_used_key_after_an_interrupted_create_is_never_deleted() {
    quiet_crashes();
    let (rt, start, mut h) = one_user(Sinks::File, Vec::new());
    let address = Address::access_key("u0");
    h.iam.arm(
        vec![Rule {
            op: Some(Op::Create),
            when: When::Nth(1),
            fault: Fault::Crash { after: true },
        }],
        0,
    );
    let outcome = h.run(&rt, start, &PlanOptions::default(), &mut Stats::default());
    assert!(matches!(outcome, Outcome::Crashed), "{outcome:?}");
    h.iam.disarm();
    let key = h.iam.credentials(&address).unwrap()[0].id.clone();
    h.iam.set_last_used(&key, start + Duration::minutes(1));
    let intent = Journal::for_state(&h.state_path).pending().unwrap()[0].clone();
    let mut state = StateStore::new(h.state_path.clone()).load().unwrap();
    h.reconcile(&rt, &mut state, &intent, start);
    assert_eq!(h.iam.credentials(&address).unwrap().len(), 1, "kept");
    assert_eq!(state.sets[&address].unresolved, vec![key]);
}
