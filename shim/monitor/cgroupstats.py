"""Pure reading of cgroup (v1 and v2) and /proc/<pid>/net/dev contents into figures.

Which files to read is decided here too (:func:`cgroup_files`), from what
Docker's inspect says about a container; reading them is the caller's job,
so everything in this module is a function of text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# cgroup v1 reports "no limit" as a page-aligned huge number.
_UNLIMITED_V1 = 1 << 62

# The files one sample needs, by role, for each cgroup version.
V1_FILES = {
    "cpu": ("cpuacct", "cpuacct.usage"),
    "memory_usage": ("memory", "memory.usage_in_bytes"),
    "memory_limit": ("memory", "memory.limit_in_bytes"),
    "memory_stat": ("memory", "memory.stat"),
    "pids": ("pids", "pids.current"),
}
V2_FILES = {
    "cpu": ("", "cpu.stat"),
    "memory_usage": ("", "memory.current"),
    "memory_limit": ("", "memory.max"),
    "memory_stat": ("", "memory.stat"),
    "pids": ("", "pids.current"),
}


@dataclass(frozen=True, slots=True)
class CgroupSample:
    """One reading of a cgroup; None where the file was missing or unreadable."""

    cpu_ns: int | None = None
    memory_usage: int | None = None
    working_set: int | None = None
    available: int | None = None
    rss: int | None = None
    page_faults: int | None = None
    major_page_faults: int | None = None
    processes: int | None = None


@dataclass(frozen=True, slots=True)
class InterfaceSample:
    name: str
    rx_bytes: int
    rx_errors: int
    tx_bytes: int
    tx_errors: int


def cgroup_dir(driver: str, parent: str, container_id: str) -> str:
    """A container's cgroup path below a hierarchy's root, as dockerd creates it."""
    if driver == "systemd":
        return f"{_expand_slice(parent or 'system.slice')}/docker-{container_id}.scope"
    return f"/{(parent or '/docker').strip('/')}/{container_id}"


def _expand_slice(slice_name: str) -> str:
    """systemd nests "a-b-c.slice" as a.slice/a-b.slice/a-b-c.slice."""
    if not slice_name.endswith(".slice") or slice_name == "-.slice":
        return "/" + slice_name.strip("/")
    parts = slice_name.removesuffix(".slice").split("-")
    return "".join(f"/{'-'.join(parts[: i + 1])}.slice" for i in range(len(parts)))


def cgroup_files(root: str, version: int, path: str) -> dict[str, str]:
    """Role -> absolute file path of one container's sample."""
    table = V2_FILES if version == 2 else V1_FILES
    out = {}
    for role, (controller, name) in table.items():
        hierarchy = f"{root}/{controller}" if controller else root
        out[role] = f"{hierarchy}{path}/{name}"
    return out


def flat_keyed(text: str) -> dict[str, int]:
    """Parse "key value" lines (memory.stat, cpu.stat); malformed lines are skipped."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        try:
            values[key] = int(value)
        except ValueError:
            continue
    return values


def _number(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None


def sample(version: int, files: Mapping[str, str | None]) -> CgroupSample:
    """Figures from the contents of :func:`cgroup_files`' files (None: missing)."""
    stat_text = files.get("memory_stat")
    stats = flat_keyed(stat_text) if stat_text is not None else {}
    prefix = "total_" if version == 1 else ""
    usage = _number(files.get("memory_usage"))
    inactive = stats.get(f"{prefix}inactive_file", 0)
    working_set = None if usage is None else max(usage - inactive, 0)
    return CgroupSample(
        cpu_ns=_cpu_ns(version, files.get("cpu")),
        memory_usage=usage,
        working_set=working_set,
        available=_available(files.get("memory_limit"), working_set),
        rss=stats.get(f"{prefix}rss" if version == 1 else "anon"),
        page_faults=stats.get(f"{prefix}pgfault"),
        major_page_faults=stats.get(f"{prefix}pgmajfault"),
        processes=_number(files.get("pids")),
    )


def _cpu_ns(version: int, text: str | None) -> int | None:
    if text is None:
        return None
    if version == 1:
        return _number(text)
    usec = flat_keyed(text).get("usage_usec")
    return None if usec is None else usec * 1000


def _available(limit_text: str | None, working_set: int | None) -> int | None:
    """Limit minus working set, where a limit is set (as the kubelet computes it)."""
    limit = _number(limit_text)
    if limit is None or working_set is None or limit >= _UNLIMITED_V1:
        return None
    return max(limit - working_set, 0)


def nano_cores(previous: tuple[int, int] | None, current: tuple[int, int]) -> int | None:
    """Average cores used between two (timestamp ns, cpu ns) samples; None without a basis."""
    if previous is None:
        return None
    elapsed = current[0] - previous[0]
    used = current[1] - previous[1]
    if elapsed <= 0 or used < 0:
        return None
    return used * 1_000_000_000 // elapsed


def net_dev(text: str) -> list[InterfaceSample]:
    """Interfaces of a /proc/<pid>/net/dev text, loopback left out."""
    found = []
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        fields = rest.split()
        if not sep or len(fields) < 16 or name.strip() == "lo":
            continue
        try:
            rx_bytes, rx_errors = int(fields[0]), int(fields[2])
            tx_bytes, tx_errors = int(fields[8]), int(fields[10])
        except ValueError:
            continue
        found.append(InterfaceSample(name.strip(), rx_bytes, rx_errors, tx_bytes, tx_errors))
    return found
