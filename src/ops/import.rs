//! `import ADDRESS KEY_ID`: a person's decision that a key marked unresolved (one an
//! interrupted create may have made) is to be managed; the next plan imports it.

use crate::core::event::{EventAction, Outcome};
use crate::core::model::{Address, KeyId};
use crate::ops::error::{Error, Result};
use crate::ops::events::Entry;
use crate::ops::session::Writer;

pub fn import<I, R>(writer: &mut Writer<I, R>, address: &Address, key: &KeyId) -> Result<()> {
    writer.refuse_if_unsettled(address)?;
    let resolved = writer
        .state
        .sets
        .get_mut(address)
        .is_some_and(|set| set.resolve(key));
    if !resolved {
        return Err(Error::Invalid(format!(
            "key {} is not an unresolved key of {address}; `keyrot plan` lists them",
            key.masked()
        )));
    }
    writer.events.record(Entry {
        address: Some(address),
        action: EventAction::ClearUnresolved,
        key: Some(key),
        outcome: Outcome::Succeeded,
        message: Some("a person decided keyrot manages it: the next plan imports it".into()),
        step: None,
    })?;
    writer.store.save(&mut writer.state)?;
    Ok(())
}
