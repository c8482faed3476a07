//! Clients per AWS account: keyrot's own (the base), and one per `account` block reached by
//! AssumeRole. An account that could not be reached keeps why, so that only its own sets
//! fail. `Accounts<I>` is itself an [`Iam`]: calls about a set go to the set's account.

use crate::adapters::iam::{Iam, IamError, NewCredential, NewKey};
use crate::core::model::{Address, IamUser, KeyId, KeyStatus, LastUsed, LiveKey, UserQuery};
use crate::core::policy::PasswordPolicy;
use std::collections::BTreeMap;

pub struct Accounts<T> {
    base: T,
    named: BTreeMap<String, Result<T, String>>,
}

impl<T> Accounts<T> {
    /// Only keyrot's own account.
    pub fn single(base: T) -> Self {
        Accounts {
            base,
            named: BTreeMap::new(),
        }
    }

    /// The base and, per account name, its client or why it could not be had.
    pub fn new(base: T, named: BTreeMap<String, Result<T, String>>) -> Self {
        Accounts { base, named }
    }

    pub fn base(&self) -> &T {
        &self.base
    }

    /// The client of `account` (`None`: the base), or why there is none.
    pub fn get(&self, account: Option<&str>) -> Result<&T, IamError> {
        let Some(name) = account else {
            return Ok(&self.base);
        };
        match self.named.get(name) {
            Some(Ok(client)) => Ok(client),
            Some(Err(message)) => Err(IamError::Account {
                account: name.to_string(),
                message: message.clone(),
            }),
            None => Err(IamError::Account {
                account: name.to_string(),
                message: "no `account` block declares it".into(),
            }),
        }
    }
}

/// Calls about a set go to the set's account; account-wide calls (the password policy,
/// who keyrot is, the credential report, users) to the base: other accounts' reports and
/// users are asked of [`Accounts::get`].
impl<I: Iam> Iam for Accounts<I> {
    async fn list_credentials(&self, address: &Address) -> Result<Option<Vec<LiveKey>>, IamError> {
        self.get(address.account())?.list_credentials(address).await
    }

    fn clock_skew(&self) -> chrono::Duration {
        self.base.clock_skew()
    }

    /// Throttled attempts across every account's client.
    fn throttled(&self) -> u64 {
        let named = self.named.values().filter_map(|c| c.as_ref().ok());
        self.base.throttled() + named.map(Iam::throttled).sum::<u64>()
    }

    /// One account's throttled attempts: each account's limit adapts to its own.
    fn throttled_in(&self, account: Option<&str>) -> u64 {
        self.get(account).map_or(0, Iam::throttled)
    }

    async fn caller_identity(&self) -> Result<Option<String>, IamError> {
        self.base.caller_identity().await
    }

    async fn list_users(&self, query: &UserQuery) -> Result<Vec<IamUser>, IamError> {
        self.base.list_users(query).await
    }

    async fn last_used(&self, address: &Address, key: &KeyId) -> Result<LastUsed, IamError> {
        self.get(address.account())?.last_used(address, key).await
    }

    async fn create_credential(
        &self,
        address: &Address,
        new: NewCredential<'_>,
    ) -> Result<NewKey, IamError> {
        self.get(address.account())?
            .create_credential(address, new)
            .await
    }

    async fn set_credential_status(
        &self,
        address: &Address,
        id: &KeyId,
        status: KeyStatus,
    ) -> Result<(), IamError> {
        self.get(address.account())?
            .set_credential_status(address, id, status)
            .await
    }

    async fn delete_credential(&self, address: &Address, id: &KeyId) -> Result<(), IamError> {
        self.get(address.account())?
            .delete_credential(address, id)
            .await
    }

    async fn password_policy(&self) -> Result<Option<PasswordPolicy>, IamError> {
        self.base.password_policy().await
    }

    async fn set_password_policy(&self, policy: &PasswordPolicy) -> Result<(), IamError> {
        self.base.set_password_policy(policy).await
    }

    async fn delete_password_policy(&self) -> Result<(), IamError> {
        self.base.delete_password_policy().await
    }

    async fn credential_report(&self) -> Result<String, IamError> {
        self.base.credential_report().await
    }
}
