//! `deliver "exec"`: a command given the credential as JSON on stdin, with a timeout.
//! Nothing can take a delivered value back from it.

use super::{redact, Credential, Undo};
use crate::core::config::{ExecEnv, SecretFormat};
use crate::core::duration::Window;

/// Variables every command gets from keyrot's environment, when set there.
const BASE_ENV: [&str; 3] = ["PATH", "HOME", "LANG"];

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
    use tokio::io::AsyncWriteExt;
    let (program, args) = command.split_first().ok_or("empty command")?;
    let passed = BASE_ENV
        .iter()
        .copied()
        .chain(env.pass.iter().map(String::as_str))
        .filter_map(|name| std::env::var_os(name).map(|v| (name.to_string(), v)));
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .env_clear()
        .envs(passed)
        .envs(&env.set)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run `{program}`: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that exits without reading gives a broken pipe: its exit status says more.
        let _ = stdin.write_all(input.as_bytes()).await;
    }
    let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(out) => out.map_err(|e| format!("`{program}` failed: {e}"))?,
        Err(_) => {
            return Err(format!(
                "`{program}` did not finish within {}s",
                timeout.as_secs()
            ))
        }
    };
    if output.status.success() {
        return Ok(());
    }
    // Masked before it is cut, so no part of a secret survives at the cut.
    let stderr = redact(&String::from_utf8_lossy(&output.stderr), cred);
    let tail: String = stderr
        .chars()
        .rev()
        .take(2000)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    Err(format!(
        "`{program}` exited with {}: {}",
        output.status,
        tail.trim()
    ))
}
