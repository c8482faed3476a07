//! The ops layer's one error type. Each variant keeps its cause typed, so the CLI can map
//! it to an exit code (retry later, re-plan, fix permissions) in one place.

use crate::adapters::iam::IamError;
use crate::adapters::store::events::EventError;
use crate::adapters::store::journal::JournalError;
use crate::adapters::store::StoreError;
use crate::core::diagnostic::Diagnostic;
use crate::ops::apply::ApplyError;

/// Why `apply FILE` refuses a saved plan: each names what moved since it was made.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("plan {0} was already applied")]
    Replayed(String),
    #[error(
        "the plan was made against another state (lineage {planned}, this state is {current})"
    )]
    OtherLineage { planned: String, current: String },
    #[error(
        "saved plan is stale: state serial is {current} now, the plan was made at serial {planned}"
    )]
    Stale { planned: u64, current: u64 },
    #[error("the plan was made against {planned}, but the state is now in {current}")]
    OtherBackend { planned: String, current: String },
    #[error("the config changed since the plan was made")]
    ConfigChanged,
    #[error("live IAM no longer matches what the plan saw:\n    {}", .0.join("\n    "))]
    IamMoved(Vec<String>),
    #[error(
        "its actions are not what keyrot plans from the same state, config and IAM facts: \
         the file was edited after it was made"
    )]
    Edited,
    #[error("it was made for {planned}, which is later than now ({now}); apply it then, or pass the same --now")]
    FromTheFuture { planned: String, now: String },
    #[error(
        "it was made for {planned}, {age} ago, longer than --max-plan-age {max}: plans go stale"
    )]
    TooOld {
        planned: String,
        age: String,
        max: String,
    },
    #[error("its digest is {found}, not the reviewed {expected}: this is not the plan that was reviewed")]
    NotReviewed { expected: String, found: String },
}

/// What the CLI needs to know of an error to choose an exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Another run holds the state: retry later.
    Locked,
    /// A saved plan no longer applies: make a new plan.
    PlanRefused,
    /// AWS refused keyrot's credentials or permissions: fix them.
    AccessDenied,
    /// Anything else.
    General,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Every problem found in the config, each with file:line:column.
    #[error("{}\n{} error(s) in the config; nothing was read from IAM and state is untouched",
        .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"), .0.len())]
    Config(Vec<Diagnostic>),
    /// What selectors chose from live IAM cannot be used (a user two selectors choose).
    #[error("{}\n{} error(s) in what the selectors chose from IAM; nothing was changed",
        .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"), .0.len())]
    Selection(Vec<Diagnostic>),
    /// Input keyrot cannot use (a file, an address, a certificate pair); the message says
    /// what to do.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Events(#[from] EventError),
    #[error(transparent)]
    Iam(#[from] IamError),
    #[error("refusing to apply {file}: {refusal}\n  nothing was changed; make a new plan with `keyrot plan -out {file}` and review it")]
    Refused { file: String, refusal: Refusal },
    #[error("{source}\n  apply stopped after {done} of {total} action(s); every finished step is saved in {state}. Fix the cause and run `keyrot apply` again to continue.{failed}")]
    Apply {
        source: Box<ApplyError>,
        done: usize,
        total: usize,
        state: String,
        /// The sets that had already failed, one line each (empty when none had).
        failed: String,
    },
}

impl Error {
    pub fn class(&self) -> ErrorClass {
        let denied = IamError::is_denied;
        match self {
            Error::Store(StoreError::Locked { .. }) => ErrorClass::Locked,
            // A lost lock (fenced off) is the general error (1): the run holding the lock
            // now settles what this one left, and a retry is refused while it runs.
            Error::Refused { .. } => ErrorClass::PlanRefused,
            Error::Iam(e) if denied(e) => ErrorClass::AccessDenied,
            Error::Apply { source, .. } => match source.as_ref() {
                ApplyError::Iam { source, .. } if denied(source) => ErrorClass::AccessDenied,
                _ => ErrorClass::General,
            },
            _ => ErrorClass::General,
        }
    }
}

impl From<crate::ops::recover::RecoverError> for Error {
    fn from(e: crate::ops::recover::RecoverError) -> Self {
        match e {
            crate::ops::recover::RecoverError::Iam(e) => Error::Iam(e),
            crate::ops::recover::RecoverError::Events(e) => Error::Events(e),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
