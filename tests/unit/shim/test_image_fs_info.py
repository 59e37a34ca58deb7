"""ImageFsInfo waits out another client's disk-usage computation instead of failing."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from shim.cri import images
from shim.cri.backend import Backend
from shim.errors import DockerAPIError, Unavailable


class BusyDocker:
    def __init__(self, busy_times: int) -> None:
        self.calls = 0
        self.busy_times = busy_times

    async def disk_usage(self) -> dict[str, Any]:
        self.calls += 1
        if self.calls <= self.busy_times:
            raise DockerAPIError(500, "a disk usage operation is already running")
        return {"LayersSize": 5}


async def test_a_busy_disk_usage_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "DF_RETRY_SECONDS", 0)
    docker = BusyDocker(busy_times=3)
    backend = cast(Backend, SimpleNamespace(docker=docker))
    assert await images._disk_usage(backend) == {"LayersSize": 5}
    assert docker.calls == 4


async def test_a_disk_usage_busy_for_too_long_is_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(images, "DF_RETRY_SECONDS", 0)
    backend = cast(Backend, SimpleNamespace(docker=BusyDocker(busy_times=1000)))
    with pytest.raises(Unavailable):
        await images._disk_usage(backend)
