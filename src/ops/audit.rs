//! `audit`: findings from the IAM credential report of keyrot's own account and of every
//! `account` it reaches; never changes IAM.

use crate::adapters::accounts::Accounts;
use crate::adapters::iam::Iam;
use crate::core::audit::{self, AuditOptions, Finding};
use crate::core::model::Time;
use crate::ops::error::{Error, Result};
use crate::ops::plan::account_error;

/// Every account's findings, and why another account's report could not be had (keyrot's
/// own failing is an error).
pub async fn audit<I: Iam>(
    iam: &Accounts<I>,
    accounts: &[String],
    now: Time,
    options: &AuditOptions,
) -> Result<(Vec<Finding>, Vec<String>)> {
    let csv = iam.base().credential_report().await?;
    let mut found = audit::findings(&csv, now, options).map_err(Error::Invalid)?;
    let mut unreadable = Vec::new();
    for account in accounts {
        let report = match iam.get(Some(account)) {
            Ok(client) => client
                .credential_report()
                .await
                .map_err(|e| account_error(account, &e)),
            Err(e) => Err(e.to_string()),
        };
        match report.and_then(|csv| audit::findings(&csv, now, options)) {
            Ok(more) => found.extend(more.into_iter().map(|f| f.in_account(Some(account)))),
            Err(e) => unreadable.push(e),
        }
    }
    Ok((found, unreadable))
}
