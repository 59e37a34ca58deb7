"""The Compose stack end to end: build the image offline, bring the shim and
kubelet-lite up, run a pod with hooks through them, tear everything down.

Needs what scripts/test prepares: the debootstrap base image
(scripts/build-base-image) and docker-compose.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import env
from tests.support.cri import eventually

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"

pytestmark = [pytest.mark.docker, pytest.mark.slow]

NAMESPACE = "compose-e2e"


@dataclass
class Stack:
    project: str
    root: Path
    env: dict[str, str]

    @property
    def manifests(self) -> Path:
        return self.root / "manifests"

    @property
    def markers(self) -> Path:
        return self.root / "markers"

    def compose(
        self, *args: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker-compose", "-f", str(COMPOSE_FILE), "-p", self.project, *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def kubeletlite(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.compose(
            "exec",
            "-T",
            "kubeletlite",
            "kubeletlite",
            "--runtime-endpoint=unix:///run/cri-shim/cri-shim.sock",
            f"--state-dir={self.env['KUBELETLITE_STATE_DIR']}",
            *args,
            check=False,
        )


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    subprocess.run([str(REPO / "scripts" / "build-wheels")], check=True, capture_output=True)
    root = Path(tempfile.mkdtemp(prefix="cri-compose-", dir="/tmp"))
    project = "crishime2e" + uuid.uuid4().hex[:6]
    stack_env = {
        **os.environ,
        "KUBELETLITE_MANIFEST_DIR": str(root / "manifests"),
        "KUBELETLITE_STATE_DIR": str(root / "state"),
        "POD_LOGS_DIR": str(root / "pod-logs"),
    }
    stack = Stack(project, root, stack_env)
    stack.manifests.mkdir()
    stack.markers.mkdir()
    try:
        yield stack
    finally:
        stack.compose("down", "-v", "--remove-orphans", check=False)
        _remove_pods_of_namespace(NAMESPACE)
        shutil.rmtree(root, ignore_errors=True)


def _remove_pods_of_namespace(namespace: str) -> None:
    """Static pods outlive their kubelet: remove what a failed run may have left."""
    listed = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=io.kubernetes.pod.namespace={namespace}"],
        capture_output=True,
        text=True,
        check=True,
    )
    ids = listed.stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, check=False)


def test_compose_file_is_valid(stack: Stack) -> None:
    result = stack.compose("config", "-q", check=False)
    assert result.returncode == 0, result.stderr


async def test_stack_runs_a_pod_with_hooks_and_tears_down(stack: Stack) -> None:
    built = stack.compose("up", "-d", "--build", check=False, timeout=600)
    assert built.returncode == 0, built.stderr

    async def shim_healthy() -> bool:
        out = await asyncio.to_thread(stack.compose, "ps", check=False)
        return "(healthy)" in out.stdout

    await eventually(shim_healthy, timeout=60)

    (stack.manifests / "hooks.yaml").write_text(
        textwrap.dedent(
            f"""\
            apiVersion: v1
            kind: Pod
            metadata:
              name: compose-hooks
              namespace: compose-e2e
            spec:
              hostNetwork: true
              terminationGracePeriodSeconds: 5
              volumes:
              - name: markers
                hostPath: {{path: {stack.markers}}}
              containers:
              - name: app
                image: {env.BUSYBOX}
                command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
                volumeMounts:
                - {{name: markers, mountPath: /markers}}
                lifecycle:
                  postStart:
                    exec: {{command: ["sh", "-c", "echo started > /markers/poststart"]}}
                  preStop:
                    exec: {{command: ["sh", "-c", "echo stopping > /markers/prestop"]}}
            """
        )
    )

    async def pod_running() -> bool:
        out = await asyncio.to_thread(stack.kubeletlite, "get", "pods", "-n", "compose-e2e")
        return "compose-hooks" in out.stdout and "1/1" in out.stdout and "Running" in out.stdout

    try:
        await eventually(pod_running, timeout=90)
    except AssertionError:
        logs = stack.compose("logs", "--tail", "30", check=False).stdout
        raise AssertionError(f"pod not running; stack logs:\n{logs}") from None
    assert (stack.markers / "poststart").read_text() == "started\n"

    (stack.manifests / "hooks.yaml").unlink()

    async def pod_gone() -> bool:
        out = await asyncio.to_thread(stack.kubeletlite, "get", "pods", "-n", "compose-e2e")
        return "compose-hooks" not in out.stdout

    await eventually(pod_gone, timeout=60)
    assert (stack.markers / "prestop").read_text() == "stopping\n"

    down = stack.compose("down", "-v", check=False)
    assert down.returncode == 0, down.stderr
    listed = await asyncio.to_thread(
        subprocess.run,
        [
            "docker",
            "ps",
            "-a",
            "--filter",
            f"label=com.docker.compose.project={stack.project}",
            "-q",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert listed.stdout.strip() == ""
    leftovers = await asyncio.to_thread(
        subprocess.run,
        ["docker", "ps", "-a", "--filter", f"label=io.kubernetes.pod.namespace={NAMESPACE}", "-q"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert leftovers.stdout.strip() == ""
