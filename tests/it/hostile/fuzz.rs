//! Fuzz (property) tests of the three parsers: the harness, the properties and the tests.

use super::seeds::{plan_seeds, state_seeds, CONFIG_SEEDS, OTHER_CONFIG};
use super::strategies::{
    json_mutated, mutated, random_text, HCL, HCL_TOKENS, JSON, JSON_TOKENS, NESTS,
};
use keyrot::core::config::{self, Source};
use keyrot::core::plan::saved as planfile;
use keyrot::core::state::file as state_file;
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Cases per parser when `KEYROT_FUZZ_CASES` is unset: the whole `hostile` module stays
/// well under 20 s in a debug build on two cores.
pub(super) const DEFAULT_FUZZ_CASES: u32 = 5000;

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
/// Plans over an accepted state, with IAM showing exactly the tracked keys: the window
/// arithmetic runs on every instant the state holds, and must not panic.
fn plan_over(state: &keyrot::core::state::State) {
    use keyrot::core::config::{Config, SetConfig, Windows};
    use keyrot::core::model::{Inventory, LiveKey};
    let mut config = Config::default();
    let mut inventory = Inventory::default();
    for (address, set) in &state.sets {
        config.sets.insert(
            address.clone(),
            SetConfig {
                address: address.clone(),
                windows: Windows::default(),
                sinks: Vec::new(),
                certificate: None,
                selector: None,
                require_new_key_use: false,
                confirm: Default::default(),
            },
        );
        let live = set
            .keys()
            .map(|(_, k)| LiveKey {
                id: k.id.clone(),
                status: k.status.clone(),
                created: k.born,
                cert: None,
            })
            .collect();
        inventory.credentials.insert(address.clone(), live);
    }
    let latest: keyrot::core::model::Time = "9999-12-31T23:59:59Z".parse().unwrap();
    for now in [chrono::DateTime::UNIX_EPOCH, latest] {
        keyrot::core::planner::plan(&config, &inventory, state, now, &Default::default());
    }
}

#[test]
fn instants_outside_1970_to_9999_are_refused_with_a_message() {
    let extreme = "+262142-12-31T23:59:59Z";
    let state = format!(
        r#"{{"format_version": 1, "lineage": "l", "serial": 1, "credential_sets": {{"user.a.access_key": {{"phase": "steady", "held": false, "current": {{"id": "AKIAOLD0000000000001", "status": "Active", "born": "{extreme}", "status_since": "2026-01-01T00:00:00Z"}}}}}}}}"#
    );
    let err = state_file::from_json(&state).unwrap_err().to_string();
    assert!(err.contains("outside the years 1970 to 9999"), "{err}");
    assert!(err.contains("line 1"), "positioned: {err}");
    let early = state.replace(extreme, "1969-12-31T23:59:59Z");
    assert!(state_file::from_json(&early).is_err());
    let ok = state.replace(extreme, "9999-12-31T00:00:00Z");
    plan_over(&state_file::from_json(&ok).unwrap());
}

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
            plan_over(&state);
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
