"""Shared pieces of the Python drivers of the client matrix.

A driver reads its connection parameters from the PGIRIS_MATRIX_* variables
the runner (tests/clients/run) sets, runs the standard cases in order and
prints one JSON line per case on stdout:

    {"client": ..., "case": ..., "ok": true/false, "detail": ...}

Before each case it prints {"client": ..., "case": ..., "start": true} so
the runner can say which case a hung driver was in. The fixture (the values
every driver inserts and expects back) is defined once per language; the
canonical definition is in tests/clients/README.md.
"""

import datetime
import decimal
import json
import os
import sys
import threading
import time
import traceback
import uuid


class Env:
    """The connection parameters the runner hands every driver."""

    def __init__(self):
        e = os.environ
        self.host = e.get("PGIRIS_MATRIX_HOST", "127.0.0.1")
        self.port = int(e.get("PGIRIS_MATRIX_PORT", "5432"))
        self.user = e.get("PGIRIS_MATRIX_USER", "postgres")
        self.password = e.get("PGIRIS_MATRIX_PASSWORD", "postgres")
        self.dbname = e.get("PGIRIS_MATRIX_DBNAME", "postgres")
        self.auth = e.get("PGIRIS_MATRIX_AUTH", "trust")  # trust | scram
        self.tls = e.get("PGIRIS_MATRIX_TLS", "0") == "1"
        # disable | require | verify-full (verify-full uses ca_file).
        self.sslmode = e.get("PGIRIS_MATRIX_SSLMODE", "require" if self.tls else "disable")
        self.ca_file = e.get("PGIRIS_MATRIX_CA_FILE", "")
        # disable | prefer | require (libpq's channel_binding).
        self.channel_binding = e.get("PGIRIS_MATRIX_CHANNEL_BINDING", "prefer")
        self.table = e.get("PGIRIS_MATRIX_TABLE", "matrix_t")
        # From tests/clients/fixture.sql, {table} already replaced.
        self.ddl = e.get("PGIRIS_MATRIX_DDL", "")
        self.fixture_insert = e.get("PGIRIS_MATRIX_FIXTURE_INSERT", "")
        self.long_query = e.get(
            "PGIRIS_MATRIX_LONG_QUERY",
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM r "
            "WHERE n < 50000000) SELECT count(*) FROM r",
        )
        self.cancel_after = float(e.get("PGIRIS_MATRIX_CANCEL_AFTER", "0.5"))
        self.cancel_wait = float(e.get("PGIRIS_MATRIX_CANCEL_WAIT", "5"))
        self.bad_password = "wrong-" + self.password
        self.unknown_user = "pgiris_matrix_no_such_user"

    @property
    def scram_plus(self):
        """Whether this configuration should authenticate with -PLUS."""
        return self.auth == "scram" and self.tls

    def libpq_params(self, **over):
        """Keyword arguments for libpq-based clients (psycopg 2 and 3)."""
        p = dict(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.dbname,
            sslmode=self.sslmode,
            connect_timeout=10,
        )
        if self.ca_file and self.sslmode.startswith("verify"):
            p["sslrootcert"] = self.ca_file
        if self.scram_plus:
            p["channel_binding"] = self.channel_binding
        elif self.auth == "trust":
            # A trust login has no SASL exchange; "require" would refuse it.
            p["channel_binding"] = "disable"
        p.update(over)
        return p

    def ssl_context(self):
        """An ssl.SSLContext for clients that take one (asyncpg, pg8000),
        or None on plaintext. "require" does not verify, as libpq."""
        if not self.tls:
            return None
        import ssl

        if self.sslmode.startswith("verify"):
            ctx = ssl.create_default_context(cafile=self.ca_file or None)
            ctx.check_hostname = self.sslmode == "verify-full"
        else:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx


class CaseFailed(Exception):
    """A check failed; the message is the case's detail."""


def emit(client, case, ok, detail=""):
    line = {"client": client, "case": case, "ok": bool(ok), "detail": str(detail)}
    print(json.dumps(line, ensure_ascii=False), flush=True)


def emit_meta(client, **meta):
    print(json.dumps({"client": client, "meta": meta}, ensure_ascii=False), flush=True)


def describe_error(e):
    """One line naming an exception, with its SQLSTATE when it has one."""
    state = sqlstate_of(e)
    msg = " ".join(str(e).split())
    name = type(e).__name__
    return f"{name} [{state}]: {msg}" if state else f"{name}: {msg}"


def sqlstate_of(e):
    for attr in ("sqlstate", "pgcode"):
        v = getattr(e, attr, None)
        if isinstance(v, str) and v:
            return v
    args = getattr(e, "args", ())
    if args and isinstance(args[0], dict) and "C" in args[0]:  # pg8000
        return args[0]["C"]
    orig = getattr(e, "orig", None)  # SQLAlchemy wraps the DBAPI error
    if orig is not None and orig is not e:
        return sqlstate_of(orig)
    return None


# A case that takes longer than this is stuck (the server never answered).
CASE_TIMEOUT = 10.0


class Runner:
    """Runs cases, printing a start marker and a result line for each.

    Each case runs under a watchdog: when it takes longer than its timeout,
    `abort` (set by the driver) shuts the main connection's socket down so
    the blocked call returns, the case is reported as stuck, and
    `reconnect` (set by the driver) replaces the connection for the cases
    after it. Without `abort` the driver ends there and the runner reports
    the remaining cases as not reported."""

    def __init__(self, client):
        self.client = client
        self.failed = set()
        self.abort = None
        self.reconnect = None

    def case(self, name, fn, *args, timeout=CASE_TIMEOUT, stuck=None):
        """Run fn(*args); it returns the detail or raises. Returns whether
        the case passed. `stuck` is the detail when the watchdog fires."""
        print(json.dumps({"client": self.client, "case": name, "start": True}), flush=True)
        fired = threading.Event()
        stuck = stuck or f"no answer within {timeout:.0f}s: the session hung"

        def expire():
            fired.set()
            if self.abort is None:
                emit(self.client, name, False, stuck + " (driver ended)")
                os._exit(0)
            try:
                self.abort()
            except Exception:  # noqa: BLE001
                emit(self.client, name, False, stuck + " (driver ended)")
                os._exit(0)

        watchdog = threading.Timer(timeout, expire)
        watchdog.daemon = True
        watchdog.start()
        try:
            detail = fn(*args)
            ok, detail = True, detail or ""
        except CaseFailed as e:
            ok, detail = False, str(e)
        except Exception as e:  # noqa: BLE001 - every failure is reported
            ok, detail = False, describe_error(e)
            if os.environ.get("PGIRIS_MATRIX_TRACEBACK"):
                traceback.print_exc(file=sys.stderr)
        finally:
            watchdog.cancel()
        if fired.is_set():
            ok, detail = False, stuck
        emit(self.client, name, ok, detail)
        if not ok:
            self.failed.add(name)
        if fired.is_set() and self.reconnect is not None:
            try:
                self.reconnect()
            except Exception as e:  # noqa: BLE001
                print(f"reconnect after a stuck case failed: {describe_error(e)}", file=sys.stderr)
                os._exit(0)
        return ok

    def skip(self, names, because):
        """Report cases that could not run because an earlier one failed."""
        for name in names:
            emit(self.client, name, False, f"not run: {because} failed")
            self.failed.add(name)


def shutdown_socket(fd):
    """Shut a connection's socket down (both ways) without closing the
    descriptor its client owns: a blocked read returns at once."""
    import socket

    sock = socket.socket(fileno=os.dup(fd))
    try:
        sock.shutdown(socket.SHUT_RDWR)
    finally:
        sock.close()


def replaceable_connection(runner, state, connect, autocommit=True):
    """The main connection as a proxy that always stands for
    state["conn"]; runner.reconnect (called after a stuck case) replaces
    it with a fresh one from connect()."""

    def reconnect():
        state["conn"] = connect()
        if autocommit:
            state["conn"].autocommit = True

    runner.reconnect = reconnect

    class _Conn:
        """The current main connection (replaced after a stuck case)."""

        def __getattr__(self, attr):
            return getattr(state["conn"], attr)

        def __setattr__(self, attr, value):
            setattr(state["conn"], attr, value)

    return _Conn()


def expect(cond, detail):
    if not cond:
        raise CaseFailed(detail)


def expect_sqlstate(fn, want, what):
    """fn() must raise an error carrying SQLSTATE `want`."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        got = sqlstate_of(e)
        if got == want:
            return f"{want}: {' '.join(str(e).split())[:120]}"
        raise CaseFailed(f"{what}: expected SQLSTATE {want}, got {describe_error(e)}")
    raise CaseFailed(f"{what}: expected SQLSTATE {want}, but it succeeded")


def expect_login_refused(connect, close, what):
    """connect() must fail with 28P01. In trust mode it succeeds, which is
    reported as "auth not enforced"."""
    try:
        conn = connect()
    except Exception as e:  # noqa: BLE001
        return login_error_detail(e, what)
    close(conn)
    raise CaseFailed(f"auth not enforced: {what} was accepted")


def login_error_detail(e, what):
    got = sqlstate_of(e)
    text = " ".join(str(e).split())
    if got == "28P01":
        return f"28P01: {text[:120]}"
    # libpq-based clients do not expose the SQLSTATE of a failed login; the
    # message is PostgreSQL's fixed text for 28P01.
    if got is None and "password authentication failed" in text:
        return f"28P01 (by message): {text[:120]}"
    raise CaseFailed(f"{what}: expected 28P01, got {describe_error(e)}")


# The fixture: row 1 holds these values, row 2 holds NULL in every column.
# (column, SQL type, value, case name)
COLUMNS = [
    ("c_int", "int", 2147483647, "int"),
    ("c_bigint", "bigint", 9007199254740993, "bigint"),
    ("c_text", "text", "it's a \\ test \u2713 \u00e9", "text"),
    ("c_varchar", "varchar(20)", "varchar \u2713", "varchar"),
    ("c_bool", "boolean", True, "boolean"),
    ("c_float8", "double precision", 3.141592653589793, "double"),
    ("c_numeric", "numeric(10,2)", decimal.Decimal("12345678.90"), "numeric"),
    ("c_date", "date", datetime.date(2024, 2, 29), "date"),
    ("c_timestamp", "timestamp", datetime.datetime(2024, 2, 29, 12, 34, 56, 789012), "timestamp"),
    (
        "c_timestamptz",
        "timestamptz",
        # Inserted with a +02:00 offset; the instant is 12:34:56.789012 UTC.
        datetime.datetime(
            2024, 2, 29, 14, 34, 56, 789012, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
        ),
        "timestamptz",
    ),
    ("c_bytea", "bytea", b"\x00\x01\xde\xad\xbe\xef\xff\\'", "bytea"),
    ("c_uuid", "uuid", uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), "uuid"),
]

TYPE_CASES = ["type." + c[3] for c in COLUMNS]
# After "connect", in the order drivers run them; "cancel" is last because a
# cancel that does not work can leave a driver stuck until its watchdog.
AFTER_CONNECT = [
    "server_version", "ddl", "insert_params", *TYPE_CASES, "nulls",
    "tx_commit", "tx_rollback", "error_42P01", "error_23505",
    "bad_password", "unknown_user",
]
COLUMN_NAMES = [c[0] for c in COLUMNS]


def select_sql(table, where="id = 1"):
    return f"SELECT {', '.join(COLUMN_NAMES)} FROM {table} WHERE {where}"


def insert_case(runner, env, insert_params, execute):
    """The insert_params case; when it fails, the fixture is inserted with
    SQL literals (execute(sql)) so the type cases still test SELECT.
    Returns a note for the type cases when there is no fixture row."""
    if runner.case("insert_params", insert_params):
        return None
    try:
        execute(env.fixture_insert)
    except Exception as e:  # noqa: BLE001
        return "insert_params failed and so did the literal fixture INSERT: " + describe_error(e)
    return None


def _tname(v):
    return type(v).__module__.replace("builtins", "") + ("." if type(v).__module__ != "builtins" else "") + type(v).__name__


def check_value(kind, got, bytes_types=(bytes,)):
    """Compare a fetched value with the fixture for `kind` (the case suffix):
    the value and the client-side type PostgreSQL would give. Returns the
    detail on success, raises CaseFailed otherwise."""
    col = next(c for c in COLUMNS if c[3] == kind)
    want = col[2]

    def fail(why):
        raise CaseFailed(f"{col[0]} {col[1]}: {why}: got {_tname(got)} {got!r}")

    if kind in ("int", "bigint"):
        if type(got) is not int:
            fail("expected int")
        if got != want:
            fail(f"expected {want}")
    elif kind in ("text", "varchar"):
        if not isinstance(got, str):
            fail("expected str")
        if got != want:
            fail(f"expected {want!r}")
    elif kind == "boolean":
        if type(got) is not bool:
            fail("expected bool")
        if got is not want:
            fail(f"expected {want}")
    elif kind == "double":
        if type(got) is not float:
            fail("expected float")
        if got != want:
            fail(f"expected {want!r}")
    elif kind == "numeric":
        if not isinstance(got, decimal.Decimal):
            fail("expected Decimal")
        # The scale is part of the value: numeric(10,2) gives 12345678.90.
        if str(got) != str(want):
            fail(f"expected Decimal('{want}')")
    elif kind == "date":
        if type(got) is not datetime.date:
            fail("expected datetime.date")
        if got != want:
            fail(f"expected {want}")
    elif kind == "timestamp":
        if type(got) is not datetime.datetime:
            fail("expected datetime.datetime")
        if got.tzinfo is not None:
            fail("expected a naive datetime")
        if got != want:
            fail(f"expected {want}")
    elif kind == "timestamptz":
        if type(got) is not datetime.datetime:
            fail("expected datetime.datetime")
        if got.tzinfo is None or got.utcoffset() is None:
            fail("expected an aware datetime")
        if got != want:
            fail(f"expected the instant {want.astimezone(datetime.timezone.utc).isoformat()}")
        # PostgreSQL renders timestamptz in the session TimeZone, which
        # pgiris reports as Etc/UTC.
        if got.utcoffset() != datetime.timedelta(0):
            fail("expected it in UTC (TimeZone is Etc/UTC)")
    elif kind == "bytea":
        if isinstance(got, memoryview):
            got = got.tobytes()
        if not isinstance(got, bytes_types):
            fail("expected bytes")
        if bytes(got) != want:
            fail(f"expected {want!r}")
    elif kind == "uuid":
        if not isinstance(got, uuid.UUID):
            fail("expected uuid.UUID")
        if str(got) != str(want):
            fail(f"expected {want}")
    return f"{_tname(got)} {got!r}"[:120]


def check_row(runner, row, error=None, prefix="type."):
    """One case per column of the fixture row. `error` says why there is no
    row (the SELECT failed)."""
    for i, (_, _, _, kind) in enumerate(COLUMNS):
        if row is None:
            runner.case(prefix + kind, _raise, f"no row: {error or 'SELECT returned nothing'}")
        else:
            runner.case(prefix + kind, check_value, kind, row[i])


def check_columns(runner, select_row, select_column, note=None, prefix="type."):
    """The type cases: select_row() fetches the fixture row; when that
    fails (and the row exists), select_column(name) fetches each column on
    its own, so one unsupported type does not hide the others."""
    row, why = fetch_row(select_row)
    if row is not None or note is not None or not why.startswith("SELECT failed"):
        check_row(runner, row, note or why, prefix)
        return
    for name, _, _, kind in COLUMNS:
        single, swhy = fetch_row(lambda: select_column(name))
        if single is None:
            runner.case(prefix + kind, _raise, f"{name} alone: {swhy}")
        else:
            runner.case(prefix + kind, check_value, kind, single[0])


def fetch_row(fn):
    """(row, None) from fn(), or (None, why) when it raised."""
    try:
        return fn(), None
    except Exception as e:  # noqa: BLE001
        return None, "SELECT failed: " + describe_error(e)


def check_nulls(fn):
    row = fn()
    expect(row is not None, "SELECT returned no row")
    bad = [COLUMN_NAMES[i] for i, v in enumerate(row) if v is not None]
    expect(not bad, f"expected NULL in every column, got values in {', '.join(bad)}")
    return "12 NULLs"


def _raise(detail):
    raise CaseFailed(detail)



def parse_server_version(text):
    """The major version number from a server_version string ("16.9 ...")."""
    head = str(text).split()[0] if str(text).split() else ""
    major = head.split(".")[0]
    expect(major.isdigit(), f"unparseable server_version {text!r}")
    expect(int(major) >= 14, f"server_version {text!r}: expected 14 or later")
    return text


# A cancel must turn into 57014 this quickly (issue 5 wants well under a
# second; the slack is for a loaded CI machine).
CANCEL_DEADLINE = 2.0


def cancel_case(runner, env, fn):
    """Run the "cancel" case: a cancel that is ignored leaves the query
    running, so after the wait the watchdog aborts it."""
    return runner.case(
        "cancel",
        fn,
        timeout=env.cancel_after + env.cancel_wait,
        stuck=f"no 57014 and no result {env.cancel_wait:.0f}s after the cancel was sent: "
        "the query kept running",
    )


def sync_cancel(env, run_long, send_cancel, check_usable):
    """The cancel case for a blocking client: run_long() runs the long query
    while a timer calls send_cancel(); the query must fail with 57014 soon
    after, and the session must still work (check_usable())."""
    sent = {}

    def do_cancel():
        try:
            sent["at"] = time.monotonic()
            send_cancel()
        except Exception as e:  # noqa: BLE001
            sent["error"] = e

    timer = threading.Timer(env.cancel_after, do_cancel)
    timer.start()
    try:
        result = run_long()
    except Exception as e:  # noqa: BLE001
        failed_at = time.monotonic()
        timer.join()
        if "error" in sent:
            raise CaseFailed("the cancel API failed: " + describe_error(sent["error"]))
        if sqlstate_of(e) != "57014":
            raise CaseFailed("expected 57014, got " + describe_error(e))
        return cancel_detail(failed_at - sent.get("at", failed_at), check_usable)
    timer.join()
    if "error" in sent:
        raise CaseFailed("the cancel API failed: " + describe_error(sent["error"]))
    raise CaseFailed(f"the query completed ({result!r}): the cancel had no effect")


def cancel_detail(elapsed, check_usable):
    expect(
        elapsed < CANCEL_DEADLINE,
        f"57014 arrived {elapsed:.2f}s after the cancel (want < {CANCEL_DEADLINE:.0f}s)",
    )
    try:
        after = check_usable()
    except Exception as e:  # noqa: BLE001
        raise CaseFailed("57014 received, but the session is unusable after it: " + describe_error(e))
    expect(after == 1, f"57014 received, but SELECT 1 afterwards gave {after!r}")
    return f"57014 {elapsed * 1000:.0f} ms after the cancel; the session still works"
