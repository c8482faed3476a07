//! Properties of the real planner, applier and recovery, run against the in-memory fake
//! (`crate::fake`) over random schedules: days passing, consumers using keys, injected faults
//! and crashes mid-step.
//!
//! Each run does what a writing command does: load state, reconcile a journal intent left
//! by an interrupted run, read the inventory, plan, apply. A crash is a panic from the
//! fake, caught around the whole run: the state and journal files stay as a kill leaves
//! them.
//!
//! Some steps also run a person's `rollback` (at the checkpoint) or `resume` (when held)
//! through the real ops, with the same faults.
//!
//! After every run, however it ended: the state loads; a finished run leaves no journal
//! intent; no user has more than two credentials of a kind, and a run with no injected
//! fault never tried a create over the quota; no key is deleted in the run that
//! deactivated it; every key a sink holds is Active in IAM (unless apply reported that
//! sink could not be put back). After clean runs that converge: every live credential is
//! tracked (or marked unresolved for a person, and then not tracked), with the status IAM has, the current one Active, and each is one IAM had
//! before keyrot or one that reached a sink (nothing undelivered is kept).
//!
//! `KEYROT_PROPTEST_CASES` raises the case count; `--nocapture` shows what ran. The suite
//! is bound by the fsyncs of the state and journal writes: with `TMPDIR` on a tmpfs the
//! default 128 cases take about 2 s, on a busy disk much longer.
//!
//! `schedule` draws the schedules, `harness` runs them against the fake, `checks` holds
//! the invariants it asserts after each run, and `focused` the cases the properties found.

mod checks;
mod focused;
mod harness;
mod schedule;

use crate::fake::{quiet_crashes, Op};
use chrono::{Duration, TimeZone, Utc};
use harness::Harness;
use keyrot::core::model::Address;
use keyrot::core::plan::PlanOptions;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use schedule::{schedule, Schedule};
use std::cell::RefCell;
use std::collections::BTreeMap;

#[derive(Default, Debug)]
struct Stats {
    schedules: u64,
    runs: u64,
    crashes: u64,
    /// Crashes by operation, and whether the call had taken effect.
    crash_points: BTreeMap<(Op, bool), u64>,
    failed: u64,
    faults: u64,
    recoveries: u64,
    creates: u64,
    /// Of which signing certificates.
    cert_creates: u64,
    deletes: u64,
    rollbacks: u64,
    resumes: u64,
}

fn run_schedule(
    sc: &Schedule,
    rt: &tokio::runtime::Runtime,
    stats: &mut Stats,
) -> Result<(), TestCaseError> {
    stats.schedules += 1;
    let start = Utc.with_ymd_and_hms(2027, 3, 1, 0, 0, 0).unwrap();
    let mut h = Harness::new(sc, start);
    let mut now = start;
    let addresses: Vec<Address> = h.config.sets.keys().cloned().collect();
    for step in &sc.steps {
        now += Duration::hours(step.advance_h);
        h.iam.set_now(now);
        h.use_keys(step.use_mask, now);
        let options = PlanOptions {
            force_rotate: step
                .force
                .and_then(|i| addresses.get(i).cloned())
                .into_iter()
                .collect(),
            ..PlanOptions::default()
        };
        h.faulty_run(rt, now, &options, step.faults.clone(), step.seed, stats)?;
        if let Some(address) = step.manual.and_then(|i| addresses.get(i)) {
            h.manual_step(rt, now, address, step.faults.clone(), step.seed, stats)?;
        }
        if step.heal {
            h.converge(rt, now, stats)?;
        }
    }
    h.converge(rt, now, stats)
}

fn cases() -> u32 {
    std::env::var("KEYROT_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128)
}

/// Random schedules through the real apply and recovery: ≤ 2 credentials per user and
/// kind, no create over the quota without a fault, no delete in the run that deactivated,
/// delivered keys Active, nothing orphaned after a clean run, state always loadable.
#[test]
fn apply_and_recovery_keep_the_invariants() {
    keep_the_invariants(1..=1);
}

/// The same with sets applied side by side (`--apply-parallelism` 2 to 4): a crash or a
/// fault of one set lands anywhere in the others' steps.
#[test]
fn apply_and_recovery_keep_the_invariants_with_sets_side_by_side() {
    keep_the_invariants(2..=4);
}

fn keep_the_invariants(parallelism: std::ops::RangeInclusive<usize>) {
    quiet_crashes();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let stats = RefCell::new(Stats::default());
    let started = std::time::Instant::now();
    let mut runner = TestRunner::new(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(&schedule(parallelism), |sc| {
        run_schedule(&sc, &rt, &mut stats.borrow_mut())
    });
    let s = stats.borrow();
    eprintln!(
        "properties: {} schedules ({} cases), {} runs in {:.1?}: {} crashes, {} failed runs, \
         {} faults fired, {} recoveries, {} creates ({} of certificates), {} deletes, \
         {} rollbacks, {} resumes",
        s.schedules,
        cases(),
        s.runs,
        started.elapsed(),
        s.crashes,
        s.failed,
        s.faults,
        s.recoveries,
        s.creates,
        s.cert_creates,
        s.deletes,
        s.rollbacks,
        s.resumes
    );
    eprintln!(
        "properties: crashes at (operation, after the effect): {:?}",
        s.crash_points
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Found by the schedules: u1's delivery fails and its secret cannot be put back (the key
/// is deleted, the secret named as still holding it); then u0's clean-up delete is
/// throttled, which stops the run. The stopped run's error must still name u1's secret.
#[test]
fn a_stopped_run_still_names_a_sink_another_set_left_holding_a_deleted_key() {
    use crate::fake::{ErrorKind, Fault, Rule, When};
    use keyrot::core::config::Windows;
    use keyrot::core::duration::Window;
    use schedule::{Sinks, Step, UserSpec};
    quiet_crashes();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let w = || Windows {
        max_age: Window::from_secs(86400),
        overlap: Window::from_secs(3600),
        unused_for: Window::from_secs(3600),
        inactive_for: Window::from_secs(3600),
    };
    let sc = Schedule {
        users: vec![
            UserSpec {
                windows: w(),
                sinks: Sinks::File,
                keys: vec![],
            },
            UserSpec {
                windows: w(),
                sinks: Sinks::FileAndSecret,
                keys: vec![(true, 0)],
            },
        ],
        cert: None,
        steps: vec![Step {
            advance_h: 24,
            use_mask: 0,
            force: None,
            faults: vec![Rule {
                op: None,
                when: When::Chance(0.12),
                fault: Fault::Fail(ErrorKind::Throttled),
            }],
            seed: 8899997948915783336,
            heal: false,
            manual: None,
        }],
        parallelism: 1,
    };
    run_schedule(&sc, &rt, &mut Stats::default()).unwrap();
}
