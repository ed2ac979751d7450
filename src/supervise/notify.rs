//! systemd's readiness protocol (`sd_notify(3)`), with no dependency: one
//! datagram of newline-separated `KEY=VALUE` assignments to the Unix socket
//! named by `$NOTIFY_SOCKET` (a path, or an abstract name when it starts
//! with '@').
//!
//! pgiris sends `READY=1` once every listener is bound, `RELOADING=1` (with
//! `MONOTONIC_USEC`, which `Type=notify-reload` requires) before a SIGHUP
//! reload and `READY=1` after it, and `STOPPING=1` when a shutdown begins.
//! Without `$NOTIFY_SOCKET` (not started by systemd) nothing is sent.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// The environment variable systemd sets for `Type=notify` services.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// How long a send may block when the receiver's queue is full: systemd
/// reads promptly, and a server must not hang on its supervisor.
const SEND_TIMEOUT: Duration = Duration::from_secs(2);

/// A connection to the supervisor's notification socket.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    addr: SocketAddr,
}

impl Notifier {
    /// The notifier `$NOTIFY_SOCKET` names: `Ok(None)` when it is unset or
    /// empty, an error when it is set but unusable.
    pub fn from_env() -> io::Result<Option<Notifier>> {
        match std::env::var_os(NOTIFY_SOCKET) {
            None => Ok(None),
            Some(v) if v.is_empty() => Ok(None),
            Some(v) => {
                let v = v.into_string().map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidInput, "NOTIFY_SOCKET is not UTF-8")
                })?;
                Notifier::new(&v).map(Some)
            }
        }
    }

    /// A notifier for `address`: an absolute path, or `@name` for the
    /// abstract namespace.
    pub fn new(address: &str) -> io::Result<Notifier> {
        let addr = parse_address(address)?;
        let socket = UnixDatagram::unbound()?;
        socket.set_write_timeout(Some(SEND_TIMEOUT))?;
        Ok(Notifier { socket, addr })
    }

    /// Sends `state` (newline-separated assignments) in one datagram.
    pub fn notify(&self, state: &str) -> io::Result<()> {
        let sent = self.socket.send_to_addr(state.as_bytes(), &self.addr)?;
        if sent != state.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "the notification was truncated",
            ));
        }
        Ok(())
    }

    /// `READY=1`, with a status line for `systemctl status`.
    pub fn ready(&self, status: &str) -> io::Result<()> {
        self.notify(&format!("READY=1\nSTATUS={}", one_line(status)))
    }

    /// `RELOADING=1` with the monotonic time systemd asks for.
    pub fn reloading(&self) -> io::Result<()> {
        self.notify(&format!(
            "RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=reloading",
            monotonic_usec()
        ))
    }

    /// `STOPPING=1`.
    pub fn stopping(&self) -> io::Result<()> {
        self.notify("STOPPING=1\nSTATUS=shutting down")
    }
}

fn parse_address(address: &str) -> io::Result<SocketAddr> {
    if let Some(name) = address.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        return SocketAddr::from_abstract_name(name.as_bytes());
    }
    if address.starts_with('/') {
        return SocketAddr::from_pathname(address);
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("NOTIFY_SOCKET {address:?} is neither an absolute path nor an @abstract name"),
    ))
}

/// A status value must not start another assignment.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// CLOCK_MONOTONIC in microseconds, as `MONOTONIC_USEC` wants it.
fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the struct we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000 + (ts.tv_nsec as u64) / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receive(socket: &UnixDatagram) -> String {
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 512];
        let n = socket.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn sends_to_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let receiver = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::new(path.to_str().unwrap()).unwrap();
        n.ready("listening on 127.0.0.1:5432\nREADY=0").unwrap();
        assert_eq!(
            receive(&receiver),
            "READY=1\nSTATUS=listening on 127.0.0.1:5432 READY=0"
        );
        n.reloading().unwrap();
        let r = receive(&receiver);
        let lines: Vec<&str> = r.lines().collect();
        assert_eq!(lines[0], "RELOADING=1");
        let usec: u64 = lines[1]
            .strip_prefix("MONOTONIC_USEC=")
            .unwrap()
            .parse()
            .unwrap();
        assert!(usec > 0);
        n.stopping().unwrap();
        assert!(receive(&receiver).starts_with("STOPPING=1\n"));
    }

    #[test]
    fn sends_to_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("pgiris-notify-test-{}", std::process::id());
        let receiver =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
                .unwrap();
        let n = Notifier::new(&format!("@{name}")).unwrap();
        n.stopping().unwrap();
        assert!(receive(&receiver).starts_with("STOPPING=1"));
    }

    #[test]
    fn refuses_relative_addresses_and_reports_a_missing_socket() {
        assert!(Notifier::new("relative/path").is_err());
        assert!(Notifier::new("").is_err());
        let n = Notifier::new("/nonexistent/pgiris/notify.sock").unwrap();
        assert!(n.ready("x").is_err());
    }
}
