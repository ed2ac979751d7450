"""SQLAlchemy 2 on psycopg 3 (postgresql+psycopg) driver of the client
matrix: the dialect's first-connect queries, Core DDL from a Table, an
executemany INSERT, Core SELECT with SQLAlchemy's types, the inspector's
catalog queries (case reflection) and an ORM round trip (case orm). Cancel
goes through the psycopg connection underneath (SQLAlchemy has no API of
its own)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from matrix_common import (  # noqa: E402
    AFTER_CONNECT,
    COLUMN_NAMES,
    COLUMNS,
    Env,
    Runner,
    cancel_case,
    check_columns,
    check_nulls,
    emit_meta,
    expect,
    expect_login_refused,
    expect_sqlstate,
    insert_case,
    shutdown_socket,
    sync_cancel,
)

CLIENT = "sqlalchemy"


def main():
    env = Env()
    r = Runner(CLIENT)
    import psycopg
    import sqlalchemy as sa
    from sqlalchemy import orm
    from sqlalchemy.pool import NullPool

    emit_meta(CLIENT, version=sa.__version__, psycopg=psycopg.__version__)

    def engine(**over):
        p = env.libpq_params(**over)
        url = sa.URL.create(
            "postgresql+psycopg",
            username=p.pop("user"),
            password=p.pop("password"),
            host=p.pop("host"),
            port=p.pop("port"),
            database=p.pop("dbname"),
        )
        return sa.create_engine(url, connect_args=p, poolclass=NullPool)

    eng = engine()
    t = env.table
    md = sa.MetaData()
    table = sa.Table(
        t,
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("c_int", sa.Integer),
        sa.Column("c_bigint", sa.BigInteger),
        sa.Column("c_text", sa.Text),
        sa.Column("c_varchar", sa.String(20)),
        sa.Column("c_bool", sa.Boolean),
        sa.Column("c_float8", sa.Double),
        sa.Column("c_numeric", sa.Numeric(10, 2)),
        sa.Column("c_date", sa.Date),
        sa.Column("c_timestamp", sa.DateTime),
        sa.Column("c_timestamptz", sa.DateTime(timezone=True)),
        sa.Column("c_bytea", sa.LargeBinary),
        sa.Column("c_uuid", sa.Uuid),
    )
    state = {}

    def c_connect():
        state["conn"] = eng.connect()
        raw = state["conn"].connection.driver_connection
        ssl = raw.pgconn.ssl_in_use
        expect(ssl == env.tls, f"ssl_in_use={ssl}, expected {env.tls}")
        return ("tls" if ssl else "plaintext") + ", dialect initialised"

    if not r.case("connect", c_connect):
        r.skip(AFTER_CONNECT + (["scram_plus"] if env.scram_plus else []) + ["reflection", "orm", "cancel"], "connect")
        return

    def conn():
        return state["conn"]

    r.abort = lambda: shutdown_socket(conn().connection.driver_connection.fileno())

    def reconnect():
        try:
            conn().invalidate()
        finally:
            state["conn"] = eng.connect()

    r.reconnect = reconnect

    def run(stmt, params=None):
        """Runs stmt in its own transaction (autobegin, then commit)."""
        try:
            result = conn().execute(stmt if not isinstance(stmt, str) else sa.text(stmt), params)
            rows = result.all() if result.returns_rows else None
            conn().commit()
            return rows
        except Exception:
            conn().rollback()
            raise

    def one(stmt):
        rows = run(stmt)
        return tuple(rows[0]) if rows else None

    def c_version():
        v = eng.dialect.server_version_info
        expect(v is not None and v[0] >= 14, f"server_version_info {v}: expected 14 or later")
        return ".".join(map(str, v))

    def c_ddl():
        run(f"DROP TABLE IF EXISTS {t}")
        table.create(conn(), checkfirst=False)
        conn().commit()
        return "Table.create (Core DDL)"

    def c_insert():
        row1 = {"id": 1, **{c[0]: c[2] for c in COLUMNS}}
        row2 = {"id": 2, **{c: None for c in COLUMN_NAMES}}
        run(table.insert(), [row1, row2])
        return "executemany of 2 rows"

    r.case("server_version", c_version)
    r.case("ddl", c_ddl)
    note = insert_case(r, env, c_insert, run)
    cols = [table.c[n] for n in COLUMN_NAMES]
    check_columns(
        r,
        lambda: one(sa.select(*cols).where(table.c.id == 1)),
        lambda col: one(sa.select(table.c[col]).where(table.c.id == 1)),
        note,
    )
    r.case("nulls", check_nulls, lambda: one(sa.select(*cols).where(table.c.id == 2)))

    def count(c, id_):
        return c.execute(sa.select(sa.func.count()).select_from(table).where(table.c.id == sa.literal_column(str(int(id_))))).scalar()

    def transaction(commit):
        id_ = 10 if commit else 11
        with eng.connect() as other:
            tx = conn().begin()
            try:
                conn().execute(table.insert().values(id=sa.literal_column(str(id_)), c_text=sa.literal_column("'tx'")))
                expect(count(conn(), id_) == 1, "own uncommitted row not visible")
                expect(count(other, id_) == 0, "uncommitted row visible to another session")
                other.rollback()
            except Exception:
                tx.rollback()
                raise
            tx.commit() if commit else tx.rollback()
            want = 1 if commit else 0
            got = (count(conn(), id_), count(other, id_))
            conn().rollback()
            other.rollback()
            verb = "COMMIT" if commit else "ROLLBACK"
            expect(got == (want, want), f"after {verb}: the session sees {got[0]} rows, another session {got[1]}, expected {want}")
        return "visibility checked from a second session"

    r.case("tx_commit", transaction, True)
    r.case("tx_rollback", transaction, False)
    r.case("error_42P01", expect_sqlstate, lambda: run("SELECT * FROM pgiris_matrix_no_such_table"), "42P01", "missing table")

    def c_unique():
        run(f"INSERT INTO {t} (id) VALUES (100)")
        return expect_sqlstate(lambda: run(f"INSERT INTO {t} (id) VALUES (100)"), "23505", "duplicate primary key")

    r.case("error_23505", c_unique)

    def login(**over):
        e = engine(**over)
        return e.connect()

    r.case("bad_password", expect_login_refused, lambda: login(password=env.bad_password), lambda c: c.close(), "a login with a wrong password")
    r.case("unknown_user", expect_login_refused, lambda: login(user=env.unknown_user), lambda c: c.close(), "a login as an unknown user")
    if env.scram_plus:

        def c_plus():
            login(channel_binding="require").close()
            return "channel_binding=require accepted (SCRAM-SHA-256-PLUS)"

        r.case("scram_plus", c_plus)

    def c_reflection():
        cols = {c["name"]: c["type"] for c in sa.inspect(eng).get_columns(t)}
        want = {
            "id": sa.INTEGER, "c_int": sa.INTEGER, "c_bigint": sa.BIGINT, "c_text": sa.TEXT,
            "c_varchar": sa.VARCHAR, "c_bool": sa.BOOLEAN, "c_float8": sa.DOUBLE_PRECISION,
            "c_numeric": sa.NUMERIC, "c_date": sa.DATE, "c_timestamp": sa.TIMESTAMP,
            "c_timestamptz": sa.TIMESTAMP, "c_bytea": sa.LargeBinary, "c_uuid": sa.UUID,
        }
        bad = [f"{n}: {cols.get(n)!r}" for n, ty in want.items() if not isinstance(cols.get(n), ty)]
        expect(not bad, "inspector.get_columns: " + "; ".join(bad))
        expect(cols["c_varchar"].length == 20, f"c_varchar length {cols['c_varchar'].length}")
        expect(cols["c_timestamptz"].timezone, "c_timestamptz reflected without time zone")
        return f"{len(cols)} columns reflected with their types"

    r.case("reflection", c_reflection)

    class Base(orm.DeclarativeBase):
        pass

    class Row(Base):
        __table__ = table

    def c_orm():
        with orm.Session(eng) as s:
            s.add(Row(id=40, c_text="orm \u2713", c_numeric=COLUMNS[6][2], c_uuid=COLUMNS[11][2]))
            s.commit()
        with orm.Session(eng) as s:
            got = s.get(Row, 40)
            expect(got is not None, "the row added through the ORM is not there")
            expect(got.c_text == "orm \u2713", f"c_text {got.c_text!r}")
            expect(str(got.c_numeric) == "12345678.90", f"c_numeric {got.c_numeric!r}")
            expect(got.c_uuid == COLUMNS[11][2], f"c_uuid {got.c_uuid!r}")
            got.c_text = "orm updated"
            s.commit()
        with orm.Session(eng) as s:
            n = s.scalar(sa.select(sa.func.count()).select_from(Row).where(Row.c_text == "orm updated"))
            expect(n == 1, f"after the ORM update: {n} rows")
        return "add, commit, get, update through a Session"

    r.case("orm", c_orm)

    def long_query():
        return one(env.long_query)

    def usable():
        return one("SELECT 1")[0]

    cancel_case(
        r,
        env,
        lambda: sync_cancel(env, long_query, lambda: conn().connection.driver_connection.cancel(), usable),
    )
    conn().close()


if __name__ == "__main__":
    main()
