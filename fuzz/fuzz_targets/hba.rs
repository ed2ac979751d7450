//! pg_hba.conf parsing (`HbaRules::parse`) and the first-match lookup.
//!
//! Beyond "no panic": every rule keeps the line it came from (1-based, in
//! order) and its text, and that text alone parses back to the same rule
//! (same fields);
//! lookups for a set of connections (IPv4, IPv6, mapped, Unix socket, TLS
//! or not, replication) agree with `HbaRule::matches`; parse errors name a
//! line that exists.

#![no_main]

use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use pgiris::auth::{ConnFacts, HbaRules, no_match_error, reject_error};
use pgiris_fuzz::{assert_allocations_bounded, reset_allocations};

fn facts() -> Vec<ConnFacts<'static>> {
    let v4: IpAddr = [127, 0, 0, 1].into();
    let v4b: IpAddr = [10, 1, 2, 3].into();
    let v6: IpAddr = "::1".parse().expect("v6");
    let mapped: IpAddr = "::ffff:10.1.2.3".parse().expect("mapped");
    let mut out = Vec::new();
    for (addr, local) in [
        (Some(v4), Some(v4)),
        (Some(v4b), Some(v4)),
        (Some(v6), Some(v6)),
        (Some(mapped), None),
        (None, None),
    ] {
        for (tls, user, database, replication) in [
            (false, "alice", "sales", false),
            (true, "bob", "bob", false),
            (false, "postgres", "replication", true),
            (true, "Mixed", "all", false),
        ] {
            out.push(ConnFacts {
                addr,
                local_addr: local,
                tls,
                user,
                database,
                replication,
            });
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines = text.split('\n').count();
    reset_allocations();
    let parsed = HbaRules::parse(&text);
    assert_allocations_bounded("HbaRules::parse", text.len(), 64, 4096);
    let rules = match parsed {
        Ok(rules) => rules,
        Err(e) => {
            assert!(e.line >= 1 && e.line <= lines, "{e} of {lines} lines");
            return;
        }
    };
    let mut previous = 0;
    for rule in rules.rules() {
        assert!(rule.line > previous && rule.line <= lines);
        previous = rule.line;
        let alone = HbaRules::parse(&rule.text)
            .unwrap_or_else(|e| panic!("rule text {:?} does not parse alone: {e}", rule.text));
        assert_eq!(alone.rules().len(), 1, "{:?}", rule.text);
        // The same rule, line number and text aside (a text ending in a
        // backslash inside a comment reads as a continuation when parsed
        // alone; the text is only for the log).
        let mut again = alone.rules()[0].clone();
        again.line = rule.line;
        again.text = rule.text.clone();
        assert_eq!(&again, rule);
    }
    for f in facts() {
        let found = rules.find(&f);
        let first = rules.rules().iter().find(|r| r.matches(&f));
        assert_eq!(found, first);
        let _ = no_match_error(&f);
        let _ = reject_error(&f);
    }
});
