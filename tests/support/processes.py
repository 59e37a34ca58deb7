"""The shim as users run it: a real `python -m shim` process on a unix socket."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import grpc

READY_TIMEOUT = 30.0


def short_socket_dir() -> Path:
    """AF_UNIX paths are limited to ~107 bytes; pytest's tmp paths can be longer."""
    return Path(tempfile.mkdtemp(prefix="cri-", dir="/tmp"))


class ShimProcess:
    """Start, stop and kill a shim daemon; its output goes to ``log_path``."""

    def __init__(
        self,
        socket_path: Path,
        log_path: Path,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.socket_path = socket_path
        self.log_path = log_path
        self.args = list(args)
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self, wait: bool = True) -> ShimProcess:
        command = [
            sys.executable,
            "-m",
            "shim",
            "--listen",
            str(self.socket_path),
            "--log-level",
            "debug",
            *self.args,
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=self.env
            )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Block until the gRPC server accepts connections (or the process dies)."""
        with grpc.insecure_channel(self.endpoint) as channel:
            try:
                grpc.channel_ready_future(channel).result(timeout=timeout)
            except grpc.FutureTimeoutError as exc:
                raise RuntimeError(f"shim not ready; log:\n{self.log_text()}") from exc

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait: the graceful path."""
        return self._signal_and_wait(signal.SIGTERM, timeout)

    def kill(self) -> int:
        return self._signal_and_wait(signal.SIGKILL, 10.0)

    def _signal_and_wait(self, signum: int, timeout: float) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signum)
        return self.process.wait(timeout=timeout)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


def remove_instance_containers(instance: str, docker_host: str | None = None) -> list[str]:
    """Force-remove every container a shim of ``instance`` created; returns their ids.

    The last line of cleanup after suites whose clients (critest, the kubelet)
    may leave pods behind when they fail.
    """
    env = {**os.environ, **({"DOCKER_HOST": docker_host} if docker_host else {})}
    listed = subprocess.run(
        ["docker", "ps", "-aq", "--no-trunc", "--filter", f"label=io.cri-shim.instance={instance}"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=60,
    )
    ids = listed.stdout.split()
    if ids:
        subprocess.run(
            ["docker", "rm", "-f", "-v", *ids],
            capture_output=True,
            check=False,
            env=env,
            timeout=120,
        )
    return ids
