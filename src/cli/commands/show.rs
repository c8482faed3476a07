use crate::cli::commands::plan::print_plan;
use crate::cli::render::markdown::SavedFile;
use crate::cli::shell::Shell;
use crate::cli::{exit, Format};
use crate::ops::{self, Error};
use std::path::Path;

pub fn run(shell: &Shell, path: &Path, format: Format) -> Result<u8, Error> {
    let file = ops::plan::read_plan_file(path)?;
    let apply = format!("keyrot apply {}", path.display());
    let saved = SavedFile {
        apply: &apply,
        digest: &file.digest,
    };
    print_plan(shell, &file.saved.plan, format, Some(&saved));
    Ok(exit::OK)
}
