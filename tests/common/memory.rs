//! The test process's resident memory, for bounds on what the in-process
//! server allocates: the current RSS and the peak since the last reset
//! (Linux `VmHWM`, reset by writing 5 to `/proc/self/clear_refs`), so a
//! transient spike is seen even when it is freed before anyone looks; and
//! the virtual size, which shows memory reserved but not yet written.

/// A field of /proc/self/status in bytes (`VmRSS`, `VmHWM`).
fn status_bytes(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = text
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unreadable {line:?}"));
    kb * 1024
}

/// Resident memory now.
pub fn rss() -> u64 {
    status_bytes("VmRSS:")
}

/// The peak resident memory since the last [`reset_peak`].
pub fn peak() -> u64 {
    status_bytes("VmHWM:")
}

/// Virtual memory now: what was reserved, touched or not. An allocation
/// sized by an announced length shows here even before a byte fills it
/// (RSS only counts the pages written).
pub fn virtual_size() -> u64 {
    status_bytes("VmSize:")
}

/// Makes the peak start again from the current RSS.
pub fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak RSS (clear_refs)");
}

pub const MB: u64 = 1024 * 1024;
