//! A process seen from /proc (Linux): what the soak and fault tests measure
//! on the server subprocess.

use std::time::{Duration, Instant};

fn status_field(pid: i32, field: &str) -> u64 {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let line = text
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in {path}"));
    line.split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unreadable {line:?}"))
}

/// Resident memory, bytes.
pub fn rss(pid: i32) -> u64 {
    status_field(pid, "VmRSS:") * 1024
}

/// Peak resident memory since start (or the last [`reset_peak`]), bytes.
pub fn peak_rss(pid: i32) -> u64 {
    status_field(pid, "VmHWM:") * 1024
}

/// Makes the peak start again from the current RSS.
pub fn reset_peak(pid: i32) {
    let path = format!("/proc/{pid}/clear_refs");
    std::fs::write(&path, "5").unwrap_or_else(|e| panic!("write {path}: {e}"));
}

/// Threads of the process.
pub fn threads(pid: i32) -> u64 {
    status_field(pid, "Threads:")
}

/// The names of its threads (`comm`, at most 15 bytes each).
pub fn thread_names(pid: i32) -> Vec<String> {
    let dir = format!("/proc/{pid}/task");
    let mut names = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("read {dir}: {e}")) {
        let Ok(e) = e else { continue };
        if let Ok(n) = std::fs::read_to_string(e.path().join("comm")) {
            names.push(n.trim_end().to_owned());
        }
    }
    names.sort();
    names
}

/// Open file descriptors.
pub fn fds(pid: i32) -> usize {
    let dir = format!("/proc/{pid}/fd");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {dir}: {e}"))
        .count()
}

/// User + system CPU time so far.
pub fn cpu_time(pid: i32) -> Duration {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    // The command name may hold spaces and parentheses: count from the last ')'.
    let rest = &text[text.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); `rest` starts at field 3.
    let ticks: u64 = f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime");
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_micros(ticks * 1_000_000 / hz)
}

/// The share of one core the process used over `window` (0.0 to cores).
pub fn cpu_share(pid: i32, window: Duration) -> f64 {
    let (c0, t0) = (cpu_time(pid), Instant::now());
    std::thread::sleep(window);
    let (c1, t1) = (cpu_time(pid), Instant::now());
    (c1 - c0).as_secs_f64() / (t1 - t0).as_secs_f64()
}

/// Raises this process's soft RLIMIT_NOFILE to its hard limit; returns it.
pub fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a struct we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = lim.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    lim.rlim_cur
}

/// Waits until `cond` holds, polling every 50 ms; false after `timeout`.
pub fn wait(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
