//! The one place outcomes become exit codes. Documented in README and `keyrot --help`.

use crate::ops::{Error, ErrorClass};

/// Success; with `plan --detailed-exitcode`, nothing to do.
pub const OK: u8 = 0;
/// Any error not named below (bad config, IAM failure, a failed step, cancelled apply,
/// a run that lost its S3 lease: the run holding the lock settles what it left).
pub const ERROR: u8 = 1;
/// `plan --detailed-exitcode`: changes are due now.
pub const CHANGES: u8 = 2;
/// `plan --detailed-exitcode`: nothing due now, only waiting steps.
pub const WAITING: u8 = 3;
/// `fmt --check`: a file is not in the canonical layout (as `terraform fmt -check`).
pub const UNFORMATTED: u8 = 3;
/// Another keyrot run holds the state lock: retry later.
pub const LOCKED: u8 = 4;
/// A saved plan was refused (stale, replayed, config or IAM moved, edited): plan again.
pub const PLAN_REFUSED: u8 = 5;
/// AWS refused keyrot's credentials or permissions: fix them.
pub const ACCESS_DENIED: u8 = 6;
/// `plan --detailed-exitcode` and `apply`: a set cannot go on until a person acts (a
/// missing user, a key changed by hand, slots held by unmanaged keys, an unresolved key).
pub const BLOCKED: u8 = 7;
/// `apply`: a confirm check failed in this run: the set was reverted to its old key (or held
/// with it Inactive, `on_confirm_failure = "hold"`); the output names the check. Later runs
/// exit 7 until a person resumes the set.
pub const CONFIRM_FAILED: u8 = 8;

/// The `--help` text that lists every exit code.
pub const HELP: &str = "Exit codes:
  0  success (plan --detailed-exitcode: nothing to do)
  1  error (also: this run lost its S3 lock lease and stopped)
  2  plan --detailed-exitcode: changes are due now
  3  plan --detailed-exitcode: only waiting steps; fmt --check: files need formatting
  4  the state is locked by another run: retry later
  5  a saved plan was refused (stale, replayed, config or IAM moved, edited): plan again
  6  AWS denied keyrot's credentials or permissions: fix them
  7  plan --detailed-exitcode, apply: a set is blocked until a person acts (the plan says how)
  8  apply: a confirm check failed, and its set was reverted to the old key (or held)";

pub fn code(error: &Error) -> u8 {
    match error.class() {
        ErrorClass::Locked => LOCKED,
        ErrorClass::PlanRefused => PLAN_REFUSED,
        ErrorClass::AccessDenied => ACCESS_DENIED,
        ErrorClass::General => ERROR,
    }
}
