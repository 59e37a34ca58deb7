"""kubelet-lite as users run it: the real `kubeletlite` CLI as a subprocess, talking
to the test session's real shim. Each test gets its own namespace, state
directory and pod-log directory, and everything in its namespace is removed
at teardown, even when the test fails."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from criapi.runtime.v1 import api_pb2 as pb
from tests.support import env
from tests.support.cri import CriClient


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


class KubeletLite:
    """Drive `kubeletlite` for one test."""

    def __init__(self, endpoint: str, root: Path, cri: CriClient) -> None:
        self.endpoint = endpoint
        self.root = root
        self.cri = cri
        self.state_dir = root / "state"
        self.logs_dir = root / "pod-logs"
        # Shared with pods through hostPath volumes (placeholder __DATA__ in manifests).
        self.data_dir = root / "data"
        self.namespace = "t-" + uuid.uuid4().hex[:10]
        self.processes: list[asyncio.subprocess.Process] = []

    # -- manifests -------------------------------------------------------------------

    def manifest(self, text: str, name: str = "pod.yaml") -> Path:
        """Write a manifest (dedented), placing every Pod in this test's namespace.

        ``__DATA__`` becomes :attr:`data_dir`, a directory pods can mount as a hostPath
        and the test can read. The file is replaced atomically (a watching ``serve``
        never reads half of it).
        """
        body = textwrap.dedent(text).replace("__NAMESPACE__", self.namespace)
        body = body.replace("__IMAGE__", env.BUSYBOX).replace("__DATA__", str(self.data_dir))
        self.data_dir.mkdir(exist_ok=True)
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.parent / f".{path.name}.tmp"
        temporary.write_text(body)
        temporary.replace(path)
        return path

    # -- the CLI ---------------------------------------------------------------------

    def base_args(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "kubeletlite",
            "--runtime-endpoint",
            self.endpoint,
            "--state-dir",
            str(self.state_dir),
        ]

    async def cli(self, *args: str, timeout: float = 120.0) -> CliResult:
        """Run a one-shot command (get, describe, logs, delete) to completion."""
        process = await asyncio.create_subprocess_exec(
            *self.base_args(),
            *args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        async with asyncio.timeout(timeout):
            out, err = await process.communicate()
        assert process.returncode is not None
        return CliResult(process.returncode, out.decode(), err.decode())

    async def start(
        self,
        command: str,
        *args: str,
        log_name: str = "agent.log",
        global_args: tuple[str, ...] = (),
    ) -> asyncio.subprocess.Process:
        """Start a long-running command (run, serve) in the background.

        ``global_args`` go before the command (``--log-format json``...).
        """
        with open(self.root / log_name, "ab") as log:
            process = await asyncio.create_subprocess_exec(
                *self.base_args(),
                *global_args,
                command,
                "--pod-logs-dir",
                str(self.logs_dir),
                "--relist-period",
                "0.2",
                *args,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        return process

    def agent_log(self, log_name: str = "agent.log") -> str:
        with contextlib.suppress(FileNotFoundError):
            return (self.root / log_name).read_text(errors="replace")
        return ""

    async def wait_exit(self, process: asyncio.subprocess.Process, timeout: float = 120.0) -> int:
        async with asyncio.timeout(timeout):
            return await process.wait()

    # -- observing --------------------------------------------------------------------

    def record_dirs(self) -> list[Path]:
        pods = self.state_dir / "pods"
        return sorted(p for p in pods.glob(f"{self.namespace}_*") if p.is_dir())

    def status(self, pod: str) -> dict[str, Any]:
        """The supervisor's saved status of a pod: of its newest record (UID), {} if none."""
        records = self.pod_records(pod)
        if records:
            with contextlib.suppress(FileNotFoundError, ValueError):
                return dict(json.loads((records[-1] / "status.json").read_text()))
        return {}

    def pod_records(self, pod: str) -> list[Path]:
        """The record directories of the pods of that name (one per UID), oldest first."""

        def created(directory: Path) -> int:
            with contextlib.suppress(FileNotFoundError, ValueError):
                return int(json.loads((directory / "pod.json").read_text())["created_ns"])
            return 0

        mine = [d for d in self.record_dirs() if d.name.startswith(f"{self.namespace}_{pod}_")]
        return sorted(mine, key=created)

    def events(self, pod: str) -> list[dict[str, Any]]:
        return self._lines(pod, "events.jsonl")

    def marks(self, pod: str) -> list[dict[str, Any]]:
        return self._lines(pod, "timeline.jsonl")

    def _lines(self, pod: str, name: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for directory in self.record_dirs():
            if directory.name.startswith(f"{self.namespace}_{pod}_"):
                with contextlib.suppress(FileNotFoundError):
                    rows.extend(
                        json.loads(line) for line in (directory / name).read_text().splitlines()
                    )
        return rows

    async def sandboxes(self) -> list[pb.PodSandbox]:
        response = await self.cri.runtime.ListPodSandbox(
            pb.ListPodSandboxRequest(
                filter=pb.PodSandboxFilter(
                    label_selector={"io.kubernetes.pod.namespace": self.namespace}
                )
            )
        )
        return list(response.items)

    async def containers(self, pod: str | None = None) -> list[pb.Container]:
        selector = {"io.kubernetes.pod.namespace": self.namespace}
        if pod is not None:
            selector["io.kubernetes.pod.name"] = pod
        response = await self.cri.runtime.ListContainers(
            pb.ListContainersRequest(filter=pb.ContainerFilter(label_selector=selector))
        )
        return list(response.containers)

    async def container_status(self, pod: str, name: str) -> pb.ContainerStatus | None:
        """Status of the newest container ``name`` of ``pod``."""
        mine = [c for c in await self.containers(pod) if c.metadata.name == name]
        if not mine:
            return None
        newest = max(mine, key=lambda c: (c.metadata.attempt, c.created_at))
        response = await self.cri.runtime.ContainerStatus(
            pb.ContainerStatusRequest(container_id=newest.id)
        )
        return response.status

    async def exec(self, pod: str, name: str, *cmd: str) -> pb.ExecSyncResponse:
        status = await self.container_status(pod, name)
        assert status is not None, f"no container {name} in pod {pod}"
        return await self.cri.runtime.ExecSync(
            pb.ExecSyncRequest(container_id=status.id, cmd=list(cmd))
        )

    # -- teardown ---------------------------------------------------------------------

    async def cleanup(self) -> None:
        """Kill leftover agents, then remove every sandbox of this test's namespace."""
        for process in self.processes:
            if process.returncode is None:
                process.send_signal(signal.SIGKILL)
                async with asyncio.timeout(10):
                    await process.wait()
        for sandbox in await self.sandboxes():
            with contextlib.suppress(grpc.aio.AioRpcError):
                await self.cri.runtime.StopPodSandbox(
                    pb.StopPodSandboxRequest(pod_sandbox_id=sandbox.id), timeout=60
                )
            with contextlib.suppress(grpc.aio.AioRpcError):
                await self.cri.runtime.RemovePodSandbox(
                    pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox.id), timeout=60
                )
