"""kubelet-lite: pod start latency (manifest -> all containers running) and idle CPU with 20 pods,
against the same pods started with crictl (runp, create, start) in the same run.

A shim of this checkout serves both. kubelet-lite runs as ``serve`` on a
manifest directory: the clock starts when a manifest is written and stops
when the CRI runtime reports every container of the pod running (polled
every 10 ms through a gRPC client). With crictl, the clock covers its three
commands. One pod at a time (--rounds times, alternating), then --burst
pods at once; then kubelet-lite's and the shim's CPU while the burst's pods
just run, for --idle-seconds.

    .venv/bin/python bench/kubeletlite_start.py [--rounds 5] [--burst 20] [--idle-seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import grpc

from bench._harness import BUSYBOX, cpu_seconds, shim, summary_ms, table, write_json
from criapi.runtime.v1 import api_pb2 as pb
from criapi.runtime.v1 import api_pb2_grpc

POLL = 0.01
NAMESPACE_PREFIX = "crib-kl"


def tools_bin() -> Path:
    return Path(
        os.environ.get("CRI_TOOLS_BIN", Path(__file__).resolve().parents[2] / "shared/tools/bin")
    )


def manifest(name: str, namespace: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "terminationGracePeriodSeconds": 0,
                "containers": [{"name": "app", "image": BUSYBOX, "command": ["sleep", "3600"]}],
            },
        }
    )


class Watcher:
    def __init__(self, endpoint: str) -> None:
        self.channel = grpc.aio.insecure_channel(endpoint)
        self.runtime = api_pb2_grpc.RuntimeServiceStub(self.channel)

    async def running(self, namespace: str, names: set[str]) -> None:
        """Return once every pod in ``names`` has a running container."""
        selector = {"io.kubernetes.pod.namespace": namespace}
        while True:
            listed = await self.runtime.ListContainers(
                pb.ListContainersRequest(
                    filter=pb.ContainerFilter(
                        state=pb.ContainerStateValue(state=pb.CONTAINER_RUNNING),
                        label_selector=selector,
                    )
                )
            )
            up = {c.labels.get("io.kubernetes.pod.name") for c in listed.containers}
            if names <= up:
                return
            await asyncio.sleep(POLL)

    async def remove_namespace(self, namespace: str) -> None:
        """Remove the namespace's pods (kubelet-lite may be removing them at the same time)."""
        request = pb.ListPodSandboxRequest(
            filter=pb.PodSandboxFilter(label_selector={"io.kubernetes.pod.namespace": namespace})
        )
        for _ in range(50):
            items = (await self.runtime.ListPodSandbox(request)).items
            if not items:
                return
            for item in items:
                with contextlib.suppress(grpc.aio.AioRpcError):
                    await self.runtime.StopPodSandbox(
                        pb.StopPodSandboxRequest(pod_sandbox_id=item.id)
                    )
                    await self.runtime.RemovePodSandbox(
                        pb.RemovePodSandboxRequest(pod_sandbox_id=item.id)
                    )
            await asyncio.sleep(0.2)


async def with_kubeletlite(watcher: Watcher, manifests: Path, names: list[str], ns: str) -> float:
    started = time.perf_counter()
    for name in names:
        path = manifests / f"{name}.yaml"
        path.with_suffix(".tmp").write_text(manifest(name, ns))
        path.with_suffix(".tmp").rename(path)
    await watcher.running(ns, set(names))
    return time.perf_counter() - started


async def crictl(endpoint: str, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        str(tools_bin() / "crictl"),
        "--runtime-endpoint",
        endpoint,
        "--image-endpoint",
        endpoint,
        # crictl's default of 2 s is too short for a burst of pods on a busy machine.
        "--timeout",
        "120s",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"crictl {args}: {err.decode()}")
    return out.decode().strip()


async def with_crictl(endpoint: str, scratch: Path, names: list[str], ns: str) -> float:
    async def one(name: str) -> None:
        pod = scratch / f"{name}-pod.json"
        ctr = scratch / f"{name}-ctr.json"
        pod.write_text(
            json.dumps(
                {
                    "metadata": {"name": name, "namespace": ns, "uid": uuid.uuid4().hex},
                    "log_directory": str(scratch / "logs" / name),
                    "labels": {
                        "io.kubernetes.pod.name": name,
                        "io.kubernetes.pod.namespace": ns,
                    },
                }
            )
        )
        ctr.write_text(
            json.dumps(
                {
                    "metadata": {"name": "app"},
                    "image": {"image": BUSYBOX},
                    "command": ["sleep", "3600"],
                    "log_path": "app/0.log",
                    "labels": {"io.kubernetes.pod.name": name, "io.kubernetes.pod.namespace": ns},
                }
            )
        )
        sandbox_id = await crictl(endpoint, "runp", str(pod))
        container_id = await crictl(endpoint, "create", sandbox_id, str(ctr), str(pod))
        await crictl(endpoint, "start", container_id)

    started = time.perf_counter()
    await asyncio.gather(*(one(name) for name in names))
    return time.perf_counter() - started


async def measure(
    endpoint: str,
    *,
    args: argparse.Namespace,
    kl_pid: int,
    shim_pid: int | None,
    manifests: Path,
    scratch: Path,
) -> dict[str, Any]:
    watcher = Watcher(endpoint)
    used: list[str] = []
    run = uuid.uuid4().hex[:6]
    single: dict[str, list[float]] = {"kubelet-lite": [], "crictl": []}
    result: dict[str, Any] = {}
    try:
        for r in range(args.rounds):
            order = ["kubelet-lite", "crictl"] if r % 2 == 0 else ["crictl", "kubelet-lite"]
            for how in order:
                ns = f"{NAMESPACE_PREFIX}-{run}-{r}-{how[0]}"
                used.append(ns)
                name = f"p{r}"
                if how == "kubelet-lite":
                    single[how].append(await with_kubeletlite(watcher, manifests, [name], ns))
                    (manifests / f"{name}.yaml").unlink()
                else:
                    single[how].append(await with_crictl(endpoint, scratch, [name], ns))
        result["one_pod_ms"] = {how: summary_ms(values) for how, values in single.items()}
        await asyncio.sleep(2)  # let kubelet-lite stop the pods whose manifests went
        for r in range(args.rounds):
            for how in ("k", "c"):
                await watcher.remove_namespace(f"{NAMESPACE_PREFIX}-{run}-{r}-{how}")
        names = [f"b{i}" for i in range(args.burst)]
        ns_c, ns_k = f"{NAMESPACE_PREFIX}-{run}-bc", f"{NAMESPACE_PREFIX}-{run}-bk"
        used += [ns_c, ns_k]
        crictl_burst = await with_crictl(endpoint, scratch, names, ns_c)
        await watcher.remove_namespace(ns_c)
        kl_burst = await with_kubeletlite(watcher, manifests, names, ns_k)
        result["burst_seconds"] = {"kubelet-lite": kl_burst, "crictl": crictl_burst}
        await asyncio.sleep(3)  # let postStart-free starts settle before the idle window
        before = cpu_seconds(kl_pid), cpu_seconds(shim_pid)
        await asyncio.sleep(args.idle_seconds)
        after = cpu_seconds(kl_pid), cpu_seconds(shim_pid)
        result["idle_cpu_percent"] = {
            "kubelet-lite": 100 * (after[0] - before[0]) / args.idle_seconds,
            "shim": 100 * (after[1] - before[1]) / args.idle_seconds,
        }
        for name in names:
            (manifests / f"{name}.yaml").unlink()
        await asyncio.sleep(2)
        await watcher.remove_namespace(ns_k)
    finally:
        # Also after a failure: nothing the benchmark started is left running.
        for manifest_file in await asyncio.to_thread(lambda: list(manifests.glob("*.yaml"))):
            manifest_file.unlink()
        for ns in used:
            with contextlib.suppress(grpc.aio.AioRpcError):
                await watcher.remove_namespace(ns)
        await watcher.channel.close()
    return result


def report(result: dict[str, Any], args: argparse.Namespace) -> str:
    one = result["one_pod_ms"]
    burst = result["burst_seconds"]
    rows = [
        [
            how,
            one[how]["median"],
            one[how]["p90"],
            burst[how],
            result["idle_cpu_percent"].get(how, ""),
        ]
        for how in ("kubelet-lite", "crictl")
    ]
    lines = [
        table(
            [
                "started by",
                "1 pod: manifest -> running ms",
                "p90",
                f"{args.burst} pods at once, s",
                f"idle CPU % with {args.burst} pods",
            ],
            rows,
        ),
        f"(shim idle CPU with the same pods: {result['idle_cpu_percent']['shim']:.2f} %)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if not (tools_bin() / "crictl").exists():
        print(f"skipped: no crictl in {tools_bin()} (set CRI_TOOLS_BIN)")
        return {}
    scratch = Path(tempfile.mkdtemp(prefix="cri-bench-kl-", dir="/tmp"))
    manifests = scratch / "manifests"
    manifests.mkdir()
    try:
        with shim() as runtime:
            kubeletlite = subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("kubeletlite")),
                    "--runtime-endpoint",
                    runtime.endpoint,
                    "--state-dir",
                    str(scratch / "state"),
                    "--log-level",
                    "warning",
                    "serve",
                    "--manifest-dir",
                    str(manifests),
                    "--pod-logs-dir",
                    str(scratch / "pods"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=open(scratch / "kubeletlite.log", "wb"),  # noqa: SIM115
            )
            try:
                time.sleep(2)
                result = asyncio.run(
                    measure(
                        runtime.endpoint,
                        args=args,
                        kl_pid=kubeletlite.pid,
                        shim_pid=runtime.pid,
                        manifests=manifests,
                        scratch=scratch,
                    )
                )
            finally:
                kubeletlite.send_signal(signal.SIGTERM)
                kubeletlite.wait(timeout=60)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"kubelet-lite vs crictl through the same shim ({args.rounds} single-pod rounds)\n")
    print(report(result, args))
    print(f"\nJSON: {write_json('kubeletlite', result, args.out)}")
    return result


if __name__ == "__main__":
    main()
