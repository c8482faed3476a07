//! Renderer snapshots over fixed plans.

use super::*;

/// `insta::assert_snapshot!`, with the files kept in `tests/it/snapshots` beside the other
/// suites' rather than in a `snapshots` folder next to this file (insta's default).
macro_rules! snapshot {
    ($name:expr, $value:expr) => {
        insta::with_settings!({ snapshot_path => "../snapshots" }, {
            insta::assert_snapshot!($name, $value);
        })
    };
}

// ---------------------------------------------------------------------------------------
// 3. Renderer snapshots over fixed plans
// ---------------------------------------------------------------------------------------

/// One plan with every kind of line: import, create, deactivate, delete (plain and
/// slot-freeing), waits with and without due dates, drift of all three kinds, forget.
fn mixed_fixture() -> Plan {
    let users = [
        "alice", "bob", "carol", "dave", "erin", "frank", "gina", "harry", "ivy", "jack",
    ];
    let config = config(&users);
    let mut state = State::new("fixture".into());
    let mut add = |story: Story| state.sets.extend(story.done().sets);
    // bob: overlap passed, never used → deactivate.
    add(Story::new()
        .import("bob", Role::Current, OLD, "Active", day(0))
        .create("bob", NEW, day(90)));
    // carol: Inactive long enough → delete.
    add(Story::new()
        .import("carol", Role::Current, OLD, "Active", day(0))
        .create("carol", NEW, day(90))
        .deactivate("carol", OLD, day(98)));
    // dave: rotation due at the checkpoint → slot-freeing delete + create.
    add(Story::new()
        .import("dave", Role::Current, OLD, "Active", day(0))
        .create("dave", NEW, day(20))
        .deactivate("dave", OLD, day(28)));
    // erin: previous deactivated by hand in overlap → refresh, delete waits.
    add(Story::new()
        .import("erin", Role::Current, OLD, "Active", day(0))
        .create("erin", NEW, day(105)));
    // gina: a key appeared outside keyrot.
    add(Story::new().import("gina", Role::Current, OLD, "Active", day(50)));
    // harry: held after a rollback.
    add(Story::new()
        .import("harry", Role::Current, OLD, "Active", day(0))
        .create("harry", NEW, day(90))
        .deactivate("harry", OLD, day(98))
        .reactivate("harry", OLD, day(101)));
    // ivy: current key deleted outside keyrot.
    add(Story::new().import("ivy", Role::Current, EXT, "Active", day(60)));
    // jack: young key, waits for max_age.
    add(Story::new().import("jack", Role::Current, NEW, "Active", day(100)));
    // zoe: no longer in the config → forget.
    add(Story::new().import("zoe", Role::Current, OTH, "Active", day(0)));

    let mut inv = inventory(vec![
        // alice: first run, key older than max_age → import + create.
        ("alice", vec![live(OLD, "Active", day(0))]),
        ("bob", live_overlap()),
        ("carol", live_inactive()),
        (
            "dave",
            vec![live(OLD, "Inactive", day(0)), live(NEW, "Active", day(20))],
        ),
        ("erin", live_inactive_at(day(105))),
        // frank is missing from IAM → blocked.
        (
            "gina",
            vec![live(OLD, "Active", day(50)), live(EXT, "Active", day(105))],
        ),
        ("harry", live_overlap()),
        ("ivy", vec![]),
        ("jack", vec![live(NEW, "Active", day(100))]),
    ]);
    inv.last_used.insert(kid(OLD), LastUsed::Never);
    inv.last_used
        .insert(kid(EXT), LastUsed::At(day(109) + Duration::hours(5)));
    planner::plan(&config, &inv, &state, day(110), &PlanOptions::default())
}

fn live_inactive_at(new_born: Time) -> Vec<LiveKey> {
    vec![live(OLD, "Inactive", day(0)), live(NEW, "Active", new_born)]
}

/// Only waits: the steady, overlap and inactive phases before their gates.
fn waiting_fixture() -> Plan {
    let config = config(&["alice", "bob", "carol"]);
    let mut state = Story::new()
        .import("alice", Role::Current, OLD, "Active", day(30))
        .done();
    state.sets.extend(
        Story::new()
            .import("bob", Role::Current, OLD, "Active", day(0))
            .create("bob", NEW, day(90))
            .done()
            .sets,
    );
    state.sets.extend(
        Story::new()
            .import("carol", Role::Current, OLD, "Active", day(0))
            .create("carol", NEW, day(90))
            .deactivate("carol", OLD, day(91))
            .done()
            .sets,
    );
    let inv = inventory(vec![
        ("alice", vec![live(OLD, "Active", day(30))]),
        ("bob", live_overlap()),
        ("carol", live_inactive()),
    ]);
    planner::plan(&config, &inv, &state, day(92), &PlanOptions::default())
}

/// Refresh only, with drift.
fn refresh_only_fixture() -> Plan {
    let config = config(&["alice", "bob"]);
    let state = overlap().done();
    let inv = inventory(vec![
        ("alice", live_inactive()),
        ("bob", vec![live(EXT, "Active", day(0))]),
    ]);
    let options = PlanOptions {
        refresh_only: true,
        ..PlanOptions::default()
    };
    planner::plan(&config, &inv, &state, day(95), &options)
}

fn empty_fixture() -> Plan {
    let state = State::new("fixture".into());
    planner::plan(
        &Config::default(),
        &Inventory::default(),
        &state,
        day(0),
        &PlanOptions::default(),
    )
}

fn text(plan: &Plan) -> String {
    render::text::plan(plan, Style { color: false }, KeyIds::Masked)
}

/// What `plan --json` prints (written set by set; snapshots pin its bytes).
fn json(plan: &Plan) -> String {
    render::json::plan_pretty(plan, None, KeyIds::Masked)
}

#[test]
fn json_written_set_by_set_is_the_json_document() {
    for plan in [
        mixed_fixture(),
        waiting_fixture(),
        refresh_only_fixture(),
        empty_fixture(),
    ] {
        let mut doc = render::json::plan(&plan, KeyIds::Masked);
        assert_eq!(json(&plan), serde_json::to_string_pretty(&doc).unwrap());
        doc["plan_digest"] = "sha256:ab".into();
        assert_eq!(
            render::json::plan_pretty(&plan, Some("sha256:ab"), KeyIds::Masked),
            serde_json::to_string_pretty(&doc).unwrap()
        );
    }
}

#[test]
fn mixed_fixture_covers_every_line_kind() {
    let plan = mixed_fixture();
    let s = plan.summary();
    assert!(s.import > 0 && s.create > 0 && s.deactivate > 0 && s.delete > 0);
    assert!(s.state_only > 0 && s.waiting > 0);
    let all_actions: Vec<&Action> = plan.sets.iter().flat_map(|s| &s.actions).collect();
    assert!(all_actions.iter().any(|a| a.frees_slot));
    assert!(all_actions.iter().any(|a| a.kind == ActionKind::Forget));
    let drift: Vec<&DriftKind> = plan
        .sets
        .iter()
        .flat_map(|s| &s.drift)
        .map(|d| &d.kind)
        .collect();
    assert!(drift.contains(&&DriftKind::Deleted));
    assert!(drift.contains(&&DriftKind::Appeared));
    assert!(drift
        .iter()
        .any(|d| matches!(d, DriftKind::StatusChanged { .. })));
    let waits: Vec<Step> = plan
        .sets
        .iter()
        .flat_map(|s| &s.waits)
        .map(|w| w.step)
        .collect();
    for step in [
        Step::Rotate,
        Step::Deactivate,
        Step::Delete,
        Step::Blocked,
        Step::Resume,
    ] {
        assert!(waits.contains(&step), "{step:?} missing from {waits:?}");
    }
}

#[test]
fn renderers_never_show_full_key_ids() {
    for plan in [mixed_fixture(), waiting_fixture(), refresh_only_fixture()] {
        let outputs = [text(&plan), json(&plan)];
        for id in [OLD, NEW, EXT, OTH] {
            for out in &outputs {
                assert!(!out.contains(id), "{id} shown unmasked:\n{out}");
            }
        }
    }
}

#[test]
fn renderers_agree_on_the_summary() {
    for plan in [
        mixed_fixture(),
        waiting_fixture(),
        refresh_only_fixture(),
        empty_fixture(),
    ] {
        let s = plan.summary();
        let j = render::json::plan(&plan, KeyIds::Masked);
        assert_eq!(j["summary"]["import"], s.import);
        assert_eq!(j["summary"]["create"], s.create);
        assert_eq!(j["summary"]["delete"], s.delete);
        assert_eq!(j["summary"]["waiting"], s.waiting);
        assert_eq!(j["summary"]["drift"], plan.drift_count());
        let line = render::text::summary_line(&s, plan.refresh_only);
        if s.has_actions() || s.waiting > 0 {
            assert!(text(&plan).contains(&line), "{line} not in text output");
        }
    }
}

#[test]
fn snapshot_text_mixed() {
    snapshot!("text_mixed", text(&mixed_fixture()));
}

#[test]
fn snapshot_json_mixed() {
    snapshot!("json_mixed", json(&mixed_fixture()));
}

#[test]
fn snapshot_text_waiting() {
    snapshot!("text_waiting", text(&waiting_fixture()));
}

#[test]
fn snapshot_json_waiting() {
    snapshot!("json_waiting", json(&waiting_fixture()));
}

#[test]
fn snapshot_text_refresh_only() {
    snapshot!("text_refresh_only", text(&refresh_only_fixture()));
}

#[test]
fn snapshot_json_refresh_only() {
    snapshot!("json_refresh_only", json(&refresh_only_fixture()));
}

#[test]
fn snapshot_markdown_mixed() {
    let saved = render::markdown::SavedFile {
        apply: "keyrot apply plan.json",
        digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    };
    let md = render::markdown::plan(&mixed_fixture(), Some(&saved), KeyIds::Masked);
    snapshot!("markdown_mixed", md);
}

#[test]
fn snapshot_text_empty() {
    snapshot!("text_empty", text(&empty_fixture()));
}

#[test]
fn snapshot_json_empty() {
    snapshot!("json_empty", json(&empty_fixture()));
}
