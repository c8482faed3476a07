//! How many IAM calls to keep in flight: a limit that grows while calls succeed and halves
//! when IAM throttles (additive increase, multiplicative decrease, as TCP does), between a
//! floor of one and a cap the user sets. One per IAM client, so one per account: IAM's
//! throttling is a token bucket per account.

/// The adaptive limit. Pure: the caller reports each finished call.
#[derive(Clone, Debug)]
pub struct Aimd {
    limit: f64,
    floor: f64,
    cap: f64,
    /// Until the first throttle the limit grows by one per success (doubling per round
    /// trip); after it, by one per round trip.
    slow_start: bool,
    /// Bumped by each decrease: calls started before it ran at the old limit, so their
    /// throttles are already answered.
    epoch: u64,
    decreases: u64,
}

/// Where the limit starts when nothing is known: enough to hide some latency, few enough
/// not to start a burst IAM refuses.
pub const INITIAL: usize = 8;

/// The default cap (`--parallelism`).
pub const DEFAULT_CAP: usize = 32;

/// The default cap on sets applied at once (`--apply-parallelism`): the limit's start, so a
/// rotation never opens with more sets in flight than reads would.
pub const DEFAULT_APPLY_CAP: usize = INITIAL;

impl Aimd {
    /// Starts at `INITIAL` (or `cap`, if lower) and never exceeds `cap` (at least one).
    pub fn new(cap: usize) -> Self {
        let cap = cap.max(1) as f64;
        Aimd {
            limit: cap.min(INITIAL as f64),
            floor: 1.0,
            cap,
            slow_start: true,
            epoch: 0,
            decreases: 0,
        }
    }

    /// Always exactly `n` calls in flight: floor and cap are the same.
    pub fn fixed(n: usize) -> Self {
        let n = n.max(1) as f64;
        Aimd {
            limit: n,
            floor: n,
            cap: n,
            slow_start: false,
            epoch: 0,
            decreases: 0,
        }
    }

    /// How many calls may be in flight now.
    pub fn limit(&self) -> usize {
        self.limit as usize
    }

    /// The epoch a call starting now belongs to (pass it back to [`Aimd::throttled`]).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// How many times the limit was cut.
    pub fn decreases(&self) -> u64 {
        self.decreases
    }

    /// A call finished and IAM throttled nothing while it ran.
    pub fn succeeded(&mut self) {
        let step = if self.slow_start {
            1.0
        } else {
            1.0 / self.limit
        };
        self.limit = (self.limit + step).min(self.cap);
    }

    /// IAM throttled while a call that started in `epoch` ran. Halves the limit once per
    /// round: throttles of calls started before the last cut are already answered by it.
    pub fn throttled(&mut self, epoch: u64) {
        if epoch < self.epoch || self.floor == self.cap {
            return;
        }
        self.slow_start = false;
        self.limit = (self.limit / 2.0).max(self.floor);
        self.epoch += 1;
        self.decreases += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_by_one_per_success_until_the_first_throttle_then_slower() {
        let mut a = Aimd::new(64);
        assert_eq!(a.limit(), INITIAL);
        for _ in 0..8 {
            a.succeeded();
        }
        assert_eq!(a.limit(), 16);
        a.throttled(a.epoch());
        assert_eq!(a.limit(), 8);
        // Additive now: eight successes (one round at eight in flight) add one.
        for _ in 0..8 {
            a.succeeded();
        }
        assert_eq!(a.limit(), 8, "less than a round is less than one more");
        a.succeeded();
        assert_eq!(a.limit(), 9);
    }

    #[test]
    fn never_exceeds_the_cap_nor_falls_below_one() {
        let mut a = Aimd::new(20);
        for _ in 0..1_000 {
            a.succeeded();
        }
        assert_eq!(a.limit(), 20);
        for _ in 0..100 {
            a.throttled(a.epoch());
        }
        assert_eq!(a.limit(), 1);
        assert_eq!(Aimd::new(0).limit(), 1);
        assert_eq!(
            Aimd::new(3).limit(),
            3,
            "a cap under the start is the start"
        );
    }

    #[test]
    fn one_cut_per_round_however_many_calls_of_it_were_throttled() {
        let mut a = Aimd::new(32);
        let round = a.epoch();
        for _ in 0..8 {
            a.throttled(round);
        }
        assert_eq!(a.limit(), 4, "8 halved once");
        assert_eq!(a.decreases(), 1);
        a.throttled(a.epoch());
        assert_eq!(a.limit(), 2);
    }

    #[test]
    fn fixed_never_moves() {
        let mut a = Aimd::fixed(48);
        a.throttled(a.epoch());
        a.succeeded();
        assert_eq!(a.limit(), 48);
        assert_eq!(a.decreases(), 0);
    }
}
