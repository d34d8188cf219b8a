#!/usr/bin/env python3
"""A tiny TCP relay for the multi-host cluster test (test_multihost.py).

    tcp_relay.py LISTEN_HOST TARGET_HOST PORT [PORT ...]

For each PORT it listens on LISTEN_HOST:PORT and forwards every connection, both ways,
to TARGET_HOST:PORT (same port number). When every listener is up it prints "ready" on
stdout; it runs until killed (SIGTERM/SIGINT end it cleanly).

Why: `weir dev-kafka`'s mock brokers listen on 127.0.0.1 only and advertise
127.0.0.1:PORT in their metadata. A process in another network namespace reaches them
through two relays: one inside its namespace (127.0.0.1:PORT -> bridge IP:PORT) and one
in the root namespace (bridge IP:PORT -> 127.0.0.1:PORT). Clients then use the very
bootstrap list the mock printed, in every namespace.

Memory stays bounded: a direction stops reading while its writer holds more than the
transport's high-water mark (StreamWriter.drain)."""
import asyncio
import signal
import sys


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            if writer.can_write_eof():
                writer.write_eof()
        except (ConnectionError, OSError, RuntimeError):
            pass


async def serve(listen_host, target_host, port):
    async def handle(cr, cw):
        try:
            tr, tw = await asyncio.open_connection(target_host, port)
        except OSError as e:
            print(f"tcp_relay: {target_host}:{port}: {e}", file=sys.stderr, flush=True)
            cw.close()
            return
        try:
            await asyncio.gather(pipe(cr, tw), pipe(tr, cw))
        finally:
            for w in (cw, tw):
                w.close()
    return await asyncio.start_server(handle, listen_host, port, reuse_address=True)


async def main(argv):
    if len(argv) < 3:
        print("usage: tcp_relay.py LISTEN_HOST TARGET_HOST PORT [PORT ...]", file=sys.stderr)
        return 2
    listen_host, target_host, ports = argv[0], argv[1], [int(p) for p in argv[2:]]
    servers = [await serve(listen_host, target_host, p) for p in ports]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()
    for s in servers:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
