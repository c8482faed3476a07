//! Valid seeds for the fuzzers: configs, a state file and a saved plan that between them
//! use every phase, action kind, drift kind, wait step and fact variant.

use chrono::{Duration, TimeZone, Utc};
use keyrot::core::config::{self, Source};
use keyrot::core::model::{Address, KeyId, KeyStatus, Time};
use keyrot::core::plan::saved::{self as planfile, Facts, KeyFact, SavedPlan};
use keyrot::core::plan::{
    Action, ActionKind, CheckView, Drift, DriftKind, KeyView, Plan, Reason, ReasonCode, Role,
    SetPlan, Step, Wait,
};
use keyrot::core::state::file as state_file;
use keyrot::core::state::{CheckRecord, Phase, SetState, State, TrackedKey};
use std::collections::BTreeMap;

pub(super) const CONFIG_SEEDS: &[&str] = &[
    r#"aws {
  region       = "us-east-1"
  profile      = "ops"
  endpoint_url = "http://127.0.0.1:5000"
  max_attempts = 8
  timeout      = "60s"
  retry_mode   = "adaptive"
}

defaults {
  max_age      = "90d"
  overlap      = "7d"
  unused_for   = "3d"
  inactive_for = "7d"
}

# The CI deployer rotates monthly.
user "ci-deployer" {
  access_key {
    max_age = "30d" // tighter than the default
    deliver "file" {
      path   = "secrets/ci.json"
      format = "credentials"
    }
    deliver "stdout" {
      format = "env"
    }
  }
}

user "svc.reports@example" {
  access_key {
    /* only the defaults */
    deliver "file" { path = "secrets/reports.json" }
  }
}
"#,
    "user \"a\" {\n  access_key {\n    overlap = \"12h\"\n    unused_for = \"30m\"\n    inactive_for = \"2w\"\n    deliver \"stdout\" {}\n  }\n}\n",
    "defaults { max_age = \"1h\" }\n",
    "",
];

/// A second file passed alongside the fuzzed one: diagnostics must name the right file.
pub(super) const OTHER_CONFIG: &str =
    "user \"ci-deployer\" {\n  access_key {\n    deliver \"stdout\" {}\n  }\n}\n";

fn t(days: i64) -> Time {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::days(days)
}

fn key(id: &str, status: KeyStatus, born: i64, since: i64) -> TrackedKey {
    TrackedKey {
        id: KeyId(id.to_string()),
        status,
        born: t(born),
        status_since: t(since),
        // Keys keyrot created carry their delivery instant; imported ones do not.
        delivered: (born > 0).then(|| t(born)),
    }
}

/// A failed confirm run that had passed before, with output to fuzz.
fn check_record(ran: i64) -> CheckRecord {
    CheckRecord {
        check: "exec ./smoke-test".into(),
        fingerprint: "sha256:00112233aabbccdd".into(),
        ran: t(ran),
        passed: false,
        last_passed: Some(t(ran - 1)),
        output: Some("`./smoke-test` exited with exit status: 1:\nGET /orders: 503".into()),
    }
}

/// A state with a set in every phase and remembered plan ids.
fn sample_state() -> State {
    use KeyStatus::*;
    let mut state = State::new("5f0c7a9e-lineage".into());
    state.serial = 17;
    let sets = [
        ("empty", SetState::default()),
        (
            "steady",
            SetState {
                current: Some(key("AKIASTEADY0000000001", Active, 0, 0)),
                ..SetState::default()
            },
        ),
        (
            "overlap",
            SetState {
                current: Some(key("AKIAOVERLAP000000002", Active, 90, 90)),
                previous: Some(key("AKIAOVERLAP000000001", Active, 0, 0)),
                held: false,
                unresolved: Vec::new(),
                clock_override: None,
                confirm: Vec::new(),
            },
        ),
        (
            "inactive",
            SetState {
                current: Some(key("AKIAINACTIVE00000002", Active, 90, 90)),
                previous: Some(key("AKIAINACTIVE00000001", Inactive, 0, 97)),
                held: false,
                unresolved: Vec::new(),
                clock_override: None,
                confirm: vec![check_record(98)],
            },
        ),
        (
            "held",
            SetState {
                current: Some(key("AKIAHELD000000000002", Active, 90, 90)),
                previous: Some(key("AKIAHELD000000000001", Active, 0, 99)),
                held: true,
                unresolved: Vec::new(),
                clock_override: None,
                confirm: Vec::new(),
            },
        ),
        (
            "odd.name@x",
            SetState {
                current: Some(key("AKIAODD0000000000001", Other("Expired".into()), 3, 4)),
                ..SetState::default()
            },
        ),
    ];
    for (user, set) in sets {
        state.sets.insert(Address::access_key(user), set);
    }
    state.applied_plans = vec!["plan-one".into(), "plan-two".into()];
    state
}

/// A plausible reason code for each action kind and wait step.
fn reason(what: &str) -> Reason {
    use ReasonCode::*;
    let code = match what {
        "import" => UntrackedKey,
        "refresh" => StatusChangedOutside,
        "untrack" => DeletedOutside,
        "forget" => RemovedFromConfig,
        "create" | "rotate" => MaxAge,
        "deactivate" => OverlapDoneUnused,
        "reactivate" => Rollback,
        "delete" => InactiveFor,
        "blocked" => UserMissing,
        "resume" => Held,
        _ => Overlap,
    };
    Reason::new(code, format!("because {what}"))
}

fn kid(id: &str) -> KeyId {
    KeyId(id.to_string())
}

/// A saved plan using every action kind, drift kind, wait step and fact variant.
fn sample_plan() -> SavedPlan {
    use KeyStatus::*;
    let (old, new, gone) = (
        "AKIAOLD0000000000001",
        "AKIANEW0000000000002",
        "AKIAGONE000000000003",
    );
    let facts: Facts = BTreeMap::from([
        (
            Address::access_key("alice"),
            Some(vec![
                KeyFact {
                    key_id: kid(old),
                    status: Active,
                    created: t(0),
                    last_used: Some(Some(t(50))),
                },
                KeyFact {
                    key_id: kid(new),
                    status: Active,
                    created: t(90),
                    last_used: Some(None),
                },
            ]),
        ),
        (
            Address::access_key("bob"),
            Some(vec![KeyFact {
                key_id: kid("AKIABOB0000000000001"),
                status: Other("Expired".into()),
                created: t(1),
                last_used: None,
            }]),
        ),
        (Address::access_key("carol"), None),
    ]);
    let action = |kind: ActionKind, key: Option<&str>, frees_slot: bool| Action {
        reason: reason(kind.name()),
        kind,
        key: key.map(kid),
        frees_slot,
    };
    let wait = |step: Step, key: Option<&str>, due: Option<Time>| Wait {
        step,
        key: key.map(kid),
        reason: reason(step.as_str()),
        due,
    };
    let alice = SetPlan {
        address: Address::access_key("alice"),
        selector: Some("ci".into()),
        phase: Phase::Overlap,
        keys: vec![
            KeyView {
                id: kid(old),
                role: Some(Role::Previous),
                status: Active,
                born: t(0),
                cert: None,
                last_used: None,
            },
            KeyView {
                id: kid(new),
                role: Some(Role::Current),
                status: Active,
                born: t(90),
                cert: None,
                last_used: None,
            },
            KeyView {
                id: kid(gone),
                role: None,
                status: Inactive,
                born: t(2),
                cert: None,
                last_used: None,
            },
        ],
        drift: vec![
            Drift {
                key: kid(old),
                kind: DriftKind::StatusChanged {
                    from: Inactive,
                    to: Active,
                },
            },
            Drift {
                key: kid(new),
                kind: DriftKind::Appeared,
            },
            Drift {
                key: kid(gone),
                kind: DriftKind::Deleted,
            },
        ],
        actions: vec![
            action(
                ActionKind::Import {
                    role: Role::Current,
                    status: Active,
                    born: t(90),
                },
                Some(new),
                false,
            ),
            action(
                ActionKind::Refresh {
                    status: Active,
                    hold: true,
                },
                Some(old),
                false,
            ),
            action(ActionKind::Untrack, Some(gone), false),
            action(ActionKind::Delete, Some(gone), true),
            action(ActionKind::Create, None, false),
            action(ActionKind::Deactivate, Some(old), false),
            action(ActionKind::Reactivate, Some(old), false),
            action(ActionKind::Confirm, Some(old), false),
            action(ActionKind::Delete, Some(old), false),
        ],
        waits: vec![
            wait(Step::Rotate, Some(new), Some(t(180))),
            wait(Step::Deactivate, Some(old), Some(t(97))),
            wait(Step::Delete, Some(old), Some(t(104))),
            wait(Step::Blocked, None, None),
            wait(Step::Resume, Some(old), None),
        ],
        checks: vec![
            CheckView {
                check: "exec ./smoke-test".into(),
                last: Some(check_record(98)),
            },
            CheckView {
                check: "http https://app.internal".into(),
                last: None,
            },
        ],
    };
    let dropped = SetPlan {
        address: Address::access_key("dropped"),
        selector: None,
        phase: Phase::Steady,
        keys: Vec::new(),
        drift: Vec::new(),
        actions: vec![action(ActionKind::Forget, None, false)],
        waits: Vec::new(),
        checks: Vec::new(),
    };
    SavedPlan {
        options: Default::default(),
        id: "0b6f3c1e-plan".into(),
        created: t(100) + Duration::milliseconds(250),
        prior_lineage: "5f0c7a9e-lineage".into(),
        prior_serial: 17,
        prior_backend: None,
        config_digest: format!("sha256:{}", "ab".repeat(32)),
        facts,
        selections: [("ci".to_string(), vec!["alice".to_string()])].into(),
        plan: Plan {
            sets: vec![alice, dropped],
            ..empty_plan(t(100))
        },
    }
}

/// A plan of nothing at `now`, from the planner itself, so parts of a plan this file does
/// not build by hand get their empty values.
fn empty_plan(now: Time) -> Plan {
    let config = keyrot::core::config::Config::default();
    let inventory = keyrot::core::model::Inventory::default();
    let state = State::new(String::new());
    let plan = keyrot::core::planner::plan(&config, &inventory, &state, now, &Default::default());
    assert!(plan.sets.is_empty() && !plan.refresh_only);
    plan
}

pub(super) fn state_seeds() -> Vec<String> {
    vec![
        state_file::to_json(&sample_state()),
        state_file::to_json(&State::new(String::new())),
    ]
}

pub(super) fn plan_seeds() -> Vec<String> {
    let mut bare = sample_plan();
    bare.facts.clear();
    bare.plan.sets.clear();
    bare.plan.refresh_only = true;
    vec![planfile::to_json(&sample_plan()), planfile::to_json(&bare)]
}

#[test]
fn seeds_are_valid() {
    for (i, seed) in CONFIG_SEEDS.iter().enumerate() {
        let parsed = config::parse(&[Source {
            name: "seed.hcl".into(),
            text: seed.to_string(),
        }]);
        assert!(parsed.is_ok(), "config seed {i}: {parsed:?}");
    }
    assert_eq!(
        state_file::from_json(&state_file::to_json(&sample_state())).unwrap(),
        sample_state()
    );
    assert_eq!(
        planfile::from_json(&planfile::to_json(&sample_plan())).unwrap(),
        sample_plan()
    );
    for seed in state_seeds() {
        assert!(state_file::from_json(&seed).is_ok(), "{seed}");
    }
    for seed in plan_seeds() {
        assert!(planfile::from_json(&seed).is_ok(), "{seed}");
    }
}
