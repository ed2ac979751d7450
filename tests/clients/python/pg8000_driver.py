"""pg8000 (pure Python; extended protocol with typed text parameters, text
results; uses SCRAM-SHA-256-PLUS on its own when TLS is on and the server
offers it) driver of the client matrix. pg8000 has no cancel API."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from matrix_common import (  # noqa: E402
    AFTER_CONNECT,
    COLUMN_NAMES,
    COLUMNS,
    CaseFailed,
    Env,
    Runner,
    check_columns,
    check_nulls,
    emit_meta,
    expect,
    expect_login_refused,
    expect_sqlstate,
    insert_case,
    parse_server_version,
    select_sql,
    shutdown_socket,
)

CLIENT = "pg8000"


def main():
    env = Env()
    r = Runner(CLIENT)
    import pg8000
    import pg8000.native

    emit_meta(CLIENT, version=pg8000.__version__)

    def connect(**over):
        p = dict(
            host=env.host,
            port=env.port,
            user=env.user,
            password=env.password,
            database=env.dbname,
            # None would mean "try TLS, fall back" in pg8000; False is plaintext.
            ssl_context=env.ssl_context() or False,
            timeout=30,
        )
        p.update(over)
        return pg8000.native.Connection(**p)

    state = {}

    def c_connect():
        state["conn"] = connect()
        import ssl

        sock = state["conn"]._usock
        tls = isinstance(sock, ssl.SSLSocket)
        expect(tls == env.tls, f"TLS in use: {tls}, expected {env.tls}")
        return f"tls={sock.version()}" if tls else "plaintext"

    if not r.case("connect", c_connect):
        r.skip(AFTER_CONNECT + (["scram_plus"] if env.scram_plus else []) + ["cancel"], "connect")
        return
    r.abort = lambda: shutdown_socket(state["conn"]._usock.fileno())

    def reconnect():
        state["conn"] = connect()

    r.reconnect = reconnect
    t = env.table

    def run(sql, **params):
        return state["conn"].run(sql, **params)

    def one(sql, **params):
        rows = run(sql, **params)
        return rows[0] if rows else None

    def c_version():
        v = state["conn"].parameter_statuses.get("server_version")
        parse_server_version(v)
        return f"ParameterStatus: {v} / SHOW: {one('SHOW server_version')[0]}"

    def c_ddl():
        run(f"DROP TABLE IF EXISTS {t}")
        run(env.ddl)
        return "created"

    def c_insert():
        names = ["id"] + COLUMN_NAMES
        sql = f"INSERT INTO {t} ({', '.join(names)}) VALUES ({', '.join(':' + n for n in names)})"
        run(sql, id=1, **{c[0]: c[2] for c in COLUMNS})
        expect(state["conn"].row_count == 1, f"row count {state['conn'].row_count} for row 1")
        run(sql, id=2, **{c[0]: None for c in COLUMNS})
        return "2 rows, typed text parameters"

    r.case("server_version", c_version)
    r.case("ddl", c_ddl)
    note = insert_case(r, env, c_insert, run)
    check_columns(r, lambda: one(select_sql(t)), lambda col: one(f"SELECT {col} FROM {t} WHERE id = 1"), note)
    r.case("nulls", check_nulls, lambda: one(select_sql(t, "id = 2")))

    def count(c, id_):
        return c.run(f"SELECT count(*) FROM {t} WHERE id = {int(id_)}")[0][0]

    def transaction(commit):
        id_ = 10 if commit else 11
        other = connect()
        try:
            run("BEGIN")
            try:
                run(f"INSERT INTO {t} (id, c_text) VALUES ({id_}, 'tx')")
                expect(count(state["conn"], id_) == 1, "own uncommitted row not visible")
                expect(count(other, id_) == 0, "uncommitted row visible to another session")
            except Exception:
                run("ROLLBACK")
                raise
            verb = "COMMIT" if commit else "ROLLBACK"
            run(verb)
            want = 1 if commit else 0
            got = (count(state["conn"], id_), count(other, id_))
            expect(got == (want, want), f"after {verb}: the session sees {got[0]} rows, another session {got[1]}, expected {want}")
            return "visibility checked from a second session"
        finally:
            other.close()

    r.case("tx_commit", transaction, True)
    r.case("tx_rollback", transaction, False)
    r.case("error_42P01", expect_sqlstate, lambda: run("SELECT * FROM pgiris_matrix_no_such_table"), "42P01", "missing table")

    def c_unique():
        run(f"INSERT INTO {t} (id) VALUES (100)")
        return expect_sqlstate(lambda: run(f"INSERT INTO {t} (id) VALUES (100)"), "23505", "duplicate primary key")

    r.case("error_23505", c_unique)
    r.case("bad_password", expect_login_refused, lambda: connect(password=env.bad_password), lambda c: c.close(), "a login with a wrong password")
    r.case("unknown_user", expect_login_refused, lambda: connect(user=env.unknown_user), lambda c: c.close(), "a login as an unknown user")
    if env.scram_plus:

        def c_plus():
            c = connect()
            try:
                mech = getattr(getattr(c, "auth", None), "mechanism_name", None)
            finally:
                c.close()
            expect(mech == "SCRAM-SHA-256-PLUS", f"authenticated with {mech or 'no SASL exchange'}, expected SCRAM-SHA-256-PLUS")
            return "SCRAM-SHA-256-PLUS chosen by pg8000"

        r.case("scram_plus", c_plus)

    def c_cancel():
        raise CaseFailed("client: pg8000 has no API to cancel a running query")

    r.case("cancel", c_cancel)
    state["conn"].close()


if __name__ == "__main__":
    main()
