#!/usr/bin/env python3
"""Differential test: pgiris's IRIS client against the official IRIS driver.

Both run the same scenario against the pgiris IRIS *test double* on
127.0.0.1, each against its own recording double. The script then compares
every request the two clients sent (header and body), byte for byte, except
the client-identity items of the login message (CN items 4-8: OS user, host
name, application name, client info, client IP), which each client fills with
its own facts.

Scenario (the same on both sides; the SQL text is written in the official
driver's normalised token spacing and without literals, because the official
driver replaces literals by parameters and pgiris does not):

  login to USER as _SYSTEM/SYS (protocol 69, isolation 0, feature options 0)
  INSERT of 8 parameters (42, -7, 'héllo', 'Ωmega', NULL, 3.5, 12.34, '')
  SELECT with one parameter
  SELECT of 3 rows in batches of 2 (fetch more)
  a statement on a missing table (SQLCODE -30, error text via OE)
  autocommit off, INSERT, COMMIT, autocommit on
  autocommit off, INSERT, ROLLBACK, autocommit on
  disconnect

pgiris's side is the ignored Rust test `differential_pgiris_client` in
tests/iris_differential.rs; the official driver talks to the ignored test
`differential_double_server` of the same file.

How CI runs it (from the repository root; needs PyPI once): one command,

  tests/iris/run-differential

which creates a virtualenv (target/iris-venv), installs the pinned official
driver (intersystems-irispython==5.4.1), builds the Rust side and runs this
script, failing loudly when any step fails.

Exit status 0 when the requests match, 1 with a readable diff when they do
not, 2 when the setup fails (driver missing, cargo failing). Options:
--keep DIR keeps the two captures in DIR; --cargo PATH names cargo.

The official driver carries a proprietary InterSystems licence: it is a
test-time tool installed by name, never vendored.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
from decimal import Decimal

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IDENTITY_ITEMS = {3, 4, 5, 6, 7}  # 0-based CN items: OS user .. client IP

INSERT8 = "INSERT INTO t ( a , b , c , d , e , f , g , h ) VALUES ( ? , ? , ? , ? , ? , ? , ? , ? )"


def cargo_test(cargo, name, env, **popen):
    cmd = [cargo, "test", "--quiet", "--test", "iris_differential", "--",
           "--ignored", "--exact", name, "--nocapture", "--test-threads=1"]
    return subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ, **env), **popen)


def start_double(cargo, record):
    proc = cargo_test(cargo, "differential_double_server", {"PGIRIS_DIFF_RECORD": record},
                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if line.startswith("LISTENING "):
            port = int(line.split()[1])
            # Keep draining stdout so the test harness never blocks on it.
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc, port
    proc.wait()
    raise SystemExit(f"setup: the double did not start (exit {proc.returncode})")


def official_scenario(port):
    import iris  # intersystems-irispython

    conn = iris.connect(hostname="127.0.0.1", port=port, namespace="USER",
                        username="_SYSTEM", password="SYS", sharedmemory=False,
                        autoCommit=True, isolationLevel=0, featureOptions=0)
    cur = conn.cursor()
    cur.execute(INSERT8, [42, -7, "héllo", "Ωmega", None, 3.5, Decimal("12.34"), ""])
    cur.execute("SELECT a FROM t WHERE a = ?", [42])
    assert [tuple(r) for r in cur.fetchall()] == [(42,)]
    cur.execute("SELECT a FROM many")
    assert len(cur.fetchall()) == 3
    try:
        cur.execute("SELECT * FROM bad")
        raise AssertionError("the missing table did not fail")
    except AssertionError:
        raise
    except Exception:
        pass
    conn.setAutoCommit(False)
    cur.execute("INSERT INTO many ( a ) VALUES ( ? )", [4])
    conn.commit()
    conn.setAutoCommit(True)
    conn.setAutoCommit(False)
    cur.execute("INSERT INTO t ( a ) VALUES ( ? )", [5])
    conn.rollback()
    conn.setAutoCommit(True)
    conn.close()


def list_items(body):
    """Splits a $LIST into raw items (independent of pgiris's codec)."""
    items, i = [], 0
    while i < len(body):
        b = body[i]
        if b == 1:
            items.append(body[i:i + 1])
            i += 1
            continue
        if b == 0:
            n = int.from_bytes(body[i + 1:i + 3], "little")
            head = 3
            if n == 0:
                n = int.from_bytes(body[i + 3:i + 7], "little")
                head = 7
            end = i + head + n
        else:
            end = i + b
        items.append(body[i:end])
        i = end
    return items


def requests(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            if rec.get("dir") == "C->S":
                out.append(rec)
    return out


def describe(rec):
    return f"{rec['code']} msg {rec['msg_id']} stmt {rec['stmt_id']}: {rec['header_hex']} {rec['body_hex']}"


def compare(official, ours):
    problems = []
    if len(official) != len(ours):
        problems.append(f"request count: official {len(official)}, pgiris {len(ours)}")
    for n, (a, b) in enumerate(zip(official, ours)):
        if a["code"] == "CN" and b["code"] == "CN":
            ia = list_items(bytes.fromhex(a["body_hex"]))
            ib = list_items(bytes.fromhex(b["body_hex"]))
            same = len(ia) == len(ib) and all(
                x == y for k, (x, y) in enumerate(zip(ia, ib)) if k not in IDENTITY_ITEMS)
            same = same and a["msg_id"] == b["msg_id"] and a["stmt_id"] == b["stmt_id"]
        else:
            same = a["header_hex"] == b["header_hex"] and a["body_hex"] == b["body_hex"]
        if not same:
            problems.append(f"request #{n} differs:\n  official {describe(a)}\n  pgiris   {describe(b)}")
    for n in range(min(len(official), len(ours)), max(len(official), len(ours))):
        extra = official[n] if n < len(official) else ours[n]
        side = "official" if n < len(official) else "pgiris"
        problems.append(f"request #{n} only from {side}: {describe(extra)}")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keep", help="directory for the two captures (kept)")
    ap.add_argument("--cargo", default=os.environ.get("CARGO", "cargo"))
    args = ap.parse_args()
    try:
        import iris  # noqa: F401
    except ImportError:
        print("setup: install the official driver: pip install intersystems-irispython", file=sys.stderr)
        return 2

    build = subprocess.run([args.cargo, "test", "--quiet", "--test", "iris_differential", "--no-run"], cwd=ROOT)
    if build.returncode != 0:
        return 2
    workdir = args.keep or tempfile.mkdtemp(prefix="pgiris-iris-diff-")
    os.makedirs(workdir, exist_ok=True)
    official_cap = os.path.join(workdir, "official.jsonl")
    pgiris_cap = os.path.join(workdir, "pgiris.jsonl")

    proc, port = start_double(args.cargo, official_cap)
    try:
        official_scenario(port)
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)

    ours = cargo_test(args.cargo, "differential_pgiris_client", {"PGIRIS_DIFF_RECORD": pgiris_cap})
    if ours.wait(timeout=300) != 0:
        print("pgiris's scenario failed", file=sys.stderr)
        return 1

    official, mine = requests(official_cap), requests(pgiris_cap)
    problems = compare(official, mine)
    if problems:
        print("\n".join(problems))
        print(f"captures: {official_cap} {pgiris_cap}")
        return 1
    print(f"{len(official)} requests identical (CN identity items masked); captures in {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
