//! Reads live IAM facts for the declared credential sets, with bounded concurrency.

use crate::adapters::iam::{Iam, IamError};
use crate::core::model::{Address, Inventory, KeyId};
use futures::stream::{self, StreamExt, TryStreamExt};

/// IAM throttles per account; a few calls in flight is plenty for interactive use.
const CONCURRENCY: usize = 8;

/// ListAccessKeys / ListSigningCertificates for each declared set.
pub async fn read_credentials<I: Iam>(iam: &I, sets: &[Address]) -> Result<Inventory, IamError> {
    let listed: Vec<_> = stream::iter(sets)
        .map(|a| async move { iam.list_credentials(a).await.map(|k| (a, k)) })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    let mut inventory = Inventory::default();
    for (address, keys) in listed {
        if let Some(mut keys) = keys {
            keys.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
            inventory.credentials.insert(address.clone(), keys);
        }
    }
    Ok(inventory)
}

/// GetAccessKeyLastUsed for just the keys a decision needs, each with its set.
pub async fn read_last_used<I: Iam>(
    iam: &I,
    ids: &[(Address, KeyId)],
    inventory: &mut Inventory,
) -> Result<(), IamError> {
    let found: Vec<_> = stream::iter(ids)
        .map(|(a, id)| async move { iam.last_used(a, id).await.map(|u| (id.clone(), u)) })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    inventory.last_used.extend(found);
    Ok(())
}
