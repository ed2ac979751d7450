//! The real `pgiris` binary as a subprocess: a temp directory with a config
//! file (JSON logs to stderr), hba and users files and a data directory; its
//! stderr captured line by line; signals; exit status.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use super::server::{ADMIN_USER, DATABASES, TRUST_HBA, USER_ALICE, USER_BOB};

/// The path of the binary cargo built for these tests.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_pgiris")
}

/// A configuration file built section by section; values are TOML
/// literals (`"\"5s\""`, `"3"`, `"[\"a\"]"`).
#[derive(Debug, Clone)]
pub struct ProcessConfig {
    sections: BTreeMap<String, BTreeMap<String, String>>,
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("string")
}

impl ProcessConfig {
    /// Test defaults for a server in `dir`: listen on 127.0.0.1:0, trust
    /// from loopback, JSON logs at debug level with connection events.
    pub fn new(dir: &Path) -> ProcessConfig {
        let mut c = ProcessConfig {
            sections: BTreeMap::new(),
        };
        let dbs: Vec<String> = DATABASES.iter().map(|d| quote(d)).collect();
        c.set("server", "listen", "[\"127.0.0.1:0\"]")
            .set("server", "workers", "2")
            .set("server", "login_timeout", "\"10s\"")
            .set("server", "shutdown_timeout", "\"10s\"")
            .set(
                "auth",
                "hba_file",
                &quote(&dir.join("pg_hba.conf").to_string_lossy()),
            )
            .set(
                "auth",
                "users_file",
                &quote(&dir.join("userlist.txt").to_string_lossy()),
            )
            .set("auth", "failure_delay", "\"0s\"")
            .set("backend", "pool_size", "10")
            .set(
                "backend.embedded",
                "data_dir",
                &quote(&dir.join("data").to_string_lossy()),
            )
            .set(
                "backend.embedded",
                "databases",
                &format!("[{}]", dbs.join(", ")),
            )
            .set("log", "format", "\"json\"")
            .set("log", "level", "\"debug\"")
            .set("log", "connections", "true");
        c
    }

    /// Sets `section.key` to a TOML literal.
    pub fn set(&mut self, section: &str, key: &str, toml_value: &str) -> &mut ProcessConfig {
        self.sections
            .entry(section.to_owned())
            .or_default()
            .insert(key.to_owned(), toml_value.to_owned());
        self
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for (section, keys) in &self.sections {
            out.push_str(&format!("[{section}]\n"));
            for (k, v) in keys {
                out.push_str(&format!("{k} = {v}\n"));
            }
            out.push('\n');
        }
        out
    }
}

/// Writes the hba and users files every test server uses into `dir`.
pub fn write_auth_files(dir: &Path) {
    std::fs::write(dir.join("pg_hba.conf"), TRUST_HBA).expect("write hba");
    std::fs::write(
        dir.join("userlist.txt"),
        format!(
            "\"{ADMIN_USER}\" \"{ADMIN_USER}\"\n\"{USER_ALICE}\" \"{USER_ALICE}\"\n\"{USER_BOB}\" \"{USER_BOB}\"\n"
        ),
    )
    .expect("write users file");
}

/// How to start the process, beyond its configuration file.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// Environment variables besides PATH (NOTIFY_SOCKET ...).
    pub env: Vec<(String, String)>,
    /// RLIMIT_NOFILE, soft and hard, for the process (the hard limit too,
    /// so pgiris cannot raise it back).
    pub nofile: Option<u64>,
}

/// A running `pgiris` process. Dropping it kills the process if it still
/// runs.
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    pub config_path: PathBuf,
    lines: Arc<Mutex<Vec<String>>>,
    exit: Option<ExitStatus>,
    dir: TempDir,
}

impl ServerProcess {
    /// Starts the binary with the test defaults adjusted by `tweak`, and
    /// waits (up to 30 s) for its `listening` log line.
    pub fn start(tweak: impl FnOnce(&mut ProcessConfig)) -> ServerProcess {
        ServerProcess::start_with(tweak, Launch::default())
    }

    /// As [`ServerProcess::start`], with the environment and limits of
    /// `launch`.
    pub fn start_with(tweak: impl FnOnce(&mut ProcessConfig), launch: Launch) -> ServerProcess {
        let dir = tempfile::tempdir().expect("temp dir");
        write_auth_files(dir.path());
        let mut config = ProcessConfig::new(dir.path());
        tweak(&mut config);
        let config_path = dir.path().join("pgiris.toml");
        std::fs::write(&config_path, config.render()).expect("write config");
        let mut command = Command::new(binary());
        command
            .arg("--config")
            .arg(&config_path)
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(n) = launch.nofile {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe; nothing else runs
            // between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    let lim = libc::rlimit {
                        rlim_cur: n as libc::rlim_t,
                        rlim_max: n as libc::rlim_t,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = command.spawn().expect("start pgiris");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    lines.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                }
            });
        }
        let mut p = ServerProcess {
            child,
            addr: "127.0.0.1:1".parse().expect("addr"),
            config_path,
            lines,
            exit: None,
            dir,
        };
        let listening = p.wait_for_log(Duration::from_secs(30), "the listening line", |v| {
            v["msg"] == "listening"
        });
        p.addr = listening["address"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {listening}"));
        p
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends a signal (libc::SIGTERM, SIGINT, SIGHUP ...).
    pub fn signal(&self, sig: i32) {
        // SAFETY: the pid is our own child, not reaped while `self` lives
        // unless `exit` is set (then the signal is skipped).
        if self.exit.is_none() {
            let r = unsafe { libc::kill(self.pid(), sig) };
            assert_eq!(r, 0, "kill({}, {sig})", self.pid());
        }
    }

    /// Every stderr line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// How many stderr lines so far (a mark for [`ServerProcess::json_since`]).
    pub fn line_count(&self) -> usize {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The JSON lines after `mark` (cheaper than [`ServerProcess::json_lines`]
    /// on a long log).
    pub fn json_since(&self, mark: usize) -> Vec<Value> {
        let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        lines
            .iter()
            .skip(mark)
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(Value::is_object)
            .collect()
    }

    /// Every stderr line so far that is a JSON object.
    pub fn json_lines(&self) -> Vec<Value> {
        self.lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(Value::is_object)
            .collect()
    }

    /// JSON lines carrying `event`.
    pub fn events(&self, event: &str) -> Vec<Value> {
        self.json_lines()
            .into_iter()
            .filter(|v| v["event"] == event)
            .collect()
    }

    /// Waits for a JSON log line satisfying `pred`; panics with the log
    /// after `timeout`.
    pub fn wait_for_log(
        &mut self,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = self.json_lines().into_iter().find(|v| pred(v)) {
                return v;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                self.exit = Some(st);
                // Let the reader thread drain the pipe.
                std::thread::sleep(Duration::from_millis(100));
                if let Some(v) = self.json_lines().into_iter().find(|v| pred(v)) {
                    return v;
                }
                panic!(
                    "pgiris exited ({st}) before logging {what}; stderr:\n{}",
                    self.lines().join("\n")
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "no log line for {what} within {timeout:?}; stderr:\n{}",
                    self.lines().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the process has exited (and with what).
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().expect("try_wait");
        }
        self.exit
    }

    /// Waits for the process to exit; panics after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.try_exit() {
                return st;
            }
            if Instant::now() >= deadline {
                panic!(
                    "pgiris still running after {timeout:?}; stderr:\n{}",
                    self.lines().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if self.try_exit().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `pgiris` with `args` to completion (30 s bound) in `dir`; returns
/// (exit status, stdout, stderr).
pub fn run_binary(dir: &Path, args: &[&str]) -> (ExitStatus, String, String) {
    let child = Command::new(binary())
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pgiris");
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(r) => r.expect("pgiris output"),
        Err(_) => {
            // SAFETY: our own child, not yet reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("pgiris {args:?} did not finish within 30 s");
        }
    };
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
