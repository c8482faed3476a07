//! The schedules: users with their windows, sinks and starting keys, an optional signing
//! certificate, and steps of days passing, key use, forced rotations, faults and manual
//! steps.

use crate::fake::{ErrorKind, Fault, Op, Rule, When};
use keyrot::core::config::Windows;
use keyrot::core::duration::Window;
use proptest::prelude::*;

#[derive(Clone, Debug)]
pub(super) enum Sinks {
    File,
    FileAndSecret,
    Parameter,
    FileAndStdout,
    ParameterAndSecret,
}

#[derive(Clone, Debug)]
pub(super) struct UserSpec {
    pub(super) windows: Windows,
    pub(super) sinks: Sinks,
    /// Keys IAM has at the start: (Active, age in hours).
    pub(super) keys: Vec<(bool, i64)>,
}

#[derive(Clone, Debug)]
pub(super) struct CertSpec {
    pub(super) windows: Windows,
    /// Validity of generated certificates, in days.
    pub(super) validity_days: u64,
    /// Age in hours of a certificate IAM has at the start.
    pub(super) existing: Option<i64>,
}

#[derive(Clone, Debug)]
pub(super) struct Step {
    pub(super) advance_h: i64,
    /// Bit `2*user + slot`: that Active key is used out of band at this step.
    pub(super) use_mask: u8,
    pub(super) force: Option<usize>,
    pub(super) faults: Vec<Rule>,
    pub(super) seed: u64,
    /// Converge with a clean run right after this one, and check nothing is orphaned.
    pub(super) heal: bool,
    /// After the run, a person acts on set `i`: `keyrot rollback` when it is at the
    /// checkpoint, `keyrot resume` when it is held.
    pub(super) manual: Option<usize>,
}

#[derive(Clone, Debug)]
pub(super) struct Schedule {
    pub(super) users: Vec<UserSpec>,
    pub(super) cert: Option<CertSpec>,
    pub(super) steps: Vec<Step>,
    /// Sets applied at once: crashes and faults land with several sets' steps in flight.
    pub(super) parallelism: usize,
}

fn hours(h: u64) -> Window {
    Window::from_secs(h * 3_600)
}

fn windows() -> impl Strategy<Value = Windows> {
    // unused_for is never zero: a consumer's use of the key it reads must hold back the
    // deactivation of that key.
    (
        24u64..=24 * 60,
        1u64..=24 * 10,
        1u64..=24 * 5,
        1u64..=24 * 10,
    )
        .prop_map(|(max_age, overlap, unused_for, inactive_for)| Windows {
            max_age: hours(max_age),
            overlap: hours(overlap),
            unused_for: hours(unused_for),
            inactive_for: hours(inactive_for),
        })
}

fn user_spec() -> impl Strategy<Value = UserSpec> {
    let sinks = prop_oneof![
        Just(Sinks::File),
        Just(Sinks::FileAndSecret),
        Just(Sinks::Parameter),
        Just(Sinks::FileAndStdout),
        Just(Sinks::ParameterAndSecret),
    ];
    let keys = prop::collection::vec((any::<bool>(), 0i64..=24 * 100), 0..=2);
    (windows(), sinks, keys).prop_map(|(windows, sinks, mut keys)| {
        // Start with an Active key or none (all-Inactive starts are the planner's tests).
        if !keys.is_empty() && !keys.iter().any(|k| k.0) {
            keys[0].0 = true;
        }
        UserSpec {
            windows,
            sinks,
            keys,
        }
    })
}

fn cert_spec() -> impl Strategy<Value = CertSpec> {
    (windows(), 60u64..=400, prop::option::of(0i64..=24 * 100)).prop_map(
        |(windows, validity_days, existing)| CertSpec {
            windows,
            validity_days,
            existing,
        },
    )
}

/// Calls that change something: where crashes and lost responses matter most.
const MUTATIONS: &[Op] = &[
    Op::Create,
    Op::SetStatus,
    Op::Delete,
    Op::SecretPut,
    Op::SecretDelete,
    Op::ParameterPut,
    Op::ParameterDelete,
];

const READS: &[Op] = &[
    Op::List,
    Op::LastUsed,
    Op::SecretGet,
    Op::ParameterGet,
    Op::CallerArn,
];

fn error_kind() -> impl Strategy<Value = ErrorKind> {
    prop_oneof![
        Just(ErrorKind::Throttled),
        Just(ErrorKind::ServerError),
        Just(ErrorKind::Denied),
        Just(ErrorKind::LimitExceeded),
        Just(ErrorKind::NoSuchEntity),
    ]
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        3 => error_kind().prop_map(Fault::Fail),
        2 => prop_oneof![Just(ErrorKind::Throttled), Just(ErrorKind::ServerError)].prop_map(Fault::Lost),
        1 => Just(Fault::Retried),
        3 => any::<bool>().prop_map(|after| Fault::Crash { after }),
    ]
}

fn rule() -> impl Strategy<Value = Rule> {
    (
        prop_oneof![
            3 => prop::sample::select(MUTATIONS),
            2 => prop::sample::select(READS),
        ],
        1u32..=2,
        fault(),
    )
        .prop_map(|(op, n, fault)| {
            // IAM never answers NoSuchEntity for a credential that exists: keyrot rightly takes
            // it as "already deleted".
            let fault = match (op, fault) {
                (Op::Delete, Fault::Fail(ErrorKind::NoSuchEntity)) => {
                    Fault::Fail(ErrorKind::ServerError)
                }
                (_, f) => f,
            };
            Rule {
                op: Some(op),
                when: When::Nth(n),
                fault,
            }
        })
}

fn faults() -> impl Strategy<Value = Vec<Rule>> {
    let noise = (1u32..=25, any::<bool>()).prop_map(|(percent, lost)| Rule {
        op: None,
        when: When::Chance(f64::from(percent) / 100.0),
        fault: if lost {
            Fault::Lost(ErrorKind::ServerError)
        } else {
            Fault::Fail(ErrorKind::Throttled)
        },
    });
    prop_oneof![
        3 => Just(Vec::new()),
        5 => prop::collection::vec(rule(), 1..=3),
        1 => noise.prop_map(|r| vec![r]),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    (
        1i64..=24 * 20,
        any::<u8>(),
        prop::option::weighted(0.1, 0usize..4),
        faults(),
        any::<u64>(),
        prop::bool::weighted(0.3),
        prop::option::weighted(0.3, 0usize..4),
    )
        .prop_map(
            |(advance_h, use_mask, force, faults, seed, heal, manual)| Step {
                advance_h,
                use_mask,
                force,
                faults,
                seed,
                heal,
                manual,
            },
        )
}

/// Schedules applying `parallelism` sets at once.
pub(super) fn schedule(
    parallelism: std::ops::RangeInclusive<usize>,
) -> impl Strategy<Value = Schedule> {
    (
        prop::collection::vec(user_spec(), 1..=3),
        prop::option::weighted(0.5, cert_spec()),
        prop::collection::vec(step(), 1..=12),
        parallelism,
    )
        .prop_map(|(users, cert, steps, parallelism)| Schedule {
            users,
            cert,
            steps,
            parallelism,
        })
}
