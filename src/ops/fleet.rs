//! Selectors expanded against live IAM once, right after connecting: recovery, the
//! planner, apply and saved-plan admission then see ordinary credential sets.

use crate::adapters::iam::Iam;
use crate::core::config::Config;
use crate::core::diagnostic::Diagnostic;
use crate::core::selection;
use crate::ops::error::{Error, Result};

/// Lists the users the selectors choose from (one listing, none without selectors) and
/// adds their sets to `config`. Returns warnings (a selector that chose nobody); a user two
/// selectors choose is an error.
pub async fn expand<I: Iam>(iam: &I, config: &mut Config) -> Result<Vec<Diagnostic>> {
    let Some(query) = selection::query(&config.selectors) else {
        return Ok(Vec::new());
    };
    let users = iam.list_users(&query).await?;
    selection::expand(config, &users).map_err(Error::Selection)
}
