"""How soon postStart begins after StartContainer returns, over many container starts.

Runs the real `kubeletlite run` on a pod of N containers (each with an exec
postStart) against a real shim, then reads kubelet-lite's timeline: the
"started" mark is written when StartContainer returns, "postStart.begin" when
the handler is dispatched. The baseline, from the same run, is StartContainer's
own latency (the "created" to "started" marks).

    .venv/bin/python bench/poststart_delay.py [--starts 50] [--endpoint ...]
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import BUSYBOX, shim_daemon

CONTAINER = """\
  - name: c{index}
    image: {image}
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    lifecycle:
      postStart:
        exec:
          command: ["true"]
"""


def manifest(starts: int, namespace: str) -> str:
    head = (
        "apiVersion: v1\nkind: Pod\n"
        f"metadata:\n  name: poststart-bench\n  namespace: {namespace}\n"
        "spec:\n  hostNetwork: true\n  restartPolicy: Never\n"
        "  terminationGracePeriodSeconds: 2\n  containers:\n"
    )
    return head + "".join(CONTAINER.format(index=i, image=BUSYBOX) for i in range(starts))


def kubeletlite(endpoint: str, state: Path, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "kubeletlite",
        "--runtime-endpoint", endpoint, "--state-dir", str(state), "--log-level", "warning",
        *args,
    ]  # fmt: skip


def wait_started(state: Path, starts: int, timeout: float) -> Path:
    """Until every container's postStart has ended (bounded); returns the pod's record."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for timeline in state.glob("pods/*/timeline.jsonl"):
            ends = sum('"postStart.end"' in line for line in timeline.read_text().splitlines())
            if ends >= starts:
                return timeline
        time.sleep(0.2)
    raise TimeoutError(f"not all {starts} containers started within {timeout}s")


def delays(timeline: Path) -> tuple[list[float], list[float]]:
    """In ms: (StartContainer returned → postStart began, CreateContainer → StartContainer)."""
    marks: dict[tuple[str, str], int] = {}
    for line in timeline.read_text().splitlines():
        mark = json.loads(line)
        marks[(mark["container_id"], mark["what"])] = mark["time_ns"]
    ids = {container_id for container_id, what in marks if what == "started"}
    hook = [(marks[(c, "postStart.begin")] - marks[(c, "started")]) / 1e6 for c in ids]
    start = [(marks[(c, "started")] - marks[(c, "created")]) / 1e6 for c in ids]
    return hook, start


def summary(label: str, values: list[float]) -> str:
    return (
        f"{label:44} median {statistics.median(values):7.2f} ms   "
        f"worst {max(values):7.2f} ms   (n={len(values)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--starts", type=int, default=50)
    parser.add_argument("--endpoint", help="an already running shim (default: start one)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="poststart-bench-", dir="/tmp"))
    namespace = "bench-" + uuid.uuid4().hex[:6]
    pod_file = work / "pod.yaml"
    pod_file.write_text(manifest(args.starts, namespace))
    state = work / "state"
    with shim_daemon(args.endpoint) as endpoint:
        run = subprocess.Popen(
            kubeletlite(
                endpoint, state, "run", "-f", str(pod_file), "--pod-logs-dir", str(work / "logs")
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            timeline = wait_started(state, args.starts, timeout=60 + args.starts)
        finally:
            run.send_signal(signal.SIGTERM)  # graceful: the pod is deleted
            run.wait(timeout=120)
    hook, start = delays(timeline)
    print(summary("StartContainer returned -> postStart began", hook))
    print(summary("baseline: StartContainer latency", start))
    ratio = statistics.median(hook) / statistics.median(start)
    print(f"postStart dispatch delay / StartContainer latency (medians): {ratio:.3f}")


if __name__ == "__main__":
    main()
