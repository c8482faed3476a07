//! `keyrot log [ADDRESS] [--json] [--show-key-ids]`: the audit trail, oldest first.

use crate::cli::exit;
use crate::cli::render;
use crate::cli::shell::Shell;
use crate::core::model::Address;
use crate::ops::{self, session::Session, Error};

pub fn run(
    session: &Session,
    shell: &Shell,
    address: Option<&str>,
    json: bool,
    show_key_ids: bool,
) -> Result<u8, Error> {
    let address = address.map(Address::parse).transpose();
    let address = address.map_err(Error::Invalid)?;
    let address = address.as_ref();
    let config = session.load_config()?;
    let history = ops::events::history(session, &config, address)?;
    for u in &history.unreadable {
        let why = if u.torn {
            "its last line is incomplete (a run was cut off while appending it, or is appending it now)"
        } else {
            "an unreadable entry"
        };
        shell.warn(format!("event log {}: {why}, skipped: {}", u.at, u.problem));
    }
    if json {
        shell.print(render::log::json(&history.events));
    } else if history.events.is_empty() {
        let of = address.map(|a| format!(" of {a}")).unwrap_or_default();
        shell.out(format!("No events{of} in {}.", history.location));
    } else {
        shell.print(render::log::text(
            &history.events,
            show_key_ids,
            shell.style,
        ));
    }
    Ok(exit::OK)
}
