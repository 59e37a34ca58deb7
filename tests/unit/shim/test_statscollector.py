"""The stats collector against a fake Docker and a cgroup tree in a temporary folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from shim.engine.docker import DockerClient
from shim.monitor.statscollector import StatsCollector
from shim.translate import labels

ID = "a" * 64


class FakeDocker:
    """Records inspects; answers with a container whose cgroup is under /docker."""

    def __init__(self, upper: Path) -> None:
        self.inspected: list[str] = []
        self.upper = upper

    async def info(self) -> dict[str, Any]:
        return {"CgroupVersion": "1", "CgroupDriver": "cgroupfs"}

    async def inspect_container(self, container_id: str) -> dict[str, Any]:
        self.inspected.append(container_id)
        return {
            "Id": container_id,
            "State": {"Running": True, "Pid": 0},
            "HostConfig": {"CgroupParent": ""},
            "Config": {"Labels": {labels.TYPE_KEY: labels.TYPE_CONTAINER}},
            "GraphDriver": {"Data": {"UpperDir": str(self.upper)}},
        }


class Clock:
    def __init__(self) -> None:
        self.ns = 1_000_000_000_000
        self.seconds = 100.0

    def wall(self) -> int:
        return self.ns

    def mono(self) -> float:
        return self.seconds

    def advance(self, seconds: float) -> None:
        self.ns += int(seconds * 1e9)
        self.seconds += seconds


def cgroup_tree(root: Path, cpu_ns: int) -> None:
    files = {
        "cpuacct/docker/{id}/cpuacct.usage": str(cpu_ns),
        "memory/docker/{id}/memory.usage_in_bytes": "4096",
        "memory/docker/{id}/memory.stat": "total_inactive_file 1024\n",
        "pids/docker/{id}/pids.current": "1",
    }
    for path, text in files.items():
        target = root / path.format(id=ID)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def collector(tmp_path: Path, clock: Clock) -> tuple[StatsCollector, FakeDocker]:
    upper = tmp_path / "upper"
    upper.mkdir()
    fake = FakeDocker(upper)
    stats = StatsCollector(
        cast(DockerClient, fake),
        cgroup_root=str(tmp_path / "cg"),
        proc_root=str(tmp_path / "proc"),
        layer_max_age=30.0,
        clock=clock.wall,
        monotonic=clock.mono,
    )
    return stats, fake


async def test_cpu_rate_comes_from_the_previous_sample(tmp_path: Path) -> None:
    clock = Clock()
    stats, fake = collector(tmp_path, clock)
    cgroup_tree(tmp_path / "cg", cpu_ns=0)
    (first,) = await stats.collect([{"Id": ID}], layers=False, network=False)
    assert first.nano_cores is None
    assert first.cgroup.cpu_ns == 0
    assert first.cgroup.working_set == 3072
    clock.advance(2.0)
    cgroup_tree(tmp_path / "cg", cpu_ns=500_000_000)
    (second,) = await stats.collect([{"Id": ID}], layers=False, network=False)
    assert second.nano_cores == 250_000_000
    assert second.timestamp == clock.ns
    # One inspect for the container's whole life.
    assert fake.inspected == [ID]


async def test_forgetting_drops_the_previous_sample(tmp_path: Path) -> None:
    clock = Clock()
    stats, fake = collector(tmp_path, clock)
    cgroup_tree(tmp_path / "cg", cpu_ns=0)
    await stats.collect([{"Id": ID}], layers=False, network=False)
    stats.prune(labels.TYPE_CONTAINER, [])
    assert stats.tracked == 0
    clock.advance(1.0)
    (again,) = await stats.collect([{"Id": ID}], layers=False, network=False)
    assert again.nano_cores is None
    assert fake.inspected == [ID, ID]


async def test_writable_layer_is_cached_until_too_old(tmp_path: Path) -> None:
    clock = Clock()
    stats, _ = collector(tmp_path, clock)
    cgroup_tree(tmp_path / "cg", cpu_ns=0)
    upper = tmp_path / "upper"
    (upper / "a").write_bytes(b"x" * 10000)
    (first,) = await stats.collect([{"Id": ID}], layers=True, network=False)
    assert first.layer is not None
    assert first.layer.inodes_used == 1
    assert first.layer.used_bytes >= 10000
    (upper / "b").write_bytes(b"y")
    clock.advance(10.0)
    (cached,) = await stats.collect([{"Id": ID}], layers=True, network=False)
    assert cached.layer == first.layer
    clock.advance(25.0)
    (fresh,) = await stats.collect([{"Id": ID}], layers=True, network=False)
    assert fresh.layer is not None
    assert fresh.layer.inodes_used == 2


async def test_a_stopped_container_has_no_reading(tmp_path: Path) -> None:
    clock = Clock()
    stats, _ = collector(tmp_path, clock)
    stopped = {"Id": ID, "State": {"Running": False}, "HostConfig": {}, "GraphDriver": {}}
    assert await stats.collect([stopped], layers=True, network=True) == []
