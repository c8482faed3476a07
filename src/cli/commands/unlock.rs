use crate::cli::exit;
use crate::cli::shell::Shell;
use crate::ops::{session::Session, Error};

pub fn run(session: &Session, shell: &Shell, lock_id: &str) -> Result<u8, Error> {
    let info = session.force_unlock(lock_id)?;
    shell.out(format!(
        "Removed the lock of `keyrot {}` (pid {} on host {}). The next `keyrot apply` reconciles any step it left unfinished.",
        info.operation, info.pid, info.host
    ));
    Ok(exit::OK)
}
