#!/usr/bin/env python3
"""Open N authenticated PostgreSQL connections and hold them idle.

bench/run drives this to measure a server's memory per idle connection. It
speaks just enough of the protocol: an optional SSLRequest and TLS, a startup
packet for a `trust` user, then reads up to ReadyForQuery. Standard library
only (asyncio raw streams), so its own cost stays small and predictable.

    idle_conns.py --port P --user U [--tls] -n 1000

Conversation on stdin/stdout, one line each, so the caller can measure the
server at the right moments:

    -> warm                      after --warmup connections opened and closed
    <- go
    -> held OK FAILED [ERROR]    after N attempts (ERROR: the first failure)
    <- close
    -> closed
"""

import argparse
import asyncio
import ssl
import struct
import sys

SSL_REQUEST = struct.pack("!ii", 8, 80877103)


def startup_packet(user, database):
    body = struct.pack("!i", 196608)
    for key, value in (("user", user), ("database", database),
                       ("application_name", "idle_conns")):
        body += key.encode() + b"\0" + value.encode() + b"\0"
    body += b"\0"
    return struct.pack("!i", len(body) + 4) + body


def error_text(payload):
    """Severity, code and message of an ErrorResponse body."""
    fields = {}
    for part in payload.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode(errors="replace")
    return f"{fields.get('S', '?')} {fields.get('C', '?')} {fields.get('M', '?')}"


class Opener:
    def __init__(self, args):
        self.args = args
        self.ctx = None
        if args.tls:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            self.ctx.check_hostname = False
            self.ctx.verify_mode = ssl.CERT_NONE
            self.ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        self.packet = startup_packet(args.user, args.database)
        self.sem = asyncio.Semaphore(args.concurrency)

    async def login(self):
        """An authenticated connection (reader, writer), or raises."""
        reader, writer = await asyncio.open_connection(self.args.host, self.args.port)
        try:
            if self.ctx is not None:
                writer.write(SSL_REQUEST)
                await writer.drain()
                answer = await reader.readexactly(1)
                if answer != b"S":
                    raise RuntimeError(f"SSLRequest answered {answer!r}")
                await writer.start_tls(self.ctx, server_hostname="localhost")
            writer.write(self.packet)
            await writer.drain()
            while True:
                header = await reader.readexactly(5)
                kind, length = header[:1], struct.unpack("!i", header[1:])[0]
                payload = await reader.readexactly(length - 4)
                if kind == b"E":
                    raise RuntimeError(error_text(payload))
                if kind == b"R" and struct.unpack("!i", payload[:4])[0] != 0:
                    raise RuntimeError("server asked for a password (trust expected)")
                if kind == b"Z":
                    return reader, writer
        except BaseException:
            writer.close()
            raise

    async def one(self):
        async with self.sem:
            return await asyncio.wait_for(self.login(), self.args.timeout)

    async def open_many(self, n):
        results = await asyncio.gather(*(self.one() for _ in range(n)), return_exceptions=True)
        held = [r for r in results if not isinstance(r, BaseException)]
        errors = [r for r in results if isinstance(r, BaseException)]
        return held, errors


async def close_all(held):
    for _, writer in held:
        try:
            writer.write(b"X\0\0\0\4")
            writer.close()
        except Exception:  # noqa: BLE001 - closing is best effort
            pass
    for _, writer in held:
        try:
            await asyncio.wait_for(writer.wait_closed(), 5)
        except Exception:  # noqa: BLE001
            pass


async def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--database", default="postgres")
    p.add_argument("--tls", action="store_true")
    p.add_argument("-n", type=int, required=True)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--timeout", type=float, default=60)
    args = p.parse_args()
    loop = asyncio.get_running_loop()

    async def line():
        return (await loop.run_in_executor(None, sys.stdin.readline)).strip()

    opener = Opener(args)
    warm, errors = await opener.open_many(args.warmup)
    await close_all(warm)
    if errors:
        print(f"failed {type(errors[0]).__name__}: {errors[0]}", flush=True)
        return 1
    await asyncio.sleep(0.2)
    print("warm", flush=True)
    if await line() != "go":
        return 1
    held, errors = await opener.open_many(args.n)
    first = f" {type(errors[0]).__name__}: {errors[0]}" if errors else ""
    print(f"held {len(held)} {len(errors)}{first}", flush=True)
    await line()
    await close_all(held)
    print("closed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
