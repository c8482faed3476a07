//! The harness: a project directory, the fake, and what the checks remember; one run
//! does what a writing command does, as a process that may die.

use super::schedule::{Schedule, Sinks};
use super::Stats;
use crate::fake::{Crashed, FakeIam, FakeRemote, Op, Rule};
use chrono::Duration;
use futures::FutureExt;
use keyrot::adapters::accounts::Accounts;
use keyrot::adapters::store::events::EventLog;
use keyrot::adapters::store::journal::Journal;
use keyrot::adapters::store::StateStore;
use keyrot::core::config::{
    AwsSettings, CertSource, Config, KeyAlgorithm, SecretFormat, SetConfig, Sink,
};
use keyrot::core::duration::Window;
use keyrot::core::event::Actor;
use keyrot::core::model::{Address, KeyId, KeyStatus, Time};
use keyrot::core::plan::PlanOptions;
use keyrot::core::planner;
use keyrot::core::state::Phase;
use keyrot::ops::apply::Applier;
use keyrot::ops::events::Recorder;
use keyrot::ops::inventory::Reader;
use keyrot::ops::recover;
use keyrot::ops::resume as ops_resume;
use keyrot::ops::rollback as ops_rollback;
use keyrot::ops::session::{self, Clients};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::collections::{BTreeMap, BTreeSet};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;

fn user_name(i: usize) -> String {
    format!("u{i}")
}

#[derive(Debug)]
pub(super) enum Outcome {
    Done { actions: usize },
    Failed(String),
    Crashed,
}

pub(super) struct Harness {
    _dir: tempfile::TempDir,
    pub(super) state_path: PathBuf,
    pub(super) config: Config,
    pub(super) iam: FakeIam,
    pub(super) remote: FakeRemote,
    /// The same fakes as keyrot's clients see them: one account.
    pub(super) iams: Accounts<FakeIam>,
    pub(super) remotes: Accounts<FakeRemote>,
    pub(super) stdout: Vec<u8>,
    /// Sets whose sinks may hold a deleted key, as apply reported, with what each sink held
    /// then (`None`: nothing, or no longer excused).
    pub(super) excused: BTreeMap<Address, Vec<Option<String>>>,
    /// Credentials IAM had before keyrot ran.
    pub(super) seeded: BTreeSet<KeyId>,
    /// Credentials some sink (or stdout) held after some run, or that recovery could not
    /// prove undelivered (a sink could not be read back): the only ones keyrot may keep.
    pub(super) delivered: BTreeSet<KeyId>,
    /// How many sets apply runs at once (the schedule's choice, 1 to 4).
    pub(super) parallelism: usize,
}

impl Harness {
    pub(super) fn new(sc: &Schedule, start: Time) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let iam = FakeIam::new(start);
        let mut sets = BTreeMap::new();
        let mut seeded = BTreeSet::new();
        for (i, u) in sc.users.iter().enumerate() {
            let user = user_name(i);
            iam.add_user(&user);
            let address = Address::access_key(&user);
            let file = |name: &str| Sink::File {
                path: dir.path().join(name),
                format: SecretFormat::Json,
            };
            let parameter = || Sink::SsmParameter {
                account: None,
                name: format!("/keyrot/{user}"),
                kms_key_id: None,
                format: SecretFormat::Env,
            };
            let secret = || Sink::SecretsManager {
                account: None,
                secret_id: format!("keyrot/{user}"),
                create: true,
                format: SecretFormat::Json,
            };
            let sinks = match u.sinks {
                Sinks::File => vec![file(&format!("{user}.json"))],
                Sinks::FileAndSecret => vec![file(&format!("{user}.json")), secret()],
                Sinks::Parameter => vec![parameter()],
                Sinks::FileAndStdout => vec![
                    file(&format!("{user}.json")),
                    Sink::Stdout {
                        format: SecretFormat::Json,
                    },
                ],
                Sinks::ParameterAndSecret => vec![parameter(), secret()],
            };
            for (active, age_h) in &u.keys {
                let status = if *active {
                    KeyStatus::Active
                } else {
                    KeyStatus::Inactive
                };
                seeded.insert(iam.seed(&address, status, start - Duration::hours(*age_h), None));
            }
            sets.insert(
                address.clone(),
                SetConfig {
                    address,
                    windows: u.windows,
                    sinks,
                    certificate: None,
                    selector: None,
                    require_new_key_use: false,
                    confirm: Default::default(),
                },
            );
        }
        if let Some(c) = &sc.cert {
            let address = Address::signing_certificate(user_name(0));
            if let Some(age_h) = c.existing {
                let born = start - Duration::hours(age_h);
                let cert = keyrot::adapters::certs::generate(
                    KeyAlgorithm::EcdsaP256,
                    &[],
                    "u0",
                    c.validity_days,
                    born,
                )
                .expect("certificate");
                seeded.insert(iam.seed(
                    &address,
                    KeyStatus::Active,
                    born,
                    Some(&cert.certificate_pem),
                ));
            }
            sets.insert(
                address.clone(),
                SetConfig {
                    address,
                    windows: c.windows,
                    sinks: vec![Sink::File {
                        path: dir.path().join("u0.pem"),
                        format: SecretFormat::Pem,
                    }],
                    certificate: Some(CertSource::Generate {
                        algorithm: KeyAlgorithm::EcdsaP256,
                        validity: Window::days(c.validity_days),
                        subject: Vec::new(),
                    }),
                    selector: None,
                    require_new_key_use: false,
                    confirm: Default::default(),
                },
            );
        }
        let config = Config {
            aws: AwsSettings {
                // Verification gives up at the first failed STS call instead of sleeping.
                verify_timeout: Some(Window::from_secs(0)),
                ..AwsSettings::default()
            },
            sets,
            ..Config::default()
        };
        let remote = iam.remote();
        Harness {
            state_path: dir.path().join("keyrot.json"),
            _dir: dir,
            config,
            iams: Accounts::single(iam.clone()),
            remotes: Accounts::single(remote.clone()),
            iam,
            remote,
            stdout: Vec::new(),
            excused: BTreeMap::new(),
            seeded,
            delivered: BTreeSet::new(),
            parallelism: sc.parallelism,
        }
    }

    /// One writing command, as a process that may die: recover, plan, apply.
    pub(super) fn run(
        &mut self,
        rt: &tokio::runtime::Runtime,
        now: Time,
        options: &PlanOptions,
        stats: &mut Stats,
    ) -> Outcome {
        stats.runs += 1;
        let command = AssertUnwindSafe(self.command(now, options, stats)).catch_unwind();
        match rt.block_on(command) {
            Ok(Ok(actions)) => Outcome::Done { actions },
            Ok(Err(message)) => {
                stats.failed += 1;
                Outcome::Failed(message)
            }
            Err(payload) => match payload.downcast::<Crashed>() {
                Ok(crashed) => {
                    stats.crashes += 1;
                    *stats
                        .crash_points
                        .entry((crashed.op, crashed.after))
                        .or_default() += 1;
                    Outcome::Crashed
                }
                Err(other) => std::panic::resume_unwind(other),
            },
        }
    }

    /// What `keyrot apply` does after `begin_write` (lock aside): the CLI's
    /// `recover` and `make_plan_with_facts`, then the applier.
    async fn command(
        &mut self,
        now: Time,
        options: &PlanOptions,
        stats: &mut Stats,
    ) -> Result<usize, String> {
        let s = |e: &dyn std::fmt::Display| e.to_string();
        let mut store = StateStore::new(self.state_path.clone());
        let mut state = store.load().map_err(|e| s(&e))?;
        let journal = Journal::for_state(&self.state_path);
        let events = self.recorder(now);
        for intent in journal.pending().map_err(|e| s(&e))? {
            stats.recoveries += 1;
            self.note_unprovable(&intent);
            let logged = events.logged_step(&intent).map_err(|e| s(&e))?;
            let (iam, remote, config) = (&self.iam, &self.remotes, &self.config);
            let reconciled = recover::reconcile(iam, remote, config, &mut state, &intent, &events)
                .await
                .map_err(|e| s(&e))?;
            events
                .recovery(&intent, &reconciled, logged)
                .map_err(|e| s(&e))?;
            store.save(&mut state).map_err(|e| s(&e))?;
            journal.clear(&intent.address).map_err(|e| s(&e))?;
        }
        let sets: Vec<Address> = self.config.sets.keys().cloned().collect();
        let mut reader = Reader::new(&self.iam, 8);
        let mut inv = reader.credentials(&sets).await.map_err(|e| s(&e))?;
        let needed = inv.with_sets(&planner::evidence_needed(&self.config, &inv, &state, now));
        reader
            .last_used(&needed, &mut inv)
            .await
            .map_err(|e| s(&e))?;
        let plan = planner::plan(&self.config, &inv, &state, now, options);
        let clock = self.iam.clone();
        let wall_clock = move || clock.now();
        let mut applier = Applier {
            iam: &self.iam,
            remote: &self.remotes,
            config: &self.config,
            store: &mut store,
            state: &mut state,
            now,
            stdout: &mut self.stdout,
            journal: &journal,
            events: &events,
            wall_clock: &wall_clock,
            parallelism: self.parallelism,
        };
        let report = applier
            .run(&plan, &mut |_| {})
            .await
            .map_err(|(report, e)| {
                // As keyrot's own error says them: the sets that failed before the stop.
                let mut lines = vec![e.to_string()];
                lines.extend(report.failed.iter().map(|f| f.error.to_string()));
                lines.join("\n")
            })?;
        if !report.failed.is_empty() {
            // Failed sets were isolated: the run went on, and settled every intent they left.
            let pending = journal.pending().map_err(|e| s(&e))?;
            assert!(pending.is_empty(), "an isolated failure left {pending:?}");
            let lines: Vec<String> = report.failed.iter().map(|f| f.error.to_string()).collect();
            return Err(lines.join("\n"));
        }
        Ok(plan.execution_order().len())
    }

    /// What `recover::reconcile` finds and does about `intent`, as a command at `now` would.
    pub(super) fn reconcile(
        &self,
        rt: &tokio::runtime::Runtime,
        state: &mut keyrot::core::state::State,
        intent: &keyrot::adapters::store::journal::Intent,
        now: Time,
    ) -> recover::Reconciled {
        let events = self.recorder(now);
        let (iam, remote, config) = (&self.iam, &self.remotes, &self.config);
        rt.block_on(recover::reconcile(
            iam, remote, config, state, intent, &events,
        ))
        .expect("recovery succeeds")
    }

    /// The event log beside the state, written as a command at `now` would.
    pub(super) fn recorder(&self, now: Time) -> Recorder {
        let actor = Actor {
            run_id: uuid::Uuid::new_v4().to_string(),
            ..Actor::default()
        };
        let clock = self.iam.clone();
        Recorder::new(EventLog::for_state(&self.state_path), actor, "apply", now)
            .with_clock(move || clock.now())
    }

    /// What each readable sink of a set holds now (stdout cannot be read back).
    pub(super) fn holdings(&self, address: &Address) -> Vec<Option<String>> {
        self.config.sets[address]
            .sinks
            .iter()
            .filter_map(|sink| match sink {
                Sink::File { path, .. } => Some(std::fs::read_to_string(path).ok()),
                Sink::SecretsManager { secret_id, .. } => {
                    Some(self.iam.secret(secret_id).map(|(current, _)| current))
                }
                Sink::SsmParameter { name, .. } => Some(self.iam.parameter(name)),
                _ => None,
            })
            .collect()
    }

    /// The credential a sink's text holds (ids are fixed-width, so none contains another).
    pub(super) fn held_id(&self, text: &str) -> Option<KeyId> {
        self.iam
            .issued()
            .into_iter()
            .find(|id| text.contains(&id.0))
    }

    /// Consumers use what their sink holds; other keys are used as `mask` says.
    pub(super) fn use_keys(&self, mask: u8, now: Time) {
        for address in self.config.sets.keys() {
            if !address.kind.has_last_use() {
                continue;
            }
            let live = self.iam.credentials(address).unwrap_or_default();
            let active = |id: &KeyId| {
                live.iter()
                    .any(|k| &k.id == id && k.status == KeyStatus::Active)
            };
            for text in self.holdings(address).into_iter().flatten() {
                if let Some(id) = self.held_id(&text).filter(|id| active(id)) {
                    self.iam.set_last_used(&id, now);
                }
            }
            let user: usize = address.user[1..].parse().unwrap_or(0);
            for (slot, k) in live.iter().enumerate() {
                let bit = 2 * user + slot;
                if k.status == KeyStatus::Active && mask & (1 << bit) != 0 {
                    self.iam.set_last_used(&k.id, now);
                }
            }
        }
    }
    /// One run with `faults` armed, then the checks.
    pub(super) fn faulty_run(
        &mut self,
        rt: &tokio::runtime::Runtime,
        now: Time,
        options: &PlanOptions,
        faults: Vec<Rule>,
        seed: u64,
        stats: &mut Stats,
    ) -> Result<Outcome, TestCaseError> {
        let mark = self.iam.log_len();
        let recoveries = stats.recoveries;
        let fired = self.iam.faults_fired();
        let refused = self.iam.quota_refusals();
        self.iam.arm(faults, seed);
        let outcome = self.run(rt, now, options, stats);
        self.iam.disarm();
        let calls = self.iam.log().split_off(mark);
        let faulted = self.iam.faults_fired() > fired;
        stats.faults += u64::from(self.iam.faults_fired() - fired);
        stats.creates += calls.iter().filter(|c| c.op == Op::Create && c.ok).count() as u64;
        stats.cert_creates += calls
            .iter()
            .filter(|c| c.op == Op::Create && c.ok)
            .filter(|c| c.address.as_ref().is_some_and(|a| !a.kind.has_last_use()))
            .count() as u64;
        stats.deletes += calls.iter().filter(|c| c.op == Op::Delete && c.ok).count() as u64;
        self.check_run(
            &calls,
            &outcome,
            faulted,
            self.iam.quota_refusals() > refused,
        )?;
        // A failed set's step is settled inside apply, by the same reconciliation.
        let settled = matches!(outcome, Outcome::Failed(_));
        self.note_delivered(&calls, stats.recoveries > recoveries || settled);
        Ok(outcome)
    }

    /// A person's `rollback` (at the checkpoint) or `resume` (when held) of `address`,
    /// through the real ops with `faults` armed, then the run checks.
    pub(super) fn manual_step(
        &mut self,
        rt: &tokio::runtime::Runtime,
        now: Time,
        address: &Address,
        faults: Vec<Rule>,
        seed: u64,
        stats: &mut Stats,
    ) -> Result<(), TestCaseError> {
        let phase = StateStore::new(self.state_path.clone())
            .load()
            .ok()
            .and_then(|s| s.sets.get(address).map(|s| s.phase()));
        let rollback = match phase {
            Some(Phase::Inactive) => true,
            Some(Phase::Held) => false,
            _ => return Ok(()),
        };
        let mark = self.iam.log_len();
        let fired = self.iam.faults_fired();
        self.iam.arm(faults, seed);
        let command = AssertUnwindSafe(self.manual(now, address, rollback)).catch_unwind();
        let outcome = match rt.block_on(command) {
            Ok(Ok(())) => {
                *if rollback {
                    &mut stats.rollbacks
                } else {
                    &mut stats.resumes
                } += 1;
                Outcome::Done { actions: 1 }
            }
            Ok(Err(message)) => {
                stats.failed += 1;
                Outcome::Failed(message)
            }
            Err(payload) => match payload.downcast::<Crashed>() {
                Ok(_) => {
                    stats.crashes += 1;
                    Outcome::Crashed
                }
                Err(other) => std::panic::resume_unwind(other),
            },
        };
        self.iam.disarm();
        let calls = self.iam.log().split_off(mark);
        let faulted = self.iam.faults_fired() > fired;
        stats.faults += u64::from(self.iam.faults_fired() - fired);
        self.check_run(&calls, &outcome, faulted, false)?;
        self.note_delivered(&calls, false);
        Ok(())
    }

    /// `keyrot rollback ADDRESS` or `keyrot resume ADDRESS`: lock, recovery, the step.
    async fn manual(&mut self, now: Time, address: &Address, rollback: bool) -> Result<(), String> {
        let clients = Clients::single(self.iam.clone(), self.remote.clone());
        let operation = if rollback { "rollback" } else { "resume" };
        let mut writer =
            session::begin_write_with(&self.state_path, operation, &mut self.config, clients, now)
                .await
                .map_err(|e| e.to_string())?;
        let done = if rollback {
            ops_rollback::rollback(
                &mut writer,
                &self.config,
                address,
                now,
                &mut self.stdout,
                &mut |_| {},
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
        } else {
            ops_resume::resume(&mut writer, &self.config, address)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        // A step recovery could not settle (IAM failed it) stays in the journal and its set
        // waits: the command went on for the others, but it did not finish everything.
        match writer.unsettled.first() {
            Some(u) => Err(format!("unsettled: {}: {}", u.intent.address, u.error)),
            None => done,
        }
    }

    /// Clean runs at `now` until a plan has nothing to do; then nothing may be orphaned.
    pub(super) fn converge(
        &mut self,
        rt: &tokio::runtime::Runtime,
        now: Time,
        stats: &mut Stats,
    ) -> Result<(), TestCaseError> {
        for _ in 0..4 {
            let outcome =
                self.faulty_run(rt, now, &PlanOptions::default(), Vec::new(), 0, stats)?;
            match outcome {
                Outcome::Done { actions: 0 } => return self.check_settled(),
                Outcome::Done { .. } => {}
                other => prop_assert!(false, "a clean run did not succeed: {other:?}"),
            }
        }
        prop_assert!(false, "four clean runs at one instant still had actions");
        Ok(())
    }
}
