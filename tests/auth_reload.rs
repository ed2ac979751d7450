//! Reloading the users and hba files (SIGHUP, here as the in-process
//! `ServerCommand::Reload`): new users and rules apply to new sessions,
//! open sessions are untouched, a broken file keeps the old one with the
//! reason in the log (and never the secret it holds); and `pgiris passwd
//! --stdin` prints a line the users file accepts.

mod common;

use std::process::Command;

use common::tlsauth::*;

const BOB_PASSWORD: &str = "bobs-new-password-1";

fn reload_failure(s: &TestServer, nth: usize) -> serde_json::Value {
    let end = std::time::Instant::now() + WAIT;
    loop {
        let failures: Vec<_> = s
            .logs
            .events("reload")
            .into_iter()
            .filter(|l| l["msg"] == "reload of hba/users failed; keeping the old files")
            .collect();
        if let Some(l) = failures.get(nth) {
            return l.clone();
        }
        assert!(
            std::time::Instant::now() < end,
            "no reload failure #{nth}: {}",
            s.logs.text()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn a_reload_adds_a_user_and_a_broken_users_file_keeps_the_old_one() {
    let s = TestServer::start(ServerSpec::default().scram_user("alice"));
    s.add_secret(BOB_PASSWORD);
    let run = s.psql(
        "user=bob sslmode=require",
        Some(BOB_PASSWORD),
        &["SELECT 1"],
    );
    assert!(!run.ok, "bob is not a user yet");
    let mut session = Raw::plain(s.addr);
    scram_login(&mut session, "alice", PASSWORD);

    s.write_users(&[
        ("alice", Secret::Scram(PASSWORD.into())),
        ("bob", Secret::Scram(BOB_PASSWORD.into())),
    ]);
    s.reload();
    s.logs.wait_for("reload", |l| {
        l["msg"] == "hba and users files reloaded" && l["users"] == 2
    });
    let run = s.psql(
        "user=bob sslmode=require",
        Some(BOB_PASSWORD),
        &["SELECT 1"],
    );
    assert!(run.ok, "bob logs in after the reload: {run:?}");
    session.send(&query("SELECT 1"));
    session.until_ready();

    // A broken file: a verifier that does not parse, and a line that does
    // not close its quote. The old users stay; the log says why without
    // quoting the secret.
    let broken_secret = "SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0$notbase64!!:alsobad";
    s.add_secret(broken_secret);
    std::fs::write(
        &s.users_path,
        format!("\"alice\" \"{broken_secret}\"\n\"carol\" \"unterminated\n"),
    )
    .unwrap();
    s.reload();
    let line = reload_failure(&s, 0);
    let error = line["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("auth.users_file") && error.contains("userlist.txt"),
        "the error names the file: {line}"
    );
    let run = s.psql(
        "user=bob sslmode=require",
        Some(BOB_PASSWORD),
        &["SELECT 1"],
    );
    assert!(run.ok, "the old users file is still in force: {run:?}");
    let mut raw = Raw::plain(s.addr);
    scram_login(&mut raw, "alice", PASSWORD);
}

#[test]
fn a_reload_applies_new_hba_rules_and_a_broken_hba_file_keeps_the_old_one() {
    let s = TestServer::start(
        ServerSpec::default()
            .hba("host all all 127.0.0.1/32 scram-sha-256\n")
            .scram_user("alice"),
    );
    let mut session = Raw::plain(s.addr);
    scram_login(&mut session, "alice", PASSWORD);

    std::fs::write(
        &s.hba_path,
        "hostssl all alice 127.0.0.1/32 scram-sha-256\nhost all alice 127.0.0.1/32 reject\n",
    )
    .unwrap();
    s.reload();
    s.logs.wait_for("reload", |l| {
        l["msg"] == "hba and users files reloaded" && l["rules"] == 2
    });
    let mut raw = Raw::plain(s.addr);
    raw.send(&startup_message("alice", "postgres"));
    let e = raw.expect_fatal("28000");
    assert_eq!(
        e.message(),
        "pg_hba.conf rejects connection for host \"127.0.0.1\", user \"alice\", database \"postgres\", no encryption"
    );
    let mut raw = Raw::ssl_request(s.addr, s.client_tls()).unwrap();
    scram_login(&mut raw, "alice", PASSWORD);
    // The session that logged in under the old rules goes on.
    session.send(&query("SELECT 1"));
    session.until_ready();

    // An unknown method: the file is refused, the rules above stay.
    std::fs::write(
        &s.hba_path,
        "host all all 127.0.0.1/32 trust\nhost all all all bogus\n",
    )
    .unwrap();
    s.reload();
    let line = reload_failure(&s, 0);
    let error = line["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("auth.hba_file") && error.contains("bogus"),
        "the error names the file and the fault: {line}"
    );
    let mut raw = Raw::plain(s.addr);
    raw.send(&startup_message("alice", "postgres"));
    raw.expect_fatal("28000");
}

#[test]
fn pgiris_passwd_prints_a_working_users_file_line() {
    let s = TestServer::start(ServerSpec::default().scram_user("alice"));
    let password = "dave's password, with spaces";
    s.add_secret(password);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgiris"));
    cmd.arg("--config")
        .arg(&s.config_path)
        .args(["passwd", "--stdin", "dave"]);
    let out = run_with_input(cmd, Some(format!("{password}\n").as_bytes()), WAIT);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let line = stdout.trim_end_matches('\n');
    assert!(!line.contains('\n'), "one line: {stdout:?}");
    assert!(!stdout.contains(password));
    let (user, verifier) = line.split_once(' ').expect("two fields");
    assert_eq!(user, "\"dave\"");
    assert!(
        verifier.starts_with("\"SCRAM-SHA-256$4096:") && verifier.ends_with('"'),
        "{verifier}"
    );
    s.add_secret(verifier.trim_matches('"'));

    let mut users = std::fs::read_to_string(&s.users_path).unwrap();
    users.push_str(line);
    users.push('\n');
    std::fs::write(&s.users_path, users).unwrap();
    s.reload();
    s.logs.wait_for("reload", |l| {
        l["msg"] == "hba and users files reloaded" && l["users"] == 2
    });
    let run = s.psql("user=dave sslmode=require", Some(password), &["SELECT 1"]);
    assert!(run.ok, "{run:?}");
    let run = s.psql("user=dave sslmode=disable", Some("not it"), &["SELECT 1"]);
    assert!(!run.ok);
}
