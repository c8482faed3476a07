//! `keyrot fmt [PATH]...`: config files in the canonical layout, like `terraform fmt`.
//! Names each file that changed (or, with `--check`, would change); `--diff` shows how.

use crate::cli::exit;
use crate::cli::render::Style;
use crate::cli::shell::Shell;
use crate::ops::fmt::Reformatted;
use crate::ops::{self, session::Session, Error};
use std::path::PathBuf;

pub fn run(
    session: &Session,
    shell: &Shell,
    paths: &[PathBuf],
    check: bool,
    diff: bool,
) -> Result<u8, Error> {
    let paths = match paths {
        [] => std::slice::from_ref(&session.config_path),
        given => given,
    };
    let outcome = ops::fmt::fmt(paths, check)?;
    for file in &outcome.changed {
        shell.out(file.path.display());
        if diff {
            shell.print(unified_diff(file, shell.style));
        }
    }
    for error in &outcome.errors {
        shell.error(error);
    }
    if !outcome.errors.is_empty() {
        shell.err_line(format!(
            "{} file(s) could not be formatted and were left as they were",
            outcome.errors.len()
        ));
        return Ok(exit::ERROR);
    }
    if check && !outcome.changed.is_empty() {
        shell.err_line(format!(
            "{} file(s) are not formatted (listed above); `keyrot fmt` rewrites them",
            outcome.changed.len()
        ));
        return Ok(exit::UNFORMATTED);
    }
    Ok(exit::OK)
}

/// The change as a unified diff (`diff -u`), its added and removed lines coloured.
fn unified_diff(file: &Reformatted, style: Style) -> String {
    let name = file.path.display().to_string();
    let diff = similar::TextDiff::from_lines(&file.before, &file.after);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(&name, &name)
        .to_string();
    text.lines()
        .map(|line| {
            let painted = match line.as_bytes().first() {
                _ if line.starts_with("---") || line.starts_with("+++") => style.bold(line),
                Some(b'+') => style.green(line),
                Some(b'-') => style.red(line),
                Some(b'@') => style.cyan(line),
                _ => line.to_string(),
            };
            painted + "\n"
        })
        .collect()
}
