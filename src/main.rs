//! The pgiris command line: serve (the default), check-config, passwd.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

use clap::{Parser, Subcommand};

use pgiris::config::Settings;
use pgiris::log::LogGuard;

/// A PostgreSQL wire-protocol server for InterSystems IRIS.
#[derive(Parser, Debug)]
#[command(name = "pgiris", version, about)]
struct Cli {
    /// Configuration file (default: conf/pgiris.toml when it exists).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Address to listen on (repeatable); overrides server.listen.
    #[arg(long, global = true)]
    listen: Vec<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Validate the configuration and the files it names, then exit.
    CheckConfig,
    /// Record IRIS SuperServer traffic as JSON lines (a proxy in front of a
    /// real IRIS; the lines have the format of the reference captures).
    /// Listens on the global --listen address.
    IrisRecord {
        /// The real IRIS, HOST:PORT.
        #[arg(long)]
        upstream: String,
        /// Where to write the JSON lines (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run the IRIS test double: a stand-in SuperServer for tests, backed by
    /// SQLite (not IRIS; see docs/iris.md). Listens on --listen.
    IrisTestDouble {
        /// Record the requests it receives as JSON lines.
        #[arg(long)]
        record: Option<PathBuf>,
    },
    /// Print a users-file line with a SCRAM-SHA-256 verifier for USER.
    Passwd {
        user: String,
        /// Read the password from the first line of stdin (no prompt).
        #[arg(long)]
        stdin: bool,
    },
}

const DEFAULT_CONFIG: &str = "conf/pgiris.toml";

fn config_path(cli: &Cli) -> Option<PathBuf> {
    match &cli.config {
        Some(p) => Some(p.clone()),
        None => Path::new(DEFAULT_CONFIG)
            .exists()
            .then(|| PathBuf::from(DEFAULT_CONFIG)),
    }
}

fn load(cli: &Cli) -> Result<(Settings, Option<PathBuf>), String> {
    let path = config_path(cli);
    let mut settings = Settings::load(path.as_deref()).map_err(|e| e.to_string())?;
    if let Some(dir) = path.as_deref().and_then(Path::parent) {
        settings.resolve_paths(dir);
    }
    if !cli.listen.is_empty() {
        settings.server.listen = cli.listen.clone();
        settings.validate().map_err(|e| e.to_string())?;
    }
    Ok((settings, path))
}

/// Reads a password without echo (twice, to catch typos), or one line of
/// stdin.
fn read_password(stdin: bool) -> Result<String, String> {
    let password = if stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| format!("could not read the password: {e}"))?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    } else {
        let first = rpassword::prompt_password("Enter password: ")
            .map_err(|e| format!("could not read the password: {e}"))?;
        let second = rpassword::prompt_password("Enter it again: ")
            .map_err(|e| format!("could not read the password: {e}"))?;
        if first != second {
            return Err("passwords didn't match".into());
        }
        first
    };
    if password.is_empty() {
        return Err("an empty password is not allowed".into());
    }
    Ok(password)
}

/// Loads every file the configuration names, without side effects (a
/// development certificate that would be generated is only reported).
fn check_files(settings: &Settings) -> Result<(), String> {
    let tls = &settings.tls;
    let missing = !tls.cert_file.is_empty()
        && !Path::new(&tls.cert_file).exists()
        && !Path::new(&tls.key_file).exists();
    if tls.generate_dev_cert && missing {
        println!(
            "note: a development certificate will be generated at {} on first start",
            tls.cert_file
        );
    } else {
        pgiris::net::tls::TlsStore::from_settings(tls).map_err(|e| e.to_string())?;
    }
    pgiris::actors::authenticator::load_files(&settings.auth)?;
    Ok(())
}

/// The listen address of the IRIS tools (the global --listen).
fn tool_listener(global: &[String]) -> Result<std::net::TcpListener, String> {
    let addr = global
        .first()
        .ok_or("give the address to listen on with --listen ADDR")?;
    std::net::TcpListener::bind(addr).map_err(|e| format!("could not listen on {addr}: {e}"))
}

fn run_tool(r: Result<(), String>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pgiris: {e}");
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The IRIS tools need no configuration.
    match &cli.command {
        Some(Command::IrisRecord { upstream, out }) => {
            return run_tool(tool_listener(&cli.listen).and_then(|l| {
                pgiris::backend::iris::recorder::run_recorder(l, upstream.clone(), out.clone())
                    .map_err(|e| e.to_string())
            }));
        }
        Some(Command::IrisTestDouble { record }) => {
            return run_tool(tool_listener(&cli.listen).and_then(|l| {
                pgiris::backend::iris::test_double::run_test_double(l, record.clone())
                    .map_err(|e| e.to_string())
            }));
        }
        _ => {}
    }
    let (settings, path) = match load(&cli) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("pgiris: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::IrisRecord { .. } | Command::IrisTestDouble { .. } => ExitCode::SUCCESS,
        Command::Passwd { user, stdin } => match read_password(stdin) {
            Ok(password) => {
                println!(
                    "{}",
                    pgiris::auth::passwd_line(&user, &password, settings.auth.scram_iterations)
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("pgiris: {e}");
                ExitCode::from(2)
            }
        },
        Command::CheckConfig => match check_files(&settings) {
            Ok(()) => {
                println!(
                    "configuration OK{}",
                    path.map(|p| format!(" ({})", p.display()))
                        .unwrap_or_default()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("pgiris: {e}");
                ExitCode::from(2)
            }
        },
        Command::Serve => {
            let (log, level, guard) = match pgiris::log::build(&settings.log) {
                Ok(x) => x,
                Err(e) => {
                    eprintln!("pgiris: {e}");
                    return ExitCode::from(2);
                }
            };
            store_log_guard(guard);
            pgiris::supervise::panics::install(log.clone(), || drop(take_log_guard(true)));
            let r = pgiris::actors::serve(settings, path, log, level);
            // The hook logs through the drain the guard owns: back to the
            // default hook (stderr) before the drain goes.
            drop(std::panic::take_hook());
            drop(take_log_guard(false));
            match r {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("pgiris: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

/// The log's guard: dropping it drains the log to its destination, which
/// the panic hook does before aborting (see `pgiris::supervise::panics`).
static LOG_GUARD: Mutex<Option<LogGuard>> = Mutex::new(None);

fn store_log_guard(guard: LogGuard) {
    *LOG_GUARD.lock().unwrap_or_else(|p| p.into_inner()) = Some(guard);
}

/// Takes the guard out (to drop it). From the panic hook: try_lock, as the
/// hook must never wait on a lock.
fn take_log_guard(from_hook: bool) -> Option<LogGuard> {
    if from_hook {
        LOG_GUARD.try_lock().ok().and_then(|mut g| g.take())
    } else {
        LOG_GUARD.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}
