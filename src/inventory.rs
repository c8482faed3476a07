//! Reads live IAM facts for the declared users, with bounded concurrency.

use crate::iam::{Iam, IamError};
use crate::model::{Inventory, KeyId};
use futures::stream::{self, StreamExt, TryStreamExt};

/// IAM throttles per account; a few calls in flight is plenty for interactive use.
const CONCURRENCY: usize = 8;

/// ListAccessKeys for each user (only the declared ones).
pub async fn read_keys<I: Iam>(iam: &I, users: &[String]) -> Result<Inventory, IamError> {
    let listed: Vec<_> = stream::iter(users)
        .map(|user| async move { iam.list_access_keys(user).await.map(|k| (user, k)) })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    let mut inventory = Inventory::default();
    for (user, keys) in listed {
        if let Some(mut keys) = keys {
            keys.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
            inventory.keys.insert(user.clone(), keys);
        }
    }
    Ok(inventory)
}

/// GetAccessKeyLastUsed for just the keys a decision needs.
pub async fn read_last_used<I: Iam>(
    iam: &I,
    ids: &[KeyId],
    inventory: &mut Inventory,
) -> Result<(), IamError> {
    let found: Vec<_> = stream::iter(ids)
        .map(|id| async move { iam.last_used(id).await.map(|u| (id.clone(), u)) })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    inventory.last_used.extend(found);
    Ok(())
}
