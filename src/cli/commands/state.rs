//! `keyrot state list|show|rm|pull|push`.

use crate::cli::commands::say_opened;
use crate::cli::exit;
use crate::cli::shell::Shell;
use crate::core::model::{timestamp, Address, KeyIds};
use crate::core::state::SetState;
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

pub fn list(session: &Session, shell: &Shell) -> Result<u8, Error> {
    let config = session.load_config()?;
    let state = ops::state::read(session, &config)?;
    if state.sets.is_empty() {
        shell.out("The state tracks no credential sets.");
    }
    for (address, set) in &state.sets {
        shell.out(format!("{address}  {}", set.phase().as_str()));
    }
    Ok(exit::OK)
}

pub fn show(session: &Session, shell: &Shell, address: &Address) -> Result<u8, Error> {
    let config = session.load_config()?;
    let state = ops::state::read(session, &config)?;
    let set = state.sets.get(address).ok_or_else(|| {
        Error::Invalid(format!(
            "{address} is not in the state; `keyrot state list` shows what is"
        ))
    })?;
    shell.print(describe(address, set, config.display.key_ids));
    Ok(exit::OK)
}

pub fn rm(session: &Session, shell: &Shell, address: &Address) -> Result<u8, Error> {
    let config = session.load_config()?;
    let removed = ops::state::remove(session, &config, address)?;
    let ids = config.display.key_ids;
    let keys: Vec<String> = removed.keys().map(|(_, k)| ids.show(&k.id)).collect();
    shell.out(format!(
        "Removed {address} from the state; IAM and its sinks are untouched (keys: {}).{}",
        if keys.is_empty() {
            "none".to_string()
        } else {
            keys.join(", ")
        },
        if config.sets.contains_key(address) {
            " The config still declares it: the next plan imports its keys again."
        } else if !config.selectors.is_empty() {
            " If a selector still chooses it, the next plan imports its keys again."
        } else {
            ""
        }
    ));
    Ok(exit::OK)
}

fn describe(address: &Address, set: &SetState, ids: KeyIds) -> String {
    let mut out = format!("{address}\n  phase: {}\n", set.phase().as_str());
    for (role, k) in set.keys() {
        out.push_str(&format!(
            "  {} key {}  {}  born {}  {} since {}\n",
            role.as_str(),
            ids.show(&k.id),
            k.status,
            timestamp(k.born),
            k.status,
            timestamp(k.status_since)
        ));
    }
    for id in &set.unresolved {
        out.push_str(&format!("  unresolved key {}\n", ids.show(id)));
    }
    if let Some(o) = set.clock_override {
        out.push_str(&format!(
            "  last step ran at {} on a clock set to {}\n",
            timestamp(o.real),
            timestamp(o.used)
        ));
    }
    out
}
