"""What the benchmarks share: runtimes on private sockets, the counting Docker proxy,
process figures from /proc, statistics, tables and JSON results."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

REPO = Path(__file__).resolve().parents[1]
BUSYBOX = os.environ.get("BUSYBOX_IMAGE", "127.0.0.1:5000/busybox:1.35")
PAUSE = os.environ.get("PAUSE_IMAGE", "registry.k8s.io/pause:3.10")
DOCKER_SOCKET = "/var/run/docker.sock"
DOCKER_HOST = os.environ.get("DOCKER_HOST", f"unix://{DOCKER_SOCKET}")
RESULTS = REPO / "bench" / "results"
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Runtime:
    """A CRI runtime under test: its name in tables, its socket, and its process (if ours)."""

    name: str
    endpoint: str
    pid: int | None


# -- process figures ------------------------------------------------------------------


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU of a process so far (0 when unknown)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def rss_mib(pid: int | None) -> float:
    if pid is None:
        return 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def open_fds(pid: int | None) -> int:
    return 0 if pid is None else len(os.listdir(f"/proc/{pid}/fd"))


def tasks(pid: int | None) -> int:
    """Kernel tasks (threads) of the process."""
    return 0 if pid is None else len(os.listdir(f"/proc/{pid}/task"))


def idle_cpu_percent(pid: int | None, seconds: float) -> float:
    """Share of one core the process used while the benchmark slept ``seconds``."""
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return 100 * (cpu_seconds(pid) - before) / seconds


# -- statistics and output ------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """Median, p90 and p99 in milliseconds."""
    ms = [s * 1000 for s in seconds]
    return {
        "median": statistics.median(ms) if ms else float("nan"),
        "p90": percentile(ms, 90),
        "p99": percentile(ms, 99),
        "n": len(ms),
    }


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (readable in a terminal, pasteable into the README)."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_json(name: str, data: Any, out: Path | None = None) -> Path:
    directory = out or RESULTS
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str))
    return path


# -- runtimes -------------------------------------------------------------------------


def _wait_ready(endpoint: str, process: subprocess.Popen[bytes], log: Path) -> None:
    with grpc.insecure_channel(endpoint) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=60)
        except grpc.FutureTimeoutError:
            process.kill()
            raise RuntimeError(f"{endpoint} never became ready; see {log}") from None


@contextlib.contextmanager
def _daemon(
    name: str, argv: list[str], socket_path: Path, log: Path, **popen: Any
) -> Iterator[Runtime]:
    with open(log, "wb") as output:
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, **popen)
    endpoint = f"unix://{socket_path}"
    try:
        _wait_ready(endpoint, process, log)
        yield Runtime(name, endpoint, process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def shim(
    name: str = "shim", docker_host: str = DOCKER_HOST, source: Path | None = None
) -> Iterator[Runtime]:
    """A cri-shim of this checkout (or of ``source``, another checkout) on a private socket."""
    directory = Path(tempfile.mkdtemp(prefix="cri-bench-", dir="/tmp"))
    socket_path = directory / "cri.sock"
    argv = [sys.executable, "-m", "shim", "--listen", str(socket_path), "--log-level", "warning"]
    argv += ["--docker-host", docker_host]
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = str(source)
    try:
        with _daemon(
            name, argv, socket_path, directory / "daemon.log", cwd=source or REPO, env=env
        ) as runtime:
            yield runtime
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def cri_dockerd(
    binary: Path, name: str = "cri-dockerd", docker_host: str = DOCKER_HOST
) -> Iterator[Runtime]:
    """Mirantis cri-dockerd (built outside this repository) on a private socket."""
    directory = Path(tempfile.mkdtemp(prefix="cri-bench-peer-", dir="/tmp"))
    socket_path = directory / "cri.sock"
    argv = [
        str(binary),
        "--container-runtime-endpoint",
        f"unix://{socket_path}",
        "--docker-endpoint",
        docker_host,
        "--cri-dockerd-root-directory",
        str(directory / "root"),
        "--pod-infra-container-image",
        PAUSE,
        "--streaming-bind-addr",
        "127.0.0.1:0",
        # No CNI here: sandboxes get dockerd's bridge network, as the shim's do.
        "--network-plugin=",
        "--log-level",
        "error",
    ]
    try:
        with _daemon(name, argv, socket_path, directory / "daemon.log") as runtime:
            yield runtime
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def runtimes(
    peer_binary: Path | None,
    baseline_source: Path | None = None,
    docker_hosts: dict[str, str] | None = None,
) -> Iterator[list[Runtime]]:
    """The shim, and where given a cri-dockerd binary and an older shim checkout, those too.

    ``docker_hosts`` gives a runtime (by name) another Docker endpoint, such as a counting proxy.
    """
    hosts = docker_hosts or {}
    with contextlib.ExitStack() as stack:
        found = [stack.enter_context(shim(docker_host=hosts.get("shim", DOCKER_HOST)))]
        if baseline_source is not None:
            host = hosts.get("shim-before", DOCKER_HOST)
            found.append(
                stack.enter_context(shim("shim-before", docker_host=host, source=baseline_source))
            )
        if peer_binary is not None:
            host = hosts.get("cri-dockerd", DOCKER_HOST)
            found.append(stack.enter_context(cri_dockerd(peer_binary, docker_host=host)))
        yield found


RUNTIME_NAMES = ("raw", "shim", "shim-before", "cri-dockerd")


# -- counting Docker calls ------------------------------------------------------------


class CallLog:
    """The requests a counting proxy forwarded, read as "lines added since a mark"."""

    def __init__(self, path: Path, socket_path: Path) -> None:
        self.path = path
        self.docker_host = f"unix://{socket_path}"
        self._offset = 0

    def mark(self) -> None:
        self._offset = self.path.stat().st_size

    def since_mark(self) -> list[str]:
        with open(self.path) as handle:
            handle.seek(self._offset)
            lines = handle.read().splitlines()
        self.mark()
        return lines


@contextlib.contextmanager
def counting_proxy(upstream: str = DOCKER_SOCKET) -> Iterator[CallLog]:
    directory = Path(tempfile.mkdtemp(prefix="cri-bench-proxy-", dir="/tmp"))
    socket_path, log = directory / "docker.sock", directory / "calls.log"
    log.touch()
    process = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "bench" / "_dockerproxy.py"),
            str(socket_path),
            upstream,
            str(log),
        ]
    )
    try:
        for _ in range(100):
            if socket_path.exists():
                break
            time.sleep(0.05)
        yield CallLog(log, socket_path)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


class Stopwatch:
    def __init__(self) -> None:
        self.seconds = 0.0

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        self.seconds = time.perf_counter() - self._start


@contextlib.contextmanager
def shim_daemon(endpoint: str | None) -> Iterator[str]:
    """Use ``endpoint``, or run a shim of this checkout on a private socket for the duration."""
    if endpoint:
        yield endpoint
        return
    with shim() as runtime:
        yield runtime.endpoint
