"""Work a client gives up on is finished, then undone, and a retry waits for both."""

from __future__ import annotations

import asyncio

import pytest

from shim.deadline import (
    abandoned_settled,
    deadline_for,
    detached_context,
    finish_even_if_abandoned,
    rpc_deadline,
)


async def test_abandoned_work_finishes_then_is_undone_before_a_retry_proceeds() -> None:
    release = asyncio.Event()
    events: list[str] = []

    async def create() -> str:
        await release.wait()
        events.append("created")
        return "sandbox-1"

    async def undo(created: str) -> None:
        events.append(f"removed {created}")

    caller = asyncio.create_task(finish_even_if_abandoned(create(), "creating x", undo))
    await asyncio.sleep(0)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert events == []
    release.set()
    await abandoned_settled("creating x")
    assert events == ["created", "removed sandbox-1"]


async def test_work_that_is_not_abandoned_is_not_undone() -> None:
    undone: list[str] = []

    async def undo(created: str) -> None:
        undone.append(created)

    async def create() -> str:
        return "kept"

    assert await finish_even_if_abandoned(create(), "creating y", undo) == "kept"
    await abandoned_settled("creating y")
    assert undone == []


async def test_a_detached_context_has_no_rpc_deadline() -> None:
    with rpc_deadline(5.0):
        assert deadline_for(None) is not None
        context = detached_context()
    assert context.run(deadline_for, None) is None
