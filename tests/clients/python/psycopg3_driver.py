"""psycopg 3 (libpq; server-side parameters over the extended protocol,
text results, plus a binary cursor and pipeline mode) driver of the client
matrix."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from matrix_common import (  # noqa: E402
    AFTER_CONNECT,
    COLUMNS,
    TYPE_CASES,
    Env,
    Runner,
    cancel_case,
    check_nulls,
    check_columns,
    emit_meta,
    expect,
    expect_login_refused,
    expect_sqlstate,
    insert_case,
    parse_server_version,
    replaceable_connection,
    select_sql,
    shutdown_socket,
    sqlstate_of,
    sync_cancel,
)

CLIENT = "psycopg3"
PIPELINE = ["pipeline", "pipeline_error"]
BINARY = ["binary." + c.split(".", 1)[1] for c in TYPE_CASES]


def main():
    env = Env()
    r = Runner(CLIENT)
    import psycopg

    emit_meta(CLIENT, version=psycopg.__version__, libpq=str(psycopg.pq.version()), impl=psycopg.pq.__impl__)

    def connect(**over):
        return psycopg.connect(**env.libpq_params(**over), autocommit=True)

    state = {}

    def c_connect():
        conn = connect()
        state["conn"] = conn
        ssl = conn.pgconn.ssl_in_use
        expect(ssl == env.tls, f"ssl_in_use={ssl}, expected {env.tls}")
        return "tls" if ssl else "plaintext"

    if not r.case("connect", c_connect):
        r.skip(AFTER_CONNECT + (["scram_plus"] if env.scram_plus else []) + PIPELINE + BINARY + ["cancel"], "connect")
        return
    t = env.table
    r.abort = lambda: shutdown_socket(state["conn"].fileno())

    conn = replaceable_connection(r, state, connect)

    def one(sql, params=None, binary=False):
        with conn.cursor(binary=binary) as cur:
            cur.execute(sql, params)
            return cur.fetchone()

    def execute(sql, params=None):
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.rowcount

    def c_version():
        v = conn.info.server_version
        expect(v >= 140000, f"server_version {v}: expected 14 or later")
        return f"{v} / SHOW: {parse_server_version(one('SHOW server_version')[0])}"

    def c_ddl():
        execute(f"DROP TABLE IF EXISTS {t}")
        execute(env.ddl)
        return "created"

    def c_insert():
        cols = ", ".join(c[0] for c in COLUMNS)
        marks = ", ".join(["%s"] * (len(COLUMNS) + 1))
        sql = f"INSERT INTO {t} (id, {cols}) VALUES ({marks})"
        n = execute(sql, [1] + [c[2] for c in COLUMNS])
        expect(n == 1, f"rowcount {n} for row 1")
        n = execute(sql, [2] + [None] * len(COLUMNS))
        expect(n == 1, f"rowcount {n} for row 2")
        return "2 rows, server-side parameters"

    r.case("server_version", c_version)
    r.case("ddl", c_ddl)
    note = insert_case(r, env, c_insert, execute)
    check_columns(r, lambda: one(select_sql(t)), lambda col: one(f"SELECT {col} FROM {t} WHERE id = 1"), note)
    r.case("nulls", check_nulls, lambda: one(select_sql(t, "id = 2")))

    def count(c, id_):
        # A literal, so visibility does not depend on parameter typing.
        return c.execute(f"SELECT count(*) FROM {t} WHERE id = {int(id_)}").fetchone()[0]

    def transaction(commit):
        id_ = 10 if commit else 11
        with connect() as other:
            with conn.transaction():
                conn.execute(f"INSERT INTO {t} (id, c_text) VALUES ({id_}, 'tx')")
                expect(count(conn, id_) == 1, "own uncommitted row not visible")
                expect(count(other, id_) == 0, "uncommitted row visible to another session")
                if not commit:
                    raise psycopg.Rollback()
            want = 1 if commit else 0
            verb = "COMMIT" if commit else "ROLLBACK"
            got = (count(conn, id_), count(other, id_))
            expect(got == (want, want), f"after {verb}: the session sees {got[0]} rows, another session {got[1]}, expected {want}")
        return "visibility checked from a second session"

    r.case("tx_commit", transaction, True)
    r.case("tx_rollback", transaction, False)
    r.case("error_42P01", expect_sqlstate, lambda: one("SELECT * FROM pgiris_matrix_no_such_table"), "42P01", "missing table")

    def c_unique():
        execute(f"INSERT INTO {t} (id) VALUES (100)")
        return expect_sqlstate(lambda: execute(f"INSERT INTO {t} (id) VALUES (100)"), "23505", "duplicate primary key")

    r.case("error_23505", c_unique)
    r.case("bad_password", expect_login_refused, lambda: connect(password=env.bad_password), lambda c: c.close(), "a login with a wrong password")
    r.case("unknown_user", expect_login_refused, lambda: connect(user=env.unknown_user), lambda c: c.close(), "a login as an unknown user")
    if env.scram_plus:

        def c_plus():
            connect(channel_binding="require").close()
            return "channel_binding=require accepted (SCRAM-SHA-256-PLUS)"

        r.case("scram_plus", c_plus)

    # Pipeline mode: several Parse/Bind/Execute before one Sync. %t sends
    # the parameters as text: binary parameters are insert_params' business.
    def c_pipeline():
        with conn.pipeline():
            with conn.cursor() as cur:
                for id_ in (20, 21, 22):
                    cur.execute(f"INSERT INTO {t} (id, c_int, c_text) VALUES (%t, %t, %t)", (id_, id_ * 2, f"p{id_}"))
                cur.execute(f"SELECT id, c_int, c_text FROM {t} WHERE id >= %t AND id <= %t ORDER BY id", (20, 22))
                rows = cur.fetchall()
        want = [(20, 40, "p20"), (21, 42, "p21"), (22, 44, "p22")]
        expect(rows == want, f"expected {want}, got {rows}")
        return "3 INSERTs and a SELECT in one pipeline"

    # An error inside a pipeline: it reaches the client before Sync (the
    # fetch sends Flush), the statements after it up to Sync are skipped,
    # and the connection works afterwards.
    def c_pipeline_error():
        state = None
        try:
            with conn.pipeline():
                conn.execute(f"INSERT INTO {t} (id) VALUES (30)")
                conn.execute("SELECT * FROM pgiris_matrix_no_such_table")
                conn.execute(f"INSERT INTO {t} (id) VALUES (31)")
                conn.execute("SELECT 1").fetchone()
        except psycopg.Error as e:
            state = sqlstate_of(e) or type(e).__name__
        expect(state == "42P01", f"expected 42P01 from the pipeline, got {state}")
        after = count(conn, 31)
        expect(after == 0, "the statement after the error was executed (it must be skipped until Sync)")
        return "42P01 raised, the later statement skipped, the connection usable"

    r.case("pipeline", c_pipeline, timeout=5)
    r.case(
        "pipeline_error",
        c_pipeline_error,
        timeout=5,
        stuck="no answer within 5s to a fetch (Flush) after an error inside a pipeline",
    )

    # The same row through a binary cursor: binary results for every type.
    check_columns(
        r,
        lambda: one(select_sql(t), binary=True),
        lambda col: one(f"SELECT {col} FROM {t} WHERE id = 1", binary=True),
        note,
        prefix="binary.",
    )

    cancel_case(
        r,
        env,
        lambda: sync_cancel(env, lambda: one(env.long_query), conn.cancel, lambda: one("SELECT 1")[0]),
    )
    conn.close()


if __name__ == "__main__":
    main()
