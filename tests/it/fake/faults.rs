//! What the fake fails and how: the calls it answers, the rules that pick a call to fail,
//! the crash hook, and the log every call goes through.

use super::{lock, FakeIam, World};
use keyrot::adapters::iam::IamError;
use keyrot::core::model::{Address, KeyId, KeyStatus};
use std::sync::Mutex;

/// The calls the fake answers, IAM's and the remote's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    List,
    ListUsers,
    LastUsed,
    Create,
    SetStatus,
    Delete,
    GetPolicy,
    SetPolicy,
    DeletePolicy,
    CredentialReport,
    SecretGet,
    SecretPut,
    SecretDelete,
    ParameterGet,
    ParameterPut,
    ParameterDelete,
    CallerArn,
}

/// What an injected failure looks like to the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Throttling (`IamError::Other`).
    Throttled,
    /// A 5xx (`IamError::Other`).
    ServerError,
    Denied,
    LimitExceeded,
    NoSuchEntity,
}

impl ErrorKind {
    fn error(self, op: Op) -> IamError {
        let operation = format!("{op:?}");
        let message = "injected by the fake".to_string();
        match self {
            ErrorKind::Throttled => IamError::Other {
                operation,
                message: format!("Throttling: Rate exceeded ({message})"),
            },
            ErrorKind::ServerError => IamError::Other {
                operation,
                message: format!("ServiceFailure: HTTP 500 ({message})"),
            },
            ErrorKind::Denied => IamError::Denied { operation, message },
            ErrorKind::LimitExceeded => IamError::LimitExceeded { operation, message },
            ErrorKind::NoSuchEntity => IamError::NoSuchEntity { operation, message },
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Fails before anything happens.
    Fail(ErrorKind),
    /// Takes effect, then the response is lost: the caller sees the error.
    Lost(ErrorKind),
    /// The first attempt's response is lost and the SDK retries (IAM mutations only; the
    /// remote's writes carry idempotency tokens): the effect happens twice — a second key,
    /// a NoSuchEntity for the second delete — and the caller sees the second outcome.
    Retried,
    /// The process dies before the call takes effect, or after it but before the answer.
    Crash { after: bool },
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum When {
    /// The n-th (1-based) matching call since the rules were armed.
    Nth(u32),
    /// Each matching call with this probability, from the world's seeded RNG.
    Chance(f64),
}

/// Fault `fault` on calls of `op` (any op when `None`) picked by `when`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rule {
    pub op: Option<Op>,
    pub when: When,
    pub fault: Fault,
}

/// The panic payload of the crash hook.
#[derive(Debug)]
pub struct Crashed {
    pub op: Op,
    pub after: bool,
}

/// One call as the log records it.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub op: Op,
    pub address: Option<Address>,
    pub key: Option<KeyId>,
    /// The status a SetStatus asked for.
    pub status: Option<KeyStatus>,
    /// The secret or parameter a remote call touched (the key id for STS).
    pub name: Option<String>,
    pub fault: Option<Fault>,
    pub ok: bool,
}

impl World {
    pub(super) fn next_random(&mut self) -> f64 {
        // splitmix64
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn pick_fault(&mut self, op: Op) -> Option<Fault> {
        let mut fired = None;
        for key in [Some(op), None] {
            *self.counts.entry(key).or_default() += 1;
        }
        for i in 0..self.rules.len() {
            let rule = self.rules[i];
            if rule.op.is_some_and(|o| o != op) {
                continue;
            }
            let hit = match rule.when {
                When::Nth(n) => self.counts[&rule.op] == n,
                When::Chance(p) => self.next_random() < p,
            };
            if hit {
                fired = Some(rule.fault);
                break;
            }
        }
        fired
    }
}

/// What one call is about, for the log.
#[derive(Default)]
pub(super) struct About<'a> {
    pub(super) address: Option<&'a Address>,
    pub(super) key: Option<&'a KeyId>,
    pub(super) status: Option<&'a KeyStatus>,
    pub(super) name: Option<&'a str>,
}

impl About<'_> {
    fn call(&self, op: Op, fault: Option<Fault>, ok: bool) -> Call {
        Call {
            op,
            address: self.address.cloned(),
            key: self.key.cloned(),
            status: self.status.cloned(),
            name: self.name.map(str::to_string),
            fault,
            ok,
        }
    }
}

/// Counts, logs and faults one call; `effect` is what the service does.
pub(super) fn call<T>(
    world: &Mutex<World>,
    op: Op,
    about: About<'_>,
    mut effect: impl FnMut(&mut World) -> Result<T, IamError>,
) -> Result<T, IamError> {
    let mut w = lock(world);
    let fault = w.pick_fault(op);
    if fault.is_some() {
        w.faults_fired += 1;
    }
    let iam_mutation = matches!(op, Op::Create | Op::SetStatus | Op::Delete);
    let result = match fault {
        None => effect(&mut w),
        Some(Fault::Fail(kind)) => Err(kind.error(op)),
        Some(Fault::Lost(kind)) => effect(&mut w).and(Err(kind.error(op))),
        Some(Fault::Retried) if iam_mutation => {
            let _ = effect(&mut w);
            effect(&mut w)
        }
        Some(Fault::Retried) => effect(&mut w),
        Some(Fault::Crash { after }) => {
            if after {
                let _ = effect(&mut w);
            }
            w.log.push(about.call(op, fault, false));
            drop(w);
            std::panic::panic_any(Crashed { op, after });
        }
    };
    w.log.push(about.call(op, fault, result.is_ok()));
    result
}

/// Keeps the crash hook's panics out of the test output; other panics print as usual.
pub fn quiet_crashes() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<Crashed>() {
                previous(info);
            }
        }));
    });
}

impl FakeIam {
    /// Replaces the armed rules and restarts the call counts `When::Nth` counts.
    pub fn arm(&self, rules: Vec<Rule>, seed: u64) {
        let mut w = self.world();
        w.rules = rules;
        w.counts.clear();
        w.rng = seed;
    }

    pub fn disarm(&self) {
        self.arm(Vec::new(), 0);
    }
}
