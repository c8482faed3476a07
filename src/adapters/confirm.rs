//! Confirm checks: step 4 of AWS's rotation ("using only the new credentials, confirm that
//! your applications are working well"), run by keyrot. A check gets no secret and no AWS
//! credentials: an exec check is spawned as every user command is (`adapters::command`:
//! no shell, a clean environment, a timeout); an http check is a GET through the shared
//! client (https, or http to loopback; redirects not followed).

use crate::adapters::command::{self, Spawn};
use crate::adapters::http::HttpClient;
use crate::core::config::{Check, ExecEnv};
use crate::core::duration::Window;
use crate::core::model::Time;
use crate::core::state::CheckRecord;
use std::time::Duration;

/// At most this much of a failed check's output is shown and kept in the state: its end,
/// cut on a character boundary.
pub const OUTPUT_SHOWN: usize = 4096;

/// Runs one check; `ran` is keyrot's clock for the record. Never fails: a check that
/// cannot run has failed, and its record says why.
pub async fn run(check: &Check, ran: Time) -> CheckRecord {
    let failure = match check {
        Check::Exec {
            command,
            timeout,
            env,
        } => exec(command, env, *timeout).await,
        Check::Http {
            url,
            status,
            timeout,
        } => http(url, *status, *timeout).await,
    };
    CheckRecord {
        check: check.describe(),
        fingerprint: check.fingerprint(),
        ran,
        passed: failure.is_none(),
        last_passed: None,
        output: failure,
    }
}

/// `None` when the command exited 0; else why, with the end of its output.
async fn exec(command: &[String], env: &ExecEnv, timeout: Window) -> Option<String> {
    let finished = command::run(Spawn {
        command,
        env,
        timeout: Duration::from_secs(timeout.as_secs()),
        input: None,
        capture_stdout: true,
    })
    .await;
    let finished = match finished {
        Ok(f) if f.status.success() => return None,
        Ok(f) => f,
        Err(why) => return Some(why),
    };
    let mut output = String::from_utf8_lossy(&finished.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&finished.stderr);
    if !output.is_empty() && !stderr.is_empty() && !output.ends_with('\n') {
        output.push('\n');
    }
    output.push_str(&stderr);
    let program = command.first().map_or("", String::as_str);
    Some(with_output(
        format!("`{program}` exited with {}", finished.status),
        &output,
    ))
}

/// `None` when the URL answered `expected`; else what it answered, or why it did not.
async fn http(url: &str, expected: u16, timeout: Window) -> Option<String> {
    let client = match HttpClient::new(Duration::from_secs(timeout.as_secs())) {
        Ok(client) => client,
        Err(e) => return Some(e.to_string()),
    };
    match client.get(url).await {
        Ok(answer) if answer.status == expected => None,
        Ok(answer) => Some(with_output(
            format!("answered HTTP {} (expected {expected})", answer.status),
            &answer.body,
        )),
        Err(e) => Some(e.to_string()),
    }
}

/// `why`, then the end of `output` (at most `OUTPUT_SHOWN` bytes of it), with anything
/// shaped like a secret masked.
fn with_output(why: String, output: &str) -> String {
    let output = scrub(output);
    let output = output.trim_end();
    if output.is_empty() {
        return why;
    }
    let mut cut = output.len().saturating_sub(OUTPUT_SHOWN);
    while !output.is_char_boundary(cut) {
        cut += 1;
    }
    format!("{why}:\n{}", &output[cut..])
}

/// A check holds no secret, but its command can read one (a smoke test that prints the
/// credentials file it was pointed at): what is shaped like a secret access key (40
/// characters of `A-Za-z0-9/+`) or a PEM private key is masked before it is shown or kept.
fn scrub(output: &str) -> String {
    let mut out = String::with_capacity(output.len());
    let mut rest = output;
    while let Some(start) = rest.find("-----BEGIN ") {
        let block = &rest[start..];
        match block.find("PRIVATE KEY-----") {
            Some(_) => {
                out.push_str(&scrub_keys(&rest[..start]));
                out.push_str("[REDACTED PRIVATE KEY]");
                let end = block
                    .find("-----END ")
                    .and_then(|e| {
                        block[e..]
                            .find("KEY-----")
                            .map(|k| e + k + "KEY-----".len())
                    })
                    .unwrap_or(block.len());
                rest = &block[end..];
            }
            None => break,
        }
    }
    out.push_str(&scrub_keys(rest));
    out
}

fn scrub_keys(text: &str) -> String {
    let secretish = |c: char| c.is_ascii_alphanumeric() || c == '/' || c == '+';
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    for c in text.chars().chain(std::iter::once('\0')) {
        if secretish(c) {
            run.push(c);
            continue;
        }
        out.push_str(if run.len() == 40 { "[REDACTED]" } else { &run });
        run.clear();
        if c != '\0' {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_the_end_cut_on_a_character() {
        let long = format!("start{}", "é".repeat(OUTPUT_SHOWN));
        let shown = with_output("failed".into(), &long);
        let (why, tail) = shown.split_once(":\n").unwrap();
        assert_eq!(why, "failed");
        assert!(tail.len() <= OUTPUT_SHOWN);
        assert!(tail.chars().all(|c| c == 'é'), "{tail:?}");
        assert_eq!(with_output("failed".into(), " \n"), "failed");
    }

    #[test]
    fn what_looks_like_a_secret_is_masked() {
        let key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let pem = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----";
        let text = format!("{{\"SecretAccessKey\":\"{key}\"}}\n{pem}\nAKIAIOSFODNN7EXAMPLE ok");
        let shown = with_output("failed".into(), &text);
        assert!(
            !shown.contains(key) && !shown.contains("MIGHAgEA"),
            "{shown}"
        );
        assert!(shown.contains("[REDACTED]") && shown.contains("[REDACTED PRIVATE KEY]"));
        // Ids and ordinary words stay.
        assert!(shown.contains("AKIAIOSFODNN7EXAMPLE ok"), "{shown}");
    }

    #[test]
    fn an_exec_check_passes_on_exit_0_and_shows_its_output_otherwise() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let check = |script: &str| Check::Exec {
            command: vec!["sh".into(), "-c".into(), script.into()],
            timeout: Window::from_secs(10),
            env: ExecEnv::default(),
        };
        let at = chrono::DateTime::from_timestamp(0, 0).unwrap();
        let passed = rt.block_on(run(&check("echo fine"), at));
        assert!(passed.passed && passed.output.is_none(), "{passed:?}");
        let failed = rt.block_on(run(&check("echo out; echo err >&2; exit 3"), at));
        assert!(!failed.passed);
        let output = failed.output.unwrap();
        assert!(output.contains("exited with exit status: 3"), "{output}");
        assert!(output.ends_with("out\nerr"), "{output}");
        assert_eq!(failed.check, "exec sh");
    }
}
