"""kubelet-lite on container events (Evented PLEG) vs relisting, same shim, same run.

  - restart latency: a container that exits after 1 s under restartPolicy Always, with
    crash-loop back-off made negligible; for every restart, the time from the old
    attempt's finished_at to the new attempt's created_at (both the runtime's clock);
  - idle CPU: kubelet-lite supervising --pods running pods, its process CPU over
    --watch seconds once they all run.

Modes: events (default options: safety relist 60 s) and relist (--container-events false,
relist every 1 s, the kubelet's PLEG period).

    .venv/bin/python bench/pleg.py [--pods 20] [--restarts 8] [--watch 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import BUSYBOX
from bench.stats import cpu_seconds, shim
from criapi.runtime.v1 import api_pb2 as pb
from criapi.runtime.v1 import api_pb2_grpc

MODES = {"events": [], "relist": ["--container-events", "false"]}
CRASHER = """apiVersion: v1
kind: Pod
metadata: {{name: crasher, namespace: {ns}}}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 1
  containers:
  - {{name: app, image: {image}, command: [sh, -c, "sleep 1; exit 1"]}}
"""
SLEEPER = """apiVersion: v1
kind: Pod
metadata: {{name: idle-{i}, namespace: {ns}}}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 1
  containers:
  - {{name: app, image: {image}, command: [sleep, "3600"]}}
---
"""


def start_agent(endpoint: str, manifest: Path, mode: str, work: Path) -> subprocess.Popen[bytes]:
    log = open(work / f"agent-{mode}.log", "ab")  # noqa: SIM115 - the child keeps it
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kubeletlite",
            "--runtime-endpoint",
            endpoint,
            "--state-dir",
            str(work / f"state-{mode}"),
            "run",
            "-f",
            str(manifest),
            "--pod-logs-dir",
            str(work / "logs"),
            "--backoff-initial",
            "0.01",
            "--backoff-max",
            "0.01",
            *MODES[mode],
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop_agent(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=120)


async def containers(runtime: api_pb2_grpc.RuntimeServiceStub, ns: str) -> list[pb.Container]:
    request = pb.ListContainersRequest(
        filter=pb.ContainerFilter(label_selector={"io.kubernetes.pod.namespace": ns})
    )
    return list((await runtime.ListContainers(request)).containers)


async def restart_delays(
    runtime: api_pb2_grpc.RuntimeServiceStub, ns: str, restarts: int
) -> list[float]:
    """Watch attempts come and go (the agent removes old ones) and pair them up."""
    created: dict[int, int] = {}
    finished: dict[int, int] = {}
    deadline = time.monotonic() + 60 + restarts * 10
    while time.monotonic() < deadline and len(finished) <= restarts:
        for container in await containers(runtime, ns):
            attempt = container.metadata.attempt
            created[attempt] = container.created_at
            if container.state == pb.CONTAINER_EXITED and attempt not in finished:
                status = await runtime.ContainerStatus(
                    pb.ContainerStatusRequest(container_id=container.id)
                )
                finished[attempt] = status.status.finished_at
        await asyncio.sleep(0.1)
    return [(created[a + 1] - finished[a]) / 1e9 for a in finished if a + 1 in created]


async def idle_cpu(
    runtime: api_pb2_grpc.RuntimeServiceStub, ns: str, pid: int, pods: int, watch: float
) -> float:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        running = [c for c in await containers(runtime, ns) if c.state == pb.CONTAINER_RUNNING]
        if len(running) >= pods:
            break
        await asyncio.sleep(1)
    await asyncio.sleep(3)  # let the start-up settle
    before, started = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(watch)
    return (cpu_seconds(pid) - before) / (time.monotonic() - started)


async def run_mode(endpoint: str, mode: str, args: argparse.Namespace, work: Path) -> None:
    async with grpc.aio.insecure_channel(endpoint) as channel:
        runtime = api_pb2_grpc.RuntimeServiceStub(channel)
        ns = f"bench-{mode}-{uuid.uuid4().hex[:6]}"
        crasher = work / f"crasher-{mode}.yaml"
        crasher.write_text(CRASHER.format(ns=ns, image=BUSYBOX))
        agent = start_agent(endpoint, crasher, mode, work)
        try:
            delays = await restart_delays(runtime, ns, args.restarts)
        finally:
            stop_agent(agent)
        ns = f"bench-{mode}-{uuid.uuid4().hex[:6]}"
        idle = work / f"idle-{mode}.yaml"
        idle.write_text(
            "".join(SLEEPER.format(i=i, ns=ns, image=BUSYBOX) for i in range(args.pods))
        )
        agent = start_agent(endpoint, idle, mode, work)
        try:
            share = await idle_cpu(runtime, ns, agent.pid, args.pods, args.watch)
        finally:
            stop_agent(agent)
    print(
        f"{mode:7s} exit -> restart: median {statistics.median(delays) * 1000:7.0f} ms, "
        f"max {max(delays) * 1000:7.0f} ms over {len(delays)} restarts; "
        f"idle CPU with {args.pods} pods: {share * 100:5.2f}% of one core"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=20)
    parser.add_argument("--restarts", type=int, default=8)
    parser.add_argument("--watch", type=float, default=30.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cri-bench-pleg-", dir="/tmp"))
    os.makedirs(work / "logs", exist_ok=True)
    with shim() as (endpoint, _pid):
        for mode in MODES:
            asyncio.run(run_mode(endpoint, mode, args, work))


if __name__ == "__main__":
    main()
