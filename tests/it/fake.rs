//! An in-memory IAM and remote (Secrets Manager, SSM, STS) behind keyrot's ports, with
//! failure injection per call and a crash hook, in the manner of mountpoint-s3's mock and
//! failure clients.
//!
//! `FakeIam` and `FakeRemote` are two views of one `World` (an `Arc<Mutex<_>>`): STS knows
//! the keys IAM made. Every call goes through `call`, which counts it, logs it and
//! applies the first armed [`Rule`] that matches: fail before the effect, lose the response
//! after it, let the SDK retry it, or crash the "process" (a panic with a [`Crashed`]
//! payload, which a test catches with `catch_unwind` around the whole command, leaving the
//! state and journal files as a kill would).

// A toolkit for several suites: not every suite uses every part.
#![allow(dead_code)]

use keyrot::adapters::iam::{Iam, IamError, NewCredential, NewKey};
use keyrot::adapters::remote::Remote;
use keyrot::core::model::{Address, CredentialKind, KeyId, KeyStatus, LastUsed, LiveKey, Time};
use keyrot::core::policy::PasswordPolicy;
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use zeroize::Zeroizing;

/// IAM's quota of credentials per user, per kind, Inactive ones included.
pub const QUOTA: usize = 2;
pub const ACCOUNT: &str = "123456789012";

/// The calls the fake answers, IAM's and the remote's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    List,
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

#[derive(Clone, Debug)]
struct Cred {
    id: KeyId,
    status: KeyStatus,
    created: Time,
    last_used: Option<Time>,
    secret: Option<String>,
    body: Option<String>,
}

#[derive(Default, Debug)]
struct User {
    keys: Vec<Cred>,
    certs: Vec<Cred>,
}

impl User {
    fn creds(&mut self, kind: CredentialKind) -> &mut Vec<Cred> {
        match kind {
            CredentialKind::AccessKey => &mut self.keys,
            CredentialKind::SigningCertificate => &mut self.certs,
        }
    }
}

#[derive(Debug)]
struct World {
    now: Time,
    users: BTreeMap<String, User>,
    next_id: u64,
    policy: Option<PasswordPolicy>,
    /// Secret id → (AWSCURRENT, AWSPREVIOUS).
    secrets: BTreeMap<String, (String, Option<String>)>,
    parameters: BTreeMap<String, String>,
    rules: Vec<Rule>,
    counts: BTreeMap<Option<Op>, u32>,
    rng: u64,
    log: Vec<Call>,
    faults_fired: u32,
    quota_refusals: u32,
    issued: Vec<KeyId>,
}

fn nse(op: Op, what: &str) -> IamError {
    IamError::NoSuchEntity {
        operation: format!("{op:?}"),
        message: format!("{what} cannot be found"),
    }
}

impl World {
    fn user(&mut self, op: Op, name: &str) -> Result<&mut User, IamError> {
        self.users
            .get_mut(name)
            .ok_or_else(|| nse(op, &format!("the user with name {name}")))
    }

    fn cred(&mut self, op: Op, address: &Address, id: &KeyId) -> Result<&mut Cred, IamError> {
        self.user(op, &address.user)?
            .creds(address.kind)
            .iter_mut()
            .find(|c| &c.id == id)
            .ok_or_else(|| nse(op, &format!("the credential {id}")))
    }

    fn next_random(&mut self) -> f64 {
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

    fn mint(&mut self, kind: CredentialKind) -> KeyId {
        self.next_id += 1;
        let id = match kind {
            CredentialKind::AccessKey => KeyId(format!("AKIAFAKE{:012}", self.next_id)),
            CredentialKind::SigningCertificate => KeyId(format!("FAKECERT{:024}", self.next_id)),
        };
        self.issued.push(id.clone());
        id
    }

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

fn live(c: &Cred) -> LiveKey {
    LiveKey {
        id: c.id.clone(),
        status: c.status.clone(),
        created: c.created,
        cert: c
            .body
            .as_deref()
            .and_then(|b| keyrot::adapters::certs::inspect(b).ok()),
    }
}

/// The IAM half; clones share one world.
#[derive(Clone, Debug)]
pub struct FakeIam(Arc<Mutex<World>>);

/// The remote half: Secrets Manager, SSM and STS over the same world.
#[derive(Clone, Debug)]
pub struct FakeRemote(Arc<Mutex<World>>);

fn lock(world: &Mutex<World>) -> MutexGuard<'_, World> {
    // A crash panics with the lock released, but never let a poisoned lock hide a bug.
    world.lock().unwrap_or_else(|e| e.into_inner())
}

/// What one call is about, for the log.
#[derive(Default)]
struct About<'a> {
    address: Option<&'a Address>,
    key: Option<&'a KeyId>,
    status: Option<&'a KeyStatus>,
    name: Option<&'a str>,
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
fn call<T>(
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
    pub fn new(now: Time) -> Self {
        FakeIam(Arc::new(Mutex::new(World {
            now,
            users: BTreeMap::new(),
            next_id: 0,
            policy: None,
            secrets: BTreeMap::new(),
            parameters: BTreeMap::new(),
            rules: Vec::new(),
            counts: BTreeMap::new(),
            rng: 0,
            log: Vec::new(),
            faults_fired: 0,
            quota_refusals: 0,
            issued: Vec::new(),
        })))
    }

    fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.0)
    }

    pub fn remote(&self) -> FakeRemote {
        FakeRemote(self.0.clone())
    }

    // --- setting the scene (no faults, not logged) ---

    pub fn now(&self) -> Time {
        self.world().now
    }

    pub fn set_now(&self, now: Time) {
        self.world().now = now;
    }

    pub fn add_user(&self, name: &str) {
        self.world().users.entry(name.to_string()).or_default();
    }

    /// A credential made outside keyrot (for certificates, pass the PEM body).
    pub fn seed(
        &self,
        address: &Address,
        status: KeyStatus,
        created: Time,
        body: Option<&str>,
    ) -> KeyId {
        let mut w = self.world();
        let id = w.mint(address.kind);
        let secret = (address.kind == CredentialKind::AccessKey).then(|| format!("seeded/{id}"));
        w.users
            .entry(address.user.clone())
            .or_default()
            .creds(address.kind)
            .push(Cred {
                id: id.clone(),
                status,
                created,
                last_used: None,
                secret,
                body: body.map(str::to_string),
            });
        id
    }

    /// Out-of-band use of an access key (what GetAccessKeyLastUsed then says).
    pub fn set_last_used(&self, id: &KeyId, at: Time) {
        let mut w = self.world();
        for user in w.users.values_mut() {
            for c in user.keys.iter_mut().filter(|c| &c.id == id) {
                c.last_used = Some(at);
            }
        }
    }

    // --- faults ---

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

    // --- looking (no faults, not logged) ---

    /// The credentials of one set as IAM holds them; `None` when the user does not exist.
    pub fn credentials(&self, address: &Address) -> Option<Vec<LiveKey>> {
        let mut w = self.world();
        let user = w.users.get_mut(&address.user)?;
        Some(user.creds(address.kind).iter().map(live).collect())
    }

    pub fn log(&self) -> Vec<Call> {
        self.world().log.clone()
    }

    pub fn log_len(&self) -> usize {
        self.world().log.len()
    }

    pub fn faults_fired(&self) -> u32 {
        self.world().faults_fired
    }

    /// Creates IAM refused because the user already had `QUOTA` credentials of the kind.
    pub fn quota_refusals(&self) -> u32 {
        self.world().quota_refusals
    }

    /// Every credential id the fake ever made, deleted ones included.
    pub fn issued(&self) -> Vec<KeyId> {
        self.world().issued.clone()
    }

    /// AWSCURRENT and AWSPREVIOUS of a secret.
    pub fn secret(&self, id: &str) -> Option<(String, Option<String>)> {
        self.world().secrets.get(id).cloned()
    }

    pub fn parameter(&self, name: &str) -> Option<String> {
        self.world().parameters.get(name).cloned()
    }
}

impl Iam for FakeIam {
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

    async fn last_used(&self, key: &KeyId) -> Result<LastUsed, IamError> {
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
        user: &str,
        new: NewCredential<'_>,
    ) -> Result<NewKey, IamError> {
        let address = Address {
            user: user.to_string(),
            kind: new.kind(),
        };
        let about = About {
            address: Some(&address),
            ..About::default()
        };
        call(&self.0, Op::Create, about, |w| w.create(user, new))
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

// ---------------------------------------------------------------------------------------
// The fake itself behaves like IAM where keyrot relies on it.
// ---------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    fn t0() -> Time {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    fn block<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn quota_unknowns_status_and_sts() {
        let iam = FakeIam::new(t0());
        let remote = iam.remote();
        let a = Address::access_key("ci");
        assert_eq!(block(iam.list_credentials(&a)).unwrap(), None);
        assert!(block(iam.create_credential("ci", NewCredential::AccessKey))
            .unwrap_err()
            .is_no_such_entity());
        iam.add_user("ci");
        let k1 = block(iam.create_credential("ci", NewCredential::AccessKey)).unwrap();
        let k2 = block(iam.create_credential("ci", NewCredential::AccessKey)).unwrap();
        let third = block(iam.create_credential("ci", NewCredential::AccessKey)).unwrap_err();
        assert!(matches!(third, IamError::LimitExceeded { .. }), "{third}");
        assert_eq!(iam.quota_refusals(), 1);
        assert_eq!(k1.key.created, t0());
        let secret = k1.secret.as_ref().unwrap();
        assert_eq!(
            block(remote.caller_arn(&k1.key.id.0, secret)).unwrap(),
            "arn:aws:iam::123456789012:user/ci"
        );
        assert!(block(remote.caller_arn(&k2.key.id.0, secret)).is_err());
        block(iam.set_credential_status(&a, &k1.key.id, KeyStatus::Inactive)).unwrap();
        assert!(block(remote.caller_arn(&k1.key.id.0, secret)).is_err());
        block(iam.delete_credential(&a, &k1.key.id)).unwrap();
        assert!(block(iam.delete_credential(&a, &k1.key.id))
            .unwrap_err()
            .is_no_such_entity());
        assert_eq!(iam.credentials(&a).unwrap().len(), 1);
        iam.set_last_used(&k2.key.id, t0());
        assert_eq!(
            block(iam.last_used(&k2.key.id)).unwrap(),
            LastUsed::At(t0())
        );
        let report = block(iam.credential_report()).unwrap();
        assert!(report.contains("ci,arn:aws:iam::123456789012:user/ci,true"));
        let ops: Vec<Op> = iam.log().iter().map(|c| c.op).collect();
        assert_eq!(ops[..3], [Op::List, Op::Create, Op::Create]);
    }

    #[test]
    fn secrets_keep_the_previous_version_and_policy_round_trips() {
        let iam = FakeIam::new(t0());
        let remote = iam.remote();
        assert!(block(remote.secret_put("s", "one", false)).is_err());
        block(remote.secret_put("s", "one", true)).unwrap();
        block(remote.secret_put("s", "two", false)).unwrap();
        assert_eq!(iam.secret("s"), Some(("two".into(), Some("one".into()))));
        assert_eq!(
            block(remote.secret_get("s", true)).unwrap().as_deref(),
            Some(&"one".to_string())
        );
        block(remote.parameter_put("p", "v", None)).unwrap();
        assert_eq!(iam.parameter("p").as_deref(), Some("v"));
        assert_eq!(block(iam.password_policy()).unwrap(), None);
        let policy = PasswordPolicy::default();
        block(iam.set_password_policy(&policy)).unwrap();
        assert_eq!(block(iam.password_policy()).unwrap(), Some(policy));
        block(iam.delete_password_policy()).unwrap();
        assert!(block(iam.delete_password_policy()).is_err());
    }

    #[test]
    fn faults_fail_lose_retry_and_crash() {
        quiet_crashes();
        let iam = FakeIam::new(t0());
        iam.add_user("ci");
        let a = Address::access_key("ci");
        let rule = |n, fault| Rule {
            op: Some(Op::Create),
            when: When::Nth(n),
            fault,
        };
        iam.arm(
            vec![
                rule(1, Fault::Fail(ErrorKind::Throttled)),
                rule(2, Fault::Lost(ErrorKind::ServerError)),
                rule(3, Fault::Retried),
            ],
            7,
        );
        let create = || block(iam.create_credential("ci", NewCredential::AccessKey));
        assert!(matches!(create(), Err(IamError::Other { .. })));
        assert_eq!(
            iam.credentials(&a).unwrap().len(),
            0,
            "failed before the effect"
        );
        assert!(create().is_err());
        assert_eq!(
            iam.credentials(&a).unwrap().len(),
            1,
            "lost after the effect"
        );
        assert!(matches!(create(), Err(IamError::LimitExceeded { .. })));
        assert_eq!(
            iam.credentials(&a).unwrap().len(),
            2,
            "the retry hit the quota"
        );
        iam.disarm();
        let id = iam.credentials(&a).unwrap()[0].id.clone();
        block(iam.delete_credential(&a, &id)).unwrap();
        iam.arm(vec![rule(1, Fault::Crash { after: true })], 7);
        let crashed = block(
            std::panic::AssertUnwindSafe(iam.create_credential("ci", NewCredential::AccessKey))
                .catch_unwind(),
        )
        .unwrap_err();
        assert!(crashed.is::<Crashed>());
        assert_eq!(
            iam.credentials(&a).unwrap().len(),
            2,
            "crashed after the effect"
        );
        // The world is still usable after a crash.
        assert!(block(iam.list_credentials(&a)).is_ok());
        assert_eq!(iam.faults_fired(), 4);
        iam.arm(
            vec![Rule {
                op: None,
                when: When::Chance(0.5),
                fault: Fault::Fail(ErrorKind::Denied),
            }],
            42,
        );
        let failed = (0..200)
            .filter(|_| block(iam.list_credentials(&a)).is_err())
            .count();
        assert!((60..140).contains(&failed), "{failed}");
    }
}
