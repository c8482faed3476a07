//! Saved-plan admission: `apply FILE` applies exactly the reviewed plan, or refuses it
//! with what moved since it was made.

use crate::adapters::accounts::Accounts;
use crate::adapters::iam::Iam;
use crate::adapters::remote::Remote;
use crate::core::config::Config;
use crate::core::duration::{humanize, Window};
use crate::core::model::{timestamp, Address, Time};
use crate::core::plan::saved::{self as planfile, BackendId, SavedPlan};
use crate::core::planner;
use crate::core::policy::PasswordPolicy;
use crate::ops::error::{Refusal, Result};
use crate::ops::inventory::Reader;
use crate::ops::plan::{self, config_digest, PlanFile};
use crate::ops::session::Writer;

/// Checks `saved` against the writer's state, the config and live IAM at `now`.
/// `Ok(Err(refusal))` is a plan that must not be applied; `Err` a failure to check.
pub async fn check<I: Iam, R: Remote>(
    writer: &Writer<I, R>,
    reader: &mut Reader<'_, Accounts<I>>,
    config: &Config,
    file: &PlanFile,
    bounds: &Admission<'_>,
    now: Time,
) -> Result<Result<(), Refusal>> {
    let saved = &file.saved;
    if let Err(refusal) = check_file(file, bounds, now) {
        return Ok(Err(refusal));
    }
    if let Err(refusal) = check_state(writer, config, saved) {
        return Ok(Err(refusal));
    }
    let sets: Vec<Address> = saved.facts.keys().cloned().collect();
    let mut inv = plan::read_by_account(reader, &sets).await?;
    let ids = planfile::keys_with_last_use(&saved.facts);
    reader.last_used(&ids, &mut inv).await?;
    let mut moved = planfile::facts_moved(&saved.facts, &planfile::facts(&inv, &sets));
    let chosen = config.selection.clone().unwrap_or_default().chosen;
    moved.extend(planfile::selection_moved(&saved.selections, &chosen));
    let live_policy = match seen_policy(config, saved) {
        Some(seen) => {
            let live = reader.iam().password_policy().await?;
            if live != seen {
                moved.push("the account password policy changed".to_string());
            }
            Some(live)
        }
        None => None,
    };
    if !moved.is_empty() {
        return Ok(Err(Refusal::IamMoved(moved)));
    }
    // The planner is deterministic: the same state, config, facts and instant must give
    // the same plan. Anything else means the file was edited after review.
    inv.password_policy = live_policy;
    let expected = planner::plan(config, &inv, &writer.state, saved.plan.now, &saved.options);
    if expected.sets != saved.plan.sets || expected.password_policy != saved.plan.password_policy {
        return Ok(Err(Refusal::Edited));
    }
    // A plan made for a later instant (`--now`) is not applied before that instant.
    if saved.plan.now > now {
        return Ok(Err(Refusal::FromTheFuture {
            planned: timestamp(saved.plan.now),
            now: timestamp(now),
        }));
    }
    Ok(Ok(()))
}

/// What `apply FILE` holds a plan file to besides state and IAM.
pub struct Admission<'a> {
    /// The digest of the plan that was reviewed (`--expect-digest`).
    pub expect_digest: Option<&'a str>,
    /// How old (on the command's clock) a plan may be.
    pub max_age: Window,
}

/// The reviewed digest and the plan's age: a file edited after review, or one kept
/// around, is refused before anything is read from IAM.
fn check_file(file: &PlanFile, bounds: &Admission, now: Time) -> Result<(), Refusal> {
    if let Some(expected) = bounds.expect_digest {
        let expected = expected.trim();
        let bare = |d: &str| d.trim_start_matches("sha256:").to_ascii_lowercase();
        if bare(expected) != bare(&file.digest) {
            return Err(Refusal::NotReviewed {
                expected: expected.to_string(),
                found: file.digest.clone(),
            });
        }
    }
    let planned = file.saved.plan.now;
    if now - planned > bounds.max_age.to_chrono() {
        return Err(Refusal::TooOld {
            planned: timestamp(planned),
            age: humanize(now - planned),
            max: bounds.max_age.to_string(),
        });
    }
    Ok(())
}

/// Replay, lineage, serial and config: what can be checked without IAM.
fn check_state<I, R>(
    writer: &Writer<I, R>,
    config: &Config,
    saved: &SavedPlan,
) -> Result<(), Refusal> {
    let state = &writer.state;
    let current = config.backend.as_ref().map(|b| BackendId {
        bucket: b.bucket.clone(),
        key: b.key.clone(),
    });
    if saved.prior_backend != current {
        let name = |b: &Option<BackendId>| match b {
            Some(b) => b.to_string(),
            None => "the local state file".to_string(),
        };
        return Err(Refusal::OtherBackend {
            planned: name(&saved.prior_backend),
            current: name(&current),
        });
    }
    if state.applied_plans.contains(&saved.id) {
        return Err(Refusal::Replayed(saved.id.clone()));
    }
    // An empty lineage is "no state yet": then the serial check says what moved.
    let both_exist = !state.lineage.is_empty() && !saved.prior_lineage.is_empty();
    if both_exist && state.lineage != saved.prior_lineage {
        return Err(Refusal::OtherLineage {
            planned: saved.prior_lineage.clone(),
            current: state.lineage.clone(),
        });
    }
    if state.serial != saved.prior_serial {
        return Err(Refusal::Stale {
            planned: saved.prior_serial,
            current: state.serial,
        });
    }
    if config_digest(config) != saved.config_digest {
        return Err(Refusal::ConfigChanged);
    }
    Ok(())
}

/// The password policy the plan saw: its `before`, or (no change planned) the configured
/// one; `None` when the config does not manage the policy.
fn seen_policy(config: &Config, saved: &SavedPlan) -> Option<Option<PasswordPolicy>> {
    match (&saved.plan.password_policy, &config.password_policy) {
        (Some(policy), _) => Some(policy.before.clone()),
        (None, Some(spec)) if !spec.delete => Some(Some(spec.effective())),
        (None, Some(_)) => Some(None),
        (None, None) => None,
    }
}

/// Records the plan as applied before its first step: a crash part-way cannot lead to a
/// replay.
pub fn consume<I, R>(writer: &mut Writer<I, R>, saved: &SavedPlan) -> Result<()> {
    writer.state.mark_applied(&saved.id);
    writer.store.save(&mut writer.state)?;
    Ok(())
}
