//! Focused cases found by the properties.

use super::harness::{Harness, Outcome};
use super::schedule::{Schedule, Sinks, UserSpec};
use super::Stats;
use crate::fake::{quiet_crashes, ErrorKind, Fault, Op, Rule, When};
use chrono::{Duration, TimeZone, Utc};
use keyrot::adapters::store::journal::Journal;
use keyrot::adapters::store::StateStore;
use keyrot::core::config::{Sink, Windows};
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

/// `fault` on the first call of `op`.
fn first(op: Op, fault: Fault) -> Rule {
    Rule {
        op: Some(op),
        when: When::Nth(1),
        fault,
    }
}

/// A delivery fails, a sink cannot be put back, and the process dies right after the clean-up
/// deleted the new key: the sink holds a deleted key. The next command's recovery must say
/// so, as the live failure would have (otherwise consumers read a dead key until the next
/// rotation, and nobody was told).
#[test]
fn recovery_names_a_sink_holding_a_key_an_interrupted_clean_up_deleted() {
    quiet_crashes();
    let (rt, start, mut h) = one_user(Sinks::ParameterAndSecret, vec![(true, 24 * 100)]);
    h.iam.arm(
        vec![
            // The second sink fails, the first cannot be put back, the undo delete dies.
            first(Op::SecretPut, Fault::Fail(ErrorKind::ServerError)),
            first(Op::ParameterDelete, Fault::Fail(ErrorKind::ServerError)),
            first(Op::Delete, Fault::Crash { after: true }),
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

/// A create is cut off as its first sink (the parameter) is about to be written, so the
/// second (the secret) never began; recovery then cannot read the secret. Only the sinks
/// the journal says had begun can hold the key: the parameter does not, so the key was
/// never delivered and is deleted — not kept as current because an unstarted sink could
/// not be read (found by the randomized schedules: consumers would be left on the old key,
/// the set waiting on it forever).
#[test]
fn a_sink_that_never_began_is_not_read_back_by_recovery() {
    quiet_crashes();
    let (rt, start, mut h) = one_user(Sinks::ParameterAndSecret, vec![(true, 24 * 100)]);
    h.iam.arm(
        vec![first(Op::ParameterPut, Fault::Crash { after: false })],
        0,
    );
    let outcome = h.run(&rt, start, &PlanOptions::default(), &mut Stats::default());
    assert!(matches!(outcome, Outcome::Crashed), "{outcome:?}");
    let address = Address::access_key("u0");
    let intent = Journal::for_state(&h.state_path).pending().unwrap()[0].clone();
    assert_eq!(
        intent.sinks_started, 1,
        "the parameter had begun, the secret not"
    );
    assert_eq!(intent.sinks_begun.len(), 1, "{intent:?}");
    let new = intent.key_id.clone().expect("the create's key journaled");

    h.iam.arm(
        vec![first(Op::SecretGet, Fault::Fail(ErrorKind::Throttled))],
        0,
    );
    let mut state = StateStore::new(h.state_path.clone()).load().unwrap();
    let said = h.reconcile(&rt, &mut state, &intent, start).said;
    h.iam.disarm();
    let live = h.iam.credentials(&address).unwrap();
    assert!(
        live.iter().all(|k| k.id != new),
        "undelivered key deleted: {said:?}"
    );
    assert!(
        state.sets[&address].role_of(&new).is_none(),
        "not kept as current: {:?}",
        state.sets[&address]
    );
}

/// The same cut-off create, but before the next run the parameter sink is taken out of
/// the config: the sink that had begun can no longer be read back, so the key may be held
/// and is kept (its name, not its position, says which sink began).
#[test]
fn a_begun_sink_gone_from_the_config_keeps_the_key() {
    quiet_crashes();
    let (rt, start, mut h) = one_user(Sinks::ParameterAndSecret, vec![(true, 24 * 100)]);
    h.iam.arm(
        vec![first(Op::ParameterPut, Fault::Crash { after: true })],
        0,
    );
    let outcome = h.run(&rt, start, &PlanOptions::default(), &mut Stats::default());
    assert!(matches!(outcome, Outcome::Crashed), "{outcome:?}");
    h.iam.disarm();
    let address = Address::access_key("u0");
    let intent = Journal::for_state(&h.state_path).pending().unwrap()[0].clone();
    let new = intent.key_id.clone().expect("the create's key journaled");
    let set = h.config.sets.get_mut(&address).expect("the set");
    set.sinks
        .retain(|s| matches!(s, Sink::SecretsManager { .. }));
    let mut state = StateStore::new(h.state_path.clone()).load().unwrap();
    let said = h.reconcile(&rt, &mut state, &intent, start).said;
    let live = h.iam.credentials(&address).unwrap();
    assert!(live.iter().any(|k| k.id == new), "kept: {said:?}");
    assert_eq!(
        state.sets[&address].current.as_ref().map(|k| &k.id),
        Some(&new),
        "{said:?}"
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
