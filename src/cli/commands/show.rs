use crate::cli::commands::plan::print_plan;
use crate::cli::shell::Shell;
use crate::cli::{exit, Format};
use crate::ops::{self, Error};
use std::path::Path;

pub fn run(shell: &Shell, file: &Path, format: Format) -> Result<u8, Error> {
    let saved = ops::plan::read_plan_file(file)?;
    let hint = format!("keyrot apply {}", file.display());
    print_plan(shell, &saved.plan, format, Some(&hint));
    Ok(exit::OK)
}
