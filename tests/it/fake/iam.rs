//! The IAM half of the fake: keyrot's `Iam` port over the shared world.

use super::faults::{call, About, Op};
use super::{live, nse, Cred, FakeIam, World, ACCOUNT, QUOTA};
use keyrot::adapters::iam::{Iam, IamError, NewCredential, NewKey};
use keyrot::core::model::{Address, IamUser, KeyId, KeyStatus, LastUsed, LiveKey, Time, UserQuery};
use keyrot::core::policy::PasswordPolicy;
use secrecy::SecretString;

impl World {
    fn create(&mut self, user: &str, new: NewCredential<'_>) -> Result<NewKey, IamError> {
        let kind = new.kind();
        let op = Op::Create;
        let count = self.user(op, user)?.creds(kind).len();
        if count >= QUOTA {
            self.quota_refusals += 1;
            return Err(IamError::LimitExceeded {
                operation: format!("{op:?}"),
                message: format!("Cannot exceed quota for {}PerUser: {QUOTA}", kind.as_str()),
            });
        }
        let id = self.mint(kind);
        let (secret, body) = match new {
            NewCredential::AccessKey => (Some(format!("fake/{id}/{}", self.next_random())), None),
            NewCredential::SigningCertificate { certificate_pem } => {
                (None, Some(certificate_pem.to_string()))
            }
        };
        let cred = Cred {
            id,
            status: KeyStatus::Active,
            created: self.now,
            last_used: None,
            secret,
            body,
        };
        let key = live(&cred);
        let secret = cred.secret.clone().map(SecretString::from);
        self.user(op, user)?.creds(kind).push(cred);
        Ok(NewKey { key, secret })
    }
}

impl Iam for FakeIam {
    /// Every fake user stands at path `/` with no tags.
    async fn list_users(&self, query: &UserQuery) -> Result<Vec<IamUser>, IamError> {
        let under_root = query.path_prefix.as_deref().is_none_or(|p| p == "/");
        call(&self.0, Op::ListUsers, About::default(), |w| {
            Ok(w.users
                .keys()
                .filter(|_| under_root)
                .map(|name| IamUser {
                    name: name.clone(),
                    path: "/".into(),
                    tags: Default::default(),
                })
                .collect())
        })
    }

    async fn list_credentials(&self, address: &Address) -> Result<Option<Vec<LiveKey>>, IamError> {
        let about = About {
            address: Some(address),
            ..About::default()
        };
        call(&self.0, Op::List, about, |w| {
            Ok(w.users
                .get_mut(&address.user)
                .map(|u| u.creds(address.kind).iter().map(live).collect()))
        })
    }

    async fn last_used(&self, _: &Address, key: &KeyId) -> Result<LastUsed, IamError> {
        let about = About {
            key: Some(key),
            ..About::default()
        };
        call(&self.0, Op::LastUsed, about, |w| {
            let found = w
                .users
                .values()
                .flat_map(|u| &u.keys)
                .find(|c| &c.id == key);
            match found {
                Some(c) => Ok(c.last_used.map_or(LastUsed::Never, LastUsed::At)),
                None => Err(nse(Op::LastUsed, &format!("the access key {key}"))),
            }
        })
    }

    async fn create_credential(
        &self,
        address: &Address,
        new: NewCredential<'_>,
    ) -> Result<NewKey, IamError> {
        let about = About {
            address: Some(address),
            ..About::default()
        };
        call(&self.0, Op::Create, about, |w| w.create(&address.user, new))
    }

    async fn set_credential_status(
        &self,
        address: &Address,
        id: &KeyId,
        status: KeyStatus,
    ) -> Result<(), IamError> {
        let about = About {
            address: Some(address),
            key: Some(id),
            status: Some(&status),
            ..About::default()
        };
        call(&self.0, Op::SetStatus, about, |w| {
            w.cred(Op::SetStatus, address, id)?.status = status.clone();
            Ok(())
        })
    }

    async fn delete_credential(&self, address: &Address, id: &KeyId) -> Result<(), IamError> {
        let about = About {
            address: Some(address),
            key: Some(id),
            ..About::default()
        };
        call(&self.0, Op::Delete, about, |w| {
            w.cred(Op::Delete, address, id)?;
            w.user(Op::Delete, &address.user)?
                .creds(address.kind)
                .retain(|c| &c.id != id);
            Ok(())
        })
    }

    async fn password_policy(&self) -> Result<Option<PasswordPolicy>, IamError> {
        call(&self.0, Op::GetPolicy, About::default(), |w| {
            Ok(w.policy.clone())
        })
    }

    async fn set_password_policy(&self, policy: &PasswordPolicy) -> Result<(), IamError> {
        call(&self.0, Op::SetPolicy, About::default(), |w| {
            w.policy = Some(policy.clone());
            Ok(())
        })
    }

    async fn delete_password_policy(&self) -> Result<(), IamError> {
        call(&self.0, Op::DeletePolicy, About::default(), |w| {
            w.policy
                .take()
                .map(|_| ())
                .ok_or_else(|| nse(Op::DeletePolicy, "the account password policy"))
        })
    }

    async fn credential_report(&self) -> Result<String, IamError> {
        call(&self.0, Op::CredentialReport, About::default(), |w| {
            let t = |t: Option<Time>| t.map_or("N/A".to_string(), keyrot::core::model::timestamp);
            let mut csv = String::from(
                "user,arn,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,\
                 access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,\
                 cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n",
            );
            for (name, user) in &w.users {
                csv.push_str(&format!("{name},arn:aws:iam::{ACCOUNT}:user/{name}"));
                for n in 0..QUOTA {
                    let k = user.keys.get(n);
                    csv.push_str(&format!(
                        ",{},{},{}",
                        k.is_some_and(|k| k.status == KeyStatus::Active),
                        t(k.map(|k| k.created)),
                        t(k.and_then(|k| k.last_used))
                    ));
                }
                for n in 0..QUOTA {
                    let c = user.certs.get(n);
                    csv.push_str(&format!(
                        ",{},{}",
                        c.is_some_and(|c| c.status == KeyStatus::Active),
                        t(c.map(|c| c.created))
                    ));
                }
                csv.push('\n');
            }
            Ok(csv)
        })
    }
}
