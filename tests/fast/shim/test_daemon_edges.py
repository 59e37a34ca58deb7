"""The daemon's own tasks: a crashed health reporter is logged; the socket probe is off the loop."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import tempfile
import threading
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health

from shim.daemon import app, server
from tests.support.fakedocker import FakeDocker
from tests.support.fakeshim import backend_for


async def test_a_crashed_health_task_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    docker = FakeDocker()
    docker.fail["ping"] = ValueError("a bug in the health loop")  # type: ignore[assignment]
    task = asyncio.create_task(
        server.report_health(backend_for(docker), health.aio.HealthServicer()),
        name="health reporting",
    )
    task.add_done_callback(app.log_if_crashed)
    with caplog.at_level(logging.ERROR, logger="shim"):
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.sleep(0)  # done callbacks run on the next turn
    (record,) = [r for r in caplog.records if "health reporting stopped" in r.getMessage()]
    assert "a bug in the health loop" in record.getMessage()
    assert record.exc_info is not None


async def test_a_cancelled_background_task_is_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    task = asyncio.create_task(asyncio.sleep(3600))
    task.add_done_callback(app.log_if_crashed)
    task.cancel()
    with caplog.at_level(logging.ERROR, logger="shim"):
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.sleep(0)
    assert not caplog.records


async def test_probing_an_existing_socket_does_not_block_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A probe that hangs in connect() leaves the loop serving everything else."""
    release = threading.Event()
    in_connect = threading.Event()

    class HangingSocket(socket.socket):
        def connect(self, address) -> None:  # type: ignore[override]
            in_connect.set()
            release.wait(10)
            raise ConnectionRefusedError("stale")

    monkeypatch.setattr(server.socket, "socket", HangingSocket)
    directory = Path(tempfile.mkdtemp(prefix="i9-fast-", dir="/tmp"))
    path = directory / "cri.sock"
    stale = socket.socket(socket.AF_UNIX)  # a socket file nobody listens on
    stale.bind(str(path))
    stale.close()
    grpc_server = grpc.aio.server()
    binding = asyncio.create_task(server.bind(grpc_server, str(path), ""))
    try:
        for _ in range(500):
            if in_connect.is_set():
                break
            await asyncio.sleep(0.01)  # the loop turns while the probe hangs in its thread
        assert in_connect.is_set()
        assert not binding.done()
        release.set()
        await binding  # the stale socket is replaced
        assert path.is_socket()
    finally:
        release.set()
        await grpc_server.stop(0)
        shutil.rmtree(directory, ignore_errors=True)
