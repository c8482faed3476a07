//! Hostile input: none panics; each gets a clear error saying what is wrong and where;
//! state and IAM are left untouched.
//!
//! 1. Fuzz (property) tests of the three parsers — config HCL, the state file and saved
//!    plans — over random strings, token soups and structured mutations of valid inputs.
//!    Cases per parser: `KEYROT_FUZZ_CASES` (default [`DEFAULT_FUZZ_CASES`]); run with
//!    `--nocapture` to see how many ran.
//! 2. The real binary against moto: after a first apply, each hostile config, state file or
//!    saved plan makes `plan` and `apply` exit 1 without a panic, with a message naming the
//!    file and what is wrong, and leaves the state file's bytes and the live keys as they were.

use crate::common::*;
use chrono::{Duration, TimeZone, Utc};
use keyrot::core::config::{self, Source};
use keyrot::core::model::{Address, KeyId, KeyStatus, Time};
use keyrot::core::plan::saved::{self as planfile, Facts, KeyFact, SavedPlan};
use keyrot::core::plan::{
    Action, ActionKind, Drift, DriftKind, KeyView, Plan, Reason, ReasonCode, Role, SetPlan, Step,
    Wait,
};
use keyrot::core::state::file as state_file;
use keyrot::core::state::{Phase, SetState, State, TrackedKey};
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

// =======================================================================================
// 1. Fuzzing the parsers
// =======================================================================================

/// Cases per parser when `KEYROT_FUZZ_CASES` is unset: the whole file stays well under
/// 20 s in a debug build on two cores.
const DEFAULT_FUZZ_CASES: u32 = 5000;

/// Cases per parser: `KEYROT_FUZZ_CASES` for longer runs, else the default.
fn fuzz_cases() -> u32 {
    match std::env::var("KEYROT_FUZZ_CASES") {
        Err(_) => DEFAULT_FUZZ_CASES,
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("KEYROT_FUZZ_CASES={v:?} is not a whole number")),
    }
}

/// What a parser made of one input, for the printed tally (`ok`, or the kind of error).
type Verdict = Result<&'static str, TestCaseError>;

/// Runs `check` over `fuzz_cases()` inputs from `strategy` (no failure persistence), prints
/// how many ran and what became of them, and fails with the shrunk input if any case failed
/// or panicked.
fn fuzz<S>(parser: &str, strategy: S, check: impl Fn(S::Value) -> Verdict)
where
    S: Strategy,
    S::Value: std::fmt::Debug,
{
    let cases = fuzz_cases();
    let mut runner = TestRunner::new(RunnerConfig {
        cases,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let executions = AtomicU64::new(0);
    let tally = Mutex::new(BTreeMap::<&str, u64>::new());
    let started = std::time::Instant::now();
    let result = runner.run(&strategy, |input| {
        executions.fetch_add(1, Ordering::Relaxed);
        let verdict = check(input)?;
        *tally.lock().unwrap().entry(verdict).or_default() += 1;
        Ok(())
    });
    let tally: Vec<String> = tally
        .into_inner()
        .unwrap()
        .iter()
        .map(|(verdict, n)| format!("{n} {verdict}"))
        .collect();
    println!(
        "fuzz {parser}: {cases} cases, {} executions (shrinking included) in {:.1?}: {}",
        executions.load(Ordering::Relaxed),
        started.elapsed(),
        tally.join(", ")
    );
    if let Err(e) = result {
        panic!("fuzz {parser}: {e}");
    }
}

// ---------------------------------------------------------------------------------------
// Valid seeds
// ---------------------------------------------------------------------------------------

const CONFIG_SEEDS: &[&str] = &[
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
const OTHER_CONFIG: &str =
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
            },
        ),
        (
            "inactive",
            SetState {
                current: Some(key("AKIAINACTIVE00000002", Active, 90, 90)),
                previous: Some(key("AKIAINACTIVE00000001", Inactive, 0, 97)),
                held: false,
            },
        ),
        (
            "held",
            SetState {
                current: Some(key("AKIAHELD000000000002", Active, 90, 90)),
                previous: Some(key("AKIAHELD000000000001", Active, 0, 99)),
                held: true,
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
            action(ActionKind::Delete, Some(old), false),
        ],
        waits: vec![
            wait(Step::Rotate, Some(new), Some(t(180))),
            wait(Step::Deactivate, Some(old), Some(t(97))),
            wait(Step::Delete, Some(old), Some(t(104))),
            wait(Step::Blocked, None, None),
            wait(Step::Resume, Some(old), None),
        ],
    };
    let dropped = SetPlan {
        address: Address::access_key("dropped"),
        phase: Phase::Steady,
        keys: Vec::new(),
        drift: Vec::new(),
        actions: vec![action(ActionKind::Forget, None, false)],
        waits: Vec::new(),
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

fn state_seeds() -> Vec<String> {
    vec![
        state_file::to_json(&sample_state()),
        state_file::to_json(&State::new(String::new())),
    ]
}

fn plan_seeds() -> Vec<String> {
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

// ---------------------------------------------------------------------------------------
// Input strategies
// ---------------------------------------------------------------------------------------

#[rustfmt::skip]
const HCL_TOKENS: &[&str] = &[
    " ", " ", "\n", "\n", "\t", "\r\n", "\r", "aws", "defaults", "user", "access_key",
    "deliver", "\"file\"", "\"stdout\"", "\"a\"", "\"\"", "path", "format", "max_age",
    "overlap", "unused_for", "inactive_for", "region", "max_attempts", "timeout",
    "retry_mode", "\"90d\"", "\"0s\"", "\"json\"", "=", "{", "}", "[", "]", "(", ")", ",",
    ":", "?", ".", "...", "*", "!", "-", "=>", "==", "&&", "\"", "\"${", "%{", "}\"", "${",
    "\\", "\\u{", "<<EOF\n", "<<-EOF\n", "EOF\n", "#", "//", "/*", "*/", "0", "-1", "8",
    "1e400", "0x10", "18446744073709551616", "true", "null", "for", "in", "if", "endif",
    "x", "é", "\u{1F600}", "\u{0}", "\u{FEFF}", "\u{202E}", "\u{2028}",
];

#[rustfmt::skip]
const JSON_TOKENS: &[&str] = &[
    " ", "\n", "{", "}", "[", "]", ":", ",", "\"", "\"format_version\"", "1", "\"1\"", "2",
    "\"kind\"", "\"keyrot-saved-plan\"", "\"lineage\"", "\"serial\"", "\"credential_sets\"",
    "\"user.a.access_key\"", "\"phase\"", "\"steady\"", "\"overlap\"", "\"held\"",
    "\"current\"", "\"previous\"", "\"id\"", "\"status\"", "\"Active\"", "\"born\"",
    "\"2026-01-01T00:00:00Z\"", "\"actions\"", "\"action\"", "\"key_id\"", "\"iam_facts\"",
    "\"last_used\"", "\"never\"", "null", "true", "false", "-0", "1e999", "-1",
    "18446744073709551616", "4294967296", "\"\\ud800\"", "\"\\u0000\"", "\\", "é",
];

/// Replacements for whole words (identifiers, numbers, keywords) of an HCL text.
#[rustfmt::skip]
const HCL_WORDS: &[&str] = &[
    "aws", "defaults", "user", "access_key", "deliver", "path", "format", "max_age",
    "overlap", "unused_for", "inactive_for", "region", "profile", "endpoint_url",
    "max_attempts", "timeout", "retry_mode", "bogus", "true", "null", "0", "1", "20", "21",
    "-1", "8.5", "1e400", "18446744073709551616", "x.y", "a_b", "é",
];

/// Replacements for the contents of HCL strings.
#[rustfmt::skip]
const HCL_STRINGS: &[&str] = &[
    "", "90d", "0s", "0d", "1s", "-1d", "1.5d", "90", "d", "99999999999999999999d",
    "18446744073709551615s", "2w", "12h", "30m", "90x", "json", "yaml", "credentials",
    "env", "file", "stdout", "s3", "standard", "adaptive", "http://", "https://iam.example",
    "ftp://x", "${x}", "%{ if x }y%{ endif }", "$${x}", "\\n", "\\u00e9", "\\", "bad name!",
    "a-64-characters-long-user-name-which-is-longer-than-iam-allows-x", "../../etc/passwd",
    "é\u{1F600}", "\u{0}",
];

/// Replacements for the contents of JSON strings (values and field names alike).
#[rustfmt::skip]
const JSON_STRINGS: &[&str] = &[
    "", "1", "2", "steady", "overlap", "inactive", "held", "empty", "Active", "Inactive",
    "Expired", "never", "current", "previous", "import", "refresh", "untrack", "forget",
    "create", "deactivate", "reactivate", "delete", "explode", "rotate", "blocked",
    "resume", "status", "deleted", "appeared", "keyrot-saved-plan", "user.a.access_key",
    "user..access_key", "user.a.password", "2026-01-01T00:00:00Z", "2026-02-30T00:00:00Z",
    "2026-06-30T23:59:60Z", "+275760-09-13T00:00:00Z", "0000-01-01T00:00:00Z",
    "2026-01-01T00:00:00.123456789+14:00", "AKIAOLD0000000000001", "bogus", "phase", "id",
    "\\u0000", "\\ud800", "\\\"",
];

/// Replacements for whole words of a JSON text (numbers, literals, field names unquoted).
#[rustfmt::skip]
const JSON_WORDS: &[&str] = &[
    "0", "1", "2", "-1", "-0", "1.5", "1e999", "4294967296", "18446744073709551615",
    "18446744073709551616", "true", "false", "null", "NaN", "Infinity", "phase",
];

/// The vocabulary mutations draw on, per input language.
#[derive(Clone, Copy)]
struct Dict {
    tokens: &'static [&'static str],
    words: &'static [&'static str],
    strings: &'static [&'static str],
}

const HCL: Dict = Dict {
    tokens: HCL_TOKENS,
    words: HCL_WORDS,
    strings: HCL_STRINGS,
};

const JSON: Dict = Dict {
    tokens: JSON_TOKENS,
    words: JSON_WORDS,
    strings: JSON_STRINGS,
};

/// Arbitrary text: any Unicode, printable ASCII, lossy-decoded random bytes, token soup.
fn random_text(tokens: &'static [&'static str]) -> BoxedStrategy<String> {
    prop_oneof![
        any::<String>(),
        "[ -~\t\n\r]{0,400}",
        proptest::collection::vec(any::<u8>(), 0..400)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        proptest::collection::vec(select(tokens), 0..120).prop_map(|t| t.concat()),
    ]
    .boxed()
}

/// One structured edit of a text; positions are clamped down to char boundaries.
#[derive(Clone, Debug)]
enum Edit {
    Truncate(Index),
    Delete(Index, Index),
    Duplicate(Index, Index, Index),
    Swap([Index; 4]),
    Insert(Index, String),
    Token(Index, &'static str),
    Replace(Index, char),
    BitFlip(Index, u8),
    Nest(Index, usize, usize, bool),
    /// Replace the n-th word (a run of letters, digits and `_`).
    Word(Index, &'static str),
    /// Replace the contents of the n-th `"…"` string.
    Quoted(Index, &'static str),
}

const NESTS: &[(&str, &str)] = &[
    ("[", "]"),
    ("{", "}"),
    ("(", ")"),
    ("{\"a\":", "}"),
    ("\"${", "}\""),
    ("b {\n", "}\n"),
];

fn edit(dict: Dict) -> impl Strategy<Value = Edit> {
    let ch = prop_oneof![
        any::<char>(),
        select(&['{', '}', '[', ']', '"', '=', '\n', '\\', '$', '#', '0', '-', '\0', ','][..]),
    ];
    prop_oneof![
        4 => (any::<Index>(), select(dict.words)).prop_map(|(a, w)| Edit::Word(a, w)),
        4 => (any::<Index>(), select(dict.strings)).prop_map(|(a, w)| Edit::Quoted(a, w)),
        1 => any::<Index>().prop_map(Edit::Truncate),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Delete(a, b)),
        1 => (any::<Index>(), any::<Index>(), any::<Index>())
            .prop_map(|(a, b, c)| Edit::Duplicate(a, b, c)),
        1 => any::<[Index; 4]>().prop_map(Edit::Swap),
        1 => (any::<Index>(), "\\PC{0,8}|[\\x00-\\x1f]{1,3}")
            .prop_map(|(a, s)| Edit::Insert(a, s)),
        1 => (any::<Index>(), select(dict.tokens)).prop_map(|(a, t)| Edit::Token(a, t)),
        1 => (any::<Index>(), ch).prop_map(|(a, c)| Edit::Replace(a, c)),
        1 => (any::<Index>(), 0u8..21).prop_map(|(a, bit)| Edit::BitFlip(a, bit)),
        1 => (
            any::<Index>(),
            0..NESTS.len(),
            prop_oneof![1usize..80, 80usize..3000],
            any::<bool>()
        )
            .prop_map(|(a, kind, depth, closed)| Edit::Nest(a, kind, depth, closed)),
    ]
}

/// The byte offset `i` picks in `s` (0..=len), moved back to a char boundary.
fn at(s: &str, i: &Index) -> usize {
    let mut p = i.index(s.len() + 1);
    while !s.is_char_boundary(p) {
        p -= 1;
    }
    p
}

/// Byte spans of the words of `s`.
fn words(s: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices().chain([(s.len(), ' ')]) {
        match (start, c.is_alphanumeric() || c == '_') {
            (None, true) => start = Some(i),
            (Some(st), false) => {
                spans.push((st, i));
                start = None;
            }
            _ => {}
        }
    }
    spans
}

/// Byte spans of the contents of `"…"` strings of `s` (escapes not considered).
fn quoted(s: &str) -> Vec<(usize, usize)> {
    let quotes: Vec<usize> = s.match_indices('"').map(|(i, _)| i).collect();
    quotes.chunks_exact(2).map(|q| (q[0] + 1, q[1])).collect()
}

/// `s` with the `n`-th of `spans` replaced by `with` (unchanged when there is none).
fn replace_span(s: &str, spans: &[(usize, usize)], n: &Index, with: &str) -> String {
    if spans.is_empty() {
        return s.to_string();
    }
    let (a, b) = spans[n.index(spans.len())];
    format!("{}{with}{}", &s[..a], &s[b..])
}

fn span(s: &str, a: &Index, b: &Index) -> (usize, usize) {
    let (a, b) = (at(s, a), at(s, b));
    (a.min(b), a.max(b))
}

fn apply_edit(s: &str, e: &Edit) -> String {
    match e {
        Edit::Truncate(i) => s[..at(s, i)].to_string(),
        Edit::Delete(a, b) => {
            let (a, b) = span(s, a, b);
            format!("{}{}", &s[..a], &s[b..])
        }
        Edit::Duplicate(a, b, to) => {
            let (a, b) = span(s, a, b);
            let to = at(s, to);
            format!("{}{}{}", &s[..to], &s[a..b], &s[to..])
        }
        Edit::Swap(idx) => {
            let mut p: Vec<usize> = idx.iter().map(|i| at(s, i)).collect();
            p.sort_unstable();
            format!(
                "{}{}{}{}{}",
                &s[..p[0]],
                &s[p[2]..p[3]],
                &s[p[1]..p[2]],
                &s[p[0]..p[1]],
                &s[p[3]..]
            )
        }
        Edit::Insert(i, text) => {
            let i = at(s, i);
            format!("{}{text}{}", &s[..i], &s[i..])
        }
        Edit::Token(i, tok) => {
            let i = at(s, i);
            format!("{}{tok}{}", &s[..i], &s[i..])
        }
        Edit::Replace(..) | Edit::BitFlip(..) if s.is_empty() => s.to_string(),
        Edit::Replace(i, c) => {
            let i = at(s, i).min(s.len() - 1);
            let i = (0..=i).rev().find(|&j| s.is_char_boundary(j)).unwrap_or(0);
            let old = s[i..].chars().next().map_or(0, char::len_utf8);
            format!("{}{c}{}", &s[..i], &s[i + old..])
        }
        Edit::BitFlip(i, bit) => {
            let i = at(s, i).min(s.len() - 1);
            let i = (0..=i).rev().find(|&j| s.is_char_boundary(j)).unwrap_or(0);
            let old = s[i..].chars().next().unwrap_or('\0');
            let new = char::from_u32(old as u32 ^ (1 << bit)).unwrap_or('\u{FFFD}');
            format!("{}{new}{}", &s[..i], &s[i + old.len_utf8()..])
        }
        Edit::Word(n, with) => replace_span(s, &words(s), n, with),
        Edit::Quoted(n, with) => replace_span(s, &quoted(s), n, with),
        Edit::Nest(i, kind, depth, closed) => {
            let i = at(s, i);
            let (open, close) = NESTS[*kind];
            let tail = if *closed {
                close.repeat(*depth)
            } else {
                String::new()
            };
            format!("{}{}{tail}{}", &s[..i], open.repeat(*depth), &s[i..])
        }
    }
}

/// A valid seed with one to four edits applied, in order.
/// One edit mostly, sometimes a few.
fn edits(dict: Dict) -> impl Strategy<Value = Vec<Edit>> {
    prop_oneof![
        3 => proptest::collection::vec(edit(dict), 1..2),
        1 => proptest::collection::vec(edit(dict), 2..6),
    ]
}

fn mutated(seeds: Vec<String>, dict: Dict) -> impl Strategy<Value = String> {
    (select(seeds), edits(dict))
        .prop_map(|(seed, edits)| edits.iter().fold(seed, |s, e| apply_edit(&s, e)))
}

/// Semantic edits of a JSON document: the text stays JSON so the checks behind the syntax
/// (versions, kinds, phases, roles, consistency) are reached.
#[derive(Clone, Debug)]
enum JsonEdit {
    /// Replace the n-th node (pre-order) with a value.
    Replace(Index, Value),
    /// Remove a member of the n-th node (an object's field or an array's element).
    Remove(Index, Index),
    /// Add a field to the n-th node if it is an object.
    Add(Index, &'static str, Value),
    /// Wrap the n-th node into an array.
    Wrap(Index),
}

#[rustfmt::skip]
const FIELD_NAMES: &[&str] = &[
    "bogus", "format_version", "kind", "lineage", "serial", "credential_sets",
    "applied_plans", "phase", "held", "current", "previous", "id", "status", "born",
    "status_since", "plan_id", "created", "now", "refresh_only", "prior_state",
    "config_digest", "iam_facts", "address", "keys", "drift", "actions", "waits", "key_id",
    "role", "change", "from", "to", "action", "hold", "frees_slot", "reason_code", "reason",
    "step", "due", "last_used", "user.a.access_key", "password_policy",
];

/// Strings a JSON node may be replaced with.
#[rustfmt::skip]
const WEIRD_STRINGS: &[&str] = &[
    "", "steady", "overlap", "inactive", "held", "empty", "Active", "Inactive", "Expired",
    "never", "current", "previous", "import", "refresh", "untrack", "forget", "create",
    "deactivate", "reactivate", "delete", "explode", "rotate", "blocked", "resume",
    "status", "deleted", "appeared", "1", "2", "0", "99999", "keyrot-saved-plan",
    "keyrot-state", "user.a.access_key", "user..access_key", "user.a.password", "user.",
    "2026-01-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-06-30T23:59:60Z",
    "+275760-09-13T00:00:00Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z",
    "1970-01-01T00:00:00+14:00", "yesterday", "AKIAOLD0000000000001",
    "AKIANEW0000000000002", "\u{0}", "\u{FEFF}", "é\u{1F600}",
];

fn weird_value() -> impl Strategy<Value = Value> {
    let strings = select(WEIRD_STRINGS);
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        select(&[0u64, 1, 2, u32::MAX as u64, u32::MAX as u64 + 1, u64::MAX][..])
            .prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        strings.prop_map(|s| json!(s)),
        "\\PC{0,20}".prop_map(|s| json!(s)),
        Just(json!([])),
        Just(json!({})),
        Just(json!([null, 1, "x"])),
        Just(json!({"id": "AKIAX", "status": "Active"})),
    ]
}

fn json_edit() -> impl Strategy<Value = JsonEdit> {
    prop_oneof![
        3 => (any::<Index>(), weird_value()).prop_map(|(n, v)| JsonEdit::Replace(n, v)),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(n, m)| JsonEdit::Remove(n, m)),
        2 => (any::<Index>(), select(FIELD_NAMES), weird_value())
            .prop_map(|(n, k, v)| JsonEdit::Add(n, k, v)),
        1 => any::<Index>().prop_map(JsonEdit::Wrap),
    ]
}

fn count_nodes(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count_nodes).sum(),
        Value::Object(o) => o.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// The n-th node of `v` in pre-order.
fn nth_node(v: &mut Value, n: usize) -> Option<&mut Value> {
    fn walk<'a>(v: &'a mut Value, n: &mut usize) -> Option<&'a mut Value> {
        if *n == 0 {
            return Some(v);
        }
        *n -= 1;
        match v {
            Value::Array(a) => a.iter_mut().find_map(|c| walk(c, n)),
            Value::Object(o) => o.values_mut().find_map(|c| walk(c, n)),
            _ => None,
        }
    }
    let mut n = n;
    walk(v, &mut n)
}

fn apply_json_edit(doc: &mut Value, e: &JsonEdit) {
    let total = count_nodes(doc);
    let pick = |i: &Index| i.index(total);
    match e {
        JsonEdit::Replace(i, value) => {
            if let Some(v) = nth_node(doc, pick(i)) {
                *v = value.clone();
            }
        }
        JsonEdit::Remove(i, m) => match nth_node(doc, pick(i)) {
            Some(Value::Array(a)) if !a.is_empty() => {
                a.remove(m.index(a.len()));
            }
            Some(Value::Object(o)) if !o.is_empty() => {
                let k = o.keys().nth(m.index(o.len())).cloned().unwrap_or_default();
                o.remove(&k);
            }
            _ => {}
        },
        JsonEdit::Add(i, name, value) => {
            if let Some(Value::Object(o)) = nth_node(doc, pick(i)) {
                o.insert(name.to_string(), value.clone());
            }
        }
        JsonEdit::Wrap(i) => {
            if let Some(v) = nth_node(doc, pick(i)) {
                *v = Value::Array(vec![v.take()]);
            }
        }
    }
}

/// A valid JSON seed with semantic edits, then maybe a few text edits on top.
fn json_mutated(seeds: Vec<String>) -> impl Strategy<Value = String> {
    (
        select(seeds),
        proptest::collection::vec(json_edit(), 1..4),
        any::<bool>(),
        prop_oneof![3 => Just(Vec::new()), 1 => edits(JSON)],
    )
        .prop_map(|(seed, json_edits, pretty, edits)| {
            let mut doc: Value = serde_json::from_str(&seed).expect("seed is JSON");
            for e in &json_edits {
                apply_json_edit(&mut doc, e);
            }
            let text = if pretty {
                serde_json::to_string_pretty(&doc)
            } else {
                serde_json::to_string(&doc)
            }
            .expect("serialize");
            edits.iter().fold(text, |s, e| apply_edit(&s, e))
        })
}

// ---------------------------------------------------------------------------------------
// The properties
// ---------------------------------------------------------------------------------------

/// `config::parse` returns (never panics); every diagnostic names a given file and a real
/// position in it.
fn check_config(text: &str, with_other: bool) -> Verdict {
    let mut sources = Vec::new();
    if with_other {
        sources.push(Source {
            name: "other.hcl".into(),
            text: OTHER_CONFIG.into(),
        });
    }
    sources.push(Source {
        name: "fuzz.hcl".into(),
        text: text.to_string(),
    });
    let Err(diags) = config::parse(&sources) else {
        return Ok("ok");
    };
    prop_assert!(!diags.is_empty(), "Err without a diagnostic");
    for d in &diags {
        let source = sources.iter().find(|s| s.name == d.file);
        prop_assert!(source.is_some(), "diagnostic names no given file: {}", d);
        let lines = source.map_or(0, |s| s.text.lines().count());
        prop_assert!(
            d.line >= 1 && d.column >= 1 && d.line <= lines + 1,
            "position out of range ({} line(s)): {}",
            lines,
            d
        );
        prop_assert!(!d.message.trim().is_empty(), "empty message: {:?}", d);
        // The column lies on its line; at most just past its newline (where the HCL
        // parser puts errors at the end of the input). Bytes, not characters: see
        // `hcl_syntax_error_columns_count_characters`.
        let text = source.map_or("", |s| s.text.as_str());
        let width = text.split('\n').nth(d.line - 1).map_or(0, str::len);
        prop_assert!(
            d.column <= width + 2,
            "column past the end of its {}-byte line: {}",
            width,
            d
        );
    }
    Ok(if diags[0].message.starts_with("HCL syntax error") {
        "syntax errors"
    } else {
        "semantic errors"
    })
}

/// The tally name of a serde_json error: syntax, unexpected end, or a well-formed document
/// of the wrong shape (types, missing or unknown fields).
fn json_error_kind(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Syntax => "JSON syntax errors",
        serde_json::error::Category::Eof => "JSON EOF errors",
        _ => "JSON shape errors",
    }
}

/// `state_file::from_json` returns; errors say something; what it accepts, it writes back
/// in a form it accepts again unchanged.
fn check_state(text: &str) -> Verdict {
    use state_file::StateFileError::*;
    match state_file::from_json(text) {
        Err(e) => {
            prop_assert!(!e.to_string().trim().is_empty(), "empty error: {:?}", e);
            Ok(match e {
                Syntax(e) => json_error_kind(&e),
                FutureVersion { .. } | UnknownVersion { .. } => "version errors",
                Inconsistent { .. } => "inconsistent-state errors",
                NotUtf8 { .. } => "encoding errors",
            })
        }
        Ok(state) => {
            let written = state_file::to_json(&state);
            let again = state_file::from_json(&written);
            prop_assert!(
                again.is_ok(),
                "accepted, written, then refused: {:?}\n{}",
                again.err(),
                written
            );
            prop_assert_eq!(state_file::to_json(&again.unwrap()), written);
            Ok("ok")
        }
    }
}

/// Same for `planfile::from_json`.
fn check_plan(text: &str) -> Verdict {
    use planfile::PlanFileError::*;
    match planfile::from_json(text) {
        Err(e) => {
            prop_assert!(!e.to_string().trim().is_empty(), "empty error: {:?}", e);
            Ok(match e {
                Syntax(e) => json_error_kind(&e),
                Version(_) => "version errors",
                Invalid(_) => "damaged-plan errors",
            })
        }
        Ok(saved) => {
            let written = planfile::to_json(&saved);
            let again = planfile::from_json(&written);
            prop_assert!(
                again.is_ok(),
                "accepted, written, then refused: {:?}\n{}",
                again.err(),
                written
            );
            prop_assert_eq!(planfile::to_json(&again.unwrap()), written);
            Ok("ok")
        }
    }
}

#[test]
fn fuzz_config_parser() {
    let seeds: Vec<String> = CONFIG_SEEDS.iter().map(|s| s.to_string()).collect();
    let input = prop_oneof![
        1 => random_text(HCL_TOKENS),
        4 => mutated(seeds, HCL),
    ];
    fuzz(
        "config::parse",
        (input, any::<bool>()),
        |(text, with_other)| check_config(&text, with_other),
    );
}

#[test]
fn fuzz_state_file_parser() {
    let input = prop_oneof![
        1 => random_text(JSON_TOKENS),
        3 => mutated(state_seeds(), JSON),
        3 => json_mutated(state_seeds()),
    ];
    fuzz("state_file::from_json", input, |text| check_state(&text));
}

#[test]
fn fuzz_planfile_parser() {
    let input = prop_oneof![
        1 => random_text(JSON_TOKENS),
        3 => mutated(plan_seeds(), JSON),
        3 => json_mutated(plan_seeds()),
    ];
    fuzz("planfile::from_json", input, |text| check_plan(&text));
}

/// Fixed worst cases the random search would rarely build.
#[test]
fn parsers_survive_extreme_inputs() {
    let big = "x".repeat(1 << 20);
    let mut texts = vec![
        String::new(),
        "\u{FEFF}".to_string(),
        "\0".repeat(1000),
        "[".repeat(100_000),
        "{".repeat(100_000),
        "{\"a\":".repeat(50_000),
        "[".repeat(100_000) + &"]".repeat(100_000),
        format!("\"{big}\""),
        format!("{{\"format_version\": {}}}", "9".repeat(400)),
        "{\"format_version\": 1e999}".to_string(),
        "{\"format_version\": -1}".to_string(),
        "{\"format_version\": \"1\", \"kind\": \"keyrot-saved-plan\"}".to_string(),
    ];
    for (open, close) in NESTS {
        texts.push(format!(
            "defaults {{\n max_age = {}{}\n}}\n",
            open.repeat(20_000),
            close.repeat(20_000)
        ));
        texts.push(open.repeat(20_000));
    }
    texts.push("user \"a\" {\n".repeat(20_000));
    texts.push(format!("user \"{big}\" {{}}\n"));
    texts.push(format!("# {big}\n").repeat(3));
    texts.push("\n".repeat(200_000) + "}");
    for text in &texts {
        let short: String = text.chars().take(40).collect();
        check_config(text, true).unwrap_or_else(|e| panic!("config {short:?}: {e}"));
        check_state(text).unwrap_or_else(|e| panic!("state {short:?}: {e}"));
        check_plan(text).unwrap_or_else(|e| panic!("plan {short:?}: {e}"));
    }
}

/// Keyrot's own diagnostics and its UTF-8 error count columns in characters; HCL syntax
/// errors must too.
#[test]
fn hcl_syntax_error_columns_count_characters() {
    for (text, line, column) in [
        ("éé ¡\n", 1, 4),
        ("aws {\n  region = \"café\" ¡\n}\n", 2, 19),
        ("user \"ü\" { ¿ }\n", 1, 12),
    ] {
        let diags = config::parse(&[Source {
            name: "keyrot.hcl".into(),
            text: text.into(),
        }])
        .unwrap_err();
        assert!(
            diags[0].message.starts_with("HCL syntax error"),
            "{}",
            diags[0]
        );
        assert_eq!(
            (diags[0].line, diags[0].column),
            (line, column),
            "{text:?}: {}",
            diags[0]
        );
    }
}

// =======================================================================================
// 2. The real binary against moto
// =======================================================================================

const STATE: &str = "state/keyrot.json";

/// Line 3 is `  overlap      = "7d"`; lines 11-12 are the sink's `path` and `format`.
fn config(user: &str) -> String {
    format!(
        r#"defaults {{
  max_age      = "90d"
  overlap      = "7d"
  unused_for   = "3d"
  inactive_for = "7d"
}}

user "{user}" {{
  access_key {{
    deliver "file" {{
      path   = "secrets/{user}.json"
      format = "json"
    }}
  }}
}}
"#
    )
}

/// A project after a real first apply: a state file and two Active keys in IAM. At
/// `self.later()` the next apply would deactivate the old key, so "nothing changed" means
/// something.
struct Applied {
    iam: aws_sdk_iam::Client,
    user: String,
    project: Project,
    day0: chrono::DateTime<Utc>,
}

fn applied(prefix: &str) -> Applied {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user(prefix);
    seed_user(&iam, &user);
    let project = Project::new(&moto.endpoint, &config(&user));
    let day0 = days_from_now(100);
    project.ok(&["apply", "--auto-approve"], Some(day0), 0);
    assert_eq!(live_keys(&iam, &user).len(), 2, "first apply rotated");
    Applied {
        iam,
        user,
        project,
        day0,
    }
}

impl Applied {
    fn later(&self) -> chrono::DateTime<Utc> {
        self.day0 + Duration::days(8)
    }

    fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) {
        std::fs::write(self.project.path(rel), bytes).expect("write");
    }

    fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.project.path(rel)).unwrap_or_default()
    }

    fn snapshot(&self) -> (Vec<u8>, Vec<(String, String)>) {
        (self.read(STATE), live_keys(&self.iam, &self.user))
    }

    /// Runs keyrot with `args`; wants exit 1, no panic, every `want` in stderr, and the
    /// state file, live keys, lock and journal as they were.
    fn refused(&self, case: &str, args: &[&str], want: &[&str]) -> Run {
        self.refused_with(case, args, want, 1)
    }

    /// As `refused`, with the exit code the refusal must carry.
    fn refused_with(&self, case: &str, args: &[&str], want: &[&str], code: i32) -> Run {
        let before = self.snapshot();
        let run = self.project.run(args, Some(self.later()));
        let shown = format!(
            "{case}: keyrot {args:?} exited {}\n--- stdout\n{}\n--- stderr\n{}",
            run.code,
            run.stdout,
            run.stderr.chars().take(4000).collect::<String>()
        );
        assert_eq!(run.code, code, "{shown}");
        assert!(!run.stderr.contains("panicked"), "{shown}");
        assert!(run.stderr.starts_with("Error: "), "{shown}");
        for w in want {
            assert!(run.stderr.contains(w), "want {w:?} in stderr\n{shown}");
        }
        assert_eq!(
            self.snapshot(),
            before,
            "{case}: keyrot {args:?} changed the state file or IAM"
        );
        for leftover in [".lock", ".journal"] {
            assert!(
                !self.project.path(&format!("{STATE}{leftover}")).exists(),
                "{case}: keyrot {args:?} left {STATE}{leftover}"
            );
        }
        run
    }

    /// `validate` (where given), `plan` and `apply --auto-approve` all refuse.
    fn all_refuse(&self, case: &str, with_validate: bool, want: &[&str]) {
        if with_validate {
            self.refused(case, &["validate"], want);
        }
        self.refused(case, &["plan"], want);
        self.refused(case, &["apply", "--auto-approve"], want);
    }
}

// ---------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------

#[test]
fn hostile_configs_are_refused_with_file_and_position() {
    let fx = applied("hcfg");
    let good = config(&fx.user);

    let malformed = good.replace("overlap      = \"7d\"", "overlap      = = \"7d\"");
    fx.write("keyrot.hcl", &malformed);
    fx.all_refuse("malformed", true, &["keyrot.hcl:3:18: HCL syntax error"]);

    // Cut in the middle of the sink block, inside the path string.
    let cut = good.find("secrets/").unwrap() + 4;
    fx.write("keyrot.hcl", &good[..cut]);
    fx.all_refuse("truncated", true, &["keyrot.hcl:11:7: HCL syntax error"]);

    // A file that is too big to be a config is refused before parsing.
    let mut huge = good.clone();
    while huge.len() < 5 << 20 {
        huge.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    fx.write("keyrot.hcl", &huge);
    fx.all_refuse(
        "5 MiB",
        true,
        &[&format!(
            "config keyrot.hcl is {} bytes; keyrot reads at most 4194304",
            huge.len()
        )],
    );

    // 10,000-deep nesting, balanced and unbalanced, of expressions and of blocks.
    let deep = |open: &str, close: &str| {
        good.replace(
            "  overlap      = \"7d\"",
            &format!(
                "  overlap      = {}{}",
                open.repeat(10_000),
                close.repeat(10_000)
            ),
        )
    };
    for (case, text) in [
        ("deep [ ]", deep("[", "]")),
        ("deep { }", deep("{", "}")),
        ("deep (", deep("(", "")),
        ("deep blocks", good.replace("user", &"b {\n".repeat(10_000))),
    ] {
        fx.write("keyrot.hcl", text);
        fx.all_refuse(
            case,
            true,
            &["keyrot.hcl:", "nesting depth; expected at most 64"],
        );
    }

    // Invalid UTF-8 in the middle of line 3.
    let mut bytes = good.clone().into_bytes();
    let mid = good.find("= \"7d\"").unwrap();
    let column = mid - good.find("  overlap").unwrap() + 1;
    bytes.splice(mid..mid, [0xff, 0xfe, 0xc3]);
    fx.write("keyrot.hcl", &bytes);
    fx.all_refuse(
        "invalid UTF-8",
        true,
        &[&format!("keyrot.hcl:3:{column}: not valid UTF-8")],
    );

    // The good config again: the refusals left everything as it was.
    fx.write("keyrot.hcl", &good);
    let plan = fx
        .project
        .ok(&["plan", "--detailed-exitcode"], Some(fx.later()), 2);
    assert!(plan.stdout.contains("1 to deactivate"), "{}", plan.stdout);
}

#[test]
fn an_empty_config_declares_nothing() {
    let fx = applied("hempty");
    for empty in ["", "\n\n", "# nothing here yet\n"] {
        fx.write("keyrot.hcl", empty);
        let before = fx.snapshot();
        let run = fx.project.ok(&["validate"], None, 0);
        assert!(
            run.stdout
                .contains("The configuration is valid: 0 credential set(s)."),
            "{}",
            run.stdout
        );
        // With a state tracking a set, plan proposes to stop tracking it, leaving IAM alone;
        // planning itself changes nothing.
        let plan = fx.project.ok(&["plan"], Some(fx.later()), 0);
        for want in [
            "forget this credential set (state only; IAM untouched)",
            "its keys stay in IAM as they are",
            "0 to create, 0 to deactivate, 0 to delete",
            "1 state-only",
        ] {
            assert!(
                plan.stdout.contains(want),
                "want {want:?} in\n{}",
                plan.stdout
            );
        }
        assert_eq!(fx.snapshot(), before);
    }
    // In a project without state, an empty config plans nothing at all.
    let fresh = Project::new(&fx.project.endpoint, "");
    let run = fresh.ok(&["plan", "--detailed-exitcode"], None, 0);
    assert!(run.stdout.starts_with("No changes."), "{}", run.stdout);
    assert!(!fresh.path(STATE).exists(), "plan wrote a state");
}

// ---------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------

fn edit_json(text: &[u8], f: impl FnOnce(&mut Value)) -> String {
    let mut doc: Value = serde_json::from_slice(text).expect("state is JSON");
    f(&mut doc);
    serde_json::to_string_pretty(&doc).unwrap()
}

#[test]
fn hostile_state_files_are_refused_and_left_as_they_are() {
    let fx = applied("hstate");
    let good = fx.read(STATE);
    let address = format!("user.{}.access_key", fx.user);
    let unusable = "state file state/keyrot.json is unusable";
    fn set_in<'a>(doc: &'a mut Value, address: &str) -> &'a mut Value {
        &mut doc["credential_sets"][address]
    }

    let cases: Vec<(&str, Vec<u8>, Vec<String>)> = vec![
        (
            "truncated",
            good[..good.len() / 2].to_vec(),
            vec![unusable.into(), "EOF while parsing".into()],
        ),
        (
            "garbage",
            b"\x1b[2Jrm -rf / ; DROP TABLE keys; -- \x07".to_vec(),
            vec![unusable.into(), "expected value at line 1 column 1".into()],
        ),
        (
            "binary garbage",
            (0..4096u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
            vec!["state/keyrot.json".into(), "UTF-8".into()],
        ),
        (
            "steady with a previous key",
            edit_json(&good, |d| set_in(d, &address)["phase"] = json!("steady")).into_bytes(),
            vec![
                unusable.into(),
                format!("{address}: phase `steady` does not match its keys (they say `overlap`)"),
            ],
        ),
        (
            "same key current and previous",
            edit_json(&good, |d| {
                let id = set_in(d, &address)["current"]["id"].clone();
                set_in(d, &address)["previous"]["id"] = id;
            })
            .into_bytes(),
            vec![unusable.into(), "is both current and previous".into()],
        ),
        (
            "held without a previous key",
            edit_json(&good, |d| {
                let s = set_in(d, &address);
                s.as_object_mut().unwrap().remove("previous");
                s["held"] = json!(true);
                s["phase"] = json!("held");
            })
            .into_bytes(),
            vec![
                unusable.into(),
                format!("{address}: held with no previous key"),
            ],
        ),
        (
            "future format_version",
            edit_json(&good, |d| d["format_version"] = json!(2)).into_bytes(),
            vec![
                unusable.into(),
                "state format_version 2 is newer than this keyrot understands (1); upgrade keyrot"
                    .into(),
            ],
        ),
        (
            "unknown top-level field",
            edit_json(&good, |d| d["bogus"] = json!(1)).into_bytes(),
            vec![unusable.into(), "unknown field `bogus`".into()],
        ),
        (
            "unknown field in a set",
            edit_json(&good, |d| set_in(d, &address)["note"] = json!("hand edit")).into_bytes(),
            vec![unusable.into(), "unknown field `note`".into()],
        ),
        (
            "unknown field in a key",
            edit_json(&good, |d| {
                set_in(d, &address)["current"]["secret"] = json!("x")
            })
            .into_bytes(),
            vec![unusable.into(), "unknown field `secret`".into()],
        ),
    ];
    for (case, bytes, want) in &cases {
        fx.write(STATE, bytes);
        let want: Vec<&str> = want.iter().map(String::as_str).collect();
        fx.all_refuse(case, false, &want);
        // validate reads no state: the config itself is fine.
        fx.project.ok(&["validate"], None, 0);
    }

    // The good state again: the refusals left IAM as it was.
    fx.write(STATE, &good);
    let plan = fx
        .project
        .ok(&["plan", "--detailed-exitcode"], Some(fx.later()), 2);
    assert!(plan.stdout.contains("1 to deactivate"), "{}", plan.stdout);
}

#[test]
fn a_state_file_that_is_not_utf8_gets_a_position_and_the_backup_hint() {
    let fx = applied("hutf8");
    let mut bytes = fx.read(STATE);
    let line3 = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(1)
        .map(|(i, _)| i + 1)
        .unwrap();
    bytes.splice(line3 + 4..line3 + 4, [0xff, 0xfe]);
    fx.write(STATE, &bytes);
    for args in [&["plan"][..], &["apply", "--auto-approve"]] {
        let run = fx.refused(
            "state not UTF-8",
            args,
            &[
                "state file state/keyrot.json is unusable",
                "restore it from state/keyrot.json.backup",
            ],
        );
        let position = run.stderr.contains("state/keyrot.json:3:5")
            || (run.stderr.contains("line 3") && run.stderr.contains("column 5"));
        assert!(
            position,
            "no position (line 3, column 5) in: {}",
            run.stderr
        );
    }
}

// ---------------------------------------------------------------------------------------
// Saved plans
// ---------------------------------------------------------------------------------------

#[test]
fn hostile_saved_plans_are_refused_before_anything_changes() {
    let fx = applied("hplan");
    fx.project.ok(
        &["plan", "-out", "good.json", "--detailed-exitcode"],
        Some(fx.later()),
        2,
    );
    let good = String::from_utf8(fx.read("good.json")).unwrap();
    assert!(good.contains("\"action\": \"deactivate\""), "{good}");
    let cases = [
        (
            "truncated",
            good[..good.len() / 2].to_string(),
            "bad.json: not a keyrot saved plan: EOF while parsing",
        ),
        (
            "unknown action kind",
            good.replace("\"action\": \"deactivate\"", "\"action\": \"explode\""),
            "bad.json: saved plan is damaged: unknown action `explode`",
        ),
        (
            "kind changed",
            good.replace("\"keyrot-saved-plan\"", "\"terraform-plan\""),
            "bad.json: saved plan is damaged: kind is `terraform-plan`",
        ),
        (
            "future format_version",
            good.replace("\"format_version\": \"1\"", "\"format_version\": \"2\""),
            "bad.json: saved plan format_version 2 is not supported by this keyrot (it reads 1)",
        ),
    ];
    for (case, text, want) in &cases {
        assert_ne!(text, &good, "{case}: the edit did nothing");
        fx.write("bad.json", text);
        fx.refused(
            case,
            &["apply", "bad.json"],
            &[want, "keyrot plan -out bad.json"],
        );
        fx.refused(case, &["show", "bad.json"], &[want]);
    }
    // None of the refusals consumed the reviewed plan or moved the state.
    let run = fx.project.ok(&["apply", "good.json"], Some(fx.later()), 0);
    assert!(run.stdout.contains("Apply complete!"), "{}", run.stdout);
}

#[test]
fn a_saved_plan_with_a_tampered_key_id_is_refused_before_any_iam_change() {
    let fx = applied("htamper");
    fx.project.ok(
        &["plan", "-out", "good.json", "--detailed-exitcode"],
        Some(fx.later()),
        2,
    );
    let good = String::from_utf8(fx.read("good.json")).unwrap();
    let plan: Value = serde_json::from_str(&good).unwrap();
    let action = &plan["credential_sets"][0]["actions"][0];
    assert_eq!(action["action"], "deactivate", "{plan:#}");
    let old = action["key_id"].as_str().unwrap().to_string();
    let state = fx.project.state_json();
    let current = state["credential_sets"][format!("user.{}.access_key", fx.user)]["current"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(old, current);
    // Point the deactivation at the key applications now use.
    let tampered = edit_json(good.as_bytes(), |d| {
        d["credential_sets"][0]["actions"][0]["key_id"] = json!(current);
    });
    fx.write("bad.json", &tampered);
    // Exit 5: a refused saved plan (make a new plan).
    fx.refused_with(
        "tampered key_id",
        &["apply", "bad.json"],
        &[
            "refusing to apply bad.json",
            "the file was edited after it was made",
            "nothing was changed",
        ],
        5,
    );
}

#[test]
fn a_saved_plan_with_a_foreign_key_id_is_refused_before_anything_changes() {
    let fx = applied("hforeign");
    let stranger = unique_user("hstranger");
    let foreign = seed_user(&fx.iam, &stranger);
    fx.project.ok(
        &["plan", "-out", "good.json", "--detailed-exitcode"],
        Some(fx.later()),
        2,
    );
    let good = String::from_utf8(fx.read("good.json")).unwrap();
    // Point the deactivation at a key of a user the plan never looked at.
    let tampered = edit_json(good.as_bytes(), |d| {
        d["credential_sets"][0]["actions"][0]["key_id"] = json!(foreign.id);
    });
    fx.write("bad.json", &tampered);
    let stranger_before = live_keys(&fx.iam, &stranger);
    // Exit 5: a refused saved plan (make a new plan).
    fx.refused_with(
        "foreign key_id",
        &["apply", "bad.json"],
        &[
            "refusing to apply bad.json",
            "the file was edited after it was made",
            "nothing was changed",
        ],
        5,
    );
    assert_eq!(live_keys(&fx.iam, &stranger), stranger_before);
}
