"""The real kubelet in standalone mode, on a shim of its own.

One :class:`KubeletNode` owns everything a test's kubelet needs: a shim with
its own socket and ``--instance`` (the kubelet removes every pod its runtime
shows that it did not start, so it must never see anybody else's), a
manifest folder for static pods, a root, cert and state folder, and free
loopback ports for its API (``port``), ``readOnlyPort`` and ``healthzPort``.
:meth:`KubeletNode.close` undoes all of it, also after a failure: pods through
the shim, the kubelet process, the bind mount of ``--root-dir`` and any
mount below it, the shim's containers, the folders.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import grpc
import yaml

from criapi.runtime.v1 import api_pb2 as cri
from criapi.runtime.v1 import api_pb2_grpc
from tests.support import env
from tests.support.net import free_port
from tests.support.processes import ShimProcess, remove_instance_containers

NODE_NAME = "node1"
POD_LOGS = "/var/log/pods"  # the kubelet's, not configurable
READY_TIMEOUT = 120.0  # a kubelet on a loaded 2-core machine
EXEC_TIMEOUT = 60.0
# The WebSocket channel protocols of Kubernetes 1.28's streaming code, newest first
# (v5 came with 1.29): the kubelet hands the upgrade on to the runtime's streaming URL.
EXEC_PROTOCOLS = ("v4.channel.k8s.io", "channel.k8s.io", "base64.channel.k8s.io")
STDOUT, STDERR, ERROR = 1, 2, 3
T = TypeVar("T")


def wait_for(check: Callable[[], T | None], timeout: float, what: str, every: float = 0.2) -> T:
    """Poll ``check`` until it returns something truthy; bounded, for outside conditions."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


class KubeletNode:
    def __init__(self, kubelet_binary: Path, work: Path, prefix: str = "kl") -> None:
        self.binary = kubelet_binary
        self.work = work
        self.instance = f"{prefix}-{uuid.uuid4().hex[:8]}"
        # The pods' namespace (__NAMESPACE__ in manifests): the kubelet keeps container logs
        # in /var/log/pods/<namespace>_<pod>_<uid>, which close() removes by this prefix.
        self.namespace = self.instance
        # The socket path must stay short (AF_UNIX); the rest lives under ``work``.
        self.socket_dir = Path(tempfile.mkdtemp(prefix="cri-kl-", dir="/tmp"))
        self.manifests = work / "manifests"
        self.root = work / "root"
        self.certs = work / "certs"
        self.data = work / "data"  # hostPath volumes of the test pods
        for folder in (self.manifests, self.root, self.certs, self.data):
            folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.read_only_port = free_port()
        self.healthz_port = free_port()
        self.shim = ShimProcess(
            self.socket_dir / "cri.sock",
            work / "shim.log",
            args=["--instance", self.instance, "--log-level", "info"],
            env={"DOCKER_HOST": env.DOCKER_HOST},
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.kubelet_starts = 0
        self._channel: grpc.Channel | None = None

    # -- processes ------------------------------------------------------------------

    def start(self) -> KubeletNode:
        self.shim.start()
        self.start_kubelet()
        return self

    def start_kubelet(self) -> None:
        config = self.work / "kubelet.yaml"
        config.write_text(yaml.safe_dump(self._config()))
        self.kubelet_starts += 1
        log = open(self.work / f"kubelet-{self.kubelet_starts}.log", "wb")  # noqa: SIM115
        with log:
            self.process = subprocess.Popen(
                [
                    str(self.binary),
                    "--config",
                    str(config),
                    "--container-runtime-endpoint",
                    self.shim.endpoint,
                    "--root-dir",
                    str(self.root),
                    "--cert-dir",
                    str(self.certs),
                    "--hostname-override",
                    NODE_NAME,
                    "--v=2",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(self._healthy, READY_TIMEOUT, "the kubelet's /healthz")

    def stop_kubelet(self) -> None:
        """SIGTERM (SIGKILL after 30 s); static pods keep running, as with a real node."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)

    def _healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(
                f"the kubelet exited with {self.process.returncode}:\n{self.log()}"
            )
        try:
            healthy = self._get(f"http://127.0.0.1:{self.healthz_port}/healthz") == b"ok"
            # /healthz answers before the read-only API does: wait for both.
            return healthy and self._get(f"http://127.0.0.1:{self.read_only_port}/pods") != b""
        except (OSError, urllib.error.URLError):
            return False

    def _config(self) -> dict[str, Any]:
        return {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "staticPodPath": str(self.manifests),
            "fileCheckFrequency": "1s",
            "syncFrequency": "10s",
            "address": "127.0.0.1",
            "port": self.port,
            "readOnlyPort": self.read_only_port,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": self.healthz_port,
            "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
            "authorization": {"mode": "AlwaysAllow"},
            "cgroupDriver": "cgroupfs",
            "cgroupsPerQOS": False,
            "enforceNodeAllocatable": [],
            "failSwapOn": False,
            "localStorageCapacityIsolation": False,
            "evictionHard": {
                "memory.available": "1Mi",
                "nodefs.available": "1%",
                "imagefs.available": "1%",
            },
            # Never garbage-collect images the other suites use.
            "imageGCHighThresholdPercent": 100,
        }

    def log(self) -> str:
        logs = sorted(self.work.glob("kubelet-*.log"))
        return "\n".join(path.read_text(errors="replace")[-6000:] for path in logs)

    # -- static pods ----------------------------------------------------------------

    def render(self, text: str) -> str:
        """A manifest with its placeholders filled: __IMAGE__, __DATA__, __NAMESPACE__."""
        text = text.replace("__IMAGE__", env.BUSYBOX).replace("__DATA__", str(self.data))
        return text.replace("__NAMESPACE__", self.namespace)

    def add_pod(self, name: str, text: str) -> Path:
        """Write a manifest (written aside, then renamed, so the kubelet never reads half)."""
        text = self.render(text)
        path = self.manifests / f"{name}.yaml"
        scratch = self.work / f".{name}.yaml"
        scratch.write_text(text)
        scratch.rename(path)
        return path

    def remove_pod(self, name: str) -> None:
        (self.manifests / f"{name}.yaml").unlink()

    # -- the kubelet's view -----------------------------------------------------------

    def pods(self) -> list[dict[str, Any]]:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(
                f"the kubelet exited with {self.process.returncode}:\n{self.log()}"
            )
        body = self._get(f"http://127.0.0.1:{self.read_only_port}/pods")
        return list(json.loads(body).get("items") or [])

    def pod(self, name: str) -> dict[str, Any] | None:
        """The kubelet's pod ``name`` (static pods get the node name appended)."""
        full = f"{name}-{NODE_NAME}"
        return next((p for p in self.pods() if p["metadata"]["name"] == full), None)

    def container_status(self, pod: str, container: str) -> dict[str, Any] | None:
        found = self.pod(pod)
        if found is None:
            return None
        statuses = found.get("status", {}).get("containerStatuses") or []
        return next((s for s in statuses if s["name"] == container), None)

    def wait_running(self, pod: str, *containers: str, timeout: float = 120.0) -> dict[str, Any]:
        def running() -> dict[str, Any] | None:
            found = self.pod(pod)
            if found is None or found.get("status", {}).get("phase") != "Running":
                return None
            statuses = {s["name"]: s for s in found["status"].get("containerStatuses") or []}
            if all("running" in statuses.get(c, {}).get("state", {}) for c in containers):
                return found
            return None

        return wait_for(running, timeout, f"pod {pod} Running in the kubelet's /pods")

    def container_logs(self, pod: str, container: str) -> str:
        """GET /containerLogs on the kubelet's API (self-signed TLS, anonymous on loopback)."""
        url = (
            f"https://127.0.0.1:{self.port}/containerLogs/{self.namespace}/"
            f"{pod}-{NODE_NAME}/{container}"
        )
        return self._get(url).decode()

    def exec(self, pod: str, container: str, command: list[str]) -> ExecResult:
        """The path `kubectl exec` takes: the kubelet's ``/exec`` over WebSocket."""
        query = urllib.parse.urlencode(
            [("command", word) for word in command] + [("output", "1"), ("error", "1")]
        )
        url = (
            f"wss://127.0.0.1:{self.port}/exec/{self.namespace}/"
            f"{pod}-{NODE_NAME}/{container}?{query}"
        )
        return asyncio.run(asyncio.wait_for(websocket_exec(url), EXEC_TIMEOUT))

    def _get(self, url: str) -> bytes:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with urllib.request.urlopen(url, timeout=10, context=context) as response:
            body: bytes = response.read()
            return body

    # -- the shim's view (CRI) -------------------------------------------------------

    @property
    def runtime(self) -> api_pb2_grpc.RuntimeServiceStub:
        if self._channel is None:
            self._channel = grpc.insecure_channel(self.shim.endpoint)
        return api_pb2_grpc.RuntimeServiceStub(self._channel)

    def sandboxes(self) -> list[cri.PodSandbox]:
        return list(self.runtime.ListPodSandbox(cri.ListPodSandboxRequest(), timeout=30).items)

    def containers(self, pod: str | None = None) -> list[cri.Container]:
        listed = self.runtime.ListContainers(cri.ListContainersRequest(), timeout=30).containers
        if pod is None:
            return list(listed)
        name = f"{pod}-{NODE_NAME}"
        return [c for c in listed if c.labels.get("io.kubernetes.pod.name") == name]

    def drop_channel(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    # -- cleanup ----------------------------------------------------------------------

    def close(self) -> None:
        """Undo everything; each step runs even when an earlier one fails."""
        steps: list[Callable[[], object]] = [
            self._remove_manifests,
            self.stop_kubelet,
            self._remove_pods_through_the_shim,
            self.drop_channel,
            self._stop_shim,
            lambda: remove_instance_containers(self.instance),
            self._unmount_root,
            lambda: shutil.rmtree(self.socket_dir, ignore_errors=True),
            lambda: shutil.rmtree(self.root, ignore_errors=True),
            self._remove_pod_logs,
        ]
        errors = []
        for step in steps:
            try:
                step()
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def _remove_manifests(self) -> None:
        for path in self.manifests.glob("*.yaml"):
            path.unlink()

    def _remove_pods_through_the_shim(self) -> None:
        if self.shim.process is None or self.shim.process.poll() is not None:
            return
        for sandbox in self.sandboxes():
            self.runtime.StopPodSandbox(
                cri.StopPodSandboxRequest(pod_sandbox_id=sandbox.id), timeout=60
            )
            self.runtime.RemovePodSandbox(
                cri.RemovePodSandboxRequest(pod_sandbox_id=sandbox.id), timeout=60
            )

    def _remove_pod_logs(self) -> None:
        for directory in Path(POD_LOGS).glob(f"{self.namespace}_*"):
            shutil.rmtree(directory, ignore_errors=True)

    def _stop_shim(self) -> None:
        if self.shim.process is not None and self.shim.process.poll() is None:
            self.shim.stop()

    def _unmount_root(self) -> None:
        """The kubelet bind-mounts --root-dir onto itself: unmount it and all below it."""
        root = os.path.realpath(self.root)
        for target in sorted(mounts_under(root), key=len, reverse=True):
            subprocess.run(["umount", "-l", target], check=False, capture_output=True, timeout=30)
        left = mounts_under(root)
        assert not left, f"still mounted: {left}"


@dataclass
class ExecResult:
    protocol: str  # the subprotocol the server chose
    stdout: bytes
    stderr: bytes
    status: dict[str, Any]  # the metav1.Status on the error channel


async def websocket_exec(url: str) -> ExecResult:
    """One remote command over the channel protocol (no stdin): everything each channel got."""
    out = {STDOUT: bytearray(), STDERR: bytearray(), ERROR: bytearray()}
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session,
        session.ws_connect(url, protocols=EXEC_PROTOCOLS, ssl=False) as ws,
    ):
        async for message in ws:
            if message.type == aiohttp.WSMsgType.BINARY and message.data:
                channel, payload = message.data[0], message.data[1:]
                if channel in out:
                    out[channel] += payload
            elif message.type == aiohttp.WSMsgType.ERROR:
                raise AssertionError(f"WebSocket error: {ws.exception()}")
        protocol = ws.protocol or ""
    # aiohttp closes a TLS connection's socket only after the TLS shutdown, one loop
    # turn or so after the session: give it that, as aiohttp's docs advise.
    await asyncio.sleep(0.25)
    status = json.loads(bytes(out[ERROR])) if out[ERROR] else {}
    return ExecResult(protocol, bytes(out[STDOUT]), bytes(out[STDERR]), status)


def mounts_under(root: str) -> list[str]:
    targets = []
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            target = line.split()[1].replace("\\040", " ")
            if target == root or target.startswith(root + "/"):
                targets.append(target)
    return targets
