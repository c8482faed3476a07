use crate::cli::commands::{self, key_ids, say_identity, say_selection, say_unreachable};
use crate::cli::render;
use crate::cli::render::markdown::SavedFile;
use crate::cli::render::FmtIo;
use crate::cli::shell::Shell;
use crate::cli::{exit, Format};
use crate::core::config::Config;
use crate::core::model::KeyIds;
use crate::core::plan::Plan;
use crate::core::plan::PlanOptions;
use crate::ops::{self, session::Session, Error};
use std::io::Write;
use std::path::Path;

pub async fn run(
    session: &Session,
    shell: &Shell,
    options: &PlanOptions,
    format: Format,
    detailed: bool,
    out: Option<&Path>,
) -> Result<u8, Error> {
    let (mut config, warnings) = session.load_config_with_warnings()?;
    for w in &warnings {
        shell.warn(w);
    }
    let state = session.load_state(&config)?;
    warn_pending(session, shell, &config)?;
    let ids = key_ids(session, &config, format);
    let (clients, identity) = session.connect_checked(&config).await?;
    say_identity(shell, identity.as_deref());
    let iam = &clients.iam;
    say_selection(shell, &ops::fleet::expand(iam, &mut config).await?);
    let mut reader = commands::reader(session, shell, iam);
    let mut planned = ops::plan::make(&mut reader, &config, &state, options, session.now).await?;
    drop(reader);
    say_unreachable(shell, &planned.unreachable);
    let (findings, unreadable) = ops::plan::findings(iam, &config, session.now).await;
    for e in unreadable {
        shell.warn(format!(
            "no findings: the credential report could not be read ({e})"
        ));
    }
    planned.plan.findings = findings;
    let Some(path) = out else {
        print_plan(shell, &planned.plan, format, None, ids);
        return Ok(exit_code(&planned.plan, detailed));
    };
    let saved = ops::plan::saved_plan(&planned, options, &state, &config);
    let (file, text) = ops::plan::plan_file(saved);
    let apply = format!("keyrot apply {}", path.display());
    let shown = SavedFile {
        apply: &apply,
        digest: &file.digest,
    };
    print_plan(shell, &planned.plan, format, Some(&shown), ids);
    ops::plan::write_plan_file(path, &text)?;
    if format == Format::Text {
        shell.out(format!(
            "\nSaved the plan to {f} (digest {d}). To apply exactly this plan: keyrot apply {f} --expect-digest {d}",
            f = path.display(),
            d = file.digest
        ));
    }
    Ok(exit_code(&planned.plan, detailed))
}

fn exit_code(plan: &Plan, detailed: bool) -> u8 {
    let summary = plan.summary();
    match (detailed, summary.has_actions(), summary.waiting > 0) {
        (false, _, _) => exit::OK,
        // Error-level, over any change also due: a cron job must not stay quiet.
        (true, _, _) if summary.blocked > 0 => exit::BLOCKED,
        (true, true, _) => exit::CHANGES,
        (true, false, true) => exit::WAITING,
        (true, false, false) => exit::OK,
    }
}

/// The plan in `format`, key ids shown as `ids` says; a saved plan's digest leads every
/// rendering of it.
pub fn print_plan(
    shell: &Shell,
    plan: &Plan,
    format: Format,
    saved: Option<&SavedFile>,
    ids: KeyIds,
) {
    // Written as it is rendered; a closed stdout ends the output (as `shell.out` would).
    match format {
        Format::Json => {
            let mut out = shell.stdout();
            let written =
                render::json::write_plan_pretty(&mut out, plan, saved.map(|f| f.digest), ids);
            let _ = written
                .and_then(|()| writeln!(out))
                .and_then(|()| out.flush());
        }
        Format::Markdown => shell.print(render::markdown::plan(plan, saved, ids)),
        Format::Text => {
            if let Some(file) = saved {
                shell.out(format!("Plan file digest: {}\n", file.digest));
            }
            let mut out = FmtIo::new(shell.stdout());
            render::text::write_plan(&mut out, plan, shell.style, ids);
            let _ = out.finish();
        }
    }
}

/// A note for read-only commands for each step waiting to be reconciled.
fn warn_pending(session: &Session, shell: &Shell, config: &Config) -> Result<(), Error> {
    for intent in session.pending(config)? {
        shell.warn(format!(
            "an interrupted {:?} of {}{} is unfinished; the next `keyrot apply` reconciles it with IAM",
            intent.op,
            intent.address,
            intent
                .key_id
                .map(|k| format!(" (key {})", config.display.key_ids.show(&k)))
                .unwrap_or_default()
        ));
    }
    Ok(())
}
