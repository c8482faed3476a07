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

mod faults;
mod iam;
mod remote;
#[cfg(test)]
mod tests;

pub use faults::{quiet_crashes, Call, Crashed, ErrorKind, Fault, Op, Rule, When};

use keyrot::adapters::iam::IamError;
use keyrot::core::model::{Address, CredentialKind, KeyId, KeyStatus, LiveKey, Time};
use keyrot::core::policy::PasswordPolicy;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// IAM's quota of credentials per user, per kind, Inactive ones included.
pub const QUOTA: usize = 2;
pub const ACCOUNT: &str = "123456789012";

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

    fn mint(&mut self, kind: CredentialKind) -> KeyId {
        self.next_id += 1;
        let id = match kind {
            CredentialKind::AccessKey => KeyId(format!("AKIAFAKE{:012}", self.next_id)),
            CredentialKind::SigningCertificate => KeyId(format!("FAKECERT{:024}", self.next_id)),
        };
        self.issued.push(id.clone());
        id
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
