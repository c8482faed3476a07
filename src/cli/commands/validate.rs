use crate::cli::exit;
use crate::cli::shell::Shell;
use crate::ops::{session::Session, Error};

pub fn run(session: &Session, shell: &Shell) -> Result<u8, Error> {
    let (config, warnings) = session.load_config_with_warnings()?;
    for w in &warnings {
        shell.warn(w);
    }
    shell.out(format!(
        "{} The configuration is valid: {} credential set(s).",
        shell.style.green("Success!"),
        config.sets.len()
    ));
    Ok(exit::OK)
}
