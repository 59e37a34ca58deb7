"""Pod start latency of static pods: the real kubelet + shim vs kubelet-lite + shim.

For 1 and for 20 pods written at once into the agent's manifest folder, measures
from the write to
  * every container RUNNING in the shim's CRI state (both agents),
  * every pod Running in the kubelet's /pods (kubelet only: kubelet-lite has no /pods),
  * each pod's postStart hook writing its first line (a /proc/uptime stamp in a
    hostPath volume: the host's clock, the one the write is timed with).
Each agent gets a fresh scoped shim (tests/support/kubelet.py), so the two runs
share nothing but dockerd. The kubelet is the baseline of the same run.

    CRI_TOOLS_BIN=../shared/tools/bin .venv/bin/python bench/kubelet_start.py [--pods 1 20]
"""

from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from criapi.runtime.v1 import api_pb2 as cri
from tests.support.kubelet import KubeletNode, wait_for
from tests.support.tools import TOOLS_DIR

POD = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: __NAMESPACE__}}
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - name: data
    hostPath: {{path: {data}, type: DirectoryOrCreate}}
  containers:
  - name: main
    image: {image}
    imagePullPolicy: IfNotPresent
    volumeMounts: [{{name: data, mountPath: /data}}]
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    lifecycle:
      postStart:
        exec:
          command: ["sh", "-c", "read up idle < /proc/uptime; echo $up > /data/{name}"]
"""
TIMEOUT = 300.0


def uptime() -> float:
    with open("/proc/uptime") as f:
        return float(f.read().split()[0])


def write_pods(node: KubeletNode, count: int, image: str) -> tuple[float, list[str]]:
    directory, data = node.manifests, node.data
    names = [f"bench-{i}" for i in range(count)]
    scratch = directory.parent / "scratch"
    scratch.mkdir(exist_ok=True)
    for name in names:
        text = node.render(POD.format(name=name, data=data, image=image))
        (scratch / f"{name}.yaml").write_text(text)
    start = uptime()
    for name in names:
        (scratch / f"{name}.yaml").rename(directory / f"{name}.yaml")
    return start, names


def first_time(check: Callable[[], bool], what: str) -> float:
    wait_for(lambda: check() or None, TIMEOUT, what, every=0.05)
    return uptime()


def cri_running(node: KubeletNode, count: int) -> Callable[[], bool]:
    def check() -> bool:
        running = [c for c in node.containers() if c.state == cri.CONTAINER_RUNNING]
        return len(running) >= count

    return check


def hook_lines(data: Path, names: list[str], start: float) -> list[float]:
    wait_for(
        lambda: all((data / n).exists() and (data / n).read_text().strip() for n in names),
        TIMEOUT,
        "every postStart line",
    )
    return sorted(float((data / n).read_text().split()[0]) - start for n in names)


def measure_kubelet(count: int, image: str) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="bench-kubelet-"))
    node = KubeletNode(TOOLS_DIR / "kubelet", work, prefix="bench-kubelet")
    try:
        node.start()
        start, names = write_pods(node, count, image)

        def all_running() -> bool:
            pods = {p["metadata"]["name"]: p for p in node.pods()}
            return all(
                pods.get(f"{n}-node1", {}).get("status", {}).get("phase") == "Running"
                for n in names
            )

        running_cri = first_time(cri_running(node, count), "CRI running") - start
        running_pods = first_time(all_running, "/pods Running") - start
        hooks = hook_lines(node.data, names, start)
        return {"cri": running_cri, "pods": running_pods, **spread(hooks)}
    finally:
        node.close()
        shutil.rmtree(work, ignore_errors=True)


def measure_kubeletlite(count: int, image: str) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="bench-lite-"))
    node = KubeletNode(TOOLS_DIR / "kubelet", work, prefix="bench-lite")
    agent = None
    try:
        node.shim.start()
        agent = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kubeletlite",
                "--runtime-endpoint",
                node.shim.endpoint,
                "--state-dir",
                str(work / "state"),
                "--log-level",
                "warning",
                "serve",
                "--manifest-dir",
                str(node.manifests),
                "--pod-logs-dir",
                str(work / "pod-logs"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(2)  # let serve read the (empty) folder first, as the kubelet has
        start, names = write_pods(node, count, image)
        running_cri = first_time(cri_running(node, count), "CRI running") - start
        hooks = hook_lines(node.data, names, start)
        return {"cri": running_cri, **spread(hooks)}
    finally:
        if agent is not None:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=30)
        node.close()
        shutil.rmtree(work, ignore_errors=True)


def spread(hooks: list[float]) -> dict[str, float]:
    return {"hook_first": hooks[0], "hook_median": statistics.median(hooks), "hook_last": hooks[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pods", type=int, nargs="+", default=[1, 20])
    parser.add_argument("--image", default="127.0.0.1:5000/busybox:1.35")
    args = parser.parse_args()
    print("seconds from manifest write to ...")
    header = f"{'agent':<14}{'pods':>5}{'CRI running':>13}{'/pods Running':>15}"
    print(header + f"{'hook first':>12}{'hook median':>13}{'hook last':>11}")
    for count in args.pods:
        for agent, measure in (("kubelet", measure_kubelet), ("kubelet-lite", measure_kubeletlite)):
            r = measure(count, args.image)
            pods = f"{r['pods']:.2f}" if "pods" in r else "-"
            print(
                f"{agent:<14}{count:>5}{r['cri']:>13.2f}{pods:>15}"
                f"{r['hook_first']:>12.2f}{r['hook_median']:>13.2f}{r['hook_last']:>11.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
