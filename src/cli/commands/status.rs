use crate::cli::commands::{self, say_identity, say_selection};
use crate::cli::exit;
use crate::cli::render;
use crate::cli::shell::Shell;
use crate::ops::{self, session::Session, Error};

pub async fn run(session: &Session, shell: &Shell, json: bool) -> Result<u8, Error> {
    let mut config = session.load_config()?;
    let state = session.load_state(&config)?;
    let unfinished = session.pending(&config)?;
    let (clients, identity) = session.connect_checked(&config).await?;
    say_identity(shell, identity.as_deref());
    say_selection(shell, &ops::fleet::expand(&clients.iam, &mut config).await?);
    let mut reader = commands::reader(session, shell, &clients.iam);
    let status = ops::status::status(&mut reader, &config, &state, unfinished, session.now).await?;
    drop(reader);
    let ids = config.display.key_ids;
    if json {
        shell.out(render::status::json(&status, ids));
    } else {
        shell.print(render::status::text(&status, shell.style, ids));
    }
    Ok(exit::OK)
}
