//! Test-only crash points: `KEYROT_CRASH_AT=NAME[:N]` makes a debug build abort at the
//! N-th (default first) time it passes point NAME, like a kill -9 mid-step. Compiled out
//! of release builds.

#[cfg(debug_assertions)]
mod imp {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::OnceLock;

    static SPEC: OnceLock<Option<(String, u32)>> = OnceLock::new();
    static SEEN: AtomicU32 = AtomicU32::new(0);

    /// Read once by the CLI at start-up, with the rest of the environment.
    pub fn arm(spec: Option<String>) {
        let parsed = spec.map(|s| match s.split_once(':') {
            Some((name, n)) => (name.to_string(), n.parse().unwrap_or(1)),
            None => (s, 1),
        });
        let _ = SPEC.set(parsed);
    }

    pub fn point(name: &str) {
        if let Some(Some((want, nth))) = SPEC.get() {
            if want == name && SEEN.fetch_add(1, Ordering::SeqCst) + 1 == *nth {
                eprintln!("keyrot: crash point {name} reached: aborting");
                std::process::abort();
            }
        }
    }
}

#[cfg(not(debug_assertions))]
mod imp {
    pub fn arm(_spec: Option<String>) {}
    pub fn point(_name: &str) {}
}

pub use imp::{arm, point};

/// Every crash point, in the order a create passes them (for test matrices).
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
];
