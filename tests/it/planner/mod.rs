//! The pure planner, through the library's public API only.
//!
//! 1. `table`: every transition of the rotation state machine, one row each; `focused`:
//!    focused cases and known bugs; `credentials`: the password policy and signing
//!    certificates.
//! 2. `properties`: property tests against a small simulated IAM: ≤ 2 keys per user, every
//!    delete preceded by a deactivate, plan → apply → plan is empty, same input → same plan.
//! 3. `snapshots`: the text, JSON and markdown renderers over fixed plans (the snapshot
//!    files are named after this module path: `it__planner__snapshots__*.snap`).
//!
//! This file holds the fixtures they share.

use chrono::{Duration, TimeZone, Utc};
use keyrot::cli::render::{self, Style};
use keyrot::core::config::{Config, SetConfig, Windows};
use keyrot::core::duration::Window;
use keyrot::core::model::{Address, Inventory, KeyId, KeyIds, KeyStatus, LastUsed, LiveKey, Time};
use keyrot::core::plan::{
    Action, ActionKind, DriftKind, Plan, PlanOptions, Reason, ReasonCode, Role, SetPlan, Step,
};
use keyrot::core::planner;
use keyrot::core::state::{Phase, State, TrackedKey};
use proptest::prelude::*;

mod accounts;
mod credentials;
mod focused;
mod properties;
mod snapshots;
mod step4;
mod table;

use proptest::test_runner::TestCaseError;
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------

const OLD: &str = "AKIAOLDOLDOLDOLD0001";
const NEW: &str = "AKIANEWNEWNEWNEW0002";
const EXT: &str = "AKIAEXTEXTEXTEXT0003";
const OTH: &str = "AKIAOTHOTHOTHOTH0004";

fn day(n: i64) -> Time {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + Duration::days(n)
}

fn kid(id: &str) -> KeyId {
    KeyId(id.to_string())
}

fn addr(user: &str) -> Address {
    Address::access_key(user)
}

/// The built-in defaults: max_age 90d, overlap 7d, unused_for 3d, inactive_for 7d.
fn default_windows() -> Windows {
    let w = Windows::default();
    assert_eq!(
        (w.max_age, w.overlap, w.unused_for, w.inactive_for),
        (
            Window::days(90),
            Window::days(7),
            Window::days(3),
            Window::days(7)
        ),
        "the tables below are computed with these windows"
    );
    w
}

fn config_with(sets: &[(&str, Windows)]) -> Config {
    Config {
        aws: Default::default(),
        sets: sets
            .iter()
            .map(|(user, windows)| {
                let address = addr(user);
                (
                    address.clone(),
                    SetConfig {
                        address,
                        windows: *windows,
                        sinks: Vec::new(),
                        certificate: None,
                        selector: None,
                        require_new_key_use: false,
                        confirm: Default::default(),
                    },
                )
            })
            .collect(),
        ..Config::default()
    }
}

fn config(users: &[&str]) -> Config {
    let sets: Vec<(&str, Windows)> = users.iter().map(|u| (*u, default_windows())).collect();
    config_with(&sets)
}

fn live(id: &str, status: &str, created: Time) -> LiveKey {
    LiveKey {
        id: kid(id),
        status: KeyStatus::parse(status),
        created,
        cert: None,
    }
}

fn inventory(users: Vec<(&str, Vec<LiveKey>)>) -> Inventory {
    Inventory {
        credentials: users
            .into_iter()
            .map(|(u, keys)| (Address::access_key(u), keys))
            .collect(),
        last_used: BTreeMap::new(),
        ..Inventory::default()
    }
}

fn with_last_used(mut inv: Inventory, id: &str, used: LastUsed) -> Inventory {
    inv.last_used.insert(kid(id), used);
    inv
}

fn action(kind: ActionKind, key: Option<&str>) -> Action {
    Action {
        kind,
        key: key.map(kid),
        reason: Reason::new(ReasonCode::Recovered, "recorded by the test"),
        frees_slot: false,
    }
}

fn fresh_key(id: &str, at: Time) -> TrackedKey {
    TrackedKey {
        id: kid(id),
        status: KeyStatus::Active,
        born: at,
        status_since: at,
        delivered: Some(at),
    }
}

fn alice(keys: Vec<LiveKey>) -> Inventory {
    inventory(vec![("alice", keys)])
}

fn force_alice() -> PlanOptions {
    PlanOptions {
        force_rotate: vec![addr("alice")],
        ..PlanOptions::default()
    }
}

/// Builds states through `State::record`, the same transitions apply uses.
struct Story {
    state: State,
}

impl Story {
    fn new() -> Self {
        Story {
            state: State::new("test-lineage".into()),
        }
    }

    fn import(mut self, user: &str, role: Role, id: &str, status: &str, born: Time) -> Self {
        let kind = ActionKind::Import {
            role,
            status: KeyStatus::parse(status),
            born,
        };
        self.state
            .record(&addr(user), &action(kind, Some(id)), None, born);
        self
    }

    fn create(mut self, user: &str, id: &str, at: Time) -> Self {
        let created = fresh_key(id, at);
        self.state.record(
            &addr(user),
            &action(ActionKind::Create, None),
            Some(&created),
            at,
        );
        self
    }

    fn deactivate(mut self, user: &str, id: &str, at: Time) -> Self {
        self.state.record(
            &addr(user),
            &action(ActionKind::Deactivate, Some(id)),
            None,
            at,
        );
        self
    }

    fn reactivate(mut self, user: &str, id: &str, at: Time) -> Self {
        self.state.record(
            &addr(user),
            &action(ActionKind::Reactivate, Some(id)),
            None,
            at,
        );
        self
    }

    fn done(self) -> State {
        self.state
    }
}

/// alice tracks OLD (born day 0) as her current key.
fn steady() -> Story {
    Story::new().import("alice", Role::Current, OLD, "Active", day(0))
}

/// alice rotated on day 90: NEW is current, OLD (still Active) is previous.
fn overlap() -> Story {
    steady().create("alice", NEW, day(90))
}

/// OLD was deactivated on day 98: the checkpoint.
fn inactive() -> Story {
    overlap().deactivate("alice", OLD, day(98))
}

/// Rolled back on day 101: OLD is Active again and the rotation held.
fn held() -> Story {
    inactive().reactivate("alice", OLD, day(101))
}

fn live_overlap() -> Vec<LiveKey> {
    vec![live(OLD, "Active", day(0)), live(NEW, "Active", day(90))]
}

fn live_inactive() -> Vec<LiveKey> {
    vec![live(OLD, "Inactive", day(0)), live(NEW, "Active", day(90))]
}

fn set<'a>(plan: &'a Plan, user: &str) -> &'a SetPlan {
    plan.sets
        .iter()
        .find(|s| s.address == addr(user))
        .unwrap_or_else(|| panic!("no set for {user} in {plan:#?}"))
}

/// An expected action: kind, key, reason code, frees_slot.
type Act = (ActionKind, Option<KeyId>, String, bool);
/// An expected wait: step, key, due, reason code.
type Wt = (Step, Option<KeyId>, Option<Time>, String);

fn acts(set: &SetPlan) -> Vec<Act> {
    set.actions
        .iter()
        .map(|a| {
            (
                a.kind.clone(),
                a.key.clone(),
                a.reason.code.as_str().to_string(),
                a.frees_slot,
            )
        })
        .collect()
}

fn waits(set: &SetPlan) -> Vec<Wt> {
    set.waits
        .iter()
        .map(|w| {
            (
                w.step,
                w.key.clone(),
                w.due,
                w.reason.code.as_str().to_string(),
            )
        })
        .collect()
}

fn drift(set: &SetPlan) -> Vec<(KeyId, DriftKind)> {
    set.drift
        .iter()
        .map(|d| (d.key.clone(), d.kind.clone()))
        .collect()
}

fn imp(role: Role, status: &str, born: Time, id: &str) -> Act {
    let kind = ActionKind::Import {
        role,
        status: KeyStatus::parse(status),
        born,
    };
    (kind, Some(kid(id)), "untracked_key".to_string(), false)
}

fn create(code: &'static str) -> Act {
    (ActionKind::Create, None, code.to_string(), false)
}

fn deactivate(id: &str) -> Act {
    (
        ActionKind::Deactivate,
        Some(kid(id)),
        "overlap_done_unused".to_string(),
        false,
    )
}

fn delete(id: &str) -> Act {
    (
        ActionKind::Delete,
        Some(kid(id)),
        "inactive_for".to_string(),
        false,
    )
}

fn delete_freeing(id: &str) -> Act {
    (
        ActionKind::Delete,
        Some(kid(id)),
        "inactive_for".to_string(),
        true,
    )
}

fn refresh(id: &str, status: &str, hold: bool) -> Act {
    let kind = ActionKind::Refresh {
        status: KeyStatus::parse(status),
        hold,
    };
    (
        kind,
        Some(kid(id)),
        "status_changed_outside".to_string(),
        false,
    )
}

fn untrack(id: &str) -> Act {
    (
        ActionKind::Untrack,
        Some(kid(id)),
        "deleted_outside".to_string(),
        false,
    )
}

fn wait(step: Step, id: Option<&str>, due: Option<Time>, code: &'static str) -> Wt {
    (step, id.map(kid), due, code.to_string())
}

fn status_changed(id: &str, from: &str, to: &str) -> (KeyId, DriftKind) {
    let kind = DriftKind::StatusChanged {
        from: KeyStatus::parse(from),
        to: KeyStatus::parse(to),
    };
    (kid(id), kind)
}
