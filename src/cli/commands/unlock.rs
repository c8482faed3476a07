use crate::cli::exit;
use crate::cli::shell::Shell;
use crate::ops::{session::Session, Error};

pub fn run(session: &Session, shell: &Shell, lock_id: &str) -> Result<u8, Error> {
    let config = session.load_config()?;
    let holder = session.force_unlock(&config, lock_id)?;
    shell.out(format!(
        "Removed the lock of {holder}. The next `keyrot apply` reconciles any step it left unfinished."
    ));
    Ok(exit::OK)
}
