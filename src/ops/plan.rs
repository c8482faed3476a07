//! `plan`: read IAM for the declared sets, plan with the pure planner, and save plans.

use crate::adapters::accounts::Accounts;
use crate::adapters::certs;
use crate::adapters::fsutil::write_atomic;
use crate::adapters::iam::{Iam, IamError};
use crate::core::audit::{self, Finding};
use crate::core::config::{CertSource, Config};
use crate::core::model::{Address, CredentialKind, Inventory, Time};
use crate::core::plan::saved::{self as planfile, BackendId, Facts, SavedPlan};
use crate::core::plan::Plan;
use crate::core::plan::PlanOptions;
use crate::core::planner;
use crate::core::state::State;
use crate::ops::error::{Error, Result};
use crate::ops::inventory::Reader;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A plan and the live IAM facts it was made from (what a saved plan is checked against).
pub struct Planned {
    pub plan: Plan,
    pub facts: Facts,
    /// Accounts that could not be reached or read, with why (their sets wait).
    pub unreachable: BTreeMap<String, String>,
}

/// Reads IAM for the declared (or targeted) sets and plans at `now`.
pub async fn make<I: Iam>(
    reader: &mut Reader<'_, Accounts<I>>,
    config: &Config,
    state: &State,
    options: &PlanOptions,
    now: Time,
) -> Result<Planned> {
    check_certificate_files(config, now)?;
    for a in options.targets.iter().chain(&options.force_rotate) {
        if !config.sets.contains_key(a) && !state.sets.contains_key(a) {
            return Err(Error::Invalid(format!(
                "{a} is not declared in the config nor tracked in state"
            )));
        }
    }
    let sets: Vec<Address> = config
        .sets
        .keys()
        .filter(|a| options.targets.is_empty() || options.targets.contains(a))
        .cloned()
        .collect();
    let mut inv = read_by_account(reader, &sets).await?;
    if config.password_policy.is_some() {
        inv.password_policy = Some(reader.iam().password_policy().await?);
    }
    let needed = inv.with_sets(&planner::evidence_needed(config, &inv, state, now));
    reader.last_used(&needed, &mut inv).await?;
    let plan = planner::plan(config, &inv, state, now, options);
    let facts = planfile::facts(&inv, &sets);
    let mut unreachable = inv.unreachable;
    if let Some(selection) = &config.selection {
        unreachable.extend(selection.unlisted.clone());
    }
    Ok(Planned {
        plan,
        facts,
        unreachable,
    })
}

/// The sets' live credentials, one account at a time: another account that cannot be
/// reached or read is recorded (its sets wait, the others go on); keyrot's own account
/// failing fails the plan, as it always has.
pub async fn read_by_account<I: Iam>(
    reader: &mut Reader<'_, Accounts<I>>,
    sets: &[Address],
) -> Result<Inventory> {
    let mut groups: BTreeMap<Option<&str>, Vec<Address>> = BTreeMap::new();
    for address in sets {
        groups
            .entry(address.account())
            .or_default()
            .push(address.clone());
    }
    let mut inv = Inventory::default();
    for (account, group) in groups {
        // The reader's calls go through `Accounts`, which sends each to its set's account.
        let read = match reader.iam().get(account) {
            Ok(_) => reader.credentials(&group).await,
            Err(e) => Err(e),
        };
        match (read, account) {
            (Ok(part), _) => inv.credentials.extend(part.credentials),
            (Err(e), Some(name)) => {
                inv.unreachable
                    .insert(name.to_string(), account_error(name, &e));
            }
            (Err(e), None) => return Err(e.into()),
        }
    }
    Ok(inv)
}

/// An account's failure in words that name the account.
pub fn account_error(account: &str, e: &IamError) -> String {
    match e {
        IamError::Account { .. } => e.to_string(),
        _ => format!("account {account}: {e}"),
    }
}

/// Credential-report findings about what keyrot does not manage: the root account, users
/// and credential kinds no set declares. (What it manages, the plan itself shows with ages,
/// last use and the schedule, on keyrot's clock.) A report that cannot be read is not a
/// failed plan: its error comes back beside the others' findings, for a warning. One report
/// per account that holds a set.
pub async fn findings<I: Iam>(
    iam: &Accounts<I>,
    config: &Config,
    now: Time,
) -> (Vec<Finding>, Vec<String>) {
    let accounts: BTreeSet<Option<&str>> = config.sets.keys().map(Address::account).collect();
    let (mut found, mut unreadable) = (Vec::new(), Vec::new());
    for account in accounts {
        // An account that cannot be reached is already reported with its sets.
        let Ok(client) = iam.get(account) else {
            continue;
        };
        let report = client
            .credential_report()
            .await
            .map_err(|e| e.to_string())
            .and_then(|csv| audit::findings(&csv, now, &Default::default()));
        match report {
            Ok(all) => found.extend(
                all.into_iter()
                    .map(|f| f.in_account(account))
                    .filter(|f| !managed(config, f)),
            ),
            Err(e) => unreadable.push(match account {
                Some(name) => format!("account {name}: {e}"),
                None => e,
            }),
        }
    }
    (found, unreadable)
}

/// Whether a finding is about a credential some set of the config manages.
fn managed(config: &Config, finding: &Finding) -> bool {
    let kind = match finding.check {
        "key_too_old" | "key_unused" => CredentialKind::AccessKey,
        "cert_too_old" => CredentialKind::SigningCertificate,
        _ => return false,
    };
    config.sets.contains_key(&Address {
        account: finding.account.clone(),
        user: finding.user.clone(),
        kind,
    })
}

/// The config's digest, plus the contents of bring-your-own certificate files: a saved
/// plan must upload the certificate that was reviewed.
pub fn config_digest(config: &Config) -> String {
    let mut hasher = Sha256::new();
    hasher.update(config.digest().as_bytes());
    for set in config.sets.values() {
        if let Some(CertSource::Files {
            certificate_file, ..
        }) = &set.certificate
        {
            hasher.update(std::fs::read(certificate_file).unwrap_or_default());
        }
    }
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// Bring-your-own certificate pairs must match and be valid before any plan uploads them.
fn check_certificate_files(config: &Config, now: Time) -> Result<()> {
    for set in config.sets.values() {
        let Some(CertSource::Files {
            certificate_file,
            private_key_file,
        }) = &set.certificate
        else {
            continue;
        };
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
        };
        let checked = read(certificate_file).and_then(|cert| {
            let key = zeroize::Zeroizing::new(read(private_key_file)?);
            certs::check_pair(&cert, &key, now)
        });
        if let Err(problem) = checked {
            return Err(Error::Invalid(format!(
                "{}: {} and {}: {problem}\n  hint: fix the files; nothing was planned or uploaded",
                set.address,
                certificate_file.display(),
                private_key_file.display()
            )));
        }
    }
    Ok(())
}

/// The saved form of `planned`, bound to the state and config it was made from.
pub fn saved_plan(
    planned: &Planned,
    options: &PlanOptions,
    state: &State,
    config: &Config,
) -> SavedPlan {
    SavedPlan {
        options: options.clone(),
        id: uuid::Uuid::new_v4().to_string(),
        created: chrono::Utc::now(),
        prior_lineage: state.lineage.clone(),
        prior_serial: state.serial,
        prior_backend: config.backend.as_ref().map(|b| BackendId {
            bucket: b.bucket.clone(),
            key: b.key.clone(),
        }),
        config_digest: config_digest(config),
        facts: planned.facts.clone(),
        selections: config.selection.clone().unwrap_or_default().chosen,
        plan: planned.plan.clone(),
    }
}

/// A saved plan as written or read, with the digest of the file's exact bytes.
pub struct PlanFile {
    pub saved: SavedPlan,
    pub digest: String,
}

/// The file's text and digest, before it is written (renderings show the digest).
pub fn plan_file(saved: SavedPlan) -> (PlanFile, String) {
    let text = planfile::to_json(&saved);
    let digest = planfile::digest(text.as_bytes());
    (PlanFile { saved, digest }, text)
}

pub fn write_plan_file(file: &Path, text: &str) -> Result<()> {
    // Private like state: a plan names every managed key id.
    write_atomic(file, text.as_bytes(), 0o600)
        .map_err(|e| Error::Invalid(format!("cannot write plan file {}: {e}", file.display())))
}

pub fn read_plan_file(file: &Path) -> Result<PlanFile> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Error::Invalid(format!("cannot read plan file {}: {e}", file.display())))?;
    let saved = planfile::from_json(&text).map_err(|e| {
        Error::Invalid(format!(
            "{}: {e}\n  hint: make a new one with `keyrot plan -out {}`",
            file.display(),
            file.display()
        ))
    })?;
    Ok(PlanFile {
        saved,
        digest: planfile::digest(text.as_bytes()),
    })
}
