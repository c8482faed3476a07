//! After `apply` or `rollback` has finished and saved state: the run's summary
//! (`core::notify`) to every `notify` channel that wants one of its events. A channel
//! that fails is returned as an outcome for the CLI to warn about; it never fails the run.

use crate::adapters::http::HttpClient;
use crate::adapters::remote::Remote;
use crate::core::config::{Channel, Notify};
use crate::core::model::{Address, KeyId, Time};
use crate::core::notify::{Failure, Run, Summary};
use crate::core::plan::Plan;
use crate::core::state::{CheckRecord, State};
use crate::ops::apply::{ApplyError, Report};
use crate::ops::error::Error;
use crate::ops::rollback::RolledBack;
use std::time::Duration;

/// Each channel's whole attempt (connect, send, SNS's one retry) ends within this.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// What sending to one channel came to.
#[derive(Debug)]
pub struct Sent {
    /// The channel as messages show it (a webhook by scheme and host only).
    pub channel: String,
    /// Why it was not delivered, if it was not.
    pub error: Option<String>,
}

/// An apply's summary: its report, or, when it stopped, the steps `progress` heard of and
/// why it stopped; the plan's waits; key ids masked.
pub fn apply_summary(
    plan: &Plan,
    result: &Result<Report, Error>,
    progressed: &[String],
    state: &State,
    identity: Option<&str>,
) -> Summary {
    let mut summary = Summary::new(Run::Apply, plan.now);
    summary.identity = identity.map(str::to_string);
    summary.waiting = Summary::waits_of(plan);
    let mut ids = key_ids(state, Some(plan));
    match result {
        Ok(report) => {
            summary.done = report.done.clone();
            summary.checkpoints = report.checkpoints.clone();
            summary.failed = report
                .failed
                .iter()
                .map(|f| {
                    ids.extend(named_key(&f.error));
                    Failure {
                        target: f.target.clone(),
                        action: f.action.to_string(),
                        error: without_target(&f.error.to_string(), &f.target),
                    }
                })
                .collect();
            // A failed confirm check is a failure of its set; when it reverted the set, the
            // set was also put back on its previous key.
            for r in report.reverts.iter().filter(|r| !r.failed.is_empty()) {
                let address = r.address.to_string();
                summary.failed.push(Failure {
                    target: address.clone(),
                    action: "confirm".to_string(),
                    error: failed_checks(&r.failed),
                });
                if r.reactivated {
                    summary.rolled_back.push(format!(
                        "{address}: a confirm check failed, so the previous key is Active again; the rotation is held until `keyrot resume {address}`"
                    ));
                    let consumers = r.consumers.iter().map(|c| format!("{address}: {c}"));
                    summary.rolled_back.extend(consumers);
                }
            }
        }
        Err(error) => {
            summary.done = progressed.to_vec();
            summary.stopped = Some(stop_reason(error, &mut ids));
        }
    }
    summary.mask(&ids);
    summary
}

/// A rollback's summary: the key put back and what each consumer did, or why it failed.
/// A rollback refused before it changed anything has no news.
pub fn rollback_summary(
    address: &Address,
    result: &Result<RolledBack, Error>,
    state: &State,
    identity: Option<&str>,
    now: Time,
) -> Summary {
    let mut summary = Summary::new(Run::Rollback, now);
    summary.identity = identity.map(str::to_string);
    let mut ids = key_ids(state, None);
    match result {
        Ok(done) => {
            summary.done = done.report.done.clone();
            summary.rolled_back = std::iter::once(format!(
                "{address}: the previous key is Active again; the rotation is held until `keyrot resume {address}`"
            ))
            .chain(done.consumers.iter().map(|c| format!("{address}: {c}")))
            .collect();
        }
        Err(error @ Error::Apply { .. }) => {
            summary.stopped = Some(stop_reason(error, &mut ids));
        }
        Err(_) => {}
    }
    summary.mask(&ids);
    summary
}

/// Sends `summary` to every channel that wants one of its events, all at once; nothing when
/// the run has no news (it changed nothing and nothing failed).
pub async fn send<R: Remote>(remote: &R, channels: &[Notify], summary: &Summary) -> Vec<Sent> {
    let events = summary.events();
    let wanted: Vec<&Notify> = channels.iter().filter(|n| n.wants(&events)).collect();
    if !summary.is_news() || wanted.is_empty() {
        return Vec::new();
    }
    let http = HttpClient::new(TIMEOUT).map_err(|e| e.to_string());
    let sends = wanted.into_iter().map(|n| async {
        let result = match &n.channel {
            Channel::Webhook { url } => match &http {
                Ok(client) => post(client, url, summary).await,
                Err(e) => Err(e.clone()),
            },
            Channel::Sns { topic_arn } => {
                let (subject, text) = (summary.subject(), summary.text(false));
                remote.publish(topic_arn, &subject, &text, TIMEOUT).await
            }
        };
        Sent {
            channel: n.channel.describe(),
            error: result.err(),
        }
    });
    futures::future::join_all(sends).await
}

async fn post(client: &HttpClient, url: &str, summary: &Summary) -> Result<(), String> {
    let answer = client
        .post_json(url, summary.webhook_json())
        .await
        .map_err(|e| e.to_string())?;
    if (200..300).contains(&answer.status) {
        return Ok(());
    }
    let body: String = answer.body.chars().take(200).collect();
    Err(format!("answered HTTP {}: {}", answer.status, body.trim()))
}

/// Every key id the run's texts could name in full: tracked, unresolved and planned keys.
fn key_ids(state: &State, plan: Option<&Plan>) -> Vec<KeyId> {
    let tracked = state.sets.values().flat_map(|set| {
        let keys = set.keys().map(|(_, k)| k.id.clone());
        keys.chain(set.unresolved.iter().cloned())
    });
    let planned = plan.into_iter().flat_map(|p| &p.sets).flat_map(|set| {
        let seen = set.keys.iter().map(|k| k.id.clone());
        let acted = set.actions.iter().filter_map(|a| a.key.clone());
        seen.chain(acted)
            .chain(set.waits.iter().filter_map(|w| w.key.clone()))
    });
    tracked.chain(planned).collect()
}

/// The failed confirm checks, each with the first line of its record (why it failed: an
/// exit status, an HTTP status, a timeout); the output itself stays in the state and on
/// stderr.
fn failed_checks(failed: &[CheckRecord]) -> String {
    let each: Vec<String> = failed
        .iter()
        .map(
            |c| match c.output.as_deref().and_then(|o| o.lines().next()) {
                Some(why) => format!("{} ({})", c.check, why.trim_end_matches(':')),
                None => c.check.clone(),
            },
        )
        .collect();
    let held = "the set is held, nothing was deleted";
    format!("confirm check failed: {}; {held}", each.join(", "))
}

/// A key an error names in full so a person can act on it (an orphaned new key).
fn named_key(error: &ApplyError) -> Option<KeyId> {
    match error {
        ApplyError::Orphan { key, .. } => Some(KeyId(key.clone())),
        ApplyError::Unsettled(inner) => named_key(inner),
        _ => None,
    }
}

/// Why a run stopped: the step's own error (the rest of the message is for the terminal).
fn stop_reason(error: &Error, ids: &mut Vec<KeyId>) -> String {
    match error {
        Error::Apply { source, .. } => {
            ids.extend(named_key(source));
            source.to_string()
        }
        other => other.to_string(),
    }
}

/// `target: cause` → `cause` (the message names the target on its own line).
fn without_target(error: &str, target: &str) -> String {
    error
        .strip_prefix(&format!("{target}: "))
        .unwrap_or(error)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::iam::IamError;
    use crate::core::notify::Event;
    use crate::ops::apply::{Revert, SetFailure};

    const ORPHAN: &str = "AKIAORPHANED00001234";
    const TRACKED: &str = "AKIATRACKED000005678";

    fn plan() -> Plan {
        Plan {
            now: "2025-03-01T00:00:00Z".parse().unwrap(),
            refresh_only: false,
            sets: Vec::new(),
            password_policy: None,
            findings: Vec::new(),
        }
    }

    fn state() -> State {
        let mut state = State::new("l".into());
        let address = Address::parse("user.ci.access_key").unwrap();
        state.sets.entry(address).or_default().unresolved = vec![KeyId(TRACKED.into())];
        state
    }

    fn orphan() -> ApplyError {
        ApplyError::Orphan {
            address: Box::new(Address::parse("user.ci.access_key").unwrap()),
            key: ORPHAN.into(),
            cause: format!("exec false failed; old key {TRACKED} kept"),
            delete_error: Box::new(IamError::Other {
                operation: "DeleteAccessKey".into(),
                message: "throttled".into(),
            }),
            by_hand: format!("aws iam delete-access-key --access-key-id {ORPHAN}"),
        }
    }

    #[test]
    fn a_stopped_apply_says_what_was_done_and_why_it_stopped_with_ids_masked() {
        let stopped: Result<Report, Error> = Err(Error::Apply {
            source: Box::new(orphan()),
            done: 1,
            total: 3,
            state: "state/keyrot.json".into(),
            failed: String::new(),
        });
        let progressed = vec!["user.a.access_key: deleted key ****1111".to_string()];
        let summary = apply_summary(&plan(), &stopped, &progressed, &state(), None);
        assert_eq!(summary.done, progressed);
        assert_eq!(summary.events(), vec![Event::Applied, Event::Failed]);
        let why = summary.stopped.as_deref().unwrap();
        assert!(why.starts_with("user.ci.access_key: "), "{why}");
        assert!(why.contains("****************1234"), "{why}");
        let body = summary.webhook_json();
        assert!(!body.contains(ORPHAN) && !body.contains(TRACKED), "{body}");
    }

    #[test]
    fn a_failed_set_is_named_once_with_its_cause() {
        let report = Report {
            done: Vec::new(),
            checkpoints: Vec::new(),
            failed: vec![SetFailure {
                target: "user.ci.access_key".into(),
                action: "create",
                error: orphan(),
            }],
            reverts: Vec::new(),
        };
        let summary = apply_summary(&plan(), &Ok(report), &[], &state(), Some("arn:x"));
        assert_eq!(summary.events(), vec![Event::Failed]);
        let failure = &summary.failed[0];
        assert_eq!(failure.action, "create");
        assert!(
            failure.error.starts_with("exec false failed"),
            "{failure:?}"
        );
        assert!(!failure.error.contains(ORPHAN) && !failure.error.contains(TRACKED));
        assert_eq!(summary.identity.as_deref(), Some("arn:x"));
    }

    #[test]
    fn a_failed_confirm_check_is_a_failure_and_its_revert_a_rollback() {
        let address = Address::parse("account.prod.user.ci.access_key").unwrap();
        let check = CheckRecord {
            check: "exec ./smoke-test".into(),
            fingerprint: "sha256:0011223344556677".into(),
            ran: plan().now,
            passed: false,
            last_passed: None,
            output: Some("`./smoke-test` exited with exit status: 3:\nconnection refused".into()),
        };
        let revert = |reactivated| Revert {
            address: address.clone(),
            failed: vec![check.clone()],
            reactivated,
            consumers: vec!["secrets_manager ci: AWSCURRENT is the previous key again".into()],
        };
        let report = |reactivated| Report {
            done: vec![format!(
                "{address}: confirm check failed (exec ./smoke-test): …"
            )],
            checkpoints: Vec::new(),
            failed: Vec::new(),
            reverts: vec![revert(reactivated)],
        };
        let summary = apply_summary(&plan(), &Ok(report(true)), &[], &state(), None);
        assert_eq!(
            summary.events(),
            vec![Event::Applied, Event::Failed, Event::Rollback]
        );
        let failure = &summary.failed[0];
        assert_eq!(failure.target, "account.prod.user.ci.access_key");
        assert_eq!(failure.action, "confirm");
        assert_eq!(
            failure.error,
            "confirm check failed: exec ./smoke-test (`./smoke-test` exited with exit status: 3); the set is held, nothing was deleted"
        );
        assert!(!failure.error.contains("connection refused"));
        assert_eq!(summary.rolled_back.len(), 2);
        assert!(
            summary.rolled_back[1].starts_with("account.prod.user.ci.access_key: secrets_manager")
        );
        // Held with the old key Inactive: a failure, and nothing was put back.
        let held = apply_summary(&plan(), &Ok(report(false)), &[], &state(), None);
        assert_eq!(held.events(), vec![Event::Applied, Event::Failed]);
        assert!(held.rolled_back.is_empty());
    }

    #[test]
    fn a_refused_rollback_has_no_news() {
        let address = Address::parse("user.ci.access_key").unwrap();
        let refused: Result<RolledBack, Error> = Err(Error::Invalid("not at a checkpoint".into()));
        let now = plan().now;
        let summary = rollback_summary(&address, &refused, &state(), None, now);
        assert!(!summary.is_news());
    }
}
