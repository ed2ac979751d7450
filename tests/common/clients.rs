//! Real clients against a test server: tokio-postgres (its connection
//! future runs on the test's runtime) and the `psql` binary.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls};

/// A tokio-postgres configuration for `user` on `database`, plaintext.
pub fn pg_config(addr: SocketAddr, user: &str, database: &str) -> tokio_postgres::Config {
    let mut c = tokio_postgres::Config::new();
    c.host(addr.ip().to_string())
        .port(addr.port())
        .user(user)
        .dbname(database)
        .connect_timeout(Duration::from_secs(5))
        .ssl_mode(tokio_postgres::config::SslMode::Disable);
    c
}

/// A connected tokio-postgres client and the task driving its connection
/// (which ends with the connection's outcome).
pub struct PgClient {
    pub client: Client,
    pub connection: JoinHandle<Result<(), tokio_postgres::Error>>,
}

impl std::ops::Deref for PgClient {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

/// Connects with `config`; must be called inside a Tokio runtime.
pub async fn try_connect_with(
    config: &tokio_postgres::Config,
) -> Result<PgClient, tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    let connection = tokio::spawn(connection);
    Ok(PgClient { client, connection })
}

/// Connects as `user` to `database`; panics on failure.
pub async fn connect(addr: SocketAddr, user: &str, database: &str) -> PgClient {
    try_connect_with(&pg_config(addr, user, database))
        .await
        .unwrap_or_else(|e| panic!("tokio-postgres connect as {user}: {e:?}"))
}

/// The SQLSTATE of a tokio-postgres error (panics when it has none).
pub fn code_of(e: &tokio_postgres::Error) -> String {
    e.code()
        .unwrap_or_else(|| panic!("error without SQLSTATE: {e:?}"))
        .code()
        .to_owned()
}

/// What a psql run produced.
#[derive(Debug)]
pub struct PsqlOutput {
    pub stdout: String,
    pub stderr: String,
    pub status: std::process::ExitStatus,
}

impl PsqlOutput {
    pub fn success(&self) -> bool {
        self.status.success()
    }
}

/// Runs `psql -X` (no psqlrc) with `args` against `addr` as `user`, with a
/// clean environment (PGHOST, PGPORT, PGUSER, PGDATABASE set; no password,
/// no service file) and a 30 s bound.
pub fn psql(addr: SocketAddr, user: &str, database: &str, args: &[&str]) -> PsqlOutput {
    psql_env(addr, user, database, args, &[])
}

/// As [`psql`] with extra environment variables.
pub fn psql_env(
    addr: SocketAddr,
    user: &str,
    database: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> PsqlOutput {
    let home = tempfile::tempdir().expect("temp HOME for psql");
    let mut cmd = psql_command(addr, user, database, args, home.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("psql is installed (postgresql-client)");
    let pid = child.id() as i32;
    // Collect the output on a thread so a full pipe never blocks psql.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(r) => r.expect("psql output"),
        Err(_) => {
            // SAFETY: pid is our own child, not yet reaped (its waiter
            // thread is still blocked).
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("psql {args:?} did not finish within 30 s");
        }
    };
    PsqlOutput {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        status: out.status,
    }
}

/// The `psql -X` command [`psql`] runs (clean environment, HOME at `home`,
/// stdin null, stdout and stderr piped), for tests that drive the process
/// themselves (signals).
pub fn psql_command(
    addr: SocketAddr,
    user: &str,
    database: &str,
    args: &[&str],
    home: &std::path::Path,
) -> Command {
    let mut cmd = Command::new("psql");
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("LANG", "C")
        .env("LC_ALL", "C")
        .env("PGHOST", addr.ip().to_string())
        .env("PGPORT", addr.port().to_string())
        .env("PGUSER", user)
        .env("PGDATABASE", database)
        .env("PGCONNECT_TIMEOUT", "5")
        .env("PGAPPNAME", "psql-test")
        .arg("-X")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}
