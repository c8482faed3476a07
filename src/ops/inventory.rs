//! Reads live IAM facts for the declared credential sets, as many calls in flight as IAM
//! takes: the limit grows while calls succeed and halves on Throttling ([`Aimd`]).

use crate::adapters::iam::{Iam, IamError};
use crate::core::concurrency::Aimd;
use crate::core::model::{Address, Inventory, KeyId};
use futures::stream::{FuturesUnordered, StreamExt};
use std::future::Future;

/// Hears `(done, total)` after each call (a progress bar); `total` grows when a second
/// round of reads (last use) begins.
pub type Progress<'a> = Box<dyn FnMut(usize, usize) + 'a>;

/// Reads one IAM client's (one account's) facts with a concurrency limit of its own.
pub struct Reader<'a, I> {
    iam: &'a I,
    limit: Aimd,
    progress: Option<Progress<'a>>,
    done: usize,
    total: usize,
}

impl<'a, I: Iam> Reader<'a, I> {
    /// At most `parallelism` calls in flight (the `--parallelism` cap).
    pub fn new(iam: &'a I, parallelism: usize) -> Self {
        Self::with_limit(iam, Aimd::new(parallelism))
    }

    pub fn with_limit(iam: &'a I, limit: Aimd) -> Self {
        Reader {
            iam,
            limit,
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

    /// The limit as it stands (it carries over from one round of reads to the next).
    pub fn limit(&self) -> &Aimd {
        &self.limit
    }

    /// ListAccessKeys / ListSigningCertificates for each declared set.
    pub async fn credentials(&mut self, sets: &[Address]) -> Result<Inventory, IamError> {
        let iam = self.iam;
        let listed = self.each(sets, |a| iam.list_credentials(a)).await?;
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
        let found = self.each(ids, |(a, id)| iam.last_used(a, id)).await?;
        inventory
            .last_used
            .extend(found.into_iter().map(|((_, id), used)| (id.clone(), used)));
        Ok(())
    }

    /// Runs `call` on every item, keeping `limit` calls in flight and telling the limit
    /// how each went: throttled (IAM's count moved while it ran) or a success. Stops at
    /// the first error, like a sequential loop would.
    async fn each<'s, T, R, F, Fut>(
        &mut self,
        items: &'s [T],
        call: F,
    ) -> Result<Vec<(&'s T, R)>, IamError>
    where
        F: Fn(&'s T) -> Fut,
        Fut: Future<Output = Result<R, IamError>>,
    {
        self.total += items.len();
        let mut out = Vec::with_capacity(items.len());
        let mut next = items.iter();
        let mut in_flight = FuturesUnordered::new();
        loop {
            while in_flight.len() < self.limit.limit() {
                let Some(item) = next.next() else { break };
                let (epoch, seen) = (self.limit.epoch(), self.iam.throttled());
                let pending = call(item);
                in_flight.push(async move { (item, epoch, seen, pending.await) });
            }
            let Some((item, epoch, seen, result)) = in_flight.next().await else {
                break;
            };
            if self.iam.throttled() > seen {
                self.limit.throttled(epoch);
            } else if result.is_ok() {
                self.limit.succeeded();
            }
            out.push((item, result?));
            self.done += 1;
            if let Some(progress) = &mut self.progress {
                progress(self.done, self.total);
            }
        }
        Ok(out)
    }
}
