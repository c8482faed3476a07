use crate::cli::commands::say_identity;
use crate::cli::exit;
use crate::cli::render::{self, timestamp};
use crate::cli::shell::Shell;
use crate::core::audit::AuditOptions;
use crate::ops::{self, session::Session, Error};

pub async fn run(
    session: &Session,
    shell: &Shell,
    json: bool,
    options: &AuditOptions,
) -> Result<u8, Error> {
    // The config is optional here: audit looks at whole accounts (its `account` blocks too).
    let config = session.optional_config();
    let (clients, identity) = session.connect_checked(&config).await?;
    say_identity(shell, identity.as_deref());
    let accounts: Vec<String> = config.accounts.keys().cloned().collect();
    let (findings, unreadable) =
        ops::audit::audit(&clients.iam, &accounts, session.now, options).await?;
    for e in &unreadable {
        shell.error(format!("no findings for this account: {e}"));
    }
    if json {
        let doc = serde_json::json!({
            "format_version": render::json::FORMAT_VERSION,
            "now": timestamp(session.now),
            "findings": render::json::findings(&findings),
        });
        shell.out(serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else if findings.is_empty() {
        shell.out(format!("No findings: no root access keys, no active key or certificate older than {} or unused for {}.", options.max_age, options.unused_for));
    } else {
        for f in &findings {
            shell.out(format!(
                "{}  {}: {} (CIS {})",
                shell.style.yellow("finding"),
                f.who(),
                f.message,
                f.cis
            ));
        }
        shell.out(format!(
            "\n{} finding(s). keyrot reports these and changes nothing.",
            findings.len()
        ));
    }
    // Another account's missing report fails the run, after what could be read.
    Ok(if unreadable.is_empty() {
        exit::OK
    } else {
        exit::ERROR
    })
}
