//! What every command starts from: the config read from disk, the state, AWS clients, and
//! for writing commands the lock and the settling of any step an interrupted run left.

use crate::adapters::aws::services::AwsServices;
use crate::adapters::aws::{self, AwsIam, Connection};
use crate::adapters::iam::Iam;
use crate::adapters::remote::Remote;
use crate::adapters::store::journal::{Intent, Journal};
use crate::adapters::store::{self, LockInfo, StateLock, StateStore};
use crate::core::config::{self, Config, RetryMode, Source};
use crate::core::diagnostic::LineIndex;
use crate::core::model::Time;
use crate::core::state::State;
use crate::ops::error::{Error, Result};
use crate::ops::recover;
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
}

/// IAM, and the services sinks and key verification use.
pub struct Clients<I, R> {
    pub iam: I,
    pub remote: R,
}

/// A writing command's lock (held until dropped), state, clients and journal.
pub struct Writer<I, R> {
    _lock: StateLock,
    pub store: StateStore,
    pub state: State,
    pub clients: Clients<I, R>,
    pub journal: Journal,
    /// The interrupted step settled before anything else, if there was one.
    pub recovered: Option<Recovered>,
}

/// An interrupted step found in the journal and what reconciling it found and did.
#[derive(Debug)]
pub struct Recovered {
    pub intent: Intent,
    pub said: Vec<String>,
}

/// Far above any real config; refuses a wrong file before parsing it.
const MAX_CONFIG_BYTES: usize = 4 << 20;

impl Session {
    pub fn load_config(&self) -> Result<Config> {
        let sources = read_sources(&self.config_path)?;
        config::parse(&sources).map_err(Error::Config)
    }

    /// The config when there is a valid one (audit looks at the whole account without).
    pub fn optional_config(&self) -> Config {
        read_sources(&self.config_path)
            .ok()
            .and_then(|s| config::parse(&s).ok())
            .unwrap_or_default()
    }

    pub fn load_state(&self) -> Result<State> {
        Ok(StateStore::new(self.state_path.clone()).load()?)
    }

    /// A step an interrupted command left unfinished, for read-only commands to mention.
    pub fn pending(&self) -> Result<Option<Intent>> {
        Ok(Journal::for_state(&self.state_path).pending()?)
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
        Clients {
            iam: AwsIam::new(&shared),
            remote: AwsServices::new(&shared),
        }
    }

    /// Lock, state, AWS clients, and any interrupted step settled.
    pub async fn begin_write(
        &self,
        operation: &str,
        config: &Config,
    ) -> Result<Writer<AwsIam, AwsServices>> {
        // The lock comes first: no network before we know no one else is writing.
        let lock = StateLock::acquire(&self.state_path, operation, chrono::Utc::now())?;
        let clients = self.connect(config).await;
        open_writer(lock, &self.state_path, config, clients).await
    }

    /// Removes a lock left by a process that is gone (Terraform's force-unlock).
    pub fn force_unlock(&self, lock_id: &str) -> Result<LockInfo> {
        Ok(store::force_unlock(&self.state_path, lock_id)?)
    }
}

/// Takes the lock on `state_path` and opens a writer over any clients (tests pass fakes).
pub async fn begin_write_with<I: Iam, R: Remote>(
    state_path: &Path,
    operation: &str,
    config: &Config,
    clients: Clients<I, R>,
    wall_clock: Time,
) -> Result<Writer<I, R>> {
    let lock = StateLock::acquire(state_path, operation, wall_clock)?;
    open_writer(lock, state_path, config, clients).await
}

async fn open_writer<I: Iam, R: Remote>(
    lock: StateLock,
    state_path: &Path,
    config: &Config,
    clients: Clients<I, R>,
) -> Result<Writer<I, R>> {
    let mut store = StateStore::new(state_path.to_path_buf());
    let state = store.load()?;
    let mut writer = Writer {
        _lock: lock,
        store,
        state,
        clients,
        journal: Journal::for_state(state_path),
        recovered: None,
    };
    writer.recovered = writer.recover(config).await?;
    Ok(writer)
}

impl<I: Iam, R: Remote> Writer<I, R> {
    /// Settles a step an interrupted command left in the journal, before anything else.
    async fn recover(&mut self, config: &Config) -> Result<Option<Recovered>> {
        let Some(intent) = self.journal.pending()? else {
            return Ok(None);
        };
        let said = recover::reconcile(
            &self.clients.iam,
            &self.clients.remote,
            config,
            &mut self.state,
            &intent,
        )
        .await?;
        self.store.save(&mut self.state)?;
        self.journal.clear()?;
        Ok(Some(Recovered { intent, said }))
    }
}

/// Reads the config file, or every `*.hcl` file of a directory in name order.
fn read_sources(path: &Path) -> Result<Vec<Source>> {
    if path.is_dir() {
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
        files.iter().map(|p| read_source(p)).collect()
    } else {
        Ok(vec![read_source(path)?])
    }
}

fn read_source(path: &Path) -> Result<Source> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::Invalid(format!(
            "cannot read config {}: {e}\n  hint: create keyrot.hcl (see examples/) or pass -c PATH",
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
