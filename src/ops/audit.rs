//! `audit`: account-wide findings from the IAM credential report; never changes IAM.

use crate::adapters::iam::Iam;
use crate::core::audit::{self, AuditOptions, Finding};
use crate::core::model::Time;
use crate::ops::error::{Error, Result};

pub async fn audit<I: Iam>(iam: &I, now: Time, options: &AuditOptions) -> Result<Vec<Finding>> {
    let csv = iam.credential_report().await?;
    audit::findings(&csv, now, options).map_err(Error::Invalid)
}
