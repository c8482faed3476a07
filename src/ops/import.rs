//! `import ADDRESS KEY_ID`: a person's decision that a key marked unresolved (one an
//! interrupted create may have made) is to be managed; the next plan imports it.

use crate::core::model::{Address, KeyId};
use crate::ops::error::{Error, Result};
use crate::ops::session::Writer;

pub fn import<I, R>(writer: &mut Writer<I, R>, address: &Address, key: &KeyId) -> Result<()> {
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
    writer.store.save(&mut writer.state)?;
    Ok(())
}
