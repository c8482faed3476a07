//! Test-only crash points: `KEYROT_CRASH_AT=NAME[:N]` makes a debug build abort at the
//! N-th (default first) time it passes point NAME, like a kill -9 mid-step. Compiled out
//! of release builds. `KEYROT_PAUSE_AT=NAME[:N]` instead stops the process there
//! (SIGSTOP, as a debugger or an overloaded host would) until it is sent SIGCONT.

#[cfg(debug_assertions)]
mod imp {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::OnceLock;

    static SPEC: OnceLock<Option<(String, u32)>> = OnceLock::new();
    static SEEN: AtomicU32 = AtomicU32::new(0);
    static PAUSE: OnceLock<Option<(String, u32)>> = OnceLock::new();
    static PAUSE_SEEN: AtomicU32 = AtomicU32::new(0);

    fn parse(spec: Option<String>) -> Option<(String, u32)> {
        spec.map(|s| match s.split_once(':') {
            Some((name, n)) => (name.to_string(), n.parse().unwrap_or(1)),
            None => (s, 1),
        })
    }

    /// Read once by the CLI at start-up, with the rest of the environment.
    pub fn arm(spec: Option<String>) {
        let _ = SPEC.set(parse(spec));
    }

    /// Read once by the CLI at start-up: where to stop the process.
    pub fn arm_pause(spec: Option<String>) {
        let _ = PAUSE.set(parse(spec));
    }

    fn reached(spec: &OnceLock<Option<(String, u32)>>, seen: &AtomicU32, name: &str) -> bool {
        match spec.get() {
            Some(Some((want, nth))) => {
                want == name && seen.fetch_add(1, Ordering::SeqCst) + 1 == *nth
            }
            _ => false,
        }
    }

    pub fn point(name: &str) {
        if reached(&SPEC, &SEEN, name) {
            eprintln!("keyrot: crash point {name} reached: aborting");
            std::process::abort();
        }
        if reached(&PAUSE, &PAUSE_SEEN, name) {
            eprintln!("keyrot: pause point {name} reached: stopping");
            // `kill` returns once this process is continued.
            let _ = std::process::Command::new("kill")
                .args(["-STOP", &std::process::id().to_string()])
                .status();
        }
    }
}

#[cfg(not(debug_assertions))]
mod imp {
    pub fn arm(_spec: Option<String>) {}
    pub fn arm_pause(_spec: Option<String>) {}
    pub fn point(_name: &str) {}
}

pub use imp::{arm, arm_pause, point};

/// Every crash point, in the order a create passes them (for test matrices); `before-revert`
/// is between a failed confirm check's record and the revert it starts.
pub const POINTS: &[&str] = &[
    "before-iam-create",
    "after-iam-create",
    "before-deliver",
    "after-deliver",
    "before-state-write",
    "after-state-write",
    "before-iam-update",
    "after-iam-update",
    "before-iam-delete",
    "after-iam-delete",
    "before-journal-write",
    "after-journal-write",
    "before-event-write",
    "after-event-write",
    "before-revert",
];
