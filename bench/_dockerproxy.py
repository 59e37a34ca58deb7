"""A counting proxy for the Docker socket: every request it forwards is one line in a file.

    python bench/_dockerproxy.py LISTEN_SOCKET UPSTREAM_SOCKET LOG_FILE

A runtime pointed at LISTEN_SOCKET works as usual; LOG_FILE gets "METHOD PATH"
per request (ids and query strings dropped), flushed at once, so a benchmark
reads how many Docker calls each CRI call caused by the lines added meanwhile.
It runs in a process of its own so that it never competes with the
benchmark's event loop.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from typing import TextIO

# A request line at the start of a request (bodies of Docker API requests are JSON).
_REQUEST_LINE = re.compile(rb"(GET|POST|PUT|DELETE|HEAD) (/[^ ]*) HTTP/1\.[01]\r\n")
_ID = re.compile(r"/[0-9a-f]{12,64}(?=/|$)")
_VERSION = re.compile(r"^/v1\.\d+")


def normalise(path: str) -> str:
    path = path.split("?", 1)[0]
    path = _VERSION.sub("", path)
    return _ID.sub("/{id}", path)


async def pump(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, log: TextIO | None
) -> None:
    try:
        while data := await reader.read(65536):
            if log is not None:
                for match in _REQUEST_LINE.finditer(data):
                    method, path = match.group(1).decode(), match.group(2).decode()
                    log.write(f"{method} {normalise(path)}\n")
                log.flush()
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def main(listen: str, upstream: str, log: TextIO) -> None:

    async def serve(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_unix_connection(upstream)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(pump(client_r, up_w, log), pump(up_r, client_w, None))

    server = await asyncio.start_unix_server(serve, path=listen, limit=1 << 20)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    with open(sys.argv[3], "a", buffering=1) as call_log:
        asyncio.run(main(sys.argv[1], sys.argv[2], call_log))
