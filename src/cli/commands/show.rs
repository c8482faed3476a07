use crate::cli::commands::key_ids;
use crate::cli::commands::plan::print_plan;
use crate::cli::render::markdown::SavedFile;
use crate::cli::shell::Shell;
use crate::cli::{exit, Format};
use crate::ops::{self, session::Session, Error};
use std::path::Path;

/// Key ids are shown as `--show-key-ids`, or the `display` block of a config that reads
/// cleanly, say; a saved plan needs no config.
pub fn run(session: &Session, shell: &Shell, path: &Path, format: Format) -> Result<u8, Error> {
    let file = ops::plan::read_plan_file(path)?;
    let ids = key_ids(session, &session.optional_config(), format);
    let apply = format!("keyrot apply {}", path.display());
    let saved = SavedFile {
        apply: &apply,
        digest: &file.digest,
    };
    print_plan(shell, &file.saved.plan, format, Some(&saved), ids);
    Ok(exit::OK)
}
