//! Work spread over accounts: as many items in flight in each account as that account's
//! adaptive limit ([`Aimd`]) allows, under the `--parallelism` cap — IAM throttles per
//! account, so one account's throttling never slows another. The inventory reader runs
//! its calls here, and apply its sets.

use crate::core::concurrency::Aimd;
use futures::stream::{FuturesUnordered, StreamExt};
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::ops::ControlFlow;

/// The limits of each account, kept from one round of work to the next.
pub struct Pool {
    /// What an account's limit starts as.
    initial: Aimd,
    limits: BTreeMap<Option<String>, Aimd>,
}

/// How a finished item went, for its account's limit.
pub struct Finished<R> {
    pub result: R,
    /// It ran without a failure of its own (a throttle is read from IAM's count, not here).
    pub succeeded: bool,
}

impl Pool {
    /// At most `cap` items in flight in each account (the `--parallelism` cap).
    pub fn new(cap: usize) -> Self {
        Self::with_limit(Aimd::new(cap))
    }

    /// Every account's limit starts as `initial`.
    pub fn with_limit(initial: Aimd) -> Self {
        Pool {
            initial,
            limits: BTreeMap::new(),
        }
    }

    /// The limit of `account` (`None`: keyrot's own) as it stands.
    pub fn limit(&self, account: Option<&str>) -> &Aimd {
        let key = account.map(str::to_string);
        self.limits.get(&key).unwrap_or(&self.initial)
    }

    /// Runs `work` on every item — items of one account in their order, accounts taking
    /// turns — and hands each result to `finished` as it comes. `throttled(account)` is
    /// IAM's count of throttled attempts in that account: when it moved while an item ran,
    /// the account's limit halves. `finished` returning `Break` stops at once: items in
    /// flight are dropped (as if the process had stopped there) and no more start.
    pub async fn each<'s, T, R, Fut>(
        &mut self,
        items: &'s [T],
        account: impl Fn(&'s T) -> Option<&'s str>,
        throttled: impl Fn(Option<&str>) -> u64,
        work: impl Fn(&'s T) -> Fut,
        mut finished: impl FnMut(&'s T, R) -> ControlFlow<()>,
    ) where
        Fut: Future<Output = Finished<R>>,
    {
        let mut queues = Queues::new(items, &account);
        let mut running: BTreeMap<Option<String>, usize> = BTreeMap::new();
        let mut in_flight = FuturesUnordered::new();
        loop {
            loop {
                let limits = &mut self.limits;
                let initial = &self.initial;
                let next = queues.next(|key| {
                    let limit = limits.entry(key.clone()).or_insert_with(|| initial.clone());
                    running.get(key).copied().unwrap_or(0) < limit.limit()
                });
                let Some((key, item)) = next else { break };
                *running.entry(key.clone()).or_default() += 1;
                let limit = self.limits.get(&key).unwrap_or(&self.initial);
                let (epoch, seen) = (limit.epoch(), throttled(key.as_deref()));
                let pending = work(item);
                in_flight.push(async move { (key, item, epoch, seen, pending.await) });
            }
            let Some((key, item, epoch, seen, done)) = in_flight.next().await else {
                break;
            };
            if let Some(n) = running.get_mut(&key) {
                *n -= 1;
            }
            let limit = self
                .limits
                .entry(key.clone())
                .or_insert_with(|| self.initial.clone());
            if throttled(key.as_deref()) > seen {
                limit.throttled(epoch);
            } else if done.succeeded {
                limit.succeeded();
            }
            if finished(item, done.result).is_break() {
                break;
            }
        }
    }
}

/// The items waiting, one queue per account in order of first appearance, taken in turns.
struct Queues<'s, T> {
    accounts: Vec<(Option<String>, VecDeque<&'s T>)>,
    turn: usize,
}

impl<'s, T> Queues<'s, T> {
    fn new(items: &'s [T], account: &impl Fn(&'s T) -> Option<&'s str>) -> Self {
        let mut index: BTreeMap<Option<String>, usize> = BTreeMap::new();
        let mut accounts: Vec<(Option<String>, VecDeque<&'s T>)> = Vec::new();
        for item in items {
            let key = account(item).map(str::to_string);
            let i = *index.entry(key.clone()).or_insert_with(|| {
                accounts.push((key, VecDeque::new()));
                accounts.len() - 1
            });
            accounts[i].1.push_back(item);
        }
        Queues { accounts, turn: 0 }
    }

    /// The next item of the next account (after the last one served) that `has_room`.
    fn next(
        &mut self,
        mut has_room: impl FnMut(&Option<String>) -> bool,
    ) -> Option<(Option<String>, &'s T)> {
        let n = self.accounts.len();
        for step in 0..n {
            let i = (self.turn + step) % n;
            let (key, queue) = &mut self.accounts[i];
            if queue.is_empty() || !has_room(key) {
                continue;
            }
            let item = queue.pop_front()?;
            self.turn = (i + 1) % n;
            return Some((key.clone(), item));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// Items `(account, n)`; each sleeps a little so several are in flight at once.
    fn run(pool: &mut Pool, items: &[(Option<&'static str>, u32)]) -> (Vec<u32>, usize) {
        let running = Cell::new(0usize);
        let peak = Cell::new(0usize);
        let order = RefCell::new(Vec::new());
        block_on(pool.each(
            items,
            |item| item.0,
            |_| 0,
            |item| {
                let (running, peak) = (&running, &peak);
                async move {
                    running.set(running.get() + 1);
                    peak.set(peak.get().max(running.get()));
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                    running.set(running.get() - 1);
                    Finished {
                        result: item.1,
                        succeeded: true,
                    }
                }
            },
            |_, n| {
                order.borrow_mut().push(n);
                ControlFlow::Continue(())
            },
        ));
        (order.into_inner(), peak.get())
    }

    #[test]
    fn never_more_in_flight_than_an_accounts_limit() {
        let items: Vec<_> = (0..40).map(|n| (None, n)).collect();
        let (done, peak) = run(&mut Pool::with_limit(Aimd::fixed(3)), &items);
        assert_eq!(done.len(), 40, "every item ran once");
        assert_eq!(peak, 3, "one account: its limit");
        let (_, peak) = run(&mut Pool::new(2), &items);
        assert_eq!(peak, 2, "the cap bounds a growing limit");
        let items: Vec<_> = (0..40)
            .map(|n| (if n % 2 == 0 { Some("a") } else { Some("b") }, n))
            .collect();
        let (_, peak) = run(&mut Pool::with_limit(Aimd::fixed(3)), &items);
        assert_eq!(peak, 6, "each account has a limit of its own");
    }

    #[test]
    fn a_throttled_account_slows_alone() {
        let items: Vec<_> = (0..64)
            .map(|n| {
                (
                    if n % 2 == 0 {
                        Some("hot")
                    } else {
                        Some("calm")
                    },
                    n,
                )
            })
            .collect();
        let hot_calls = Cell::new(0u64);
        let mut pool = Pool::new(32);
        block_on(pool.each(
            &items,
            |item| item.0,
            // Every call in "hot" is throttled once.
            |account| match account {
                Some("hot") => hot_calls.get(),
                _ => 0,
            },
            |item| {
                let hot_calls = &hot_calls;
                async move {
                    tokio::task::yield_now().await;
                    if item.0 == Some("hot") {
                        hot_calls.set(hot_calls.get() + 1);
                    }
                    Finished {
                        result: (),
                        succeeded: true,
                    }
                }
            },
            |_, ()| ControlFlow::Continue(()),
        ));
        assert!(pool.limit(Some("hot")).decreases() > 0);
        assert_eq!(pool.limit(Some("calm")).decreases(), 0);
        assert!(pool.limit(Some("calm")).limit() > pool.limit(Some("hot")).limit());
    }

    #[test]
    fn break_stops_at_once() {
        let items: Vec<_> = (0..100).map(|n| (None, n)).collect();
        let seen = Cell::new(0);
        let mut pool = Pool::with_limit(Aimd::fixed(4));
        block_on(pool.each(
            &items,
            |item| item.0,
            |_| 0,
            |item| async move {
                Finished {
                    result: item.1,
                    succeeded: true,
                }
            },
            |_, n| {
                seen.set(seen.get() + 1);
                if n == 10 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        ));
        assert!(
            seen.get() <= 11 + 4,
            "stopped soon after item 10: {}",
            seen.get()
        );
    }
}
