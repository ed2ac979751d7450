"""psycopg2 (libpq; parameters interpolated client-side, simple protocol,
text results) driver of the client matrix."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from matrix_common import (  # noqa: E402
    AFTER_CONNECT,
    COLUMNS,
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
    sync_cancel,
)

CLIENT = "psycopg2"


def main():
    env = Env()
    r = Runner(CLIENT)
    import psycopg2
    import psycopg2.extras

    # uuid.UUID in and out, as applications using uuid columns do.
    psycopg2.extras.register_uuid()
    emit_meta(
        CLIENT,
        version=psycopg2.__version__.split()[0],
        libpq=str(psycopg2.extensions.libpq_version()),
    )

    def connect(**over):
        return psycopg2.connect(**env.libpq_params(**over))

    state = {}

    def c_connect():
        conn = connect()
        conn.autocommit = True
        state["conn"] = conn
        ssl = conn.info.ssl_in_use
        expect(ssl == env.tls, f"ssl_in_use={ssl}, expected {env.tls}")
        return f"tls={conn.info.ssl_attribute('protocol')}" if ssl else "plaintext"

    if not r.case("connect", c_connect):
        r.skip(AFTER_CONNECT + (["scram_plus"] if env.scram_plus else []) + ["cancel"], "connect")
        return
    t = env.table
    r.abort = lambda: shutdown_socket(state["conn"].fileno())

    conn = replaceable_connection(r, state, connect)

    def one(sql, params=None):
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone()

    def execute(sql, params=None):
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.rowcount

    def c_version():
        v = conn.server_version
        expect(v >= 140000, f"server_version {v}: expected 14 or later")
        return f"{v} / SHOW: {parse_server_version(one('SHOW server_version')[0])}"

    def c_ddl():
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {t}")
            cur.execute(env.ddl)
        return "created"

    def c_insert():
        cols = ", ".join(c[0] for c in COLUMNS)
        marks = ", ".join(["%s"] * (len(COLUMNS) + 1))
        sql = f"INSERT INTO {t} (id, {cols}) VALUES ({marks})"
        with conn.cursor() as cur:
            cur.execute(sql, [1] + [c[2] for c in COLUMNS])
            expect(cur.rowcount == 1, f"rowcount {cur.rowcount} for row 1")
            cur.execute(sql, [2] + [None] * len(COLUMNS))
            expect(cur.rowcount == 1, f"rowcount {cur.rowcount} for row 2")
        return "2 rows"

    r.case("server_version", c_version)
    r.case("ddl", c_ddl)
    note = insert_case(r, env, c_insert, execute)
    check_columns(r, lambda: one(select_sql(t)), lambda col: one(f"SELECT {col} FROM {t} WHERE id = 1"), note)
    r.case("nulls", check_nulls, lambda: one(select_sql(t, "id = 2")))

    def count(c, id_):
        with c.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {t} WHERE id = %s", (id_,))
            return cur.fetchone()[0]

    def transaction(commit):
        other = connect()
        other.autocommit = True
        try:
            conn.autocommit = False
            id_ = 10 if commit else 11
            with conn.cursor() as cur:
                cur.execute(f"INSERT INTO {t} (id, c_text) VALUES (%s, 'tx')", (id_,))
            expect(count(conn, id_) == 1, "own uncommitted row not visible")
            expect(count(other, id_) == 0, "uncommitted row visible to another session")
            conn.commit() if commit else conn.rollback()
            conn.autocommit = True
            want = 1 if commit else 0
            expect(count(other, id_) == want, f"after {'COMMIT' if commit else 'ROLLBACK'} another session sees {count(other, id_)} rows, expected {want}")
            expect(count(conn, id_) == want, f"after {'COMMIT' if commit else 'ROLLBACK'} the session sees {count(conn, id_)} rows, expected {want}")
            return "visibility checked from a second session"
        finally:
            if not conn.autocommit:
                conn.rollback()
                conn.autocommit = True
            other.close()

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
            c = connect(channel_binding="require")
            c.close()
            return "channel_binding=require accepted (SCRAM-SHA-256-PLUS)"

        r.case("scram_plus", c_plus)

    cancel_case(
        r,
        env,
        lambda: sync_cancel(env, lambda: one(env.long_query), conn.cancel, lambda: one("SELECT 1")[0]),
    )
    conn.close()


if __name__ == "__main__":
    main()
