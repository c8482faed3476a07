//! One file per command: each reads its arguments, calls ops, and renders the outcome.
//! No business logic here.

pub mod apply;
pub mod audit;
pub mod completions;
pub mod fmt;
pub mod import;
pub mod init;
pub mod log;
pub mod man;
pub mod plan;
pub mod resume;
pub mod rollback;
pub mod show;
pub mod state;
pub mod status;
pub mod unlock;
pub mod validate;

use crate::adapters::iam::Iam;
use crate::cli::shell::Shell;
use crate::cli::Format;
use crate::core::config::Config;
use crate::core::model::KeyIds;
use crate::ops::inventory::Reader;
use crate::ops::session::{BackendNotes, Recovered, Session, Unsettled};

/// How key ids are shown in `format`: in text and JSON as the config's `display` block (or
/// `--show-key-ids`) says; in markdown, a public PR comment, in full only with the flag.
pub fn key_ids(session: &Session, config: &Config, format: Format) -> KeyIds {
    match format {
        Format::Markdown if !session.show_key_ids => KeyIds::Masked,
        _ => config.display.key_ids,
    }
}

/// Reads IAM at the session's `--parallelism`, with a bar on a terminal that clears when
/// the reader is dropped.
pub fn reader<'a, I: Iam>(session: &Session, shell: &Shell, iam: &'a I) -> Reader<'a, I> {
    let bar = shell.reading_bar();
    Reader::new(iam, session.parallelism).progress(Box::new(move |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    }))
}

/// Says what settling an interrupted step found, before the command's own output.
/// What opening the state's backend found: a stale lock taken over, versioning off.
pub fn say_opened(shell: &Shell, notes: &BackendNotes) {
    if let Some(old) = &notes.took_over {
        shell.warn(format!(
            "took over the lock of {} (id {}): its lease expired, so that run is gone or cut off; \
             any step it left unfinished is settled first",
            old.describe(),
            old.id
        ));
    }
    if let Some(bucket) = &notes.versioning_off {
        shell.warn(format!(
            "bucket versioning is off on {bucket}: earlier states are not kept (S3 versions are \
             this backend's backup). Turn it on: aws s3api put-bucket-versioning --bucket NAME \
             --versioning-configuration Status=Enabled"
        ));
    }
}

/// Interrupted steps recovery could not settle: their sets wait, the others go on.
fn say_unsettled(shell: &Shell, unsettled: &[Unsettled]) {
    for u in unsettled {
        shell.warn(format!(
            "could not settle the interrupted {:?} of {}: {}\n  it stays in the journal and this set waits; every other set goes on, and the next run tries again",
            u.intent.op, u.intent.address, u.error
        ));
    }
}

pub fn say_recovered(shell: &Shell, recovered: &[Recovered], unsettled: &[Unsettled]) {
    say_unsettled(shell, unsettled);
    for r in recovered {
        shell.out(format!(
            "Recovered an interrupted {:?} of {}:",
            r.intent.op, r.intent.address
        ));
        if r.said.is_empty() {
            shell.out("  nothing had changed in IAM");
        }
        for line in &r.said {
            shell.out(format!("  {line}"));
        }
        shell.out("");
    }
}

/// What expanding the selectors found worth a look (a selector that chose nobody).
pub fn say_selection(shell: &Shell, warnings: &[crate::core::diagnostic::Diagnostic]) {
    for w in warnings {
        shell.warn(w);
    }
}

/// Accounts that could not be reached or read: their sets wait (the plan says so), and
/// here is why.
pub fn say_unreachable(shell: &Shell, unreachable: &std::collections::BTreeMap<String, String>) {
    for why in unreachable.values() {
        shell.error(why);
    }
}

/// Who keyrot acts as, on stderr (stdout may be JSON for a machine).
pub fn say_identity(shell: &Shell, identity: Option<&str>) {
    if let Some(arn) = identity {
        shell.note(format!("Acting as {arn}"));
    }
}
