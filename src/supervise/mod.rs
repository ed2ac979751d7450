//! Supervision beyond actix: what lets a process supervisor (systemd) run
//! pgiris well.
//!
//! - [`notify`]: the readiness protocol (`sd_notify`): `READY=1` once
//!   listening, `RELOADING=1` / `READY=1` around a reload, `STOPPING=1` at
//!   shutdown.
//! - [`panics`]: the panic policy. A panic in a backend call or a session is
//!   contained (the statement gets XX000, the session ends); a panic on the
//!   server's own thread (listener, registry, authenticator, executor pool,
//!   the control loop), whose actors actix cannot restart after a panic,
//!   aborts the process so that the supervisor restarts a whole server
//!   instead of leaving a half-dead one.
//! - [`raise_nofile_limit`]: the soft file-descriptor limit raised to the
//!   hard one at start, as every connection costs one.
//! - [`release_free_memory`] and [`should_trim`]: memory freed by a burst of
//!   sessions given back to the system once the burst is over.

pub mod notify;
pub mod panics;

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the limit now in
/// force (soft), or the error of the system call.
pub fn raise_nofile_limit() -> std::io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        lim.rlim_cur = lim.rlim_max;
    }
    Ok(lim.rlim_cur)
}

/// Gives memory the allocator holds free back to the system (glibc's
/// `malloc_trim`); returns whether any was released. glibc keeps the pages
/// of freed chunks inside its per-thread arenas, so after a burst of
/// sessions ends the resident size stays at the burst's high-water mark;
/// this brings it back near the baseline. A no-op on other allocators.
pub fn release_free_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only walks the allocator's own structures,
        // under its locks.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// This process's resident memory in bytes (0 when /proc is unreadable).
pub fn resident_memory() -> u64 {
    // statm: size resident shared ... in pages.
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|n| n.parse::<u64>().ok())
        })
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(0) as u64;
    pages * page
}

/// When to call [`release_free_memory`]: the session count has fallen to
/// half of its high-water mark since the last release, by at least
/// `min_drop` sessions. A burst that ended is followed by one trim; a
/// steady load, or small swings, by none.
pub fn should_trim(high_water: usize, sessions: usize, min_drop: usize) -> bool {
    high_water.saturating_sub(sessions) >= min_drop.max(1) && sessions <= high_water / 2
}

/// File descriptors a server needs besides its clients' sockets: listeners,
/// the log, database files and their journals, the runtime's own.
pub const NOFILE_HEADROOM: u64 = 64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_after_a_burst_ends_only() {
        assert!(should_trim(1000, 500, 100));
        assert!(should_trim(1000, 0, 100));
        assert!(
            !should_trim(1000, 501, 100),
            "above half the high-water mark"
        );
        assert!(!should_trim(99, 0, 100), "a small swing");
        assert!(!should_trim(0, 0, 100));
        assert!(!should_trim(10, 20, 1), "the count rose");
    }

    #[test]
    fn raising_the_nofile_limit_reaches_the_hard_limit() {
        let soft = raise_nofile_limit().unwrap();
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we own.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        assert_eq!(soft, lim.rlim_max);
        assert_eq!(lim.rlim_cur, lim.rlim_max);
    }

    #[test]
    fn releasing_free_memory_does_not_disturb_live_allocations() {
        let kept: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 64 * 1024]).collect();
        let freed: Vec<Vec<u8>> = (0..256).map(|_| vec![7u8; 64 * 1024]).collect();
        drop(freed);
        release_free_memory();
        for (i, v) in kept.iter().enumerate() {
            assert!(v.iter().all(|&b| b == i as u8));
        }
    }
}
