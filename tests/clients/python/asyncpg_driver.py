"""asyncpg (its own protocol implementation: prepared statements, binary
parameters and results for every type) driver of the client matrix."""

import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from matrix_common import (  # noqa: E402
    AFTER_CONNECT,
    CANCEL_DEADLINE,
    CASE_TIMEOUT,
    COLUMN_NAMES,
    COLUMNS,
    CaseFailed,
    Env,
    check_value,
    describe_error,
    emit,
    emit_meta,
    expect,
    login_error_detail,
    select_sql,
    sqlstate_of,
)

CLIENT = "asyncpg"


class AsyncRunner:
    """Runner's asyncio twin: each case under asyncio.wait_for; a stuck
    case is reported and the main connection replaced."""

    def __init__(self):
        self.failed = set()
        self.reconnect = None

    async def case(self, name, fn, *args, timeout=CASE_TIMEOUT, stuck=None):
        print(json.dumps({"client": CLIENT, "case": name, "start": True}), flush=True)
        stuck_now = False
        try:
            detail = await asyncio.wait_for(fn(*args), timeout)
            ok, detail = True, detail or ""
        except asyncio.TimeoutError:
            ok, detail, stuck_now = False, stuck or f"no answer within {timeout:.0f}s: the session hung", True
        except CaseFailed as e:
            ok, detail = False, str(e)
        except Exception as e:  # noqa: BLE001
            ok, detail = False, describe_error(e)
        emit(CLIENT, name, ok, detail)
        if not ok:
            self.failed.add(name)
        if stuck_now and self.reconnect is not None:
            await self.reconnect()
        return ok

    def skip(self, names, because):
        for name in names:
            emit(CLIENT, name, False, f"not run: {because} failed")


async def main():
    env = Env()
    r = AsyncRunner()
    import asyncpg

    emit_meta(CLIENT, version=asyncpg.__version__)

    async def connect(**over):
        p = dict(
            host=env.host,
            port=env.port,
            user=env.user,
            password=env.password,
            database=env.dbname,
            ssl=env.ssl_context() or False,
            timeout=10,
        )
        p.update(over)
        return await asyncpg.connect(**p)

    state = {}

    async def c_connect():
        state["conn"] = await connect()
        transport = getattr(state["conn"], "_transport", None)
        ssl_object = transport.get_extra_info("ssl_object") if transport else None
        expect((ssl_object is not None) == env.tls, f"TLS in use: {ssl_object is not None}, expected {env.tls}")
        return f"tls={ssl_object.version()}" if ssl_object else "plaintext"

    if not await r.case("connect", c_connect):
        r.skip(AFTER_CONNECT + (["scram_plus"] if env.scram_plus else []) + ["cancel"], "connect")
        return

    async def reconnect():
        state["conn"].terminate()
        state["conn"] = await connect()

    r.reconnect = reconnect
    t = env.table

    def conn():
        return state["conn"]

    async def c_version():
        v = conn().get_server_version()
        expect(v.major >= 14, f"server version {v}: expected 14 or later")
        show = await conn().fetchval("SHOW server_version")
        return f"{v.major}.{v.minor} / SHOW: {show}"

    async def c_ddl():
        await conn().execute(f"DROP TABLE IF EXISTS {t}")
        await conn().execute(env.ddl)
        return "created"

    async def c_insert():
        cols = ", ".join(COLUMN_NAMES)
        marks = ", ".join(f"${i}" for i in range(1, len(COLUMNS) + 2))
        sql = f"INSERT INTO {t} (id, {cols}) VALUES ({marks})"
        status = await conn().execute(sql, 1, *[c[2] for c in COLUMNS])
        expect(status == "INSERT 0 1", f"status {status!r} for row 1")
        status = await conn().execute(sql, 2, *[None] * len(COLUMNS))
        expect(status == "INSERT 0 1", f"status {status!r} for row 2")
        return "2 rows, prepared, binary parameters"

    await r.case("server_version", c_version)
    await r.case("ddl", c_ddl)
    note = None
    if not await r.case("insert_params", c_insert):
        try:
            await conn().execute(env.fixture_insert)
        except Exception as e:  # noqa: BLE001
            note = "insert_params failed and so did the literal fixture INSERT: " + describe_error(e)

    # The row; when that fails, each column on its own.
    row, why = None, note
    if note is None:
        try:
            row = await conn().fetchrow(select_sql(t))
            why = None if row is not None else "SELECT returned no row"
        except Exception as e:  # noqa: BLE001
            why = "SELECT failed: " + describe_error(e)
    for i, (name, _, _, kind) in enumerate(COLUMNS):

        async def check(i=i, name=name, kind=kind):
            if row is not None:
                return check_value(kind, row[i])
            if note is not None or not why.startswith("SELECT failed"):
                raise CaseFailed(f"no row: {why}")
            try:
                v = await conn().fetchrow(f"SELECT {name} FROM {t} WHERE id = 1")
            except Exception as e:  # noqa: BLE001
                raise CaseFailed(f"{name} alone: SELECT failed: {describe_error(e)}")
            expect(v is not None, f"{name} alone: SELECT returned no row")
            return check_value(kind, v[0])

        await r.case("type." + kind, check)

    async def c_nulls():
        row2 = await conn().fetchrow(select_sql(t, "id = 2"))
        expect(row2 is not None, "SELECT returned no row")
        bad = [COLUMN_NAMES[i] for i, v in enumerate(row2) if v is not None]
        expect(not bad, f"expected NULL in every column, got values in {', '.join(bad)}")
        return "12 NULLs"

    await r.case("nulls", c_nulls)

    async def count(c, id_):
        # A literal, so visibility does not depend on parameter typing.
        return await c.fetchval(f"SELECT count(*) FROM {t} WHERE id = {int(id_)}")

    class _Rollback(Exception):
        pass

    async def transaction(commit):
        id_ = 10 if commit else 11
        other = await connect()
        try:
            try:
                async with conn().transaction():
                    await conn().execute(f"INSERT INTO {t} (id, c_text) VALUES ({id_}, 'tx')")
                    expect(await count(conn(), id_) == 1, "own uncommitted row not visible")
                    expect(await count(other, id_) == 0, "uncommitted row visible to another session")
                    if not commit:
                        raise _Rollback()
            except _Rollback:
                pass
            want = 1 if commit else 0
            got = (await count(conn(), id_), await count(other, id_))
            verb = "COMMIT" if commit else "ROLLBACK"
            expect(got == (want, want), f"after {verb}: the session sees {got[0]} rows, another session {got[1]}, expected {want}")
            return "visibility checked from a second session"
        finally:
            await other.close()

    await r.case("tx_commit", transaction, True)
    await r.case("tx_rollback", transaction, False)

    async def expect_state(coro, want, what):
        try:
            await coro
        except Exception as e:  # noqa: BLE001
            if sqlstate_of(e) == want:
                return f"{want}: {type(e).__name__}: {e}"[:160]
            raise CaseFailed(f"{what}: expected SQLSTATE {want}, got {describe_error(e)}")
        raise CaseFailed(f"{what}: expected SQLSTATE {want}, but it succeeded")

    await r.case("error_42P01", lambda: expect_state(conn().fetch("SELECT * FROM pgiris_matrix_no_such_table"), "42P01", "missing table"))

    async def c_unique():
        await conn().execute(f"INSERT INTO {t} (id) VALUES (100)")
        return await expect_state(conn().execute(f"INSERT INTO {t} (id) VALUES (100)"), "23505", "duplicate primary key")

    await r.case("error_23505", c_unique)

    async def refused(what, **over):
        try:
            c = await connect(**over)
        except Exception as e:  # noqa: BLE001
            return login_error_detail(e, what)
        await c.close()
        raise CaseFailed(f"auth not enforced: {what} was accepted")

    await r.case("bad_password", lambda: refused("a login with a wrong password", password=env.bad_password))
    await r.case("unknown_user", lambda: refused("a login as an unknown user", user=env.unknown_user))
    if env.scram_plus:

        async def c_plus():
            raise CaseFailed("client: asyncpg implements SCRAM-SHA-256 only, never -PLUS (no channel binding)")

        await r.case("scram_plus", c_plus)

    # Cancel: asyncpg cancels a query whose timeout expires (it sends a
    # CancelRequest and waits for the server to end the query); it does not
    # surface the 57014, so the check is that the session answers at once.
    async def c_cancel():
        try:
            v = await conn().fetchval(env.long_query, timeout=env.cancel_after)
            raise CaseFailed(f"the query completed ({v!r}) before the timeout: make it longer")
        except asyncio.TimeoutError:
            sent = time.monotonic()
        try:
            one = await asyncio.wait_for(conn().fetchval("SELECT 1"), env.cancel_wait)
        except asyncio.TimeoutError:
            raise CaseFailed(
                f"the session did not answer {env.cancel_wait:.0f}s after the cancel: the query kept running"
            )
        elapsed = time.monotonic() - sent
        expect(one == 1, f"SELECT 1 after the cancel gave {one!r}")
        expect(elapsed < CANCEL_DEADLINE, f"the session answered {elapsed:.2f}s after the cancel (want < {CANCEL_DEADLINE:.0f}s)")
        return f"query cancelled on timeout; the session answered {elapsed * 1000:.0f} ms after the cancel"

    await r.case("cancel", c_cancel, timeout=env.cancel_after + env.cancel_wait + 5)
    await conn().close()


if __name__ == "__main__":
    asyncio.run(main())
