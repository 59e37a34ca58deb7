"""What the benchmarks share: a real shim daemon on a private socket, and timing."""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import grpc

BUSYBOX = os.environ.get("BUSYBOX_IMAGE", "127.0.0.1:5000/busybox:1.35")
DOCKER_HOST = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


@contextlib.contextmanager
def shim_daemon(endpoint: str | None) -> Iterator[str]:
    """Use ``endpoint``, or run a shim of this checkout on a private socket for the duration."""
    if endpoint:
        yield endpoint
        return
    directory = Path(tempfile.mkdtemp(prefix="cri-bench-", dir="/tmp"))
    socket_path = directory / "cri.sock"
    log = open(directory / "shim.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "shim", "--listen", str(socket_path), "--log-level", "warning"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"unix://{socket_path}"
    try:
        with grpc.insecure_channel(endpoint) as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
        yield endpoint
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


class Stopwatch:
    def __init__(self) -> None:
        self.seconds = 0.0

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        self.seconds = time.perf_counter() - self._start


def median(values: list[float]) -> float:
    return statistics.median(values)
