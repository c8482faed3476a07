//! One apply run: sets run side by side, each set's own steps in order, under each
//! account's adaptive limit (`ops::pool`). What the steps share — the state and its store,
//! stdout, the places sinks write — is taken one step at a time.
//!
//! The set futures are polled on one task, so code between two `.await`s never interleaves
//! with another set's; the locks below exist for what spans an `.await` (a delivery) and to
//! keep that true if the futures ever move to threads.

use super::{Acted, ApplyError, Report, Revert, SetFailure};
use crate::adapters::accounts::Accounts;
use crate::adapters::blocking;
use crate::adapters::iam::Iam;
use crate::adapters::remote::Remote;
use crate::adapters::sinks;
use crate::adapters::store::journal::{Intent, Journal, JournalError};
use crate::adapters::store::{StateStore, StoreError};
use crate::core::config::{Config, Sink};
use crate::core::model::{timestamp, Address, Time};
use crate::core::plan::{ActionKind, Plan};
use crate::core::state::State;
use crate::ops::events::Recorder;
use crate::ops::pool::{Finished, Pool};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{Mutex as AsyncMutex, MutexGuard as AsyncGuard, OwnedMutexGuard};

/// What every set's steps share during one run. Its durable writes (journal, state, a
/// file sink) run on blocking threads, so one set's sync never stalls the others.
pub(super) struct Run<'a, I: Iam, R: Remote> {
    pub(super) iam: &'a I,
    pub(super) remote: &'a Accounts<R>,
    pub(super) config: &'a Config,
    pub(super) now: Time,
    pub(super) journal: &'a Journal,
    pub(super) events: &'a Recorder,
    pub(super) wall_clock: &'a dyn Fn() -> Time,
    parallelism: usize,
    ledger: Mutex<Book<'a>>,
    stdout: AsyncMutex<&'a mut (dyn Write + Send)>,
    /// One lock per place sinks write (a file, a secret, a parameter): two sets delivering
    /// to one credentials file take turns, so neither's write or put-back undoes the other's.
    places: Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
    /// Each finished step's line, by its place in the plan's execution order.
    lines: Mutex<BTreeMap<usize, String>>,
    reverts: Mutex<Vec<Revert>>,
    /// Sets running now: with one, there is nothing to gather before a write.
    in_flight: AtomicUsize,
    /// Held from a state write's preparation to its end: writes land in order.
    state_writer: AsyncMutex<()>,
}

/// How long a step waits for other sets' changes before its durable write.
const GATHER_WINDOW: std::time::Duration = std::time::Duration::from_millis(2);

/// The state and the store that writes it.
pub(super) struct Ledger<'a> {
    pub(super) store: &'a mut StateStore,
    pub(super) state: &'a mut State,
}

/// The ledger, and how far its changes are written: steps that finish together share one
/// write of the state (group commit), so a run's writes do not grow with sets × state size.
pub(super) struct Book<'a> {
    pub(super) ledger: Ledger<'a>,
    /// Changes made to the state in memory, and how many of them are written.
    changed: u64,
    written: u64,
}

/// Everything a run borrows.
pub(super) struct Parts<'a, I: Iam, R: Remote> {
    pub iam: &'a I,
    pub remote: &'a Accounts<R>,
    pub config: &'a Config,
    pub now: Time,
    pub journal: &'a Journal,
    pub events: &'a Recorder,
    pub wall_clock: &'a dyn Fn() -> Time,
    pub parallelism: usize,
    pub ledger: Ledger<'a>,
    pub stdout: &'a mut (dyn Write + Send),
}

/// How one set's run ended.
enum SetEnd {
    /// Every step ran (or a revert ended the set's run on purpose).
    Done,
    /// A step failed and the set stopped there; the others go on.
    Failed(SetFailure),
    /// A failure no set can get past: the run stops.
    Stop(ApplyError),
}

/// One set's actions in the order they run, each with its place in the plan's execution
/// order (which is the order of the output).
pub(super) struct SetSteps {
    set: usize,
    steps: Vec<(usize, usize)>,
}

/// Each set's steps, sets in the order their first step comes in the execution order.
pub(super) fn set_steps(plan: &Plan) -> Vec<SetSteps> {
    let mut index: BTreeMap<usize, usize> = BTreeMap::new();
    let mut out: Vec<SetSteps> = Vec::new();
    for (place, (set, action)) in plan.execution_order().into_iter().enumerate() {
        let i = *index.entry(set).or_insert_with(|| {
            out.push(SetSteps {
                set,
                steps: Vec::new(),
            });
            out.len() - 1
        });
        out[i].steps.push((place, action));
    }
    out
}

impl<'a, I: Iam, R: Remote> Run<'a, I, R> {
    pub(super) fn new(parts: Parts<'a, I, R>) -> Self {
        Run {
            iam: parts.iam,
            remote: parts.remote,
            config: parts.config,
            now: parts.now,
            journal: parts.journal,
            events: parts.events,
            wall_clock: parts.wall_clock,
            parallelism: parts.parallelism,
            ledger: Mutex::new(Book {
                ledger: parts.ledger,
                changed: 0,
                written: 0,
            }),
            stdout: AsyncMutex::new(parts.stdout),
            places: Mutex::new(HashMap::new()),
            lines: Mutex::new(BTreeMap::new()),
            reverts: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            state_writer: AsyncMutex::new(()),
        }
    }

    /// Runs every set, `parallelism` at a time in each account, then the password policy.
    /// `progress` hears each finished step's line in the plan's execution order, whatever
    /// order sets finish in. What was done before a failure that stops the run is in state.
    pub(super) async fn all(
        &self,
        plan: &Plan,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Report, (Report, ApplyError)> {
        let sets = set_steps(plan);
        let mut failed = Vec::new();
        let mut stop = None;
        let mut release = InOrder::default();
        let mut pool = Pool::new(self.parallelism);
        let throttled = |account: Option<&str>| self.iam.throttled_in(account);
        pool.each(
            &sets,
            |steps| plan.sets[steps.set].address.account(),
            throttled,
            |steps| async move {
                let end = self.run_set(plan, steps).await;
                let succeeded = matches!(end, SetEnd::Done);
                Finished {
                    result: end,
                    succeeded,
                }
            },
            |steps, end| {
                release.resolve(steps.steps.iter().map(|(place, _)| *place));
                release.emit(&self.lines(), progress);
                match end {
                    SetEnd::Done => ControlFlow::Continue(()),
                    SetEnd::Failed(failure) => {
                        failed.push(failure);
                        ControlFlow::Continue(())
                    }
                    SetEnd::Stop(e) => {
                        stop = Some(e);
                        ControlFlow::Break(())
                    }
                }
            },
        )
        .await;
        // Steps of sets a stop cut short are done and saved: they are said too.
        release.flush(&self.lines(), progress);
        let mut report = Report {
            done: std::mem::take(&mut *self.lines()).into_values().collect(),
            failed,
            reverts: std::mem::take(&mut *lock(&self.reverts)),
            checkpoints: Vec::new(),
        };
        if let Some(e) = stop {
            return Err((report, e));
        }
        if let Some(policy) = &plan.password_policy {
            match self.apply_policy(policy).await {
                Ok(line) => {
                    progress(&line);
                    report.done.push(line);
                }
                Err(e) if e.stops_everything() => return Err((report, e)),
                Err(error) => report.failed.push(SetFailure {
                    target: "account password policy".into(),
                    action: "update",
                    error,
                }),
            }
        }
        report.checkpoints = self.checkpoints(plan, &report);
        Ok(report)
    }

    /// One set's steps in order. A failed step ends the set's run here (its journal intent
    /// settled, so the journal never keeps a failed set's step); a revert ends it on purpose.
    async fn run_set(&self, plan: &Plan, steps: &SetSteps) -> SetEnd {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let end = self.run_steps(plan, steps).await;
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        end
    }

    async fn run_steps(&self, plan: &Plan, steps: &SetSteps) -> SetEnd {
        let set = &plan.sets[steps.set];
        // An interrupted step recovery could not settle is never written over.
        match self.journal.pending_for(&set.address) {
            Ok(None) => {}
            Ok(Some(intent)) => {
                return SetEnd::Failed(SetFailure {
                    target: set.address.to_string(),
                    action: set.actions[steps.steps[0].1].kind.name(),
                    error: ApplyError::Interrupted {
                        address: set.address.clone(),
                        op: format!("{:?}", intent.op).to_lowercase(),
                    },
                })
            }
            Err(e) => return SetEnd::Stop(e.into()),
        }
        for &(place, ai) in &steps.steps {
            let action = &set.actions[ai];
            match self.act(&set.address, action).await {
                Ok(Acted { line, revert }) => {
                    lock(&self.lines).insert(place, line);
                    if let Some(revert) = revert {
                        lock(&self.reverts).push(revert);
                        return SetEnd::Done;
                    }
                }
                Err(e) if e.stops_everything() => return SetEnd::Stop(e),
                Err(error) => {
                    if let Err(e) = self.settle(&set.address).await {
                        return SetEnd::Stop(e);
                    }
                    return SetEnd::Failed(SetFailure {
                        target: set.address.to_string(),
                        action: action.kind.name(),
                        error,
                    });
                }
            }
        }
        SetEnd::Done
    }

    fn lines(&self) -> MutexGuard<'_, BTreeMap<usize, String>> {
        lock(&self.lines)
    }

    /// The state, to read (no `.await` while it is held).
    pub(super) fn ledger(&self) -> MutexGuard<'_, Book<'a>> {
        lock(&self.ledger)
    }

    /// Changes the state and returns once it is written. Other sets' steps that finish
    /// meanwhile add their changes first, and one write covers them all; a step never
    /// goes on (clearing its journal intent) before the write holding its change.
    pub(super) async fn commit(&self, change: impl FnOnce(&mut State)) -> Result<(), StoreError> {
        let mine = {
            let mut book = self.ledger();
            change(book.ledger.state);
            book.changed += 1;
            book.changed
        };
        self.gather().await;
        // One write at a time, in order; the state may change further while it runs.
        let _writer = self.state_writer.lock().await;
        let (upto, prepared) = {
            let mut book = self.ledger();
            if book.written >= mine {
                return Ok(());
            }
            let upto = book.changed;
            let Ledger { store, state } = &mut book.ledger;
            (upto, store.prepare(state))
        };
        if let Some((write, io)) = prepared {
            // On a blocking thread: while the state syncs, other sets' steps go on.
            let done = blocking::write(io).await.unwrap_or_else(|message| {
                Err(StoreError::Remote {
                    what: "the state".into(),
                    message,
                })
            });
            let mut book = self.ledger();
            let Ledger { store, state } = &mut book.ledger;
            store.finish(state, write, done)?;
        }
        let mut book = self.ledger();
        book.written = book.written.max(upto);
        Ok(())
    }

    /// Waits for other sets' steps to stage their changes, so one write covers them all:
    /// a short window while others are in flight (a step's latency matters little beside
    /// the run's throughput, and every durable write blocks the run while it syncs).
    async fn gather(&self) {
        if self.in_flight.load(Ordering::Relaxed) > 1 {
            tokio::time::sleep(GATHER_WINDOW).await;
        } else {
            tokio::task::yield_now().await;
        }
    }

    /// Records `intent` durably before its IAM call. Sets that record at the same moment
    /// share one journal write.
    pub(super) async fn record(&self, intent: &Intent) -> Result<(), JournalError> {
        let upto = self.journal.stage(intent)?;
        self.gather().await;
        self.journal.write_recorded_async(upto, intent).await
    }

    /// Clears `address`'s intent once its outcome is in state (a shared write, as above).
    pub(super) async fn clear(&self, address: &Address) -> Result<(), JournalError> {
        let Some(upto) = self.journal.stage_clear(address)? else {
            return Ok(());
        };
        self.gather().await;
        self.journal.write_cleared_async(upto, address).await
    }

    /// A copy of the state holding only `address`'s set, for recovery to work on across
    /// IAM calls while other sets' steps write the state.
    pub(super) fn scratch(&self, address: &Address) -> State {
        let book = self.ledger();
        let state = &book.ledger.state;
        let mut scratch = State::new(state.lineage.clone());
        if let Some(set) = state.sets.get(address) {
            scratch.sets.insert(address.clone(), set.clone());
        }
        scratch
    }

    /// The places `sinks` write, locked for this set (in one order, so two sets never
    /// wait on each other), and stdout when one of them prints.
    pub(super) async fn claim(&self, sinks: &[Sink]) -> Claim<'_, 'a> {
        let names: BTreeSet<String> = sinks.iter().map(sinks::place).collect();
        let prints = sinks.iter().any(|s| matches!(s, Sink::Stdout { .. }));
        self.claim_places(names, prints).await
    }

    /// `names` (places as `sinks::place` names them) locked for this set, in one order;
    /// stdout too when `prints`.
    pub(super) async fn claim_places(
        &self,
        names: BTreeSet<String>,
        prints: bool,
    ) -> Claim<'_, 'a> {
        let locks: Vec<Arc<AsyncMutex<()>>> = {
            let mut places = lock(&self.places);
            names
                .iter()
                .map(|n| Arc::clone(places.entry(n.clone()).or_default()))
                .collect()
        };
        let mut held = Vec::with_capacity(locks.len());
        for place in locks {
            held.push(place.lock_owned().await);
        }
        let stdout = match prints {
            true => Some(self.stdout.lock().await),
            false => None,
        };
        Claim {
            _places: held,
            stdout,
            nowhere: std::io::sink(),
        }
    }

    /// Sets left Inactive by this run, with how to go on or back.
    fn checkpoints(&self, plan: &Plan, report: &Report) -> Vec<String> {
        let mut out = Vec::new();
        let stopped: BTreeSet<&str> = report.failed.iter().map(|f| f.target.as_str()).collect();
        let reverted: BTreeSet<&Address> = report.reverts.iter().map(|r| &r.address).collect();
        for set in &plan.sets {
            if reverted.contains(&set.address) || stopped.contains(set.address.to_string().as_str())
            {
                continue;
            }
            let deactivated = set
                .actions
                .iter()
                .find(|a| a.kind == ActionKind::Deactivate);
            if let (Some(a), Some(cfg)) = (deactivated, self.config.sets.get(&set.address)) {
                let due = self.now + cfg.windows.inactive_for.to_chrono();
                let confirm = if cfg.confirm.checks.is_empty() {
                    "confirm applications work with the new key".to_string()
                } else {
                    format!(
                        "its {} confirm check(s) passed; every apply runs them again until the delete",
                        cfg.confirm.checks.len()
                    )
                };
                out.push(format!(
                    "{addr}: old key {key} is Inactive. Checkpoint: {confirm}.\n  \
                     To go on: `keyrot apply` at or after {due} (when inactive_for has passed) deletes it.\n  \
                     To go back: `keyrot rollback {addr}` reactivates it.",
                    addr = set.address,
                    key = a.key.as_ref().map(|k| self.show(k)).unwrap_or_default(),
                    due = timestamp(due),
                ));
            }
        }
        out
    }
}

/// Puts the set `scratch` holds for `address` back into `state` (in a commit).
pub(super) fn put_back(state: &mut State, address: &Address, mut scratch: State) {
    match scratch.sets.remove(address) {
        Some(set) => {
            state.sets.insert(address.clone(), set);
        }
        None => {
            state.sets.remove(address);
        }
    }
}

/// However a run ends — done, stopped by an error, or unwinding from a panic — the writes
/// it started land (or fail) before it is gone, and so before its lock is released.
impl<I: Iam, R: Remote> Drop for Run<'_, I, R> {
    fn drop(&mut self) {
        blocking::wait_idle();
    }
}

/// A set's claim on the places its sinks write, held while it delivers (and puts back).
pub(super) struct Claim<'r, 'a> {
    _places: Vec<OwnedMutexGuard<()>>,
    stdout: Option<AsyncGuard<'r, &'a mut (dyn Write + Send)>>,
    nowhere: std::io::Sink,
}

impl Claim<'_, '_> {
    /// Where a `deliver "stdout"` sink writes: stdout when the set has one, else nowhere.
    pub(super) fn stdout(&mut self) -> &mut (dyn Write + Send) {
        match &mut self.stdout {
            Some(out) => &mut ***out,
            None => &mut self.nowhere,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Releases lines in execution order: a place is resolved when its set finished (done,
/// failed or skipped); lines go out up to the first place still running.
#[derive(Default)]
struct InOrder {
    next: usize,
    resolved: BTreeSet<usize>,
}

impl InOrder {
    fn resolve(&mut self, places: impl Iterator<Item = usize>) {
        self.resolved.extend(places);
    }

    fn emit(&mut self, lines: &BTreeMap<usize, String>, progress: &mut dyn FnMut(&str)) {
        while self.resolved.remove(&self.next) {
            if let Some(line) = lines.get(&self.next) {
                progress(line);
            }
            self.next += 1;
        }
    }

    /// After a stop: every line not yet released, in order.
    fn flush(&mut self, lines: &BTreeMap<usize, String>, progress: &mut dyn FnMut(&str)) {
        for line in lines.range(self.next..).map(|(_, l)| l) {
            progress(line);
        }
        self.next = usize::MAX;
    }
}
