use crate::cli::commands::say_selection;
use crate::cli::commands::{say_opened, say_recovered};
use crate::cli::exit;
use crate::cli::shell::Shell;
use crate::core::model::{Address, KeyId};
use crate::ops::{self, session::Session, Error};

pub async fn run(session: &Session, shell: &Shell, address: &Address) -> Result<u8, Error> {
    let mut config = session.load_config()?;
    let mut writer = session.begin_write("resume", &mut config).await?;
    say_selection(shell, &writer.selection_warnings);
    say_opened(shell, &writer.notes);
    say_recovered(shell, &writer.recovered, &writer.unsettled);
    let resumed = ops::resume::resume(&mut writer, &config, address).await?;
    let ids = config.display.key_ids;
    let key = |k: &Option<KeyId>| k.as_ref().map(|k| ids.show(k)).unwrap_or_default();
    if resumed.restored.is_empty() {
        shell.out(format!(
            "{address}: rotation resumed. The old key will be deactivated again once the overlap and unused_for gates pass (see `keyrot plan`)."
        ));
    } else {
        shell.out(format!(
            "{address}: {} hold(s) key {} again after the rollback, so it stays the current key; \
             key {} is retired instead (the next plans deactivate and delete it) and the next \
             rotation starts from {}.",
            resumed.restored.join(", "),
            key(&resumed.current),
            key(&resumed.previous),
            key(&resumed.current)
        ));
    }
    Ok(exit::OK)
}
