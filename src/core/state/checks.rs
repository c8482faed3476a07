//! What the state remembers of confirm checks: each check's latest run, so the planner
//! can tell a set held by a failed check from one a person rolled back, and `status` can
//! say when each check last ran and passed.

use super::SetState;
use crate::core::model::Time;

/// The latest run of one confirm check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckRecord {
    /// How the check is named (`exec ./smoke-test`, `http https://app.internal`).
    pub check: String,
    /// `Check::fingerprint` of its definition: a record counts only for that definition.
    pub fingerprint: String,
    /// keyrot's clock when it ran.
    pub ran: Time,
    pub passed: bool,
    /// When it last passed, this run or an earlier one of the same checkpoint.
    pub last_passed: Option<Time>,
    /// A failed run's output, bounded (stdout then stderr, or the HTTP answer).
    pub output: Option<String>,
}

impl SetState {
    /// Replaces the recorded runs with `runs`, keeping each check's last pass.
    pub fn record_checks(&mut self, runs: Vec<CheckRecord>) {
        let earlier = std::mem::take(&mut self.confirm);
        self.confirm = runs
            .into_iter()
            .map(|mut run| {
                run.last_passed = if run.passed {
                    Some(run.ran)
                } else {
                    earlier
                        .iter()
                        .find(|e| e.fingerprint == run.fingerprint)
                        .and_then(|e| e.last_passed)
                };
                run
            })
            .collect();
    }

    /// The recorded runs that failed.
    pub fn failed_checks(&self) -> impl Iterator<Item = &CheckRecord> {
        self.confirm.iter().filter(|c| !c.passed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(fingerprint: &str, ran: i64, passed: bool) -> CheckRecord {
        CheckRecord {
            check: format!("exec {fingerprint}"),
            fingerprint: fingerprint.into(),
            ran: chrono::DateTime::from_timestamp(ran, 0).unwrap(),
            passed,
            last_passed: None,
            output: (!passed).then(|| "boom".to_string()),
        }
    }

    #[test]
    fn a_failure_keeps_the_last_pass_of_the_same_check_only() {
        let mut set = SetState::default();
        set.record_checks(vec![run("a", 10, true), run("b", 10, true)]);
        set.record_checks(vec![run("a", 20, false), run("c", 20, false)]);
        let at = |t| chrono::DateTime::from_timestamp(t, 0);
        assert_eq!(set.confirm[0].last_passed, at(10));
        assert_eq!(set.confirm[1].last_passed, None, "c never passed");
        assert_eq!(set.failed_checks().count(), 2);
        set.record_checks(vec![run("a", 30, true)]);
        assert_eq!(set.confirm[0].last_passed, at(30));
        assert_eq!(set.failed_checks().count(), 0);
    }
}
