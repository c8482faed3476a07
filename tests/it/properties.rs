//! Properties of the real planner, applier and recovery, run against the in-memory fake
//! (`fake.rs`) over random schedules: days passing, consumers using keys, injected faults
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
//! tracked, with the status IAM has, the current one Active, and each is one IAM had
//! before keyrot or one that reached a sink (nothing undelivered is kept).
//!
//! `KEYROT_PROPTEST_CASES` raises the case count; `--nocapture` shows what ran. The suite
//! is bound by the fsyncs of the state and journal writes: with `TMPDIR` on a tmpfs the
//! default 128 cases take about 2 s, on a busy disk much longer.

use crate::fake::{
    quiet_crashes, Call, Crashed, ErrorKind, FakeIam, FakeRemote, Fault, Op, Rule, When, QUOTA,
};
use chrono::{Duration, TimeZone, Utc};
use futures::FutureExt;
use keyrot::adapters::store::journal::Journal;
use keyrot::adapters::store::StateStore;
use keyrot::core::config::{
    AwsSettings, CertSource, Config, KeyAlgorithm, SecretFormat, SetConfig, Sink, Windows,
};
use keyrot::core::duration::Window;
use keyrot::core::model::{Address, KeyId, KeyStatus, Time};
use keyrot::core::plan::PlanOptions;
use keyrot::core::planner;
use keyrot::core::state::Phase;
use keyrot::ops::apply::Applier;
use keyrot::ops::resume as ops_resume;
use keyrot::ops::rollback as ops_rollback;
use keyrot::ops::session::{self, Clients};
use keyrot::ops::{inventory, recover};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;

// ---------------------------------------------------------------------------------------
// Schedules
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Sinks {
    File,
    FileAndSecret,
    Parameter,
    FileAndStdout,
    ParameterAndSecret,
}

#[derive(Clone, Debug)]
struct UserSpec {
    windows: Windows,
    sinks: Sinks,
    /// Keys IAM has at the start: (Active, age in hours).
    keys: Vec<(bool, i64)>,
}

#[derive(Clone, Debug)]
struct CertSpec {
    windows: Windows,
    /// Validity of generated certificates, in days.
    validity_days: u64,
    /// Age in hours of a certificate IAM has at the start.
    existing: Option<i64>,
}

#[derive(Clone, Debug)]
struct Step {
    advance_h: i64,
    /// Bit `2*user + slot`: that Active key is used out of band at this step.
    use_mask: u8,
    force: Option<usize>,
    faults: Vec<Rule>,
    seed: u64,
    /// Converge with a clean run right after this one, and check nothing is orphaned.
    heal: bool,
    /// After the run, a person acts on set `i`: `keyrot rollback` when it is at the
    /// checkpoint, `keyrot resume` when it is held.
    manual: Option<usize>,
}

#[derive(Clone, Debug)]
struct Schedule {
    users: Vec<UserSpec>,
    cert: Option<CertSpec>,
    steps: Vec<Step>,
}

fn hours(h: u64) -> Window {
    Window::from_secs(h * 3_600)
}

fn windows() -> impl Strategy<Value = Windows> {
    // unused_for is never zero: a consumer's use of the key it reads must hold back the
    // deactivation of that key.
    (
        24u64..=24 * 60,
        1u64..=24 * 10,
        1u64..=24 * 5,
        1u64..=24 * 10,
    )
        .prop_map(|(max_age, overlap, unused_for, inactive_for)| Windows {
            max_age: hours(max_age),
            overlap: hours(overlap),
            unused_for: hours(unused_for),
            inactive_for: hours(inactive_for),
        })
}

fn user_spec() -> impl Strategy<Value = UserSpec> {
    let sinks = prop_oneof![
        Just(Sinks::File),
        Just(Sinks::FileAndSecret),
        Just(Sinks::Parameter),
        Just(Sinks::FileAndStdout),
        Just(Sinks::ParameterAndSecret),
    ];
    let keys = prop::collection::vec((any::<bool>(), 0i64..=24 * 100), 0..=2);
    (windows(), sinks, keys).prop_map(|(windows, sinks, mut keys)| {
        // Start with an Active key or none (all-Inactive starts are the planner's tests).
        if !keys.is_empty() && !keys.iter().any(|k| k.0) {
            keys[0].0 = true;
        }
        UserSpec {
            windows,
            sinks,
            keys,
        }
    })
}

fn cert_spec() -> impl Strategy<Value = CertSpec> {
    (windows(), 60u64..=400, prop::option::of(0i64..=24 * 100)).prop_map(
        |(windows, validity_days, existing)| CertSpec {
            windows,
            validity_days,
            existing,
        },
    )
}

/// Calls that change something: where crashes and lost responses matter most.
const MUTATIONS: &[Op] = &[
    Op::Create,
    Op::SetStatus,
    Op::Delete,
    Op::SecretPut,
    Op::SecretDelete,
    Op::ParameterPut,
    Op::ParameterDelete,
];

const READS: &[Op] = &[
    Op::List,
    Op::LastUsed,
    Op::SecretGet,
    Op::ParameterGet,
    Op::CallerArn,
];

fn error_kind() -> impl Strategy<Value = ErrorKind> {
    prop_oneof![
        Just(ErrorKind::Throttled),
        Just(ErrorKind::ServerError),
        Just(ErrorKind::Denied),
        Just(ErrorKind::LimitExceeded),
        Just(ErrorKind::NoSuchEntity),
    ]
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        3 => error_kind().prop_map(Fault::Fail),
        2 => prop_oneof![Just(ErrorKind::Throttled), Just(ErrorKind::ServerError)].prop_map(Fault::Lost),
        1 => Just(Fault::Retried),
        3 => any::<bool>().prop_map(|after| Fault::Crash { after }),
    ]
}

fn rule() -> impl Strategy<Value = Rule> {
    (
        prop_oneof![
            3 => prop::sample::select(MUTATIONS),
            2 => prop::sample::select(READS),
        ],
        1u32..=2,
        fault(),
    )
        .prop_map(|(op, n, fault)| {
            // IAM never answers NoSuchEntity for a credential that exists: keyrot rightly takes
            // it as "already deleted".
            let fault = match (op, fault) {
                (Op::Delete, Fault::Fail(ErrorKind::NoSuchEntity)) => {
                    Fault::Fail(ErrorKind::ServerError)
                }
                (_, f) => f,
            };
            Rule {
                op: Some(op),
                when: When::Nth(n),
                fault,
            }
        })
}

fn faults() -> impl Strategy<Value = Vec<Rule>> {
    let noise = (1u32..=25, any::<bool>()).prop_map(|(percent, lost)| Rule {
        op: None,
        when: When::Chance(f64::from(percent) / 100.0),
        fault: if lost {
            Fault::Lost(ErrorKind::ServerError)
        } else {
            Fault::Fail(ErrorKind::Throttled)
        },
    });
    prop_oneof![
        3 => Just(Vec::new()),
        5 => prop::collection::vec(rule(), 1..=3),
        1 => noise.prop_map(|r| vec![r]),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    (
        1i64..=24 * 20,
        any::<u8>(),
        prop::option::weighted(0.1, 0usize..4),
        faults(),
        any::<u64>(),
        prop::bool::weighted(0.3),
        prop::option::weighted(0.3, 0usize..4),
    )
        .prop_map(
            |(advance_h, use_mask, force, faults, seed, heal, manual)| Step {
                advance_h,
                use_mask,
                force,
                faults,
                seed,
                heal,
                manual,
            },
        )
}

fn schedule() -> impl Strategy<Value = Schedule> {
    (
        prop::collection::vec(user_spec(), 1..=3),
        prop::option::weighted(0.5, cert_spec()),
        prop::collection::vec(step(), 1..=12),
    )
        .prop_map(|(users, cert, steps)| Schedule { users, cert, steps })
}

// ---------------------------------------------------------------------------------------
// The harness: a project directory, the fake, and what the checks remember
// ---------------------------------------------------------------------------------------

fn user_name(i: usize) -> String {
    format!("u{i}")
}

#[derive(Debug)]
enum Outcome {
    Done { actions: usize },
    Failed(String),
    Crashed,
}

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

struct Harness {
    _dir: tempfile::TempDir,
    state_path: PathBuf,
    config: Config,
    iam: FakeIam,
    remote: FakeRemote,
    stdout: Vec<u8>,
    /// Sets whose sinks may hold a deleted key, as apply reported, with what they held then.
    excused: BTreeMap<Address, Vec<Option<String>>>,
    /// Credentials IAM had before keyrot ran.
    seeded: BTreeSet<KeyId>,
    /// Credentials some sink (or stdout) held after some run, or that recovery could not
    /// prove undelivered (a sink could not be read back): the only ones keyrot may keep.
    delivered: BTreeSet<KeyId>,
}

impl Harness {
    fn new(sc: &Schedule, start: Time) -> Self {
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
                name: format!("/keyrot/{user}"),
                kms_key_id: None,
                format: SecretFormat::Env,
            };
            let secret = || Sink::SecretsManager {
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
            iam,
            remote,
            stdout: Vec::new(),
            excused: BTreeMap::new(),
            seeded,
            delivered: BTreeSet::new(),
        }
    }

    /// One writing command, as a process that may die: recover, plan, apply.
    fn run(
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
        if let Some(intent) = journal.pending().map_err(|e| s(&e))? {
            stats.recoveries += 1;
            recover::reconcile(&self.iam, &self.remote, &self.config, &mut state, &intent)
                .await
                .map_err(|e| s(&e))?;
            store.save(&mut state).map_err(|e| s(&e))?;
            journal.clear().map_err(|e| s(&e))?;
        }
        let sets: Vec<Address> = self.config.sets.keys().cloned().collect();
        let mut inv = inventory::read_credentials(&self.iam, &sets)
            .await
            .map_err(|e| s(&e))?;
        let needed = planner::evidence_needed(&self.config, &inv, &state, now);
        inventory::read_last_used(&self.iam, &needed, &mut inv)
            .await
            .map_err(|e| s(&e))?;
        let plan = planner::plan(&self.config, &inv, &state, now, options);
        let clock = self.iam.clone();
        let wall_clock = move || clock.now();
        let mut applier = Applier {
            iam: &self.iam,
            remote: &self.remote,
            config: &self.config,
            store: &mut store,
            state: &mut state,
            now,
            stdout: &mut self.stdout,
            journal: &journal,
            wall_clock: &wall_clock,
        };
        let report = applier
            .run(&plan, &mut |_| {})
            .await
            .map_err(|(_, e)| e.to_string())?;
        if !report.failed.is_empty() {
            // Failed sets were isolated: the run went on, and settled every intent they left.
            let pending = journal.pending().map_err(|e| s(&e))?;
            assert!(pending.is_none(), "an isolated failure left {pending:?}");
            let lines: Vec<String> = report.failed.iter().map(|f| f.error.to_string()).collect();
            return Err(lines.join("\n"));
        }
        Ok(plan.execution_order().len())
    }

    /// What each readable sink of a set holds now (stdout cannot be read back).
    fn holdings(&self, address: &Address) -> Vec<Option<String>> {
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
    fn held_id(&self, text: &str) -> Option<KeyId> {
        self.iam
            .issued()
            .into_iter()
            .find(|id| text.contains(&id.0))
    }

    /// Consumers use what their sink holds; other keys are used as `mask` says.
    fn use_keys(&self, mask: u8, now: Time) {
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

    /// The invariants that hold after any run, however it ended.
    fn check_run(
        &mut self,
        calls: &[Call],
        outcome: &Outcome,
        faulted: bool,
        quota_refused: bool,
    ) -> Result<(), TestCaseError> {
        let state = StateStore::new(self.state_path.clone()).load();
        prop_assert!(state.is_ok(), "the state does not load: {:?}", state.err());
        if let Outcome::Done { .. } = outcome {
            let pending = Journal::for_state(&self.state_path).pending();
            prop_assert!(
                matches!(pending, Ok(None)),
                "a finished run left a journal intent: {pending:?}"
            );
        }
        for address in self.config.sets.keys() {
            let count = self.iam.credentials(address).unwrap_or_default().len();
            prop_assert!(count <= QUOTA, "{address} has {count} credentials");
        }
        prop_assert!(
            faulted || !quota_refused,
            "a run without injected faults tried a create over the quota: {calls:#?}"
        );
        for (i, c) in calls.iter().enumerate().filter(|(_, c)| c.op == Op::Delete) {
            let deactivated_here = calls[..i].iter().any(|d| {
                d.op == Op::SetStatus && d.key == c.key && d.status == Some(KeyStatus::Inactive)
            });
            prop_assert!(
                !deactivated_here,
                "{:?} was deleted in the run that deactivated it: {calls:#?}",
                c.key
            );
        }
        // A sink may hold a deleted key only where apply said it could not put it back
        // (or where the run died after a put-back failed, before it could say so).
        let put_back_failed = match outcome {
            Outcome::Failed(message) => message.contains("could not be put back"),
            Outcome::Crashed => calls.iter().any(|c| {
                !c.ok
                    && matches!(
                        c.op,
                        Op::SecretPut | Op::SecretDelete | Op::ParameterPut | Op::ParameterDelete
                    )
            }),
            Outcome::Done { .. } => false,
        };
        let addresses: Vec<Address> = self.config.sets.keys().cloned().collect();
        for address in addresses {
            let holdings = self.holdings(&address);
            let named = match outcome {
                Outcome::Failed(m) => m.lines().any(|l| l.starts_with(&format!("{address}:"))),
                _ => true,
            };
            if put_back_failed && named {
                self.excused.insert(address.clone(), holdings.clone());
            }
            if self.excused.get(&address) == Some(&holdings) {
                continue;
            }
            self.excused.remove(&address);
            let live = self.iam.credentials(&address).unwrap_or_default();
            for text in holdings.iter().flatten() {
                let Some(id) = self.held_id(text) else {
                    continue;
                };
                let status = live.iter().find(|k| k.id == id).map(|k| &k.status);
                prop_assert_eq!(
                    status,
                    Some(&KeyStatus::Active),
                    "a sink of {} holds {} which IAM has as {:?} (outcome {:?})\n{:#?}",
                    address,
                    id,
                    status,
                    outcome,
                    calls
                );
            }
        }
        Ok(())
    }

    /// Remembers which credentials reached a sink.
    fn note_delivered(&mut self, calls: &[Call], recovered: bool) {
        let mut texts: Vec<String> = self
            .config
            .sets
            .keys()
            .flat_map(|a| self.holdings(a))
            .flatten()
            .collect();
        texts.push(String::from_utf8_lossy(&self.stdout).into_owned());
        for text in &texts {
            for id in self.iam.issued() {
                if text.contains(&id.0) {
                    self.delivered.insert(id);
                }
            }
        }
        // Recovery keeps a key it cannot prove undelivered.
        let unreadable = calls
            .iter()
            .any(|c| !c.ok && matches!(c.op, Op::SecretGet | Op::ParameterGet));
        if recovered && unreadable {
            for address in self.config.sets.keys() {
                for k in self.iam.credentials(address).unwrap_or_default() {
                    self.delivered.insert(k.id);
                }
            }
        }
    }

    /// After a clean converging run: nothing orphaned, state and IAM agree.
    fn check_settled(&self) -> Result<(), TestCaseError> {
        let state = StateStore::new(self.state_path.clone())
            .load()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let pending = Journal::for_state(&self.state_path).pending();
        prop_assert!(matches!(pending, Ok(None)), "{pending:?}");
        for address in self.config.sets.keys() {
            let live = self.iam.credentials(address).unwrap_or_default();
            let set = state.sets.get(address).cloned().unwrap_or_default();
            for k in &live {
                prop_assert!(
                    set.role_of(&k.id).is_some(),
                    "{address}: live {} {} is not tracked (orphan): {set:?}",
                    k.status,
                    k.id
                );
                prop_assert!(
                    self.seeded.contains(&k.id) || self.delivered.contains(&k.id),
                    "{address}: {} {} was kept though no sink ever held it (undelivered orphan): {set:?}",
                    k.status,
                    k.id
                );
            }
            for (role, k) in set.keys() {
                let in_iam = live.iter().find(|l| l.id == k.id).map(|l| &l.status);
                prop_assert_eq!(
                    in_iam,
                    Some(&k.status),
                    "{}: tracked {} key {} is {:?} in IAM, {} in state",
                    address,
                    role.as_str(),
                    k.id,
                    in_iam,
                    k.status
                );
            }
            if let Some(c) = &set.current {
                prop_assert_eq!(&c.status, &KeyStatus::Active, "{}: current key", address);
            }
        }
        Ok(())
    }

    /// One run with `faults` armed, then the checks.
    fn faulty_run(
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
        self.note_delivered(&calls, stats.recoveries > recoveries);
        Ok(outcome)
    }

    /// A person's `rollback` (at the checkpoint) or `resume` (when held) of `address`,
    /// through the real ops with `faults` armed, then the run checks.
    fn manual_step(
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
        let clients = Clients {
            iam: self.iam.clone(),
            remote: self.remote.clone(),
        };
        let operation = if rollback { "rollback" } else { "resume" };
        let mut writer =
            session::begin_write_with(&self.state_path, operation, &self.config, clients, now)
                .await
                .map_err(|e| e.to_string())?;
        if rollback {
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
        }
    }

    /// Clean runs at `now` until a plan has nothing to do; then nothing may be orphaned.
    fn converge(
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
    let result = runner.run(&schedule(), |sc| {
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

// ---------------------------------------------------------------------------------------
// Focused cases found by the properties
// ---------------------------------------------------------------------------------------

/// A delivery fails, a sink cannot be put back, and the process dies right after the clean-up
/// deleted the new key: the sink holds a deleted key. The next command's recovery must say
/// so, as the live failure would have (otherwise consumers read a dead key until the next
/// rotation, and nobody was told).
#[test]
fn recovery_names_a_sink_holding_a_key_an_interrupted_clean_up_deleted() {
    quiet_crashes();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let start = Utc.with_ymd_and_hms(2027, 3, 1, 0, 0, 0).unwrap();
    let sc = Schedule {
        users: vec![UserSpec {
            windows: Windows::default(),
            sinks: Sinks::ParameterAndSecret,
            keys: vec![(true, 24 * 100)],
        }],
        cert: None,
        steps: Vec::new(),
    };
    let mut h = Harness::new(&sc, start);
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

    let intent = Journal::for_state(&h.state_path)
        .pending()
        .unwrap()
        .expect("an intent");
    let mut state = StateStore::new(h.state_path.clone()).load().unwrap();
    let said = rt
        .block_on(recover::reconcile(
            &h.iam, &h.remote, &h.config, &mut state, &intent,
        ))
        .unwrap();
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
