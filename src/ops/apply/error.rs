//! What can go wrong applying a step, and which failures stop every set.

use crate::adapters::iam::IamError;
use crate::adapters::sinks::SinkError;
use crate::adapters::store::events::EventError;
use crate::adapters::store::journal::JournalError;
use crate::adapters::store::StoreError;
use crate::core::model::Address;
use crate::ops::recover::RecoverError;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{address}: {source}")]
    Iam {
        address: Address,
        source: Box<IamError>,
    },
    #[error("{address}: {source}; the new key {key} was deleted again, nothing was changed for this set")]
    Delivery {
        address: Address,
        key: String,
        source: Box<SinkError>,
    },
    #[error("{address}: the new key {key} never worked: {message}; it was deleted again, nothing was changed for this set")]
    Unverified {
        address: Address,
        key: String,
        message: String,
    },
    #[error("{address}: {cause}; and deleting the undelivered new credential {key} failed too ({delete_error}): the next `keyrot apply` retries, or delete it by hand with `{by_hand}`")]
    Orphan {
        address: Box<Address>,
        key: String,
        cause: String,
        delete_error: Box<IamError>,
        by_hand: String,
    },
    #[error("{address}: {message}")]
    Changed { address: Address, message: String },
    #[error("{address}: no certificate to upload: {message}")]
    Certificate { address: Address, message: String },
    #[error("account password policy: {0}")]
    Policy(IamError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Events(#[from] EventError),
    /// A failed step's event could not be written.
    #[error("{source}; the step it was to record had failed: {step}")]
    EventLost {
        source: EventError,
        step: Box<ApplyError>,
    },
    #[error("{address} is not in the config")]
    NotConfigured { address: Address },
    /// A failed step's journal intent could not be settled; apply stops so no later step
    /// overwrites it (the next run reconciles it first).
    #[error("{0}; its journal entry is kept for the next run to reconcile")]
    Unsettled(Box<ApplyError>),
    /// The set's interrupted step from an earlier run is still in the journal (recovery
    /// could not settle it): its steps wait for the run that does.
    #[error("{address}: an interrupted {op} from an earlier run could not be settled yet (see above); this set waits, and the next run settles it first")]
    Interrupted { address: Address, op: String },
    /// A confirm check failed and the revert it started failed too: nothing was deleted,
    /// and the next apply runs the checks (and the revert) again.
    #[error("{address}: confirm check failed ({checks}), and reactivating the old key failed: {source}; nothing was deleted, the next apply runs the checks again")]
    Revert {
        address: Address,
        checks: String,
        source: Box<ApplyError>,
    },
}

impl ApplyError {
    /// A failure no other set can get past (state or journal cannot be written, the
    /// credentials are refused): apply stops at once. Any other stays with its set.
    pub fn stops_everything(&self) -> bool {
        match self {
            ApplyError::Store(_)
            | ApplyError::Journal(_)
            | ApplyError::Unsettled(_)
            | ApplyError::Events(_)
            | ApplyError::EventLost { .. } => true,
            ApplyError::Revert { source, .. } => source.stops_everything(),
            ApplyError::Iam { source, .. } => source.stops_every_set(),
            ApplyError::Policy(source) => source.stops_every_set(),
            _ => false,
        }
    }
}

/// Recovery's failure as the set's error (its own events are written).
pub(super) fn recover_error(address: &Address, e: RecoverError) -> ApplyError {
    match e {
        RecoverError::Iam(source) => iam_error(address, source),
        RecoverError::Events(e) => ApplyError::Events(e),
    }
}

pub(super) fn iam_error(address: &Address, source: IamError) -> ApplyError {
    ApplyError::Iam {
        address: address.clone(),
        source: Box::new(source),
    }
}
