//! `fmt`: config files in the canonical layout (`core::config::format`), each rewritten
//! atomically in place, or only checked. A file that is not HCL is reported and left as
//! it is; the others are still formatted.

use crate::adapters::fsutil;
use crate::core::config::format;
use crate::core::diagnostic::Diagnostic;
use crate::ops::error::{Error, Result};
use crate::ops::session::{config_files, read_source};
use std::path::{Path, PathBuf};

/// A file whose layout is not the canonical one: its text before and after.
pub struct Reformatted {
    pub path: PathBuf,
    pub before: String,
    pub after: String,
}

#[derive(Default)]
pub struct Formatted {
    /// Files not in the canonical layout, in the order read (rewritten unless checking).
    pub changed: Vec<Reformatted>,
    /// Files that are not HCL, positioned: left untouched.
    pub errors: Vec<Diagnostic>,
}

/// Formats every config file under `paths` (a file, or a directory's `*.hcl` files);
/// writes the changed ones unless `check`. Every file is read before any is written.
pub fn fmt(paths: &[PathBuf], check: bool) -> Result<Formatted> {
    let mut files = Vec::new();
    for path in paths {
        for file in config_files(path)? {
            // A file named twice is read, formatted and listed once.
            if !files.iter().any(|(seen, _)| *seen == file) {
                let source = read_source(&file)?;
                files.push((file, source));
            }
        }
    }
    let mut outcome = Formatted::default();
    for (path, source) in files {
        match format::canonical(&source) {
            Ok(after) if after == source.text => {}
            Ok(after) => outcome.changed.push(Reformatted {
                path,
                before: source.text,
                after,
            }),
            Err(diagnostic) => outcome.errors.push(diagnostic),
        }
    }
    if !check {
        for file in &outcome.changed {
            write(&file.path, &file.after)?;
        }
    }
    Ok(outcome)
}

fn write(path: &Path, text: &str) -> Result<()> {
    // Only files that exist are rewritten: each keeps its own mode and owner.
    fsutil::write_through(path, text.as_bytes(), 0o644)
        .map_err(|e| Error::Invalid(format!("cannot write {}: {e}", path.display())))
}
