use crate::cli::commands::say_recovered;
use crate::cli::commands::say_selection;
use crate::cli::exit;
use crate::cli::shell::Shell;
use crate::core::model::{Address, KeyId};
use crate::ops::{self, session::Session, Error};

pub async fn run(
    session: &Session,
    shell: &Shell,
    address: &Address,
    key: &KeyId,
) -> Result<u8, Error> {
    let mut config = session.load_config()?;
    let mut writer = session.begin_write("import", &mut config).await?;
    say_selection(shell, &writer.selection_warnings);
    say_recovered(shell, &writer.recovered, &writer.unsettled);
    ops::import::import(&mut writer, address, key)?;
    shell.out(format!(
        "{address}: key {} is no longer unresolved; the next `keyrot plan` imports it like any key keyrot did not create.",
        key.masked()
    ));
    Ok(exit::OK)
}
