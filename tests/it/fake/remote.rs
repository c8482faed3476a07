//! The remote half of the fake: Secrets Manager, SSM and STS (keyrot's `Remote` port)
//! over the same world, so STS knows the keys IAM made.

use super::faults::{call, About, Op};
use super::{nse, FakeRemote, World, ACCOUNT};
use keyrot::adapters::iam::IamError;
use keyrot::adapters::remote::Remote;
use keyrot::core::model::KeyStatus;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Mutex;
use zeroize::Zeroizing;

/// The remote's errors are messages.
fn remote<T>(
    world: &Mutex<World>,
    op: Op,
    name: &str,
    effect: impl FnMut(&mut World) -> Result<T, IamError>,
) -> Result<T, String> {
    let about = About {
        name: Some(name),
        ..About::default()
    };
    call(world, op, about, effect).map_err(|e| e.to_string())
}

impl Remote for FakeRemote {
    async fn secret_get(
        &self,
        id: &str,
        previous: bool,
    ) -> Result<Option<Zeroizing<String>>, String> {
        remote(&self.0, Op::SecretGet, id, |w| {
            Ok(w.secrets.get(id).and_then(|(current, prev)| {
                if previous {
                    prev.clone().map(Zeroizing::new)
                } else {
                    Some(Zeroizing::new(current.clone()))
                }
            }))
        })
    }

    async fn secret_put(&self, id: &str, value: &str, create: bool) -> Result<(), String> {
        remote(&self.0, Op::SecretPut, id, |w| {
            match w.secrets.get_mut(id) {
                Some((current, previous)) => {
                    *previous = Some(std::mem::replace(current, value.to_string()));
                    Ok(())
                }
                None if create => {
                    w.secrets.insert(id.to_string(), (value.to_string(), None));
                    Ok(())
                }
                None => Err(nse(Op::SecretPut, &format!("secret {id}"))),
            }
        })
    }

    async fn secret_delete(&self, id: &str) -> Result<(), String> {
        remote(&self.0, Op::SecretDelete, id, |w| {
            w.secrets
                .remove(id)
                .map(|_| ())
                .ok_or_else(|| nse(Op::SecretDelete, &format!("secret {id}")))
        })
    }

    async fn parameter_get(&self, name: &str) -> Result<Option<Zeroizing<String>>, String> {
        remote(&self.0, Op::ParameterGet, name, |w| {
            Ok(w.parameters.get(name).cloned().map(Zeroizing::new))
        })
    }

    async fn parameter_put(&self, name: &str, value: &str, _: Option<&str>) -> Result<(), String> {
        remote(&self.0, Op::ParameterPut, name, |w| {
            w.parameters.insert(name.to_string(), value.to_string());
            Ok(())
        })
    }

    async fn parameter_delete(&self, name: &str) -> Result<(), String> {
        remote(&self.0, Op::ParameterDelete, name, |w| {
            w.parameters
                .remove(name)
                .map(|_| ())
                .ok_or_else(|| nse(Op::ParameterDelete, &format!("parameter {name}")))
        })
    }

    async fn caller_arn(&self, key_id: &str, secret: &SecretString) -> Result<String, String> {
        remote(&self.0, Op::CallerArn, key_id, |w| {
            let found = w
                .users
                .iter()
                .find_map(|(name, u)| u.keys.iter().find(|c| c.id.0 == key_id).map(|c| (name, c)));
            match found {
                Some((name, c))
                    if c.status == KeyStatus::Active
                        && c.secret.as_deref() == Some(secret.expose_secret()) =>
                {
                    Ok(format!("arn:aws:iam::{ACCOUNT}:user/{name}"))
                }
                Some((_, c)) if c.status == KeyStatus::Active => Err(IamError::Denied {
                    operation: "GetCallerIdentity".into(),
                    message: "SignatureDoesNotMatch".into(),
                }),
                _ => Err(IamError::Denied {
                    operation: "GetCallerIdentity".into(),
                    message: "InvalidClientTokenId: the security token is invalid".into(),
                }),
            }
        })
    }
}
