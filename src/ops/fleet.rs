//! Selectors expanded against live IAM once, right after connecting: recovery, the
//! planner, apply and saved-plan admission then see ordinary credential sets.

use crate::adapters::accounts::Accounts;
use crate::adapters::iam::Iam;
use crate::core::config::Config;
use crate::core::diagnostic::Diagnostic;
use crate::core::selection::{self, Listings};
use crate::ops::error::{Error, Result};
use crate::ops::plan;

/// Lists the users the selectors choose from (one listing per account, none without
/// selectors) and adds their sets to `config`. Returns warnings (a selector that chose
/// nobody); a user two selectors choose is an error. Another account that cannot be listed
/// fails only its own selectors: they choose nothing this time, and the plan shows what
/// they chose before waiting.
pub async fn expand<I: Iam>(iam: &Accounts<I>, config: &mut Config) -> Result<Vec<Diagnostic>> {
    let queries = selection::queries(&config.selectors);
    if queries.is_empty() {
        return Ok(Vec::new());
    }
    let mut listings = Listings::new();
    for (account, query) in &queries {
        let listed = match iam.get(account.as_deref()) {
            Ok(client) => client.list_users(query).await,
            Err(e) => Err(e),
        };
        match listed {
            Err(e) if account.is_none() => return Err(e.into()),
            listed => {
                let name = account.as_deref().unwrap_or_default();
                let listed = listed.map_err(|e| plan::account_error(name, &e));
                listings.insert(account.clone(), listed);
            }
        }
    }
    selection::expand(config, &listings).map_err(Error::Selection)
}
