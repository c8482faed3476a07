//! Running a command of the user's — an `exec` sink, a `confirm "exec"` check — the one way:
//! no shell; an environment cleared down to PATH, HOME and LANG plus what its block names
//! (`env`, `pass_env`), so never keyrot's own AWS credentials; a timeout; output read to a
//! bound, its end kept.

use crate::core::config::ExecEnv;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use zeroize::Zeroizing;

/// Variables every command gets from keyrot's environment, when set there.
const BASE_ENV: [&str; 3] = ["PATH", "HOME", "LANG"];

/// The end of each output stream kept, in bytes: far more than anything shows, so a cut
/// that falls inside a secret never reaches what is shown once it is masked.
pub const OUTPUT_KEPT: usize = 64 * 1024;

const CHUNK: usize = 8 * 1024;

/// What a command left: its exit status and the end of its output (wiped when dropped:
/// an exec sink's command may echo the secret).
pub struct Finished {
    pub status: ExitStatus,
    /// Empty unless asked for.
    pub stdout: Zeroizing<Vec<u8>>,
    pub stderr: Zeroizing<Vec<u8>>,
}

/// What to run and how.
pub struct Spawn<'a> {
    /// The program and its arguments.
    pub command: &'a [String],
    pub env: &'a ExecEnv,
    pub timeout: Duration,
    /// Written to its stdin, which is then closed; `None`: stdin is empty.
    pub input: Option<&'a [u8]>,
    /// Keep its stdout; otherwise it goes nowhere.
    pub capture_stdout: bool,
}

/// Runs the command and waits for it, at most `timeout` (then it is killed).
pub async fn run(spawn: Spawn<'_>) -> Result<Finished, String> {
    let (program, args) = spawn.command.split_first().ok_or("empty command")?;
    let passed = BASE_ENV
        .iter()
        .copied()
        .chain(spawn.env.pass.iter().map(String::as_str))
        .filter_map(|name| std::env::var_os(name).map(|v| (name.to_string(), v)));
    let piped = |yes: bool| if yes { Stdio::piped() } else { Stdio::null() };
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .env_clear()
        .envs(passed)
        .envs(&spawn.env.set)
        .stdin(piped(spawn.input.is_some()))
        .stdout(piped(spawn.capture_stdout))
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run `{program}`: {e}"))?;
    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let feed = async move {
        if let (Some(mut pipe), Some(bytes)) = (stdin, spawn.input) {
            // A command that exits without reading gives a broken pipe: its exit status
            // says more. Dropping the pipe closes its stdin.
            let _ = pipe.write_all(bytes).await;
        }
    };
    let work = async {
        let ((), stdout, stderr, status) =
            tokio::join!(feed, tail(stdout), tail(stderr), child.wait());
        status.map(|status| Finished {
            status,
            stdout,
            stderr,
        })
    };
    match tokio::time::timeout(spawn.timeout, work).await {
        Ok(Ok(finished)) => Ok(finished),
        Ok(Err(e)) => Err(format!("`{program}` failed: {e}")),
        Err(_) => Err(format!(
            "`{program}` did not finish within {}s",
            spawn.timeout.as_secs()
        )),
    }
}

/// Reads a pipe to its end, keeping its last `OUTPUT_KEPT` bytes in one buffer that never
/// grows (so no copy is left behind to wipe).
async fn tail(pipe: Option<impl AsyncRead + Unpin>) -> Zeroizing<Vec<u8>> {
    let mut kept = Zeroizing::new(Vec::with_capacity(2 * OUTPUT_KEPT + CHUNK));
    let Some(mut pipe) = pipe else {
        return kept;
    };
    let mut chunk = Zeroizing::new([0u8; CHUNK]);
    loop {
        match pipe.read(&mut chunk[..]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&chunk[..n]);
                if kept.len() > 2 * OUTPUT_KEPT {
                    let excess = kept.len() - OUTPUT_KEPT;
                    kept.drain(..excess);
                }
            }
        }
    }
    let excess = kept.len().saturating_sub(OUTPUT_KEPT);
    kept.drain(..excess);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn sh(script: &str) -> Vec<String> {
        vec!["sh".into(), "-c".into(), script.into()]
    }

    #[test]
    fn output_is_bounded_to_its_end_and_stdin_is_fed() {
        let command = sh("cat; head -c 200000 /dev/zero | tr '\\0' x; printf END");
        let finished = block_on(run(Spawn {
            command: &command,
            env: &ExecEnv::default(),
            timeout: Duration::from_secs(20),
            input: Some(b"from stdin "),
            capture_stdout: true,
        }))
        .unwrap();
        assert!(finished.status.success());
        assert_eq!(finished.stdout.len(), OUTPUT_KEPT);
        assert!(finished.stdout.ends_with(b"xxEND"));
        assert!(!finished.stdout.starts_with(b"from stdin"));
    }

    #[test]
    fn a_command_past_its_timeout_is_an_error() {
        let command = sh("sleep 5");
        let started = std::time::Instant::now();
        let error = block_on(run(Spawn {
            command: &command,
            env: &ExecEnv::default(),
            timeout: Duration::from_millis(300),
            input: None,
            capture_stdout: false,
        }))
        .err()
        .unwrap();
        assert!(error.contains("did not finish within"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(4));
    }
}
