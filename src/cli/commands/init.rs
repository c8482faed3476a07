use crate::cli::exit;
use crate::cli::shell::Shell;
use crate::ops::{self, session::Session, Error};

pub fn run(session: &Session, shell: &Shell, user: &str) -> Result<u8, Error> {
    ops::init::init(&session.config_path, user)?;
    shell.out(format!(
        "Wrote {}: rotates the access key of IAM user `{user}` into secrets/{user}.json.\n\
         Next: keyrot validate, then keyrot plan. Keep secrets/ and state/ out of version control.",
        session.config_path.display()
    ));
    Ok(exit::OK)
}
