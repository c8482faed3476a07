//! Properties of the planner against a simulated IAM.

use super::*;

// ---------------------------------------------------------------------------------------
// 2. Properties, against a simulated IAM
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct InitKey {
    active: bool,
    age_h: i64,
    /// Hours before the start it was last used; `None`: never.
    used_ago_h: Option<i64>,
}

#[derive(Clone, Debug)]
struct InitUser {
    exists: bool,
    windows: Windows,
    keys: Vec<InitKey>,
}

#[derive(Clone, Debug)]
struct SimStep {
    advance_h: i64,
    /// Bit `2*user + key`: that Active key is used at this step's `now`.
    use_mask: u8,
    /// Force-rotate this user's set at this step.
    force: Option<usize>,
}

#[derive(Clone, Debug)]
struct Scenario {
    users: Vec<InitUser>,
    steps: Vec<SimStep>,
}

/// Which inputs a property run draws from.
#[derive(Clone, Copy, Debug)]
struct Inputs {
    /// Let `overlap` and `inactive_for` be zero, so the next step can be due at once.
    zero_windows: bool,
    /// Also start users with keys none of which is Active (the known-bug inputs).
    any_start: bool,
}

fn hours(h: u64) -> Window {
    Window::from_secs(h * 3_600)
}

fn windows_strategy(zero_windows: bool) -> impl Strategy<Value = Windows> {
    let least = u64::from(!zero_windows);
    // Hour granularity, so due times often fall exactly on a step's `now`.
    (
        1u64..=24 * 120,
        least..=24 * 14,
        0u64..=24 * 7,
        least..=24 * 14,
    )
        .prop_map(|(max_age, overlap, unused_for, inactive_for)| Windows {
            max_age: hours(max_age),
            overlap: hours(overlap),
            unused_for: hours(unused_for),
            inactive_for: hours(inactive_for),
        })
}

fn init_key() -> impl Strategy<Value = InitKey> {
    (
        any::<bool>(),
        0i64..=24 * 200,
        prop::option::of(0i64..=24 * 30),
    )
        .prop_map(|(active, age_h, used_ago_h)| InitKey {
            active,
            age_h,
            used_ago_h,
        })
}

fn scenario(inputs: Inputs) -> impl Strategy<Value = Scenario> {
    let user = (
        prop::bool::weighted(0.9),
        windows_strategy(inputs.zero_windows),
        prop::collection::vec(init_key(), 0..=2),
    )
        .prop_map(move |(exists, windows, mut keys)| {
            if !inputs.any_start && !keys.is_empty() && !keys.iter().any(|k| k.active) {
                keys[0].active = true;
            }
            InitUser {
                exists,
                windows,
                keys,
            }
        });
    let step = (
        1i64..=24 * 20,
        any::<u8>(),
        any::<u8>(),
        prop::option::weighted(0.1, 0usize..3),
    )
        .prop_map(|(advance_h, a, b, force)| SimStep {
            advance_h,
            use_mask: a & b,
            force,
        });
    (
        prop::collection::vec(user, 1..=3),
        prop::collection::vec(step, 1..=30),
    )
        .prop_map(|(users, steps)| Scenario { users, steps })
}

/// What the property checks remember about a key across plans.
#[derive(Default)]
struct KeyHistory {
    /// Status when keyrot first imported it.
    imported_as: Option<KeyStatus>,
    /// Index of the applied plan that deactivated it.
    deactivated_in: Option<usize>,
}

fn user_name(i: usize) -> String {
    format!("u{i}")
}

/// A tiny IAM (keys per user, when each key was last used), keyrot's state, and what the
/// checks remember.
struct Harness {
    config: Config,
    keys: BTreeMap<String, Vec<LiveKey>>,
    last_used: BTreeMap<KeyId, Time>,
    created: u32,
    state: State,
    history: BTreeMap<KeyId, KeyHistory>,
    /// How many plans have been applied.
    plans: usize,
}

impl Harness {
    fn new(sc: &Scenario, start: Time) -> Self {
        let sets: Vec<(String, Windows)> = sc
            .users
            .iter()
            .enumerate()
            .map(|(i, u)| (user_name(i), u.windows))
            .collect();
        let set_refs: Vec<(&str, Windows)> = sets.iter().map(|(u, w)| (u.as_str(), *w)).collect();
        let mut h = Harness {
            config: config_with(&set_refs),
            keys: BTreeMap::new(),
            last_used: BTreeMap::new(),
            created: 0,
            state: State::new("prop-lineage".into()),
            history: BTreeMap::new(),
            plans: 0,
        };
        for (ui, u) in sc.users.iter().enumerate() {
            if !u.exists {
                continue;
            }
            let mut list = Vec::new();
            for (ki, k) in u.keys.iter().enumerate() {
                let id = KeyId(format!("AKIAINITU{ui}K{ki}000000"));
                let created = start - Duration::hours(k.age_h);
                if let Some(ago) = k.used_ago_h {
                    let used = (start - Duration::hours(ago)).max(created);
                    h.last_used.insert(id.clone(), used);
                }
                let status = if k.active {
                    KeyStatus::Active
                } else {
                    KeyStatus::Inactive
                };
                list.push(LiveKey {
                    id,
                    status,
                    created,
                    cert: None,
                });
            }
            h.keys.insert(user_name(ui), list);
        }
        h
    }

    /// Consumers use the Active keys picked by `mask` at `now`.
    fn use_keys(&mut self, mask: u8, now: Time) {
        for (ui, list) in self.keys.values().enumerate() {
            for (ki, k) in list.iter().enumerate() {
                let bit = 2 * ui + ki;
                if k.status == KeyStatus::Active && bit < 8 && mask & (1 << bit) != 0 {
                    self.last_used.insert(k.id.clone(), now);
                }
            }
        }
    }

    /// Inventory as the CLI reads it: keys oldest first, evidence only where needed.
    fn inventory(&self, now: Time) -> Inventory {
        let mut keys = self.keys.clone();
        for list in keys.values_mut() {
            list.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        }
        let mut inv = Inventory {
            credentials: keys
                .into_iter()
                .map(|(user, list)| (Address::access_key(user), list))
                .collect(),
            last_used: BTreeMap::new(),
            ..Inventory::default()
        };
        for id in planner::evidence_needed(&self.config, &inv, &self.state, now) {
            let used = self
                .last_used
                .get(&id)
                .map_or(LastUsed::Never, |t| LastUsed::At(*t));
            inv.last_used.insert(id, used);
        }
        inv
    }

    fn plan(&self, now: Time, options: &PlanOptions) -> Plan {
        planner::plan(
            &self.config,
            &self.inventory(now),
            &self.state,
            now,
            options,
        )
    }

    /// Plans, checks the plan, applies it to the simulated IAM and the state, checks again.
    fn plan_and_apply(&mut self, now: Time, options: &PlanOptions) -> Result<(), TestCaseError> {
        let inv = self.inventory(now);
        let plan = planner::plan(&self.config, &inv, &self.state, now, options);
        let text = render::text::plan(&plan, Style { color: false }, KeyIds::Masked);
        let json = render::json::plan(&plan, KeyIds::Masked).to_string();

        // Same input, same plan, byte for byte.
        let twice = planner::plan(&self.config, &inv, &self.state, now, options);
        prop_assert_eq!(&plan, &twice);
        prop_assert_eq!(
            &text,
            &render::text::plan(&twice, Style { color: false }, KeyIds::Masked)
        );
        prop_assert_eq!(
            &json,
            &render::json::plan(&twice, KeyIds::Masked).to_string()
        );

        // Nothing but keyrot changes IAM here, so there is never drift.
        prop_assert_eq!(plan.drift_count(), 0, "spurious drift\n{}", text);

        let index = self.plans;
        self.plans += 1;
        for (si, ai) in plan.execution_order() {
            let set = &plan.sets[si];
            let a = &set.actions[ai];
            let user = set.address.user.as_str();
            let mut created = None;
            match &a.kind {
                ActionKind::Create => {
                    let list = self.keys.get_mut(user);
                    prop_assert!(list.is_some(), "create for missing user {}\n{}", user, text);
                    let list = list.unwrap();
                    prop_assert!(
                        list.len() < planner::KEYS_PER_USER,
                        "create for {} which already has {} keys: IAM refuses\n{}",
                        user,
                        list.len(),
                        text
                    );
                    self.created += 1;
                    let id = KeyId(format!("AKIASIMNEW{:010}", self.created));
                    list.push(LiveKey {
                        id: id.clone(),
                        status: KeyStatus::Active,
                        created: now,
                        cert: None,
                    });
                    created = Some(TrackedKey {
                        id,
                        status: KeyStatus::Active,
                        born: now,
                        status_since: now,
                        delivered: Some(now),
                    });
                }
                ActionKind::Deactivate | ActionKind::Reactivate => {
                    let to = if a.kind == ActionKind::Deactivate {
                        KeyStatus::Inactive
                    } else {
                        KeyStatus::Active
                    };
                    let key = self
                        .keys
                        .get_mut(user)
                        .and_then(|l| l.iter_mut().find(|k| Some(&k.id) == a.key.as_ref()));
                    prop_assert!(
                        key.is_some(),
                        "{} of a missing key\n{}",
                        a.kind.name(),
                        text
                    );
                    let key = key.unwrap();
                    prop_assert_ne!(&key.status, &to, "{} is a no-op\n{}", a.kind.name(), text);
                    key.status = to;
                    if a.kind == ActionKind::Deactivate {
                        let id = a.key.clone().unwrap();
                        self.history.entry(id).or_default().deactivated_in = Some(index);
                    }
                }
                // The simulated sets declare no confirm checks.
                ActionKind::Confirm => prop_assert!(false, "confirm without checks\n{}", text),
                ActionKind::Delete => {
                    let id = a.key.clone().unwrap();
                    let h = self.history.entry(id.clone()).or_default();
                    let deactivated_earlier = h.deactivated_in.is_some_and(|p| p < index);
                    let imported_inactive = h.imported_as == Some(KeyStatus::Inactive);
                    prop_assert!(
                        deactivated_earlier || imported_inactive,
                        "delete of {} with no deactivate in an earlier plan \
                         (deactivated in plan {:?}, this is plan {}, imported as {:?})\n{}",
                        id,
                        h.deactivated_in,
                        index,
                        h.imported_as,
                        text
                    );
                    let list = self.keys.get_mut(user).unwrap();
                    let pos = list.iter().position(|k| k.id == id);
                    prop_assert!(pos.is_some(), "delete of a missing key {}\n{}", id, text);
                    let removed = list.remove(pos.unwrap());
                    prop_assert_eq!(
                        removed.status,
                        KeyStatus::Inactive,
                        "deleted an Active key\n{}",
                        text
                    );
                }
                ActionKind::Import { status, .. } => {
                    let id = a.key.clone().unwrap();
                    let h = self.history.entry(id).or_default();
                    if h.imported_as.is_none() {
                        h.imported_as = Some(status.clone());
                    }
                }
                ActionKind::Refresh { .. } | ActionKind::Untrack | ActionKind::Forget => {}
            }
            self.state.record(&set.address, a, created.as_ref(), now);
        }
        for (user, list) in &self.keys {
            prop_assert!(
                list.len() <= planner::KEYS_PER_USER,
                "{} has {} keys\n{}",
                user,
                list.len(),
                text
            );
        }
        Ok(())
    }
}

/// With every window non-zero, re-planning at the same instant after an apply is empty.
/// With zero windows the next step can fall due at that same instant (the planner takes one
/// step per run by design: create, deactivate and delete are never in one plan), so then
/// the re-plans must settle within `extra_rounds` more applied plans.
fn run_scenario(sc: &Scenario, extra_rounds: usize) -> Result<(), TestCaseError> {
    let start = day(1000);
    let mut h = Harness::new(sc, start);
    let mut now = start;
    for (i, step) in sc.steps.iter().enumerate() {
        now += Duration::hours(step.advance_h);
        h.use_keys(step.use_mask, now);
        let options = PlanOptions {
            force_rotate: step
                .force
                .filter(|u| *u < sc.users.len())
                .map(|u| vec![addr(&user_name(u))])
                .unwrap_or_default(),
            ..PlanOptions::default()
        };
        h.plan_and_apply(now, &options)?;
        // `force_rotate` is a one-shot request: a re-plan is the next plain `keyrot plan`.
        let plain = PlanOptions::default();
        let mut rounds = 0;
        loop {
            let again = h.plan(now, &plain);
            if !again.summary().has_actions() {
                break;
            }
            prop_assert!(
                rounds < extra_rounds,
                "step {}: re-plan after {} re-applies at the same instant still has actions:\n{}",
                i,
                rounds,
                render::text::plan(&again, Style { color: false }, KeyIds::Masked)
            );
            rounds += 1;
            h.plan_and_apply(now, &plain)?;
        }
    }
    Ok(())
}

fn prop_config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(prop_config())]

    /// Non-zero overlap and inactive_for; every user starts with an Active key or none.
    #[test]
    fn rotation_invariants(
        sc in scenario(Inputs { zero_windows: false, any_start: false })
    ) {
        run_scenario(&sc, 0)?;
    }

    /// Windows may be zero: at one instant, at most deactivate and delete can follow.
    #[test]
    fn rotation_invariants_zero_windows(
        sc in scenario(Inputs { zero_windows: true, any_start: false })
    ) {
        run_scenario(&sc, 2)?;
    }

    /// Also users whose keys are all Inactive at the start. With two Inactive keys, the
    /// second is adopted only once a slot frees: one extra (state-only) round.
    #[test]
    fn rotation_invariants_any_start(
        sc in scenario(Inputs { zero_windows: false, any_start: true })
    ) {
        run_scenario(&sc, 1)?;
    }
}
