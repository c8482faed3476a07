//! `keyrot state pull` / `keyrot state push FILE [--force]`.

use crate::cli::commands::say_opened;
use crate::cli::exit;
use crate::cli::shell::Shell;
use crate::ops::{self, session::Session, Error};
use std::path::Path;

pub fn pull(session: &Session, shell: &Shell) -> Result<u8, Error> {
    let config = session.load_config()?;
    match ops::state::pull(session, &config)? {
        Some(text) => shell.out(text.trim_end()),
        None => shell.warn("there is no state yet"),
    }
    Ok(exit::OK)
}

pub fn push(session: &Session, shell: &Shell, file: &Path, force: bool) -> Result<u8, Error> {
    let config = session.load_config()?;
    let pushed = ops::state::push(session, &config, file, force)?;
    say_opened(shell, &pushed.notes);
    let replaced = match &pushed.replaced {
        Some((lineage, serial)) => format!(" (it replaced lineage {lineage}, serial {serial})"),
        None => String::new(),
    };
    shell.out(format!(
        "Pushed {} to {}: lineage {}, serial {}{replaced}.",
        file.display(),
        pushed.location,
        pushed.lineage,
        pushed.serial
    ));
    Ok(exit::OK)
}
