//! The state file's on-disk format: a versioned DTO, separate from the in-memory [`State`],
//! written in a normalized, sorted order. Pure: text in, text out.

use crate::core::model::{Address, KeyId, KeyStatus, Time};
use crate::core::state::{CheckRecord, ClockOverride, Phase, SetState, State, TrackedKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version 2 added each key's `delivered` instant and each set's `confirm` records; a
/// version 1 file reads as one without them.
pub const FORMAT_VERSION: u32 = 2;

/// The oldest format this keyrot still reads.
const OLDEST_READABLE: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    #[error("not valid keyrot state JSON: {0}")]
    Syntax(#[from] serde_json::Error),
    #[error("state format_version {found} is newer than this keyrot understands ({FORMAT_VERSION}); upgrade keyrot")]
    FutureVersion { found: u32 },
    #[error("state format_version {found} is not supported (this keyrot reads {OLDEST_READABLE} to {FORMAT_VERSION})")]
    UnknownVersion { found: u32 },
    #[error("{address}: {problem}")]
    Inconsistent { address: String, problem: String },
    #[error("not UTF-8 at line {line} column {column}")]
    NotUtf8 { line: usize, column: usize },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateDto {
    format_version: u32,
    lineage: String,
    serial: u64,
    credential_sets: BTreeMap<Address, SetDto>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    applied_plans: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetDto {
    /// Written for people reading the file; checked against the keys on load.
    phase: String,
    #[serde(default)]
    held: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    current: Option<KeyDto>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    previous: Option<KeyDto>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    unresolved: Vec<KeyId>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    clock_override: Option<ClockOverrideDto>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    confirm: Vec<CheckDto>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckDto {
    check: String,
    fingerprint: String,
    #[serde(with = "crate::core::model::instant")]
    ran: Time,
    passed: bool,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        with = "crate::core::model::instant::option"
    )]
    last_passed: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    output: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockOverrideDto {
    #[serde(with = "crate::core::model::instant")]
    used: Time,
    #[serde(with = "crate::core::model::instant")]
    real: Time,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyDto {
    id: KeyId,
    status: KeyStatus,
    #[serde(with = "crate::core::model::instant")]
    born: Time,
    #[serde(with = "crate::core::model::instant")]
    status_since: Time,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        with = "crate::core::model::instant::option"
    )]
    delivered: Option<Time>,
}

/// Only the format version, read first so a future file gets a clear message.
#[derive(Deserialize)]
struct VersionProbe {
    format_version: u32,
}

pub fn to_json(state: &State) -> String {
    let dto = StateDto {
        format_version: FORMAT_VERSION,
        lineage: state.lineage.clone(),
        serial: state.serial,
        credential_sets: state
            .sets
            .iter()
            .map(|(address, set)| {
                let key = |k: &TrackedKey| KeyDto {
                    id: k.id.clone(),
                    status: k.status.clone(),
                    born: k.born,
                    status_since: k.status_since,
                    delivered: k.delivered,
                };
                let dto = SetDto {
                    phase: set.phase().as_str().to_string(),
                    held: set.held,
                    current: set.current.as_ref().map(key),
                    previous: set.previous.as_ref().map(key),
                    unresolved: set.unresolved.clone(),
                    clock_override: set.clock_override.map(|o| ClockOverrideDto {
                        used: o.used,
                        real: o.real,
                    }),
                    confirm: set.confirm.iter().map(check_dto).collect(),
                };
                (address.clone(), dto)
            })
            .collect(),
        applied_plans: state.applied_plans.clone(),
    };
    // Serializing plain structs of strings and numbers cannot fail.
    let mut text = serde_json::to_string_pretty(&dto).unwrap_or_default();
    text.push('\n');
    text
}

/// Like [`from_json`], from raw bytes: invalid UTF-8 is reported with its position.
pub fn from_bytes(bytes: &[u8]) -> Result<State, StateFileError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => from_json(text),
        Err(e) => {
            let prefix = String::from_utf8_lossy(&bytes[..e.valid_up_to()]);
            let (line, column) =
                crate::core::diagnostic::LineIndex::new(&prefix).position(e.valid_up_to());
            Err(StateFileError::NotUtf8 { line, column })
        }
    }
}

pub fn from_json(text: &str) -> Result<State, StateFileError> {
    let probe: VersionProbe = serde_json::from_str(text)?;
    match probe.format_version {
        // Version 2 only added optional fields: one DTO reads both.
        OLDEST_READABLE..=FORMAT_VERSION => {}
        found if found > FORMAT_VERSION => return Err(StateFileError::FutureVersion { found }),
        found => return Err(StateFileError::UnknownVersion { found }),
    }
    let dto: StateDto = serde_json::from_str(text)?;
    let mut sets = BTreeMap::new();
    for (address, set) in dto.credential_sets {
        let key = |k: KeyDto| TrackedKey {
            id: k.id,
            status: k.status,
            born: k.born,
            status_since: k.status_since,
            delivered: k.delivered,
        };
        let state = SetState {
            current: set.current.map(key),
            previous: set.previous.map(key),
            held: set.held,
            unresolved: {
                let mut ids = set.unresolved;
                ids.sort();
                ids.dedup();
                ids
            },
            clock_override: set.clock_override.map(|o| ClockOverride {
                used: o.used,
                real: o.real,
            }),
            confirm: set.confirm.into_iter().map(check_record).collect(),
        };
        check(&address, &state, &set.phase)?;
        sets.insert(address, state);
    }
    Ok(State {
        lineage: dto.lineage,
        serial: dto.serial,
        sets,
        applied_plans: dto.applied_plans,
    })
}

fn check_dto(c: &CheckRecord) -> CheckDto {
    CheckDto {
        check: c.check.clone(),
        fingerprint: c.fingerprint.clone(),
        ran: c.ran,
        passed: c.passed,
        last_passed: c.last_passed,
        output: c.output.clone(),
    }
}

fn check_record(c: CheckDto) -> CheckRecord {
    CheckRecord {
        check: c.check,
        fingerprint: c.fingerprint,
        ran: c.ran,
        passed: c.passed,
        last_passed: c.last_passed,
        output: c.output,
    }
}

/// Refuses hand-edited states the state machine can never reach.
fn check(address: &Address, set: &SetState, phase: &str) -> Result<(), StateFileError> {
    let fail = |problem: String| StateFileError::Inconsistent {
        address: address.to_string(),
        problem,
    };
    if Phase::parse(phase) != Some(set.phase()) {
        return Err(fail(format!(
            "phase `{phase}` does not match its keys (they say `{}`)",
            set.phase().as_str()
        )));
    }
    if let (Some(c), Some(p)) = (&set.current, &set.previous) {
        if c.id == p.id {
            return Err(fail(format!("key {} is both current and previous", c.id)));
        }
    }
    if set.held && set.previous.is_none() {
        return Err(fail("held with no previous key".into()));
    }
    if set.current.is_none()
        && set
            .previous
            .as_ref()
            .is_some_and(|p| p.status == KeyStatus::Active)
    {
        return Err(fail("an Active previous key with no current key".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> State {
        let t: Time = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut s = State::new("lin-1".into());
        s.serial = 4;
        s.sets.insert(
            Address::access_key("ci"),
            SetState {
                current: Some(TrackedKey {
                    id: KeyId("AKIANEW".into()),
                    status: KeyStatus::Active,
                    born: t,
                    status_since: t,
                    delivered: Some(t),
                }),
                previous: Some(TrackedKey {
                    id: KeyId("AKIAOLD".into()),
                    status: KeyStatus::Inactive,
                    born: t,
                    status_since: t,
                    delivered: None,
                }),
                held: false,
                unresolved: Vec::new(),
                clock_override: None,
                confirm: vec![CheckRecord {
                    check: "exec ./smoke-test".into(),
                    fingerprint: "sha256:0011223344556677".into(),
                    ran: t,
                    passed: false,
                    last_passed: None,
                    output: Some("connection refused".into()),
                }],
            },
        );
        s
    }

    #[test]
    fn round_trips_byte_for_byte() {
        let text = to_json(&sample());
        let back = from_json(&text).unwrap();
        assert_eq!(back, sample());
        assert_eq!(to_json(&back), text);
        assert!(text.contains("\"phase\": \"inactive\""));
    }

    #[test]
    fn refuses_future_and_impossible_states() {
        let text = to_json(&sample());
        let future = text.replace("\"format_version\": 2", "\"format_version\": 9");
        assert!(matches!(
            from_json(&future),
            Err(StateFileError::FutureVersion { found: 9 })
        ));
        let lying = text.replace("\"inactive\"", "\"steady\"");
        let err = from_json(&lying).unwrap_err().to_string();
        assert!(err.contains("does not match its keys"), "{err}");
        let twin = text.replace("AKIAOLD", "AKIANEW");
        assert!(from_json(&twin)
            .unwrap_err()
            .to_string()
            .contains("both current and previous"));
        assert!(from_json(&text[..text.len() / 2]).is_err());
        let extra = text.replace("\"serial\"", "\"bogus\": 1, \"serial\"");
        assert!(from_json(&extra).is_err());
    }

    /// A file written before delivery instants and confirm records existed still loads,
    /// as the same state without them.
    #[test]
    fn reads_a_version_1_file() {
        let v1 = r#"{
  "format_version": 1,
  "lineage": "lin-1",
  "serial": 3,
  "credential_sets": {
    "user.ci.access_key": {
      "phase": "overlap",
      "held": false,
      "current": {"id": "AKIANEW", "status": "Active",
        "born": "2026-01-01T00:00:00Z", "status_since": "2026-01-01T00:00:00Z"},
      "previous": {"id": "AKIAOLD", "status": "Active",
        "born": "2025-01-01T00:00:00Z", "status_since": "2025-01-01T00:00:00Z"}
    }
  }
}"#;
        let state = from_json(v1).unwrap();
        let set = &state.sets[&Address::access_key("ci")];
        assert_eq!(set.current.as_ref().unwrap().delivered, None);
        assert!(set.confirm.is_empty());
        assert!(to_json(&state).contains("\"format_version\": 2"));
        let old = v1.replace("\"format_version\": 1", "\"format_version\": 0");
        assert!(matches!(
            from_json(&old),
            Err(StateFileError::UnknownVersion { found: 0 })
        ));
    }
}
