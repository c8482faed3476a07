//! What every command starts from: the config read from disk, the state, AWS clients, and
//! for writing commands the lock and the settling of any step an interrupted run left.

use crate::adapters::accounts::Accounts;
use crate::adapters::aws::s3::AwsObjects;
use crate::adapters::aws::services::AwsServices;
use crate::adapters::aws::{self, AssumedRole, AwsIam, Connection};
use crate::adapters::iam::Iam;
use crate::adapters::process;
use crate::adapters::remote::Remote;
use crate::adapters::store::events::EventLog;
use crate::adapters::store::journal::{Intent, Journal};
use crate::adapters::store::object::Versioning;
use crate::adapters::store::s3::{S3Journal, S3Place, S3State};
use crate::adapters::store::{
    self, lease, Holder, Lease, LeaseInfo, Lock, StateLock, StateStore, StoreError,
};
use crate::core::config::{self, Config, RetryMode, S3Backend, Source};
use crate::core::diagnostic::{Diagnostic, LineIndex};
use crate::core::event::Actor;
use crate::core::model::{Address, KeyIds, Time};
use crate::core::state::State;
use crate::ops::error::{Error, Result};
use crate::ops::events::Recorder;
use crate::ops::{fleet, recover};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where a command reads and writes, and as whom it talks to AWS. Command-line values
/// already override the config's `aws` block where both are given.
#[derive(Clone, Debug)]
pub struct Session {
    pub config_path: PathBuf,
    pub state_path: PathBuf,
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    /// keyrot's clock for this command (`--now` or the real time), read once by the CLI.
    pub now: Time,
    /// Who runs this command (named in an S3 lock and in every event), and its run id;
    /// read once by the CLI.
    pub actor: Actor,
    /// `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`, read once by the CLI.
    pub s3_endpoint: Option<String>,
    /// `--show-key-ids`: full key ids whatever the config's `display` block says.
    pub show_key_ids: bool,
    /// At most this many IAM reads in flight per account (`--parallelism`).
    pub parallelism: usize,
    /// At most this many sets applied at once per account (`--apply-parallelism`).
    pub apply_parallelism: usize,
}

/// IAM, and the services sinks and key verification use: per account.
pub struct Clients<I, R> {
    pub iam: Accounts<I>,
    pub remote: Accounts<R>,
}

impl<I, R> Clients<I, R> {
    /// Clients of keyrot's own account only.
    pub fn single(iam: I, remote: R) -> Self {
        Clients {
            iam: Accounts::single(iam),
            remote: Accounts::single(remote),
        }
    }
}

/// A writing command's lock (held until dropped), state, clients and journal.
pub struct Writer<I, R> {
    pub lock: Lock,
    /// What opening the backend found worth saying (a lock taken over, versioning off).
    pub notes: BackendNotes,
    pub store: StateStore,
    pub state: State,
    pub clients: Clients<I, R>,
    pub journal: Journal,
    /// The audit trail: every step this command applies, fails or settles.
    pub events: Recorder,
    /// The interrupted steps settled before anything else (one per set in flight when
    /// a run was cut off), in address order.
    pub recovered: Vec<Recovered>,
    /// Interrupted steps that could not be settled (their set's account or user could not
    /// be read): each stays in the journal and its set waits; every other set goes on.
    pub unsettled: Vec<Unsettled>,
    /// Who keyrot acts as in IAM, checked before anything else reaches IAM.
    pub identity: Option<String>,
    /// At most this many sets applied at once per account (`--apply-parallelism`).
    pub parallelism: usize,
    /// What expanding the selectors found worth a look (a selector that chose nobody).
    pub selection_warnings: Vec<Diagnostic>,
}

/// What opening an S3 backend found, for the CLI to say.
#[derive(Debug, Default)]
pub struct BackendNotes {
    /// The stale lock this run took over from a run whose lease expired.
    pub took_over: Option<LeaseInfo>,
    /// The bucket keeps no old versions (they are this backend's `.backup`).
    pub versioning_off: Option<String>,
}

/// The lock and state a writing command opens, before any AWS client exists.
pub struct Opened {
    pub lock: Lock,
    pub store: StateStore,
    pub journal: Journal,
    pub events: Recorder,
    pub notes: BackendNotes,
}

/// An interrupted step found in the journal and what reconciling it found and did.
#[derive(Debug)]
pub struct Recovered {
    pub intent: Intent,
    pub said: Vec<String>,
}

/// An interrupted step left in the journal for a later run, and why.
#[derive(Debug)]
pub struct Unsettled {
    pub intent: Intent,
    pub error: String,
}

/// Far above any real config; refuses a wrong file before parsing it.
const MAX_CONFIG_BYTES: usize = 4 << 20;

impl Session {
    pub fn load_config(&self) -> Result<Config> {
        self.load_config_with_warnings().map(|(config, _)| config)
    }

    /// The config, and what it was accepted with but deserves a look.
    pub fn load_config_with_warnings(&self) -> Result<(Config, Vec<Diagnostic>)> {
        let sources = read_sources(&self.config_path)?;
        let (config, warnings) = config::parse_with_warnings(&sources).map_err(Error::Config)?;
        Ok((self.displayed(config), warnings))
    }

    /// The config when there is a valid one (audit looks at the whole account without).
    pub fn optional_config(&self) -> Config {
        let config = read_sources(&self.config_path)
            .ok()
            .and_then(|s| config::parse(&s).ok())
            .unwrap_or_default();
        self.displayed(config)
    }

    /// The config with the command line's display choices applied (display only: the
    /// digest does not cover them).
    fn displayed(&self, mut config: Config) -> Config {
        if self.show_key_ids {
            config.display.key_ids = KeyIds::Full;
        }
        config
    }

    /// The state's store, read-only (no lock is taken).
    pub fn reader(&self, config: &Config) -> Result<StateStore> {
        Ok(match &config.backend {
            None => StateStore::new(self.state_path.clone()),
            Some(b) => StateStore::S3(S3State::new(self.place(b)?, None)),
        })
    }

    pub fn load_state(&self, config: &Config) -> Result<State> {
        Ok(self.reader(config)?.load()?)
    }

    /// The steps an interrupted command left unfinished, for read-only commands to mention.
    pub fn pending(&self, config: &Config) -> Result<Vec<Intent>> {
        let journal = match &config.backend {
            None => Journal::for_state(&self.state_path),
            Some(b) => Journal::s3(S3Journal::new(self.place(b)?, None)),
        };
        Ok(journal.pending()?)
    }

    /// The event log of the configured backend, read-only (no lock is taken).
    pub fn event_log(&self, config: &Config) -> Result<EventLog> {
        Ok(match &config.backend {
            None => EventLog::for_state(&self.state_path),
            Some(b) => EventLog::s3(self.place(b)?, None),
        })
    }

    fn place(&self, backend: &S3Backend) -> Result<S3Place> {
        let objects =
            AwsObjects::connect(backend, self.s3_endpoint.clone()).map_err(|message| {
                StoreError::Remote {
                    what: backend.url(),
                    message,
                }
            })?;
        Ok(S3Place {
            objects: std::sync::Arc::new(objects),
            key: backend.key.clone(),
        })
    }

    /// Takes the lock of the configured backend and opens its state and journal.
    pub fn open(&self, operation: &str, config: &Config) -> Result<Opened> {
        let Some(backend) = &config.backend else {
            let lock = StateLock::acquire(&self.state_path, operation, chrono::Utc::now())?;
            let log = EventLog::for_state(&self.state_path);
            return Ok(Opened {
                lock: Lock::Local(lock),
                store: StateStore::new(self.state_path.clone()),
                journal: Journal::for_state(&self.state_path),
                events: Recorder::new(log, self.actor.clone(), operation, self.now),
                notes: BackendNotes::default(),
            });
        };
        let place = self.place(backend)?;
        let lease_for = std::time::Duration::from_secs(backend.lock_lease.as_secs());
        let objects = std::sync::Arc::clone(&place.objects);
        let holder = Holder {
            user: self.actor.user.clone(),
            ci_run: self.actor.ci_run.clone(),
        };
        let lease = Lease::acquire(objects, &place.lock_key(), operation, &holder, lease_for)?;
        let fence = lease.fence();
        let versioning_off =
            (place.objects.versioning() == Versioning::Off).then(|| place.objects.location());
        Ok(Opened {
            notes: BackendNotes {
                took_over: lease.took_over.clone(),
                versioning_off,
            },
            store: StateStore::S3(S3State::new(place.clone(), Some(fence.clone()))),
            journal: Journal::s3(S3Journal::new(place.clone(), Some(fence.clone()))),
            events: Recorder::new(
                EventLog::s3(place, Some(fence)),
                self.actor.clone(),
                operation,
                self.now,
            ),
            lock: Lock::S3(lease),
        })
    }

    pub async fn connect(&self, config: &Config) -> Clients<AwsIam, AwsServices> {
        let conn = Connection {
            profile: self.profile.clone().or(config.aws.profile.clone()),
            region: self.region.clone().or(config.aws.region.clone()),
            endpoint_url: self
                .endpoint_url
                .clone()
                .or(config.aws.endpoint_url.clone()),
            max_attempts: config.aws.max_attempts,
            timeout: config
                .aws
                .timeout
                .map(|w| std::time::Duration::from_secs(w.as_secs())),
            adaptive: config.aws.retry_mode == Some(RetryMode::Adaptive),
        };
        let shared = aws::load_config(&conn).await;
        let mut iam = BTreeMap::new();
        let mut remote = BTreeMap::new();
        for (name, spec) in &config.accounts {
            let role = AssumedRole {
                role_arn: spec.role_arn.clone(),
                external_id: spec.external_id.clone(),
                session_name: spec.session_name.clone().unwrap_or_else(|| "keyrot".into()),
                duration: spec
                    .duration
                    .map(|w| std::time::Duration::from_secs(w.as_secs())),
            };
            let assumed = aws::assume_role(&shared, &role).await;
            iam.insert(
                name.clone(),
                assumed.as_ref().map(AwsIam::new).map_err(Clone::clone),
            );
            remote.insert(
                name.clone(),
                assumed.as_ref().map(AwsServices::new).map_err(Clone::clone),
            );
        }
        Clients {
            iam: Accounts::new(AwsIam::new(&shared), iam),
            remote: Accounts::new(AwsServices::new(&shared), remote),
        }
    }

    /// AWS clients for a reading command, with who keyrot acts as: a missing or refused
    /// credential costs one call, not one per user.
    pub async fn connect_checked(
        &self,
        config: &Config,
    ) -> Result<(Clients<AwsIam, AwsServices>, Option<String>)> {
        let clients = self.connect(config).await;
        let identity = clients.iam.caller_identity().await?;
        Ok((clients, identity))
    }

    /// Lock, state, AWS clients, the selectors expanded into `config`, and any interrupted
    /// step settled.
    pub async fn begin_write(
        &self,
        operation: &str,
        config: &mut Config,
    ) -> Result<Writer<AwsIam, AwsServices>> {
        // Before any secret can exist in this process, nothing may dump its memory.
        process::forbid_dumps()
            .map_err(|e| Error::Invalid(format!("cannot forbid core dumps: {e}")))?;
        // The lock comes first: no IAM call before we know no one else is writing.
        let opened = self.open(operation, config)?;
        let clients = self.connect(config).await;
        let mut writer = open_writer(opened, config, clients).await?;
        writer.parallelism = self.apply_parallelism;
        Ok(writer)
    }

    /// Removes a lock left by a process that is gone, or (S3) a live lease whose holder
    /// is stuck: it is fenced off. Says whose lock it was.
    pub fn force_unlock(&self, config: &Config, lock_id: &str) -> Result<String> {
        match &config.backend {
            None => {
                let info = store::force_unlock(&self.state_path, lock_id)?;
                Ok(format!(
                    "`keyrot {}` (pid {} on host {})",
                    info.operation, info.pid, info.host
                ))
            }
            Some(backend) => {
                let place = self.place(backend)?;
                let info = lease::force_unlock(place.objects.as_ref(), &place.lock_key(), lock_id)?;
                Ok(info.describe())
            }
        }
    }
}

/// Takes the lock on `state_path` and opens a writer over any clients (tests pass fakes);
/// its events name no one but a fresh run id.
pub async fn begin_write_with<I: Iam, R: Remote>(
    state_path: &Path,
    operation: &str,
    config: &mut Config,
    clients: Clients<I, R>,
    wall_clock: Time,
) -> Result<Writer<I, R>> {
    let lock = StateLock::acquire(state_path, operation, wall_clock)?;
    let actor = Actor {
        run_id: uuid::Uuid::new_v4().to_string(),
        ..Actor::default()
    };
    let log = EventLog::for_state(state_path);
    let opened = Opened {
        lock: Lock::Local(lock),
        store: StateStore::new(state_path.to_path_buf()),
        journal: Journal::for_state(state_path),
        events: Recorder::new(log, actor, operation, wall_clock),
        notes: BackendNotes::default(),
    };
    open_writer(opened, config, clients).await
}

async fn open_writer<I: Iam, R: Remote>(
    opened: Opened,
    config: &mut Config,
    clients: Clients<I, R>,
) -> Result<Writer<I, R>> {
    let Opened {
        lock,
        mut store,
        journal,
        events,
        notes,
    } = opened;
    let state = store.load()?;
    let mut writer = Writer {
        lock,
        notes,
        store,
        state,
        clients,
        journal,
        events,
        recovered: Vec::new(),
        unsettled: Vec::new(),
        identity: None,
        parallelism: 1,
        selection_warnings: Vec::new(),
    };
    // One call that fails fast on missing or refused credentials, before recovery or a
    // plan makes one call per user.
    writer.identity = writer.clients.iam.caller_identity().await?;
    writer.events.set_identity(writer.identity.clone());
    // Recovery may need the sinks of a set a selector chose.
    writer.selection_warnings = fleet::expand(&writer.clients.iam, config).await?;
    writer.recover(config).await?;
    Ok(writer)
}

impl<I, R> Writer<I, R> {
    /// Refuses to change `address` in state while an interrupted step of it is unsettled
    /// (recovery could not settle it): that step is reconciled against state first.
    pub fn refuse_if_unsettled(&self, address: &Address) -> Result<()> {
        match self.unsettled.iter().find(|u| &u.intent.address == address) {
            Some(u) => Err(Error::Invalid(format!(
                "an interrupted {:?} of {address} is unsettled ({})\n  hint: fix what keeps it from being settled; the next writing command settles it first",
                u.intent.op, u.error
            ))),
            None => Ok(()),
        }
    }
}

impl<I: Iam, R: Remote> Writer<I, R> {
    /// Settles the steps an interrupted command left in the journal, before anything else:
    /// each set's on its own, in address order. One that IAM cannot settle now (its
    /// account's role refused, its user unreadable) stays in the journal and its set waits
    /// (apply never writes over it); only a failure no set can get past stops the command.
    async fn recover(&mut self, config: &Config) -> Result<()> {
        for intent in self.journal.pending()? {
            let logged = self.events.logged_step(&intent)?;
            // On a copy: a step that cannot be settled leaves no half-made change behind.
            let mut scratch = self.state.clone();
            let reconciled = match recover::reconcile(
                &self.clients.iam,
                &self.clients.remote,
                config,
                &mut scratch,
                &intent,
                &self.events,
            )
            .await
            {
                Ok(reconciled) => {
                    self.state = scratch;
                    reconciled
                }
                Err(recover::RecoverError::Iam(e)) if !e.stops_every_set() => {
                    let error = e.to_string();
                    self.unsettled.push(Unsettled { intent, error });
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            // Before the state write, like every step's event (see `ops::events`).
            self.events.recovery(&intent, &reconciled, logged)?;
            self.store.save(&mut self.state)?;
            self.journal.clear(&intent.address)?;
            self.recovered.push(Recovered {
                intent,
                said: reconciled.said,
            });
        }
        Ok(())
    }
}

/// Reads the config file, or every `*.hcl` file of a directory in name order.
fn read_sources(path: &Path) -> Result<Vec<Source>> {
    config_files(path)?.iter().map(|p| read_source(p)).collect()
}

/// The config file at `path`, or every `*.hcl` file of the directory `path`, in name order.
pub(crate) fn config_files(path: &Path) -> Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries = std::fs::read_dir(path).map_err(|e| {
        Error::Invalid(format!(
            "cannot read config directory {}: {e}",
            path.display()
        ))
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "hcl"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::Invalid(format!(
            "no *.hcl files in {}",
            path.display()
        )));
    }
    Ok(files)
}

/// One config file, refused when it is too large or not UTF-8.
pub(crate) fn read_source(path: &Path) -> Result<Source> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::Invalid(format!(
            "cannot read config {}: {e}\n  hint: `keyrot init` writes a starter keyrot.hcl (more in examples/), or pass -c PATH",
            path.display()
        ))
    })?;
    if bytes.len() > MAX_CONFIG_BYTES {
        return Err(Error::Invalid(format!(
            "config {} is {} bytes; keyrot reads at most {MAX_CONFIG_BYTES}: is it the right file?",
            path.display(),
            bytes.len()
        )));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let prefix = String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned();
        let (line, column) = LineIndex::new(&prefix).position(valid);
        Error::Invalid(format!(
            "{}:{line}:{column}: not valid UTF-8\n  hint: save the file as UTF-8",
            path.display()
        ))
    })?;
    Ok(Source {
        name: path.display().to_string(),
        text,
    })
}
