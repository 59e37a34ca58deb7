"""Shared steps of the kubelet-lite acceptance tests: waiting on timeline marks,
events and saved status, reading files pods write, starting and stopping agents."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.cri import eventually
from tests.support.kubeletlite import CliResult, KubeletLite

# Bounded waits on the agent (pod starts, kills); generous for a loaded CI machine.
WAIT = 30.0

Row = dict[str, Any]


@dataclass
class Request:
    path: str
    query: str
    headers: dict[str, str]


@dataclass
class HookServer:
    """What the ``hook_server`` fixture's HTTP server received."""

    port: int = 0
    requests: list[Request] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]


def seconds(row: Row) -> float:
    """A mark's or an event's time, in seconds (wall clock)."""
    return float(row["time_ns"]) / 1e9


def marks(
    lite: KubeletLite, pod: str, what: str | None = None, container: str | None = None
) -> list[Row]:
    return [
        m
        for m in lite.marks(pod)
        if (what is None or m["what"] == what)
        and (container is None or m["container"] == container)
    ]


def events(lite: KubeletLite, pod: str, reason: str | None = None) -> list[Row]:
    return [e for e in lite.events(pod) if reason is None or e["reason"] == reason]


async def until(check: Callable[[], bool], timeout: float = WAIT) -> None:
    """Wait, bounded, for a condition on files the agent or the pods write."""

    async def probe() -> bool:
        return check()

    await eventually(probe, timeout)


async def wait_marks(
    lite: KubeletLite,
    pod: str,
    what: str,
    container: str | None = None,
    *,
    count: int = 1,
    timeout: float = WAIT,
) -> list[Row]:
    await until(lambda: len(marks(lite, pod, what, container)) >= count, timeout)
    return marks(lite, pod, what, container)


async def wait_event(lite: KubeletLite, pod: str, reason: str, timeout: float = WAIT) -> Row:
    await until(lambda: bool(events(lite, pod, reason)), timeout)
    return events(lite, pod, reason)[0]


def container_doc(lite: KubeletLite, pod: str, container: str) -> Row:
    return dict(lite.status(pod).get("containers", {}).get(container, {}))


async def wait_started(lite: KubeletLite, pod: str, *containers: str) -> None:
    """Until every named container is running with its postStart done (status.json)."""

    def started() -> bool:
        docs = [container_doc(lite, pod, c) for c in containers]
        return all(d.get("state") == "running" and d.get("started") is True for d in docs)

    await until(started)


async def wait_file(path: Path, text: str = "", timeout: float = WAIT) -> str:
    """Until ``path`` exists (and holds ``text``); returns its contents."""

    def contents() -> str | None:
        try:
            return path.read_text()
        except FileNotFoundError:
            return None

    def ready() -> bool:
        found = contents()
        return found is not None and text in found

    await until(ready, timeout)
    return contents() or ""


def uptime_lines(path: Path) -> list[tuple[float, str]]:
    """Lines "<uptime seconds> <text>" a pod wrote, as (seconds, text)."""
    rows = []
    for line in path.read_text().splitlines():
        stamp, _, text = line.partition(" ")
        rows.append((float(stamp), text))
    return rows


async def run(
    lite: KubeletLite, manifest: Path, *args: str, log_name: str = "agent.log"
) -> asyncio.subprocess.Process:
    """`kubeletlite run -f MANIFEST` in the background."""
    return await lite.start("run", "-f", str(manifest), *args, log_name=log_name)


async def kill9(lite: KubeletLite, process: asyncio.subprocess.Process) -> None:
    """SIGKILL an agent (the pods stay as they are)."""
    process.send_signal(signal.SIGKILL)
    assert await lite.wait_exit(process, timeout=10) == -signal.SIGKILL


async def timed_cli(lite: KubeletLite, *args: str) -> tuple[CliResult, float]:
    began = time.monotonic()
    result = await lite.cli(*args)
    return result, time.monotonic() - began


def one_error_line(result: CliResult) -> str:
    """A failed command printed exactly one `error:` line and no traceback (besides, at
    most, `run`'s banner naming the runtime it reached)."""
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert all(line.startswith("runtime: ") for line in lines if line not in errors), result.stderr
    return errors[0]


async def sandbox_ids(lite: KubeletLite) -> set[str]:
    return {s.id for s in await lite.sandboxes()}


async def container_ids(lite: KubeletLite, pod: str) -> dict[str, list[str]]:
    """Container IDs of a pod by name, oldest attempt first."""
    by_name: dict[str, list[Any]] = {}
    for c in await lite.containers(pod):
        by_name.setdefault(c.metadata.name, []).append(c)
    return {
        name: [c.id for c in sorted(cs, key=lambda c: (c.metadata.attempt, c.created_at))]
        for name, cs in by_name.items()
    }


def pod_uids(lite: KubeletLite, pod: str) -> list[str]:
    """UIDs of the pods of that name the state directory has records of, oldest first."""
    prefix = f"{lite.namespace}_{pod}_"
    return [d.name[len(prefix) :] for d in lite.pod_records(pod)]
