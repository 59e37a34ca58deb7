"""JSON logs that carry pod and container ids, and the opt-in Prometheus endpoints,
of both programs, as an operator would read them."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiodocker
import aiohttp
import pytest

from criapi.runtime.v1 import api_pb2 as pb
from tests.support import env
from tests.support.cri import CriClient, Workspace, eventually, rpc_error
from tests.support.kubeletlite import KubeletLite
from tests.support.net import free_port
from tests.support.processes import ShimProcess, short_socket_dir


@pytest.fixture
async def json_shim(tmp_path: Path) -> AsyncIterator[tuple[ShimProcess, int]]:
    """A shim logging JSON, with metrics on a loopback port."""
    port = free_port()
    directory = short_socket_dir()
    shim = ShimProcess(
        directory / "cri.sock",
        tmp_path / "shim.log",
        args=["--log-format", "json", "--metrics-address", f"127.0.0.1:{port}"],
        env={"DOCKER_HOST": env.DOCKER_HOST},
    )
    await asyncio.to_thread(shim.start)
    try:
        yield shim, port
    finally:
        await asyncio.to_thread(shim.stop)
        shutil.rmtree(directory, ignore_errors=True)


async def scrape(port: int) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as reply,
    ):
        assert reply.status == 200
        return await reply.text()


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


async def test_shim_json_logs_and_rpc_metrics(
    json_shim: tuple[ShimProcess, int], docker: aiodocker.Docker, tmp_path: Path
) -> None:
    shim, port = json_shim
    client = CriClient(shim.endpoint)
    space = Workspace(client, docker, tmp_path / "pod-logs")
    try:
        pod_id, pod = await space.run_pod(host_network=True)
        container_id = await space.create(pod_id, pod, space.container_config("app", ["true"]))
        missing = await rpc_error(
            client.runtime.ContainerStatus(pb.ContainerStatusRequest(container_id="0" * 64))
        )
        assert missing.code().name == "NOT_FOUND"
    finally:
        await space.cleanup()
        await client.close()

    records = json_lines(shim.log_text())  # every line is one JSON object
    created = [r for r in records if r.get("container") == container_id]
    assert created, "no log line carries the container's id"
    assert created[0]["sandbox"] == pod_id
    assert created[0]["pod"] == f"test/{pod.metadata.name}"
    failure = next(r for r in records if r.get("rpc_container") == "0" * 64)
    assert failure["level"] == "INFO"
    assert "NOT_FOUND" in str(failure["message"])

    metrics = await scrape(port)
    assert 'cri_shim_rpc_duration_seconds_count{method="CreateContainer"} 1.0' in metrics
    assert 'cri_shim_rpc_errors_total{code="NOT_FOUND",method="ContainerStatus"} 1.0' in metrics


HOOKED = """
apiVersion: v1
kind: Pod
metadata: {name: observed, namespace: __NAMESPACE__}
spec:
  hostNetwork: true
  restartPolicy: Never
  containers:
  - name: app
    image: __IMAGE__
    command: ["sh", "-c", "sleep 2"]
    lifecycle:
      postStart:
        exec: {command: ["true"]}
"""


async def test_kubeletlite_json_logs_and_hook_metrics(kubeletlite: KubeletLite) -> None:
    port = free_port()
    manifest = kubeletlite.manifest(HOOKED)
    process = await kubeletlite.start(
        "run",
        "-f",
        str(manifest),
        "--metrics-address",
        f"127.0.0.1:{port}",
        log_name="run.log",
        global_args=("--log-format", "json"),
    )

    # The metrics live as long as `run`; read them once the pod has started its containers.
    async def hook_done() -> bool:
        return any(m["what"] == "postStart.end" for m in kubeletlite.marks("observed"))

    await eventually(hook_done, timeout=60)
    metrics = await scrape(port)
    assert (
        'kubeletlite_hook_duration_seconds_count{handler="exec",hook="PostStart",result="ok"} 1.0'
        in metrics
    )
    assert "kubeletlite_pod_start_duration_seconds_count 1.0" in metrics
    assert await kubeletlite.wait_exit(process) == 0

    # stdout and stderr share the file: keep the log records, not run's own report lines.
    log = "\n".join(
        line for line in kubeletlite.agent_log("run.log").splitlines() if line.startswith("{")
    )
    events = [r for r in json_lines(log) if r.get("name") == "kubeletlite.events"]
    started = next(r for r in events if r["reason"] == "Started")
    assert started["container"] == "app"
    assert str(started["pod"]).startswith(f"observed_{kubeletlite.namespace}(")
