use crate::cli::exit;
use crate::cli::shell::Shell;
use crate::ops::{session::Session, Error};

pub fn run(session: &Session, shell: &Shell) -> Result<u8, Error> {
    let (config, warnings) = session.load_config_with_warnings()?;
    for w in &warnings {
        shell.warn(w);
    }
    let selectors = match config.selectors.len() {
        0 => String::new(),
        n => format!(" and {n} selector(s), expanded against IAM at plan time"),
    };
    shell.out(format!(
        "{} The configuration is valid: {} credential set(s){selectors}.",
        shell.style.green("Success!"),
        config.sets.len()
    ));
    Ok(exit::OK)
}
