//! `status`: each set's phase, keys, last use and next step, from a fresh plan.

use crate::adapters::accounts::Accounts;
use crate::adapters::iam::Iam;
use crate::adapters::store::journal::Intent;
use crate::core::config::Config;
use crate::core::model::{Address, Inventory, KeyId, LastUsed, Time};
use crate::core::plan::Plan;
use crate::core::plan::PlanOptions;
use crate::core::state::{Phase, State};
use crate::ops::error::Result;
use crate::ops::inventory::Reader;
use crate::ops::plan;
use std::collections::BTreeMap;

pub struct Status {
    /// The plan as of now: keys, actions due and waits per set.
    pub plan: Plan,
    /// Each set's phase as recorded in state (before this plan's steps).
    pub phases: BTreeMap<crate::core::model::Address, Phase>,
    pub last_used: BTreeMap<KeyId, LastUsed>,
    /// The steps an interrupted run left, one per set it had in flight.
    pub unfinished: Vec<Intent>,
}

pub async fn status<I: Iam>(
    reader: &mut Reader<'_, Accounts<I>>,
    config: &Config,
    state: &State,
    unfinished: Vec<Intent>,
    now: Time,
) -> Result<Status> {
    let planned = plan::make(reader, config, state, &PlanOptions::default(), now).await?;
    // Last use the plan already read is reused; only kinds IAM records it for are asked.
    let mut inv = Inventory::default();
    let mut ids: Vec<(Address, KeyId)> = Vec::new();
    for set in planned
        .plan
        .sets
        .iter()
        .filter(|s| s.address.kind.has_last_use())
    {
        for k in &set.keys {
            match &k.last_used {
                Some(used) => {
                    inv.last_used.insert(k.id.clone(), used.clone());
                }
                None => ids.push((set.address.clone(), k.id.clone())),
            }
        }
    }
    reader.last_used(&ids, &mut inv).await?;
    let phases = planned
        .plan
        .sets
        .iter()
        .map(|s| {
            let phase = state
                .sets
                .get(&s.address)
                .map_or(Phase::Empty, |t| t.phase());
            (s.address.clone(), phase)
        })
        .collect();
    Ok(Status {
        plan: planned.plan,
        phases,
        last_used: inv.last_used,
        unfinished,
    })
}
