"""Streaming through the shim vs Docker's own paths, in the same run.

  - exec round trip: `crictl exec C true` (CRI Exec + SPDY session) vs `docker exec C true`;
    also net of each client's own start-up (`crictl version`, `docker version`: one call each),
    as crictl takes much longer than the docker CLI to start;
  - exec stdout throughput: `head -c SIZE /dev/zero` through `crictl exec` vs `docker exec`;
  - port-forward throughput: an HTTP download of SIZE bytes from busybox httpd on the
    pod's loopback through `crictl port-forward`, vs the same download straight from the
    pod's bridge IP (no forwarding at all: the ceiling).

Both sides of each pair are Go command-line clients started fresh each time, so
process start-up is in both. Medians over --rounds; ratios are shim / Docker
time (lower is better) or shim / baseline throughput (higher is better).

    .venv/bin/python bench/streaming.py [--rounds 5] [--size-mb 200] [--endpoint unix:///...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import BUSYBOX, Stopwatch, median, shim_daemon
from criapi.runtime.v1 import api_pb2 as pb
from criapi.runtime.v1 import api_pb2_grpc

CRICTL = (
    Path(
        os.environ.get(
            "CRI_TOOLS_BIN", str(Path(__file__).resolve().parents[2] / "shared/tools/bin")
        )
    )
    / "crictl"
)
WEB = (
    "mkdir -p /www && head -c {size} /dev/zero > /www/big && exec httpd -f -p 127.0.0.1:80 -h /www"
)


def timed(command: list[str]) -> float:
    with Stopwatch() as watch:
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return watch.seconds


def download(url: str) -> tuple[float, int]:
    with Stopwatch() as watch, urllib.request.urlopen(url, timeout=120) as response:
        size = 0
        while chunk := response.read(1 << 20):
            size += len(chunk)
    return watch.seconds, size


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def make_pod(endpoint: str, size: int) -> tuple[str, str, str]:
    """A sandbox and a web container; returns (sandbox id, container id, pod IP)."""
    async with grpc.aio.insecure_channel(endpoint) as channel:
        runtime = api_pb2_grpc.RuntimeServiceStub(channel)
        uid = uuid.uuid4().hex[:8]
        config = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name="bench-stream", namespace="bench", uid=uid),
            log_directory=tempfile.mkdtemp(prefix="bench-stream-"),
        )
        sandbox = (
            await runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=config))
        ).pod_sandbox_id
        container = pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name="web"),
            image=pb.ImageSpec(image=BUSYBOX),
            command=["sh", "-c", WEB.format(size=size).replace("127.0.0.1:80", "0.0.0.0:80")],
            log_path="web.log",
        )
        created = await runtime.CreateContainer(
            pb.CreateContainerRequest(
                pod_sandbox_id=sandbox, config=container, sandbox_config=config
            )
        )
        await runtime.StartContainer(pb.StartContainerRequest(container_id=created.container_id))
        status = await runtime.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=sandbox))
        return sandbox, created.container_id, status.status.network.ip


async def remove_pod(endpoint: str, sandbox: str) -> None:
    async with grpc.aio.insecure_channel(endpoint) as channel:
        runtime = api_pb2_grpc.RuntimeServiceStub(channel)
        await runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sandbox))
        await runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox))


def wait_for_file(container: str, size: int) -> None:
    for _ in range(600):
        probe = subprocess.run(
            ["docker", "exec", container, "stat", "-c", "%s", "/www/big"],
            capture_output=True,
            check=False,
        )
        if probe.stdout.strip() == str(size).encode():
            return
        time.sleep(0.1)
    raise RuntimeError("the web container did not write its file")


def bench(endpoint: str, rounds: int, size: int) -> dict[str, object]:
    sandbox, container, ip = asyncio.run(make_pod(endpoint, size))
    crictl = [str(CRICTL), "--runtime-endpoint", endpoint]
    results: dict[str, object] = {"rounds": rounds, "size_bytes": size}
    try:
        wait_for_file(container, size)
        trivial_shim = median(
            [timed([*crictl, "exec", container, "true"]) for _ in range(rounds * 4)]
        )
        trivial_docker = median(
            [timed(["docker", "exec", container, "true"]) for _ in range(rounds * 4)]
        )
        # Each client's own start-up and one call: what is not the exec path.
        client_shim = median([timed([*crictl, "version"]) for _ in range(rounds * 4)])
        client_docker = median([timed(["docker", "version"]) for _ in range(rounds * 4)])
        results["exec_true_ms"] = {
            "shim": round(trivial_shim * 1000, 1),
            "docker": round(trivial_docker * 1000, 1),
            "ratio": round(trivial_shim / trivial_docker, 2),
            "crictl_version": round(client_shim * 1000, 1),
            "docker_version": round(client_docker * 1000, 1),
            "ratio_without_client_start": round(
                (trivial_shim - client_shim) / max(trivial_docker - client_docker, 1e-3), 2
            ),
        }
        big = ["head", "-c", str(size), "/dev/zero"]
        bulk_shim = median([timed([*crictl, "exec", container, *big]) for _ in range(rounds)])
        bulk_docker = median([timed(["docker", "exec", container, *big]) for _ in range(rounds)])
        results["exec_stdout_MBps"] = {
            "shim": round(size / bulk_shim / 1e6, 1),
            "docker": round(size / bulk_docker / 1e6, 1),
            "throughput_ratio": round(bulk_docker / bulk_shim, 2),
        }
        local = free_port()
        forwarder = subprocess.Popen(
            [*crictl, "port-forward", sandbox, f"{local}:80"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert forwarder.stdout is not None
            forwarder.stdout.readline()
            forwarded = median(
                [download(f"http://127.0.0.1:{local}/big")[0] for _ in range(rounds)]
            )
        finally:
            forwarder.kill()
            forwarder.wait()
            if forwarder.stdout is not None:
                forwarder.stdout.close()
        direct = median([download(f"http://{ip}/big")[0] for _ in range(rounds)])
        results["port_forward_MBps"] = {
            "shim": round(size / forwarded / 1e6, 1),
            "direct_to_pod_ip": round(size / direct / 1e6, 1),
            "throughput_ratio": round(direct / forwarded, 2),
        }
    finally:
        asyncio.run(remove_pod(endpoint, sandbox))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--endpoint", help="an already running shim (default: start one)")
    args = parser.parse_args()
    with shim_daemon(args.endpoint) as endpoint:
        print(json.dumps(bench(endpoint, args.rounds, args.size_mb * 1_000_000), indent=2))


if __name__ == "__main__":
    main()
