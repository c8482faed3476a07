//! Command-line surface: argument parsing and the commands, over the library's ops.
//! All terminal concerns (colour, prompts, progress bars) live here.

pub mod render;

use crate::adapters::aws::services::AwsServices;
use crate::adapters::aws::{AwsIam, Connection};
use crate::adapters::iam::Iam;
use crate::adapters::sinks::Remote;
use crate::adapters::store::journal::Journal;
use crate::adapters::store::{StateLock, StateStore};
use crate::core::config::{self, Config, Source};
use crate::core::duration::{humanize, Window};
use crate::core::model::{Address, LastUsed, Time};
use crate::core::plan::saved::{self as planfile, SavedPlan};
use crate::core::plan::{Action, ActionKind, Plan, PlanOptions, Reason, ReasonCode, SetPlan};
use crate::core::planner;
use crate::core::state::{Phase, State};
use crate::ops::apply::Applier;
use crate::ops::inventory;
use clap::{Args, Parser, Subcommand};
use render::{timestamp, Style};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

#[derive(Parser, Debug)]
#[command(
    name = "keyrot",
    version,
    about = "Plan and apply zero-downtime rotation of AWS IAM access keys and signing certificates, and the account password policy"
)]
pub struct Cli {
    /// Config file, or a directory whose *.hcl files are read together.
    #[arg(short, long, global = true, default_value = "keyrot.hcl")]
    pub config: PathBuf,
    /// State file.
    #[arg(long, global = true, default_value = "state/keyrot.json")]
    pub state: PathBuf,
    /// AWS shared-config profile (overrides the config's `aws.profile`).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// AWS region (overrides the config's `aws.region`).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// IAM endpoint, e.g. a local emulator (overrides the config's `aws.endpoint_url`).
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// Plan as if it were this time (RFC 3339), for what-if planning and tests.
    #[arg(long, global = true, env = "KEYROT_NOW")]
    pub now: Option<Time>,
    /// Never colour the output (NO_COLOR is honoured too).
    #[arg(long, global = true)]
    pub no_color: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write a commented starter keyrot.hcl (never overwrites one).
    Init {
        /// The IAM user whose access key the starter config rotates.
        #[arg(long, default_value = "ci-deployer")]
        user: String,
    },
    /// Check the config and report every problem as file:line:column.
    Validate,
    /// Show what apply would do, without changing anything.
    Plan {
        #[command(flatten)]
        shape: Shape,
        #[command(flatten)]
        output: Output,
        /// Exit 0 when nothing is to do, 2 when changes are due now, 3 when only waiting.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Save the plan to FILE for `keyrot apply FILE` (also `-out FILE`).
        #[arg(long = "out", short = 'o', value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Plan, confirm, then carry the plan out, saving state after every step.
    /// With FILE, apply exactly that saved plan, without a prompt.
    Apply {
        /// A plan saved with `keyrot plan -out FILE`.
        plan_file: Option<PathBuf>,
        #[command(flatten)]
        shape: Shape,
        /// Skip the interactive confirmation.
        #[arg(long)]
        auto_approve: bool,
    },
    /// Render a saved plan.
    Show {
        plan_file: PathBuf,
        #[command(flatten)]
        output: Output,
    },
    /// Each credential set's phase, key ages, last use, and what comes next.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Reactivate the previous key of a set at its checkpoint, and hold the rotation.
    Rollback { address: String },
    /// Continue a rotation held by rollback.
    Resume { address: String },
    /// Account-wide credential findings from the IAM credential report (never changes IAM).
    Audit {
        #[arg(long)]
        json: bool,
        /// Active keys and certificates older than this are findings.
        #[arg(long, default_value = "90d", value_parser = parse_window)]
        max_age: Window,
        /// Active keys unused for this long are findings.
        #[arg(long, default_value = "45d", value_parser = parse_window)]
        unused_for: Window,
    },
    /// Remove a state lock left by a process that is gone (the id is in the lock error).
    ForceUnlock { lock_id: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

#[derive(Args, Debug, Default)]
pub struct Output {
    /// Output format.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Shorthand for `--format json`.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
}

impl Output {
    fn format(&self) -> Format {
        match (self.json, self.format) {
            (true, _) => Format::Json,
            (false, Some(f)) => f,
            (false, None) => Format::Text,
        }
    }
}

#[derive(Args, Debug, Default)]
pub struct Shape {
    /// Limit to this credential set (repeatable).
    #[arg(long = "target", value_name = "ADDRESS")]
    pub targets: Vec<String>,
    /// Rotate this set now whatever its age (repeatable).
    #[arg(long = "force-rotate", value_name = "ADDRESS")]
    pub force_rotate: Vec<String>,
    /// Only record changes made outside keyrot; change nothing in IAM.
    #[arg(long)]
    pub refresh_only: bool,
}

/// A user-facing failure: the message (with any hint) is printed, exit code 1.
#[derive(Debug)]
pub struct Failure(pub String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string())
    }
}

pub type Outcome = Result<u8, Failure>;

pub async fn run(cli: Cli) -> Outcome {
    // The clock is read here and nowhere else; whole seconds keep output stable.
    let now = cli.now.unwrap_or_else(chrono::Utc::now);
    let now = chrono::DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
    let color = !cli.no_color
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::io::stdout().is_terminal();
    crate::adapters::crash::arm(std::env::var("KEYROT_CRASH_AT").ok());
    let ctx = Ctx {
        cli: &cli,
        now,
        style: Style { color },
    };
    match &cli.command {
        Command::Init { user } => ctx.init(user),
        Command::Validate => ctx.validate(),
        Command::Plan {
            shape,
            output,
            detailed_exitcode,
            out,
        } => {
            ctx.plan(shape, output.format(), *detailed_exitcode, out.as_deref())
                .await
        }
        Command::Apply {
            plan_file: Some(file),
            shape,
            auto_approve: _,
        } => {
            if !shape.targets.is_empty() || !shape.force_rotate.is_empty() || shape.refresh_only {
                return Err(Failure(
                    "a saved plan is applied exactly as it was made: give --target, --force-rotate or --refresh-only to `keyrot plan -out` instead".into(),
                ));
            }
            ctx.apply_saved(file).await
        }
        Command::Apply {
            plan_file: None,
            shape,
            auto_approve,
        } => ctx.apply(shape, *auto_approve).await,
        Command::Show { plan_file, output } => ctx.show(plan_file, output.format()),
        Command::Status { json } => ctx.status(*json).await,
        Command::Rollback { address } => ctx.rollback(address).await,
        Command::Resume { address } => ctx.resume(address).await,
        Command::Audit {
            json,
            max_age,
            unused_for,
        } => {
            let options = crate::core::audit::AuditOptions {
                max_age: *max_age,
                unused_for: *unused_for,
            };
            ctx.audit(*json, &options).await
        }
        Command::ForceUnlock { lock_id } => {
            let info = crate::adapters::store::force_unlock(&cli.state, lock_id)?;
            println!(
                "Removed the lock of `keyrot {}` (pid {} on host {}). The next `keyrot apply` reconciles any step it left unfinished.",
                info.operation, info.pid, info.host
            );
            Ok(0)
        }
    }
}

/// A writing command's lock (held until dropped), state and clients.
struct Writer {
    _lock: StateLock,
    store: StateStore,
    state: State,
    aws: Clients,
}

/// IAM, and the services sinks and key verification use.
struct Clients {
    iam: AwsIam,
    remote: AwsServices,
}

struct Ctx<'a> {
    cli: &'a Cli,
    now: Time,
    style: Style,
}

impl Ctx<'_> {
    /// The config's digest, plus the contents of bring-your-own certificate files: a saved
    /// plan must upload the certificate that was reviewed.
    fn config_digest(&self, config: &Config) -> String {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(config.digest().as_bytes());
        for set in config.sets.values() {
            if let Some(config::CertSource::Files {
                certificate_file, ..
            }) = &set.certificate
            {
                hasher.update(std::fs::read(certificate_file).unwrap_or_default());
            }
        }
        let hex: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("sha256:{hex}")
    }

    /// Bring-your-own certificate pairs must match and be valid before any plan uploads them.
    fn check_certificate_files(&self, config: &Config) -> Result<(), Failure> {
        for set in config.sets.values() {
            if let Some(config::CertSource::Files {
                certificate_file,
                private_key_file,
            }) = &set.certificate
            {
                let read = |p: &Path| {
                    std::fs::read_to_string(p)
                        .map_err(|e| format!("cannot read {}: {e}", p.display()))
                };
                let checked = read(certificate_file).and_then(|cert| {
                    let key = zeroize::Zeroizing::new(read(private_key_file)?);
                    crate::adapters::certs::check_pair(&cert, &key, self.now)
                });
                if let Err(problem) = checked {
                    return Err(Failure(format!(
                        "{}: {} and {}: {problem}\n  hint: fix the files; nothing was planned or uploaded",
                        set.address,
                        certificate_file.display(),
                        private_key_file.display()
                    )));
                }
            }
        }
        Ok(())
    }

    fn load_config(&self) -> Result<Config, Failure> {
        let sources = read_sources(&self.cli.config)?;
        config::parse(&sources).map_err(|diags| {
            let n = diags.len();
            let mut text: Vec<String> = diags.iter().map(ToString::to_string).collect();
            text.push(format!(
                "{n} error(s) in the config; nothing was read from IAM and state is untouched"
            ));
            Failure(text.join("\n"))
        })
    }

    async fn connect(&self, config: &Config) -> Clients {
        let conn = Connection {
            profile: self.cli.profile.clone().or(config.aws.profile.clone()),
            region: self.cli.region.clone().or(config.aws.region.clone()),
            endpoint_url: self
                .cli
                .endpoint_url
                .clone()
                .or(config.aws.endpoint_url.clone()),
            max_attempts: config.aws.max_attempts,
            timeout: config
                .aws
                .timeout
                .map(|w| std::time::Duration::from_secs(w.as_secs())),
            adaptive: config.aws.retry_mode == Some(crate::core::config::RetryMode::Adaptive),
        };
        let shared = crate::adapters::aws::load_config(&conn).await;
        Clients {
            iam: AwsIam::new(&shared),
            remote: AwsServices::new(&shared),
        }
    }

    fn options(&self, shape: &Shape) -> Result<PlanOptions, Failure> {
        let parse = |list: &[String]| -> Result<Vec<Address>, Failure> {
            list.iter()
                .map(|a| Address::parse(a).map_err(Failure))
                .collect()
        };
        Ok(PlanOptions {
            targets: parse(&shape.targets)?,
            force_rotate: parse(&shape.force_rotate)?,
            refresh_only: shape.refresh_only,
        })
    }

    fn init(&self, user: &str) -> Outcome {
        let path = &self.cli.config;
        let text = STARTER.replace("USER", user);
        // Only write what keyrot itself accepts.
        let source = Source {
            name: path.display().to_string(),
            text: text.clone(),
        };
        config::parse(&[source]).map_err(|d| {
            Failure(
                d.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        })?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| {
                Failure(format!(
                    "cannot create {}: {e}\n  hint: keyrot init never overwrites a config; edit the existing one",
                    path.display()
                ))
            })?;
        file.write_all(text.as_bytes())?;
        println!(
            "Wrote {}: rotates the access key of IAM user `{user}` into secrets/{user}.json.\n\
             Next: keyrot validate, then keyrot plan. Keep secrets/ and state/ out of version control.",
            path.display()
        );
        Ok(0)
    }

    fn validate(&self) -> Outcome {
        let config = self.load_config()?;
        println!(
            "{} The configuration is valid: {} credential set(s).",
            self.style.green("Success!"),
            config.sets.len()
        );
        Ok(0)
    }

    async fn make_plan<I: Iam>(
        &self,
        iam: &I,
        config: &Config,
        state: &State,
        options: &PlanOptions,
    ) -> Result<Plan, Failure> {
        Ok(self
            .make_plan_with_facts(iam, config, state, options)
            .await?
            .0)
    }

    /// Reads IAM for the declared users and plans; also returns the facts it saw.
    async fn make_plan_with_facts<I: Iam>(
        &self,
        iam: &I,
        config: &Config,
        state: &State,
        options: &PlanOptions,
    ) -> Result<(Plan, planfile::Facts), Failure> {
        self.check_certificate_files(config)?;
        for a in options.targets.iter().chain(&options.force_rotate) {
            if !config.sets.contains_key(a) && !state.sets.contains_key(a) {
                return Err(Failure(format!(
                    "{a} is not declared in the config nor tracked in state"
                )));
            }
        }
        let sets: Vec<Address> = config
            .sets
            .keys()
            .filter(|a| options.targets.is_empty() || options.targets.contains(a))
            .cloned()
            .collect();
        let mut inv = inventory::read_credentials(iam, &sets).await?;
        if config.password_policy.is_some() {
            inv.password_policy = Some(iam.password_policy().await?);
        }
        let needed = planner::evidence_needed(config, &inv, state, self.now);
        inventory::read_last_used(iam, &needed, &mut inv).await?;
        let plan = planner::plan(config, &inv, state, self.now, options);
        Ok((plan, planfile::facts(&inv, &sets)))
    }

    async fn audit(&self, json: bool, options: &crate::core::audit::AuditOptions) -> Outcome {
        // The config is optional here: audit looks at the whole account.
        let config = read_sources(&self.cli.config)
            .ok()
            .and_then(|s| config::parse(&s).ok())
            .unwrap_or_default();
        let aws = self.connect(&config).await;
        let csv = aws.iam.credential_report().await?;
        let findings = crate::core::audit::findings(&csv, self.now, options).map_err(Failure)?;
        if json {
            let doc = serde_json::json!({
                "format_version": render::json::FORMAT_VERSION,
                "now": timestamp(self.now),
                "findings": render::json::findings(&findings),
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        } else if findings.is_empty() {
            println!("No findings: no root access keys, no active key or certificate older than {} or unused for {}.", options.max_age, options.unused_for);
        } else {
            for f in &findings {
                println!(
                    "{}  {}: {} (CIS {})",
                    self.style.yellow("finding"),
                    f.user,
                    f.message,
                    f.cis
                );
            }
            println!(
                "\n{} finding(s). keyrot reports these and changes nothing.",
                findings.len()
            );
        }
        Ok(0)
    }

    /// Credential-report findings for the declared users; a report that cannot be read
    /// is a warning, not a failed plan.
    async fn findings_for<I: Iam>(
        &self,
        iam: &I,
        config: &Config,
    ) -> Vec<crate::core::audit::Finding> {
        if config.sets.is_empty() {
            return Vec::new();
        }
        let report = match iam.credential_report().await {
            Ok(csv) => crate::core::audit::findings(&csv, self.now, &Default::default()),
            Err(e) => Err(e.to_string()),
        };
        match report {
            Ok(all) => all
                .into_iter()
                .filter(|f| config.sets.keys().any(|a| a.user == f.user))
                .collect(),
            Err(e) => {
                eprintln!(
                    "{} no findings: the credential report could not be read ({e})",
                    self.style.yellow("Warning:")
                );
                Vec::new()
            }
        }
    }

    /// What every writing command starts with: the lock, the state, the clients, and any
    /// step an interrupted command left in the journal settled.
    async fn begin_write(&self, operation: &str, config: &Config) -> Result<Writer, Failure> {
        let lock = StateLock::acquire(&self.cli.state, operation, chrono::Utc::now())?;
        let mut store = StateStore::new(self.cli.state.clone());
        let mut state = store.load()?;
        let aws = self.connect(config).await;
        self.recover(&aws.iam, &aws.remote, config, &mut store, &mut state)
            .await?;
        Ok(Writer {
            _lock: lock,
            store,
            state,
            aws,
        })
    }

    /// Settles a step an interrupted command left in the journal, before anything else.
    async fn recover<I: Iam, R: Remote>(
        &self,
        iam: &I,
        remote: &R,
        config: &Config,
        store: &mut StateStore,
        state: &mut State,
    ) -> Result<(), Failure> {
        let journal = Journal::for_state(&self.cli.state);
        let Some(intent) = journal.pending()? else {
            return Ok(());
        };
        let said = crate::ops::recover::reconcile(iam, remote, config, state, &intent).await?;
        store.save(state)?;
        journal.clear()?;
        println!(
            "Recovered an interrupted {:?} of {}:",
            intent.op, intent.address
        );
        for line in said.iter().chain(
            said.is_empty()
                .then_some(&"nothing had changed in IAM".to_string()),
        ) {
            println!("  {line}");
        }
        println!();
        Ok(())
    }

    /// A note for read-only commands when a step is waiting to be reconciled.
    fn warn_pending(&self) -> Result<(), Failure> {
        if let Some(intent) = Journal::for_state(&self.cli.state).pending()? {
            eprintln!(
                "{} an interrupted {:?} of {}{} is unfinished; the next `keyrot apply` reconciles it with IAM",
                self.style.yellow("Warning:"),
                intent.op,
                intent.address,
                intent.key_id.map(|k| format!(" (key {})", k.masked())).unwrap_or_default()
            );
        }
        Ok(())
    }

    fn read_plan_file(&self, file: &Path) -> Result<SavedPlan, Failure> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Failure(format!("cannot read plan file {}: {e}", file.display())))?;
        planfile::from_json(&text).map_err(|e| {
            Failure(format!(
                "{}: {e}\n  hint: make a new one with `keyrot plan -out {}`",
                file.display(),
                file.display()
            ))
        })
    }

    fn show(&self, file: &Path, format: Format) -> Outcome {
        let saved = self.read_plan_file(file)?;
        let hint = format!("keyrot apply {}", file.display());
        self.render(&saved.plan, format, Some(&hint))?;
        Ok(0)
    }

    /// Applies exactly a saved plan, refusing it if anything it was based on has moved.
    async fn apply_saved(&self, file: &Path) -> Outcome {
        let saved = self.read_plan_file(file)?;
        let config = self.load_config()?;
        let refuse = |why: String| {
            Failure(format!(
                "refusing to apply {}: {why}\n  nothing was changed; make a new plan with `keyrot plan -out {}` and review it",
                file.display(),
                file.display()
            ))
        };
        let Writer {
            _lock,
            mut store,
            mut state,
            aws,
        } = self.begin_write("apply", &config).await?;
        let iam = &aws.iam;
        if state.applied_plans.contains(&saved.id) {
            return Err(refuse(format!("plan {} was already applied", saved.id)));
        }
        // An empty lineage is "no state yet": then the serial check says what moved.
        let both_exist = !state.lineage.is_empty() && !saved.prior_lineage.is_empty();
        if both_exist && state.lineage != saved.prior_lineage {
            return Err(refuse(format!(
                "the plan was made against another state (lineage {}, this state is {})",
                saved.prior_lineage, state.lineage
            )));
        }
        if state.serial != saved.prior_serial {
            return Err(refuse(format!(
                "saved plan is stale: state serial is {} now, the plan was made at serial {}",
                state.serial, saved.prior_serial
            )));
        }
        if self.config_digest(&config) != saved.config_digest {
            return Err(refuse("the config changed since the plan was made".into()));
        }
        let sets: Vec<Address> = saved.facts.keys().cloned().collect();
        let mut inv = inventory::read_credentials(iam, &sets).await?;
        let ids = planfile::keys_with_last_use(&saved.facts);
        inventory::read_last_used(iam, &ids, &mut inv).await?;
        let mut moved = planfile::facts_moved(&saved.facts, &planfile::facts(&inv, &sets));
        // The policy the plan saw: its `before`, or (no change planned) the configured one.
        let seen_policy = match (&saved.plan.password_policy, &config.password_policy) {
            (Some(policy), _) => Some(policy.before.clone()),
            (None, Some(spec)) if !spec.delete => Some(Some(spec.effective())),
            (None, Some(_)) => Some(None),
            (None, None) => None,
        };
        if let Some(seen) = seen_policy {
            if iam.password_policy().await? != seen {
                moved.push("the account password policy changed".to_string());
            }
        }
        if !moved.is_empty() {
            return Err(refuse(format!(
                "live IAM no longer matches what the plan saw:\n    {}",
                moved.join("\n    ")
            )));
        }
        // The planner is deterministic: the same state, config, facts and instant must give
        // the same plan. Anything else means the file was edited after review.
        inv.password_policy = match &saved.plan.password_policy {
            Some(p) => Some(p.before.clone()),
            None if config.password_policy.is_some() => Some(iam.password_policy().await?),
            None => None,
        };
        let expected = planner::plan(&config, &inv, &state, saved.plan.now, &saved.options);
        if expected.sets != saved.plan.sets
            || expected.password_policy != saved.plan.password_policy
        {
            return Err(refuse(
                "its actions are not what keyrot plans from the same state, config and IAM facts: \
                 the file was edited after it was made"
                    .into(),
            ));
        }
        // A plan made for a later instant (`--now`) is not applied before that instant.
        if saved.plan.now > self.now {
            return Err(refuse(format!(
                "it was made for {}, which is later than now ({}); apply it then, or pass the same --now",
                timestamp(saved.plan.now),
                timestamp(self.now)
            )));
        }
        print!("{}", render::text::plan(&saved.plan, self.style));
        if !saved.plan.summary().has_actions() {
            println!("\nNothing to apply.");
            return Ok(0);
        }
        // Consumed before the first step: a crash part-way cannot lead to a replay.
        state.mark_applied(&saved.id);
        store.save(&mut state)?;
        println!();
        // Recorded at the real instant: windows count from when things happened.
        let now = self.now;
        self.execute_at(
            iam,
            &aws.remote,
            &config,
            &mut store,
            &mut state,
            &saved.plan,
            now,
        )
        .await
    }

    fn render(&self, plan: &Plan, format: Format, apply_hint: Option<&str>) -> Result<(), Failure> {
        match format {
            Format::Json => println!(
                "{}",
                serde_json::to_string_pretty(&render::json::plan(plan))?
            ),
            Format::Markdown => print!("{}", render::markdown::plan(plan, apply_hint)),
            Format::Text => print!("{}", render::text::plan(plan, self.style)),
        }
        Ok(())
    }

    async fn plan(
        &self,
        shape: &Shape,
        format: Format,
        detailed: bool,
        out: Option<&Path>,
    ) -> Outcome {
        let config = self.load_config()?;
        let options = self.options(shape)?;
        let state = StateStore::new(self.cli.state.clone()).load()?;
        self.warn_pending()?;
        let aws = self.connect(&config).await;
        let iam = &aws.iam;
        let (mut plan, facts) = self
            .make_plan_with_facts(iam, &config, &state, &options)
            .await?;
        plan.findings = self.findings_for(iam, &config).await;
        let hint = out.map(|f| format!("keyrot apply {}", f.display()));
        self.render(&plan, format, hint.as_deref())?;
        if let Some(file) = out {
            let saved = SavedPlan {
                options: options.clone(),
                id: uuid::Uuid::new_v4().to_string(),
                created: chrono::Utc::now(),
                prior_lineage: state.lineage.clone(),
                prior_serial: state.serial,
                config_digest: self.config_digest(&config),
                facts,
                plan: plan.clone(),
            };
            crate::adapters::fsutil::write_atomic(
                file,
                planfile::to_json(&saved).as_bytes(),
                0o644,
            )
            .map_err(|e| Failure(format!("cannot write plan file {}: {e}", file.display())))?;
            if format == Format::Text {
                println!(
                    "\nSaved the plan to {f}. To apply exactly this plan: keyrot apply {f}",
                    f = file.display()
                );
            }
        }
        let summary = plan.summary();
        Ok(
            match (detailed, summary.has_actions(), summary.waiting > 0) {
                (false, _, _) => 0,
                (true, true, _) => 2,
                (true, false, true) => 3,
                (true, false, false) => 0,
            },
        )
    }

    async fn apply(&self, shape: &Shape, auto_approve: bool) -> Outcome {
        let config = self.load_config()?;
        let options = self.options(shape)?;
        let Writer {
            _lock,
            mut store,
            mut state,
            aws,
        } = self.begin_write("apply", &config).await?;
        let iam = &aws.iam;
        let plan = self.make_plan(iam, &config, &state, &options).await?;
        print!("{}", render::text::plan(&plan, self.style));
        if !plan.summary().has_actions() {
            println!("\nNothing to apply.");
            return Ok(0);
        }
        if !auto_approve && !confirm()? {
            println!("\nApply cancelled: nothing was changed.");
            return Ok(1);
        }
        println!();
        self.execute(iam, &aws.remote, &config, &mut store, &mut state, &plan)
            .await
    }

    async fn execute<I: Iam, R: Remote>(
        &self,
        iam: &I,
        remote: &R,
        config: &Config,
        store: &mut StateStore,
        state: &mut State,
        plan: &Plan,
    ) -> Outcome {
        self.execute_at(iam, remote, config, store, state, plan, self.now)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn execute_at<I: Iam, R: Remote>(
        &self,
        iam: &I,
        remote: &R,
        config: &Config,
        store: &mut StateStore,
        state: &mut State,
        plan: &Plan,
        now: Time,
    ) -> Outcome {
        let total =
            (plan.execution_order().len() + usize::from(plan.password_policy.is_some())) as u64;
        let bar = if std::io::stderr().is_terminal() {
            indicatif::ProgressBar::new(total)
        } else {
            indicatif::ProgressBar::hidden()
        };
        let mut stdout = std::io::stdout();
        let journal = Journal::for_state(&self.cli.state);
        let mut applier = Applier {
            iam,
            remote,
            config,
            store,
            state,
            now,
            stdout: &mut stdout,
            journal: &journal,
            wall_clock: &chrono::Utc::now,
        };
        let mut progress = |line: &str| {
            bar.suspend(|| println!("{line}"));
            bar.inc(1);
        };
        let result = applier.run(plan, &mut progress).await;
        bar.finish_and_clear();
        match result {
            Ok(report) => {
                for c in &report.checkpoints {
                    println!("\n{}", self.style.yellow(c));
                }
                println!(
                    "\n{} {} action(s) done.",
                    self.style.green("Apply complete!"),
                    report.done.len()
                );
                Ok(0)
            }
            Err((report, err)) => Err(Failure(format!(
                "{err}\n  apply stopped after {} of {total} action(s); every finished step is saved in {}. \
                 Fix the cause and run `keyrot apply` again to continue.",
                report.done.len(),
                self.cli.state.display()
            ))),
        }
    }

    async fn status(&self, json: bool) -> Outcome {
        let config = self.load_config()?;
        let state = StateStore::new(self.cli.state.clone()).load()?;
        let unfinished = Journal::for_state(&self.cli.state).pending()?;
        let aws = self.connect(&config).await;
        let iam = &aws.iam;
        let plan = self
            .make_plan(iam, &config, &state, &PlanOptions::default())
            .await?;
        let ids: Vec<_> = plan
            .sets
            .iter()
            .flat_map(|s| s.keys.iter().map(|k| k.id.clone()))
            .collect();
        let mut inv = crate::core::model::Inventory::default();
        inventory::read_last_used(iam, &ids, &mut inv).await?;
        let last_use = |id: &crate::core::model::KeyId| match inv.last_used.get(id) {
            Some(LastUsed::At(t)) => format!("{} ago", humanize(self.now - *t)),
            Some(LastUsed::Never) | None => "never".to_string(),
        };
        if json {
            let sets: Vec<_> = plan
                .sets
                .iter()
                .map(|s| status_json(s, &last_use, self.now))
                .collect();
            let doc = serde_json::json!({
                "format_version": render::json::FORMAT_VERSION,
                "now": timestamp(self.now),
                "credential_sets": sets,
                "unfinished": unfinished.as_ref().map(|i| serde_json::json!({
                    "operation": format!("{:?}", i.op).to_lowercase(),
                    "address": i.address.to_string(),
                    "key_id": i.key_id.as_ref().map(|k| k.masked()),
                    "started": timestamp(i.at),
                })),
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
            return Ok(0);
        }
        if let Some(i) = &unfinished {
            println!(
                "{} an interrupted {:?} of {}{} (started {}) is unfinished: the next `keyrot apply` reconciles it with IAM\n",
                self.style.yellow("Unfinished:"),
                i.op,
                i.address,
                i.key_id.as_ref().map(|k| format!(" (key {})", k.masked())).unwrap_or_default(),
                timestamp(i.at)
            );
        }
        if plan.sets.is_empty() {
            println!("No credential sets declared in the config.");
        }
        for set in &plan.sets {
            let phase = state
                .sets
                .get(&set.address)
                .map_or(Phase::Empty, |s| s.phase());
            println!(
                "{}  phase: {}",
                self.style.bold(&set.address.to_string()),
                phase.as_str()
            );
            for k in &set.keys {
                println!(
                    "  key {}  {:<9} {:<8}  age {:<8}  last used {}",
                    k.id.masked(),
                    k.role.map_or("untracked", |r| r.as_str()),
                    k.status.as_str(),
                    humanize(self.now - k.born),
                    last_use(&k.id)
                );
            }
            for a in &set.actions {
                println!("  next: {} now ({})", a.kind.name(), a.reason.message);
            }
            for w in &set.waits {
                let due = w
                    .due
                    .map(|d| format!(" at {}", timestamp(d)))
                    .unwrap_or_default();
                println!("  next: {}{due} ({})", w.step.as_str(), w.reason.message);
            }
        }
        Ok(0)
    }

    async fn rollback(&self, address: &str) -> Outcome {
        let address = Address::parse(address).map_err(Failure)?;
        let config = self.load_config()?;
        let Writer {
            _lock,
            mut store,
            mut state,
            aws,
        } = self.begin_write("rollback", &config).await?;
        let set = state.sets.get(&address).cloned().unwrap_or_default();
        let previous = match (set.phase(), &set.previous) {
            (Phase::Inactive, Some(p)) => p.clone(),
            (Phase::Held, _) => {
                return Err(Failure(format!(
                    "{address} is already rolled back and held; `keyrot resume {address}` continues the rotation"
                )))
            }
            (phase, _) => {
                return Err(Failure(format!(
                    "{address} has no deactivated previous key to reactivate (phase: {}); rollback works between deactivate and delete",
                    phase.as_str()
                )))
            }
        };
        let iam = &aws.iam;
        let live = iam.list_credentials(&address).await?.unwrap_or_default();
        if !live.iter().any(|k| k.id == previous.id) {
            return Err(Failure(format!(
                "{address}: the previous key {} no longer exists in IAM; there is nothing to reactivate",
                previous.id.masked()
            )));
        }
        let plan = Plan {
            now: self.now,
            refresh_only: false,
            password_policy: None,
            findings: Vec::new(),
            sets: vec![SetPlan {
                address: address.clone(),
                phase: set.phase(),
                keys: Vec::new(),
                drift: Vec::new(),
                actions: vec![Action {
                    kind: ActionKind::Reactivate,
                    key: Some(previous.id.clone()),
                    reason: Reason::new(ReasonCode::Rollback, "rollback requested"),
                    frees_slot: false,
                }],
                waits: Vec::new(),
            }],
        };
        self.execute(iam, &aws.remote, &config, &mut store, &mut state, &plan)
            .await?;
        if let Some(set) = config.sets.get(&address) {
            println!("\nConsumers:");
            for line in
                crate::adapters::sinks::restore_previous(&aws.remote, &set.sinks, &previous.id)
                    .await
            {
                println!("  {line}");
            }
        }
        println!(
            "Rotation of {address} is held: both keys are Active. `keyrot resume {address}` continues it."
        );
        Ok(0)
    }

    async fn resume(&self, address: &str) -> Outcome {
        let address = Address::parse(address).map_err(Failure)?;
        let config = self.load_config()?;
        let Writer {
            _lock,
            mut store,
            mut state,
            aws,
        } = self.begin_write("resume", &config).await?;
        let Some(set) = state.sets.get(&address).filter(|s| s.held).cloned() else {
            return Err(Failure(format!("{address} is not held; nothing to resume")));
        };
        // Did the rollback put consumers back on the previous key (Secrets Manager's
        // AWSPREVIOUS)? Then that key stays, and the new one, whose secret is gone, retires.
        let mut restored = Vec::new();
        if let (Some(previous), Some(cfg)) = (&set.previous, config.sets.get(&address)) {
            for sink in &cfg.sinks {
                if crate::adapters::sinks::holds(&aws.remote, sink, &previous.id).await
                    == Some(true)
                {
                    restored.push(sink.describe());
                }
            }
        }
        let resumed = state.sets.get_mut(&address).map(|s| {
            s.held = false;
            if !restored.is_empty() {
                std::mem::swap(&mut s.current, &mut s.previous);
            }
            s.clone()
        });
        store.save(&mut state)?;
        let key = |k: &Option<crate::core::state::TrackedKey>| {
            k.as_ref().map(|k| k.id.masked()).unwrap_or_default()
        };
        match resumed {
            Some(s) if !restored.is_empty() => println!(
                "{address}: {} hold(s) key {} again after the rollback, so it stays the current key; \
                 key {} is retired instead (the next plans deactivate and delete it) and the next \
                 rotation starts from {}.",
                restored.join(", "),
                key(&s.current),
                key(&s.previous),
                key(&s.current)
            ),
            _ => println!(
                "{address}: rotation resumed. The old key will be deactivated again once the overlap and unused_for gates pass (see `keyrot plan`)."
            ),
        }
        Ok(0)
    }
}

fn status_json(
    set: &SetPlan,
    last_use: &dyn Fn(&crate::core::model::KeyId) -> String,
    now: Time,
) -> serde_json::Value {
    serde_json::json!({
        "address": set.address.to_string(),
        "phase": set.phase.as_str(),
        "keys": set.keys.iter().map(|k| serde_json::json!({
            "key_id": k.id.masked(),
            "role": k.role.map(|r| r.as_str()),
            "status": k.status.as_str(),
            "age_seconds": (now - k.born).num_seconds(),
            "last_used": last_use(&k.id),
        })).collect::<Vec<_>>(),
        "next": set.actions.iter().map(|a| serde_json::json!({"action": a.kind.name(), "due": timestamp(now)}))
            .chain(set.waits.iter().map(|w| serde_json::json!({"action": w.step.as_str(), "due": w.due.map(timestamp)})))
            .collect::<Vec<_>>(),
    })
}

fn parse_window(text: &str) -> Result<Window, String> {
    Window::parse(text)
}

/// `keyrot init`'s config; `USER` is replaced by the user name.
const STARTER: &str = r#"# keyrot configuration: which IAM credentials keyrot rotates, and how often.
# `keyrot plan` shows what is due; `keyrot apply` does it, one safe step per run.
# More examples: examples/ in keyrot's source tree.

# aws {
#   region       = "us-east-1"
#   profile      = "ops"          # the credentials keyrot signs its IAM calls with
#   endpoint_url = "http://127.0.0.1:5000"
# }

defaults {
  max_age      = "90d"   # rotate when the current key is older than this
  overlap      = "7d"    # both keys stay Active at least this long
  unused_for   = "3d"    # the old key must show no use this long before it is deactivated
  inactive_for = "7d"    # the old key stays Inactive this long before it is deleted
}

user "USER" {
  access_key {
    deliver "file" {
      path   = "secrets/USER.json"   # written atomically, mode 0600
      format = "json"                # json | credentials | env
    }
  }
}
"#;

/// Far above any real config; refuses a wrong file before parsing it.
const MAX_CONFIG_BYTES: usize = 4 << 20;

/// Reads the config file, or every `*.hcl` file of a directory in name order.
fn read_sources(path: &Path) -> Result<Vec<Source>, Failure> {
    let read = |p: &Path| -> Result<Source, Failure> {
        let bytes = std::fs::read(p).map_err(|e| {
            Failure(format!(
                "cannot read config {}: {e}\n  hint: create keyrot.hcl (see examples/) or pass -c PATH",
                p.display()
            ))
        })?;
        if bytes.len() > MAX_CONFIG_BYTES {
            return Err(Failure(format!(
                "config {} is {} bytes; keyrot reads at most {MAX_CONFIG_BYTES}: is it the right file?",
                p.display(),
                bytes.len()
            )));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            let valid = e.utf8_error().valid_up_to();
            let prefix = String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned();
            let (line, column) = crate::core::diagnostic::LineIndex::new(&prefix).position(valid);
            Failure(format!(
                "{}:{line}:{column}: not valid UTF-8\n  hint: save the file as UTF-8",
                p.display()
            ))
        })?;
        Ok(Source {
            name: p.display().to_string(),
            text,
        })
    };
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "hcl"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Failure(format!("no *.hcl files in {}", path.display())));
        }
        files.iter().map(|p| read(p)).collect()
    } else {
        Ok(vec![read(path)?])
    }
}

/// Terraform's prompt: only `yes` approves. EOF (no terminal) declines.
fn confirm() -> Result<bool, Failure> {
    print!("\nDo you want to perform these actions?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}
