use crate::adapters::iam::Iam;
use crate::adapters::remote::Remote;
use crate::cli::commands::{self, say_identity};
use crate::cli::commands::{say_opened, say_recovered, say_selection, say_unreachable};
use crate::cli::shell::Shell;
use crate::cli::{exit, Format};
use crate::core::config::Config;
use crate::core::model::Time;
use crate::core::plan::Plan;
use crate::core::plan::PlanOptions;
use crate::ops::admit::Admission;
use crate::ops::apply::Report;
use crate::ops::session::{Session, Writer};
use crate::ops::{self, Error};
use std::path::Path;

/// `apply`: plan, confirm, then carry the plan out.
pub async fn run(
    session: &Session,
    shell: &Shell,
    options: &PlanOptions,
    auto_approve: bool,
) -> Result<u8, Error> {
    // A prompt nobody can answer hangs a job forever: refuse before anything happens.
    if !auto_approve && !shell.can_prompt() {
        return Err(Error::Invalid(
            "apply asks for confirmation, but stdin is not a terminal\n  hint: review \
             `keyrot plan`, then run `keyrot apply --auto-approve` (or apply a reviewed plan \
             file: `keyrot plan -out FILE`, `keyrot apply FILE`); nothing was changed"
                .into(),
        ));
    }
    let mut config = session.load_config()?;
    let mut writer = session.begin_write("apply", &mut config).await?;
    say_selection(shell, &writer.selection_warnings);
    say_identity(shell, writer.identity.as_deref());
    say_opened(shell, &writer.notes);
    say_recovered(shell, &writer.recovered, &writer.unsettled);
    let mut reader = commands::reader(session, shell, &writer.clients.iam);
    let planned =
        ops::plan::make(&mut reader, &config, &writer.state, options, session.now).await?;
    drop(reader);
    say_unreachable(shell, &planned.unreachable);
    let plan = planned.plan;
    let ids = config.display.key_ids;
    commands::plan::print_plan(shell, &plan, Format::Text, None, ids);
    if !plan.summary().has_actions() {
        shell.out("\nNothing to apply.");
        return Ok(blocked_code(shell, &plan));
    }
    let approved = auto_approve
        || shell
            .confirm()
            .map_err(|e| Error::Invalid(format!("cannot read the answer: {e}")))?;
    if !approved {
        shell.out("\nApply cancelled: nothing was changed.");
        return Ok(exit::ERROR);
    }
    shell.out("");
    execute(shell, &mut writer, &config, &plan, session.now).await
}

/// `apply FILE`: exactly the saved plan, refused if anything it was based on has moved.
pub async fn run_saved(
    session: &Session,
    shell: &Shell,
    path: &Path,
    bounds: &Admission<'_>,
) -> Result<u8, Error> {
    let file = ops::plan::read_plan_file(path)?;
    shell.out(format!(
        "Plan file {} (digest {})",
        path.display(),
        file.digest
    ));
    let mut config = session.load_config()?;
    let mut writer = session.begin_write("apply", &mut config).await?;
    say_selection(shell, &writer.selection_warnings);
    say_identity(shell, writer.identity.as_deref());
    say_opened(shell, &writer.notes);
    say_recovered(shell, &writer.recovered, &writer.unsettled);
    let mut reader = commands::reader(session, shell, &writer.clients.iam);
    let admitted = ops::admit::check(&writer, &mut reader, &config, &file, bounds, session.now);
    let admitted = admitted.await?;
    drop(reader);
    if let Err(refusal) = admitted {
        return Err(Error::Refused {
            file: path.display().to_string(),
            refusal,
        });
    }
    let plan = &file.saved.plan;
    let ids = config.display.key_ids;
    commands::plan::print_plan(shell, plan, Format::Text, None, ids);
    if !plan.summary().has_actions() {
        shell.out("\nNothing to apply.");
        return Ok(blocked_code(shell, plan));
    }
    ops::admit::consume(&mut writer, &file.saved)?;
    shell.out("");
    // Recorded at the real instant: windows count from when things happened.
    execute(shell, &mut writer, &config, plan, session.now).await
}

/// Runs the plan with a progress bar, then says what was done and where sets wait.
pub async fn execute<I: Iam, R: Remote>(
    shell: &Shell,
    writer: &mut Writer<I, R>,
    config: &Config,
    plan: &Plan,
    now: Time,
) -> Result<u8, Error> {
    let bar = shell.progress(ops::apply::step_count(plan));
    let mut progressed = Vec::new();
    let mut progress = |line: &str| {
        bar.suspend(|| shell.out(line));
        bar.inc(1);
        progressed.push(line.to_string());
    };
    let mut stdout = std::io::stdout();
    let result = ops::apply::execute(writer, config, plan, now, &mut stdout, &mut progress).await;
    bar.finish_and_clear();
    let summary = ops::notify::apply_summary(
        plan,
        &result,
        &progressed,
        &writer.state,
        writer.identity.as_deref(),
    );
    let done = match result {
        Ok(done) => done,
        Err(e) => {
            notify(shell, writer, config, &summary).await;
            return Err(e);
        }
    };
    report(shell, &done);
    let reverted = say_reverts(shell, &done);
    let code = if !done.failed.is_empty() {
        say_failed(shell, &done, &writer.store.location());
        exit::ERROR
    } else if reverted {
        exit::CONFIRM_FAILED
    } else {
        blocked_code(shell, plan)
    };
    notify(shell, writer, config, &summary).await;
    Ok(code)
}

/// Names each failed set and its cause, on stderr.
fn say_failed(shell: &Shell, done: &Report, state: &str) {
    shell.error(format!(
        "{} credential set(s) failed and were left as they were; every other step is saved in {state}:",
        done.failed.len(),
    ));
    for f in &done.failed {
        shell.err_line(f.line());
    }
    shell.err_line(
        "Fix the cause and run `keyrot apply` again: the failed sets continue from where they are.",
    );
}

/// Sends the run's summary to the config's `notify` channels; a failure is a warning only.
pub async fn notify<I: Iam, R: Remote>(
    shell: &Shell,
    writer: &Writer<I, R>,
    config: &Config,
    summary: &crate::core::notify::Summary,
) {
    let sent = ops::notify::send(writer.clients.remote.base(), &config.notify, summary).await;
    for s in sent {
        match s.error {
            None => shell.note(format!("Notified {}", s.channel)),
            Some(e) => shell.warn(format!(
                "could not notify {}: {e} (the {} itself is not affected)",
                s.channel,
                summary.run.as_str()
            )),
        }
    }
}

pub fn report(shell: &Shell, report: &Report) {
    for c in &report.checkpoints {
        shell.out(format!("\n{}", shell.style.yellow(c)));
    }
    let checks_failed = report.reverts.iter().any(|r| !r.failed.is_empty());
    let heading = if report.failed.is_empty() && !checks_failed {
        shell.style.green("Apply complete!")
    } else {
        shell.style.red("Apply incomplete:")
    };
    shell.out(format!("\n{heading} {} action(s) done.", report.done.len()));
}

/// Names each set a failed confirm check reverted or held, with the check's output and
/// what its sinks did; true when there was one.
fn say_reverts(shell: &Shell, report: &Report) -> bool {
    let reverts: Vec<_> = report
        .reverts
        .iter()
        .filter(|r| !r.failed.is_empty())
        .collect();
    for r in &reverts {
        let done = if r.reactivated {
            "its old key is Active again"
        } else {
            "its old key stays Inactive (on_confirm_failure = \"hold\")"
        };
        shell.error(format!(
            "{}: confirm check failed: {done}, and the rotation is held. Nothing was deleted.",
            r.address
        ));
        for check in &r.failed {
            shell.err_line(format!("  check {} failed:", check.check));
            for line in check.output.as_deref().unwrap_or_default().lines() {
                shell.err_line(format!("    | {line}"));
            }
        }
        for line in &r.consumers {
            shell.err_line(format!("  {line}"));
        }
        shell.err_line(format!(
            "  Fix the cause, then `keyrot resume {}` (`keyrot status` shows the checks).",
            r.address
        ));
    }
    !reverts.is_empty()
}

/// Exit 7 when a set of the plan is blocked until a person acts, naming them.
fn blocked_code(shell: &Shell, plan: &Plan) -> u8 {
    let blocked: Vec<String> = plan
        .sets
        .iter()
        .flat_map(|set| {
            set.waits
                .iter()
                .filter(|w| w.needs_a_person())
                .map(move |w| format!("  {}: {}", set.address, w.reason.message))
        })
        .collect();
    if blocked.is_empty() {
        return exit::OK;
    }
    shell.error(format!(
        "{} credential set(s) cannot go on until a person acts:",
        blocked.len()
    ));
    for line in &blocked {
        shell.err_line(line);
    }
    exit::BLOCKED
}
