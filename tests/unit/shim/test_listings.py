"""Concurrent identical listings share one Docker call, and no answer predates its caller."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from shim.monitor.listings import SharedListings


class FakeDocker:
    """Each listing waits until the test releases it and answers with its own number."""

    def __init__(self) -> None:
        self.calls: list[dict[str, list[str]]] = []
        self.release: list[asyncio.Event] = []
        self.fail: Exception | None = None

    async def list_containers(self, filters: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
        number = len(self.calls)
        self.calls.append({k: list(v) for k, v in filters.items()})
        gate = asyncio.Event()
        self.release.append(gate)
        await gate.wait()
        if self.fail is not None:
            raise self.fail
        return [{"Id": f"listing-{number}"}]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_callers_arriving_during_a_listing_share_the_next_one() -> None:
    docker = FakeDocker()
    shared = SharedListings(docker.list_containers)
    first = asyncio.create_task(shared.run({"label": ["a"]}))
    await settle()
    # These arrive while listing 0 runs: its answer may predate them, so they wait for 1.
    later = [asyncio.create_task(shared.run({"label": ["a"]})) for _ in range(10)]
    await settle()
    assert len(docker.calls) == 1
    docker.release[0].set()
    assert await first == [{"Id": "listing-0"}]
    await settle()
    assert len(docker.calls) == 2
    docker.release[1].set()
    assert [await task for task in later] == [[{"Id": "listing-1"}]] * 10


async def test_different_queries_do_not_share() -> None:
    docker = FakeDocker()
    shared = SharedListings(docker.list_containers)
    tasks = [asyncio.create_task(shared.run({"label": [name]})) for name in ("a", "b")]
    await settle()
    assert [call["label"] for call in docker.calls] == [["a"], ["b"]]
    for gate in docker.release:
        gate.set()
    await asyncio.gather(*tasks)


async def test_a_caller_giving_up_does_not_cancel_the_others() -> None:
    docker = FakeDocker()
    shared = SharedListings(docker.list_containers)
    leaving = asyncio.create_task(shared.run({}))
    await settle()
    staying = asyncio.create_task(shared.run({}))
    leaving_next = asyncio.create_task(shared.run({}))
    await settle()
    leaving.cancel()
    leaving_next.cancel()
    await settle()
    docker.release[0].set()
    await settle()
    docker.release[1].set()
    assert await staying == [{"Id": "listing-1"}]
    assert leaving.cancelled()
    assert leaving_next.cancelled()


async def test_a_failure_reaches_every_waiter() -> None:
    docker = FakeDocker()
    docker.fail = RuntimeError("dockerd went away")
    shared = SharedListings(docker.list_containers)
    first = asyncio.create_task(shared.run({}))
    await settle()
    second = asyncio.create_task(shared.run({}))
    await settle()
    docker.release[0].set()
    with pytest.raises(RuntimeError):
        await first
    await settle()
    docker.release[1].set()
    with pytest.raises(RuntimeError):
        await second
