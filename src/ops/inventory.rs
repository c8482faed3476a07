//! Reads live IAM facts for the declared credential sets, as many calls in flight as IAM
//! takes: each account's limit grows while its calls succeed and halves on Throttling
//! ([`Pool`]).

use crate::adapters::iam::{Iam, IamError};
use crate::core::concurrency::Aimd;
use crate::core::model::{Address, Inventory, KeyId};
use crate::ops::pool::{Finished, Pool};
use std::future::Future;
use std::ops::ControlFlow;

/// Hears `(done, total)` after each call (a progress bar); `total` grows when a second
/// round of reads (last use) begins.
pub type Progress<'a> = Box<dyn FnMut(usize, usize) + 'a>;

/// Reads facts through one IAM client (`Accounts`: every account's), with a limit per
/// account.
pub struct Reader<'a, I> {
    iam: &'a I,
    pool: Pool,
    progress: Option<Progress<'a>>,
    done: usize,
    total: usize,
}

impl<'a, I: Iam> Reader<'a, I> {
    /// At most `parallelism` calls in flight (the `--parallelism` cap).
    pub fn new(iam: &'a I, parallelism: usize) -> Self {
        Self::with_pool(iam, Pool::new(parallelism))
    }

    /// Every account's limit starts as `limit`.
    pub fn with_limit(iam: &'a I, limit: Aimd) -> Self {
        Self::with_pool(iam, Pool::with_limit(limit))
    }

    fn with_pool(iam: &'a I, pool: Pool) -> Self {
        Reader {
            iam,
            pool,
            progress: None,
            done: 0,
            total: 0,
        }
    }

    pub fn progress(mut self, progress: Progress<'a>) -> Self {
        self.progress = Some(progress);
        self
    }

    pub fn iam(&self) -> &'a I {
        self.iam
    }

    /// The limit of keyrot's own account as it stands (it carries over from one round of
    /// reads to the next).
    pub fn limit(&self) -> &Aimd {
        self.pool.limit(None)
    }

    /// ListAccessKeys / ListSigningCertificates for each declared set.
    pub async fn credentials(&mut self, sets: &[Address]) -> Result<Inventory, IamError> {
        let iam = self.iam;
        let listed = self
            .each(sets, Address::account, |a| iam.list_credentials(a))
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
    pub async fn last_used(
        &mut self,
        ids: &[(Address, KeyId)],
        inventory: &mut Inventory,
    ) -> Result<(), IamError> {
        let iam = self.iam;
        let found = self
            .each(ids, |(a, _)| a.account(), |(a, id)| iam.last_used(a, id))
            .await?;
        inventory
            .last_used
            .extend(found.into_iter().map(|((_, id), used)| (id.clone(), used)));
        Ok(())
    }

    /// Runs `call` on every item, each account's calls under its own limit, telling the
    /// limit how each went. Stops at the first error, like a sequential loop would.
    async fn each<'s, T, R, F, Fut>(
        &mut self,
        items: &'s [T],
        account: impl Fn(&'s T) -> Option<&'s str>,
        call: F,
    ) -> Result<Vec<(&'s T, R)>, IamError>
    where
        F: Fn(&'s T) -> Fut,
        Fut: Future<Output = Result<R, IamError>>,
    {
        self.total += items.len();
        let mut out = Vec::with_capacity(items.len());
        let mut failed = None;
        let iam = self.iam;
        let (done, total, progress) = (&mut self.done, self.total, &mut self.progress);
        let work = |item: &'s T| {
            let pending = call(item);
            async move {
                let result = pending.await;
                let succeeded = result.is_ok();
                Finished { result, succeeded }
            }
        };
        let finished = |item: &'s T, result: Result<R, IamError>| match result {
            Ok(r) => {
                out.push((item, r));
                *done += 1;
                if let Some(progress) = progress {
                    progress(*done, total);
                }
                ControlFlow::Continue(())
            }
            Err(e) => {
                failed = Some(e);
                ControlFlow::Break(())
            }
        };
        let throttled = |account: Option<&str>| iam.throttled_in(account);
        self.pool
            .each(items, account, throttled, work, finished)
            .await;
        match failed {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}
