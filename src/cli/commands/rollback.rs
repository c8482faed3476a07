use crate::cli::commands::say_selection;
use crate::cli::commands::{apply, say_opened, say_recovered};
use crate::cli::exit;
use crate::cli::shell::Shell;
use crate::core::model::Address;
use crate::ops::{self, session::Session, Error};

pub async fn run(session: &Session, shell: &Shell, address: &Address) -> Result<u8, Error> {
    let mut config = session.load_config()?;
    let mut writer = session.begin_write("rollback", &mut config).await?;
    say_selection(shell, &writer.selection_warnings);
    say_opened(shell, &writer.notes);
    say_recovered(shell, &writer.recovered, &writer.unsettled);
    let mut stdout = std::io::stdout();
    let mut progress = |line: &str| shell.out(line);
    let result = ops::rollback::rollback(
        &mut writer,
        &config,
        address,
        session.now,
        &mut stdout,
        &mut progress,
    )
    .await;
    let summary = ops::notify::rollback_summary(
        address,
        &result,
        &writer.state,
        writer.identity.as_deref(),
        session.now,
    );
    let done = match result {
        Ok(done) => done,
        Err(e) => {
            apply::notify(shell, &writer, &config, &summary).await;
            return Err(e);
        }
    };
    apply::report(shell, &done.report);
    if config.sets.contains_key(address) {
        shell.out("\nConsumers:");
        for line in &done.consumers {
            shell.out(format!("  {line}"));
        }
    }
    shell.out(format!(
        "Rotation of {address} is held: both keys are Active. `keyrot resume {address}` continues it."
    ));
    apply::notify(shell, &writer, &config, &summary).await;
    Ok(exit::OK)
}
