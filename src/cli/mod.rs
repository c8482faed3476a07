//! The terminal: clap's surface, one file per command, one output handle ([`shell`]),
//! renderers, and the one mapping from errors to exit codes ([`exit`]). No business logic:
//! commands call `ops` and render what comes back.

pub mod commands;
pub mod exit;
pub mod log;
pub mod render;
pub mod shell;

use crate::adapters::crash;
use crate::core::audit::AuditOptions;
use crate::core::concurrency::{DEFAULT_APPLY_CAP, DEFAULT_CAP};
use crate::core::duration::humanize;
use crate::core::duration::Window;
use crate::core::event::Actor;
use crate::core::model::{instant, timestamp, Address, KeyId, Time};
use crate::core::plan::PlanOptions;
use crate::core::state::ClockOverride;
use crate::ops::admit::Admission;
use crate::ops::session::Session;
use crate::ops::Error;
use clap::{Args, Parser, Subcommand};
use shell::Shell;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "keyrot",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("KEYROT_GIT_COMMIT"), ")"),
    about = "Plan and apply zero-downtime rotation of AWS IAM access keys and signing certificates, and the account password policy",
    after_help = exit::HELP
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
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL", hide_env_values = true)]
    pub endpoint_url: Option<String>,
    /// Plan as if it were this time (RFC 3339), for what-if planning and tests.
    #[arg(
        long,
        global = true,
        env = "KEYROT_NOW",
        hide_env_values = true,
        value_parser = instant::parse
    )]
    pub now: Option<Time>,
    /// Let a writing command (apply, rollback, resume, import) run on a clock moved by --now /
    /// KEYROT_NOW more than a minute from the real one; the state records both.
    #[arg(long, global = true)]
    pub allow_clock_override: bool,
    /// Never colour the output (NO_COLOR is honoured too).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Format of the log lines KEYROT_LOG turns on (to stderr).
    #[arg(long, global = true, value_enum, default_value_t)]
    pub log_format: log::LogFormat,
    /// Show key ids in full, not masked to their last four characters: in text, JSON and
    /// markdown output (the config's `display { key_ids = "full" }` does it for text and JSON).
    #[arg(long, global = true)]
    pub show_key_ids: bool,
    /// At most N IAM reads in flight per account; below it, keyrot finds the rate IAM
    /// takes (more while calls succeed, half on Throttling).
    #[arg(long, global = true, value_name = "N", default_value_t = DEFAULT_CAP,
          value_parser = parse_parallelism)]
    pub parallelism: usize,
    /// Apply (and rollback) up to N credential sets at once per account, each set's steps in
    /// order, under the same adaptive limit as reads; 1: one set at a time.
    #[arg(long, global = true, value_name = "N", default_value_t = DEFAULT_APPLY_CAP,
          value_parser = parse_parallelism)]
    pub apply_parallelism: usize,
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
    /// Rewrite config files in the canonical layout (indentation, aligned `=`, block
    /// spacing), keeping every comment; names each file it changed.
    Fmt {
        /// Files, or directories whose *.hcl files are formatted (default: the config, -c).
        paths: Vec<PathBuf>,
        /// Change nothing: list the files that are not formatted and exit 3 if there are any.
        #[arg(long)]
        check: bool,
        /// Also print each change as a unified diff.
        #[arg(long)]
        diff: bool,
    },
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
        /// With FILE: refuse it unless its digest is this one (the digest the reviewed
        /// plan showed).
        #[arg(long, value_name = "SHA256", requires = "plan_file")]
        expect_digest: Option<String>,
        /// With FILE: refuse a plan made longer ago than this.
        #[arg(long, default_value = "24h", value_parser = parse_window, value_name = "DURATION")]
        max_plan_age: Window,
    },
    /// Render a saved plan.
    Show {
        /// A plan saved with `keyrot plan -out FILE`.
        plan_file: PathBuf,
        #[command(flatten)]
        output: Output,
    },
    /// Each credential set's phase, key ages, last use, and what comes next.
    Status {
        /// Print machine-readable JSON (with `format_version`).
        #[arg(long)]
        json: bool,
    },
    /// Reactivate the previous key of a set at its checkpoint (or held there by a failed
    /// confirm check), and hold the rotation.
    Rollback {
        /// The credential set, e.g. user.NAME.access_key.
        address: String,
    },
    /// Manage a key marked unresolved (one an interrupted create may have made): the next
    /// plan imports it like any key keyrot did not create.
    Import {
        /// The credential set, e.g. user.NAME.access_key.
        address: String,
        /// The key's id, as `keyrot plan` shows it unmasked in its hint.
        key_id: String,
    },
    /// Continue a rotation held by rollback or by a failed confirm check.
    Resume {
        /// The credential set, e.g. user.NAME.access_key.
        address: String,
    },
    /// Account-wide credential findings from the IAM credential report (never changes IAM).
    Audit {
        /// Print machine-readable JSON (with `format_version`).
        #[arg(long)]
        json: bool,
        /// Active keys and certificates older than this are findings.
        #[arg(long, default_value = "90d", value_parser = parse_window)]
        max_age: Window,
        /// Active keys unused for this long are findings.
        #[arg(long, default_value = "45d", value_parser = parse_window)]
        unused_for: Window,
    },
    /// Remove a state lock left by a process that is gone, or (S3) a stuck run's live
    /// lease, which fences it off (the id is in the lock error).
    ForceUnlock {
        /// The lock's id, as the "state is locked" error names it.
        lock_id: String,
    },
    /// The audit trail: every step keyrot applied, failed or recovered, when, and who ran it.
    Log {
        /// Only this credential set, e.g. user.NAME.access_key.
        address: Option<String>,
        /// Print the events as JSON lines (each with `format_version`).
        #[arg(long)]
        json: bool,
        /// Show key ids in full (otherwise masked to their last four characters).
        #[arg(long)]
        show_key_ids: bool,
    },
    /// Read or replace the stored state (and migrate it between backends).
    State {
        #[command(subcommand)]
        command: StateCommand,
    },
    /// Print the completion script for SHELL to stdout (see the README for where it goes).
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write a man page for every command (keyrot.1, keyrot-plan.1, …) into DIR.
    Man {
        /// The directory to write the pages into (made if missing).
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum StateCommand {
    /// Every credential set the state tracks, with its phase.
    List,
    /// One set's tracked keys, roles, statuses and times.
    Show {
        /// The credential set, e.g. user.NAME.access_key.
        address: String,
    },
    /// Stop managing a set: it leaves the state; IAM and its sinks are untouched (a set the
    /// config still declares is imported again by the next plan).
    Rm {
        /// The credential set, e.g. user.NAME.access_key.
        address: String,
    },
    /// Print the state exactly as stored (local file or S3).
    Pull,
    /// Replace the stored state with FILE, keeping its lineage and serial. Refuses another
    /// lineage, an older serial, or the same serial with other content unless --force.
    Push {
        /// A state file (e.g. from `keyrot state pull`).
        file: PathBuf,
        /// Replace even a state of another lineage or a newer serial.
        #[arg(long)]
        force: bool,
    },
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

impl Shape {
    fn options(&self) -> Result<PlanOptions, Error> {
        let parse = |list: &[String]| -> Result<Vec<Address>, Error> {
            list.iter()
                .map(|a| Address::parse(a).map_err(Error::Invalid))
                .collect()
        };
        Ok(PlanOptions {
            targets: parse(&self.targets)?,
            force_rotate: parse(&self.force_rotate)?,
            refresh_only: self.refresh_only,
        })
    }

    fn is_empty(&self) -> bool {
        self.targets.is_empty() && self.force_rotate.is_empty() && !self.refresh_only
    }
}

/// Runs one command and returns its exit code; errors are printed here.
pub async fn run(cli: Cli) -> u8 {
    // The clock is read here and nowhere else; whole seconds keep output stable.
    let real = chrono::Utc::now();
    let now = cli.now.unwrap_or(real);
    let now = chrono::DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
    crash::arm(std::env::var("KEYROT_CRASH_AT").ok());
    crash::arm_pause(std::env::var("KEYROT_PAUSE_AT").ok());
    let logging = log::install(env("KEYROT_LOG").as_deref(), cli.log_format);
    let shell = Shell::new(cli.no_color, matches!(logging, Ok(true)));
    if let Err(message) = logging {
        let error = Error::Invalid(message);
        shell.error(&error);
        return exit::code(&error);
    }
    let session = Session {
        config_path: cli.config.clone(),
        state_path: cli.state.clone(),
        profile: cli.profile.clone(),
        region: cli.region.clone(),
        endpoint_url: cli.endpoint_url.clone(),
        now,
        actor: actor_from_env(),
        s3_endpoint: env("AWS_ENDPOINT_URL_S3").or_else(|| env("AWS_ENDPOINT_URL")),
        show_key_ids: cli.show_key_ids,
        parallelism: cli.parallelism,
        apply_parallelism: cli.apply_parallelism,
    };
    let checked = clock_allowed(&cli, now, real);
    let result = match checked {
        Ok(()) => dispatch(&cli.command, &session, &shell).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            shell.error(&error);
            exit::code(&error)
        }
    }
}

/// A writing command on a moved clock needs `--allow-clock-override`: a stray
/// KEYROT_NOW would otherwise measure `unused_for` against a fake clock and deactivate a
/// key used yesterday. Reading commands take `--now` freely.
fn clock_allowed(cli: &Cli, now: Time, real: Time) -> Result<(), Error> {
    let writes = matches!(
        cli.command,
        Command::Apply { .. }
            | Command::Rollback { .. }
            | Command::Resume { .. }
            | Command::Import { .. }
    );
    let moved = ClockOverride::between(now, real).is_some();
    if writes && moved && !cli.allow_clock_override {
        return Err(Error::Invalid(format!(
            "keyrot's clock is set to {} (--now or KEYROT_NOW), {} from the real time: a command \
             that changes IAM refuses a moved clock\n  hint: unset KEYROT_NOW, or pass \
             --allow-clock-override if this is a test or a demo",
            timestamp(now),
            humanize((now - real).abs())
        )));
    }
    Ok(())
}

fn state_command(session: &Session, shell: &Shell, command: &StateCommand) -> Result<u8, Error> {
    let address = |text: &str| Address::parse(text).map_err(Error::Invalid);
    match command {
        StateCommand::List => commands::state::list(session, shell),
        StateCommand::Show { address: a } => commands::state::show(session, shell, &address(a)?),
        StateCommand::Rm { address: a } => commands::state::rm(session, shell, &address(a)?),
        StateCommand::Pull => commands::state::pull(session, shell),
        StateCommand::Push { file, force } => commands::state::push(session, shell, file, *force),
    }
}

/// `apply`, or `apply FILE` (exactly as it was made: no shaping flags).
async fn apply(
    session: &Session,
    shell: &Shell,
    plan_file: Option<&std::path::Path>,
    shape: &Shape,
    auto_approve: bool,
    bounds: &Admission<'_>,
) -> Result<u8, Error> {
    let Some(file) = plan_file else {
        return commands::apply::run(session, shell, &shape.options()?, auto_approve).await;
    };
    if !shape.is_empty() {
        return Err(Error::Invalid(
            "a saved plan is applied exactly as it was made: give --target, --force-rotate or --refresh-only to `keyrot plan -out` instead".into(),
        ));
    }
    commands::apply::run_saved(session, shell, file, bounds).await
}

async fn dispatch(command: &Command, session: &Session, shell: &Shell) -> Result<u8, Error> {
    match command {
        Command::Init { user } => commands::init::run(session, shell, user),
        Command::Validate => commands::validate::run(session, shell),
        Command::Fmt { paths, check, diff } => {
            commands::fmt::run(session, shell, paths, *check, *diff)
        }
        Command::Plan {
            shape,
            output,
            detailed_exitcode,
            out,
        } => {
            let options = shape.options()?;
            let format = output.format();
            commands::plan::run(
                session,
                shell,
                &options,
                format,
                *detailed_exitcode,
                out.as_deref(),
            )
            .await
        }
        Command::Apply {
            plan_file,
            shape,
            auto_approve,
            expect_digest,
            max_plan_age,
        } => {
            let bounds = Admission {
                expect_digest: expect_digest.as_deref(),
                max_age: *max_plan_age,
            };
            apply(
                session,
                shell,
                plan_file.as_deref(),
                shape,
                *auto_approve,
                &bounds,
            )
            .await
        }
        Command::Show { plan_file, output } => {
            commands::show::run(session, shell, plan_file, output.format())
        }
        Command::Status { json } => commands::status::run(session, shell, *json).await,
        Command::Rollback { address } => {
            let address = Address::parse(address).map_err(Error::Invalid)?;
            commands::rollback::run(session, shell, &address).await
        }
        Command::Import { address, key_id } => {
            let address = Address::parse(address).map_err(Error::Invalid)?;
            commands::import::run(session, shell, &address, &KeyId(key_id.clone())).await
        }
        Command::Resume { address } => {
            let address = Address::parse(address).map_err(Error::Invalid)?;
            commands::resume::run(session, shell, &address).await
        }
        Command::Audit {
            json,
            max_age,
            unused_for,
        } => {
            let options = AuditOptions {
                max_age: *max_age,
                unused_for: *unused_for,
            };
            commands::audit::run(session, shell, *json, &options).await
        }
        Command::ForceUnlock { lock_id } => commands::unlock::run(session, shell, lock_id),
        Command::Log {
            address,
            json,
            show_key_ids,
        } => commands::log::run(session, shell, address.as_deref(), *json, *show_key_ids),
        Command::State { command } => state_command(session, shell, command),
        Command::Completions { shell: target } => commands::completions::run(shell, *target),
        Command::Man { dir } => commands::man::run(shell, dir),
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Who runs keyrot, for the S3 lock and the event log: the user, the host, the CI run
/// when the environment names one, and a fresh id for this run.
fn actor_from_env() -> Actor {
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    Actor {
        user: env("USER").or_else(|| env("USERNAME")),
        host: Some(host).filter(|h| !h.is_empty()),
        ci_run: ci_run_url(&env),
        run_id: uuid::Uuid::new_v4().to_string(),
    }
}

/// The CI run's URL: GitHub Actions, GitLab, Buildkite, CircleCI or Jenkins.
fn ci_run_url(var: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let github = (
        var("GITHUB_SERVER_URL"),
        var("GITHUB_REPOSITORY"),
        var("GITHUB_RUN_ID"),
    );
    if let (Some(server), Some(repo), Some(run)) = github {
        return Some(format!("{server}/{repo}/actions/runs/{run}"));
    }
    [
        "CI_JOB_URL",
        "BUILDKITE_BUILD_URL",
        "CIRCLE_BUILD_URL",
        "BUILD_URL",
    ]
    .iter()
    .find_map(|name| var(name))
}

fn parse_window(text: &str) -> Result<Window, String> {
    Window::parse(text)
}

fn parse_parallelism(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=256).contains(&n) => Ok(n),
        _ => Err(format!("`{text}` is not a whole number from 1 to 256")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// `--help` says what every command, argument and flag is for.
    #[test]
    fn the_ci_run_is_named_by_whichever_ci_the_environment_is() {
        let with = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let github = with(&[
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "acme/infra"),
            ("GITHUB_RUN_ID", "42"),
            ("BUILD_URL", "https://jenkins/job/1/"),
        ]);
        assert_eq!(
            ci_run_url(&github).as_deref(),
            Some("https://github.com/acme/infra/actions/runs/42")
        );
        for (name, url) in [
            ("CI_JOB_URL", "https://gitlab.example/acme/infra/-/jobs/7"),
            (
                "BUILDKITE_BUILD_URL",
                "https://buildkite.com/acme/infra/builds/3",
            ),
            ("CIRCLE_BUILD_URL", "https://circleci.com/gh/acme/infra/5"),
            ("BUILD_URL", "https://jenkins.example/job/infra/9/"),
        ] {
            let only = move |n: &str| (n == name).then(|| url.to_string());
            assert_eq!(ci_run_url(&only).as_deref(), Some(url), "{name}");
        }
        // Half of GitHub's variables name no run.
        let partial = with(&[("GITHUB_RUN_ID", "42")]);
        assert_eq!(ci_run_url(&partial), None);
    }

    #[test]
    fn every_command_and_flag_is_described() {
        fn check(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                let name = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() {
                    missing.push(name.clone());
                }
                check(sub, &name, missing);
            }
        }
        let mut missing = Vec::new();
        check(&Cli::command(), "keyrot", &mut missing);
        assert!(missing.is_empty(), "no description: {missing:#?}");
    }
}
