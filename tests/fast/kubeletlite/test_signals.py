"""`run`'s signals: the first terminates pods gracefully, a second forces the exit."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from kubeletlite.cli import signals
from kubeletlite.manifest import podfiles
from kubeletlite.pods.agent import Agent
from kubeletlite.settings import AgentOptions, AgentSettings
from tests.support.fakeruntime import Behaviour, ExecScript, FakeRuntime

IMAGE = "127.0.0.1:5000/busybox:1.35"
POD = f"""
apiVersion: v1
kind: Pod
metadata: {{name: slow-stop, namespace: i9-fast}}
spec:
  terminationGracePeriodSeconds: 3600
  containers:
  - name: web
    image: {IMAGE}
    lifecycle: {{preStop: {{exec: {{command: [drain]}}}}}}
"""


async def until(predicate) -> None:
    async with asyncio.timeout(10):
        while not predicate():  # noqa: ASYNC110 (a fake's state, no event to wait on)
            await asyncio.sleep(0.01)


async def test_a_second_signal_ends_run_during_a_long_pre_stop(tmp_path: Path) -> None:
    runtime = FakeRuntime(images={IMAGE})
    runtime.behaviours["web"] = Behaviour()
    runtime.execs[("web", ("drain",))] = ExecScript(takes=3600.0)
    pods, _ = podfiles.load_text(POD, "slow-stop.yaml")
    settings = AgentSettings("unix:///nonexistent.sock", tmp_path, str(tmp_path), AgentOptions())

    async def command() -> dict[str, str]:
        with signals.stop_on_signals() as stop:
            async with Agent(settings, runtime=runtime) as agent:
                return await agent.run_pods(pods, stop)

    task = asyncio.create_task(command())
    await until(lambda: runtime.when("started", "web"))
    os.kill(os.getpid(), signal.SIGINT)
    await until(lambda: runtime.when("exec:drain", "web"))  # graceful: preStop runs
    await asyncio.sleep(0.1)
    assert not task.done()
    os.kill(os.getpid(), signal.SIGINT)
    with pytest.raises(signals.ForcedStop):
        async with asyncio.timeout(5):
            await task
    assert not runtime.calls_to("stop_container")  # forced: no waiting for the grace period
    # The handlers are gone with the command: Python's own are back.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


async def test_one_signal_terminates_gracefully_and_removes_the_handlers() -> None:
    async def command() -> str:
        with signals.stop_on_signals() as stop:
            await stop.wait()
            await asyncio.sleep(0.05)  # a short graceful termination
            return "terminated"

    task = asyncio.create_task(command())
    await asyncio.sleep(0.05)
    os.kill(os.getpid(), signal.SIGTERM)
    async with asyncio.timeout(5):
        assert await task == "terminated"
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
