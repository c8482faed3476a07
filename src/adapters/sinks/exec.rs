//! `deliver "exec"`: a command given the credential as JSON on stdin, with a timeout.
//! Nothing can take a delivered value back from it. Spawned as every user command is
//! (`adapters::command`): no shell, a clean environment, a timeout.

use super::{redact, Credential, Undo};
use crate::adapters::command::{run as run_command, Spawn};
use crate::core::config::{ExecEnv, SecretFormat};
use crate::core::duration::Window;

pub async fn deliver(
    command: &[String],
    timeout: Window,
    format: SecretFormat,
    env: &ExecEnv,
    cred: &Credential<'_>,
) -> Result<Undo, (String, Undo)> {
    let text = super::format::render(format, cred);
    run_exec(
        cred,
        command,
        env,
        std::time::Duration::from_secs(timeout.as_secs()),
        &text,
    )
    .await
    .map(|()| Undo::Impossible)
    .map_err(|e| (e, Undo::Impossible))
}

/// Runs the command with the credential on stdin; a non-zero exit or the timeout fails.
async fn run_exec(
    cred: &Credential<'_>,
    command: &[String],
    env: &ExecEnv,
    timeout: std::time::Duration,
    input: &str,
) -> Result<(), String> {
    let finished = run_command(Spawn {
        command,
        env,
        timeout,
        input: Some(input.as_bytes()),
        capture_stdout: false,
    })
    .await?;
    if finished.status.success() {
        return Ok(());
    }
    // Masked before it is cut, so no part of a secret survives at the cut.
    let stderr = redact(&String::from_utf8_lossy(&finished.stderr), cred);
    let tail: String = stderr
        .chars()
        .rev()
        .take(2000)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    Err(format!(
        "`{}` exited with {}: {}",
        command.first().map_or("", String::as_str),
        finished.status,
        tail.trim()
    ))
}
