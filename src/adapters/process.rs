//! The process itself while secrets are in memory: a writing command cannot be dumped.

use std::io;

/// Makes the process non-dumpable (no core file, no ptrace by other users, `/proc/self/mem`
/// closed to them) and its core-size limit zero, for the rest of its life. Called by every
/// writing command before any secret exists.
pub fn forbid_dumps() -> io::Result<()> {
    let no_core = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit reads one valid struct; prctl with PR_SET_DUMPABLE takes plain
    // integers. Neither touches memory keyrot owns.
    unsafe {
        if libc::setrlimit(libc::RLIMIT_CORE, &no_core) != 0 {
            return Err(io::Error::last_os_error());
        }
        #[cfg(target_os = "linux")]
        if libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_it_the_process_has_no_core_and_is_not_dumpable() {
        forbid_dumps().unwrap();
        let mut limit = libc::rlimit {
            rlim_cur: 1,
            rlim_max: 1,
        };
        // SAFETY: getrlimit writes one valid struct; prctl PR_GET_DUMPABLE reads nothing.
        let (got, dumpable) = unsafe {
            (
                libc::getrlimit(libc::RLIMIT_CORE, &mut limit),
                libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0),
            )
        };
        assert_eq!(got, 0);
        assert_eq!((limit.rlim_cur, limit.rlim_max), (0, 0));
        assert_eq!(dumpable, 0);
    }
}
