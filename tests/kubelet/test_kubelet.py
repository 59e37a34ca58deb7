"""The real kubelet (standalone, static pods) drives the shim.

Each test checks the kubelet's own view (its read-only ``/pods``), what the
containers wrote to a hostPath volume (``/proc/uptime`` stamps: one clock for
every container and hook), and the shim's CRI state. Verdicts rest on order
and counts; the only time bounds are cut-offs with wide margins.
"""

from __future__ import annotations

import itertools
import signal
import time
import urllib.error
from pathlib import Path

import pytest

from criapi.runtime.v1 import api_pb2 as cri
from tests.support.kubelet import KubeletNode, wait_for
from tests.support.net import free_port

pytestmark = [pytest.mark.kubelet, pytest.mark.slow]


def stamped(path: Path) -> list[tuple[float, str]]:
    """Lines "<uptime> <text>" written by a pod, as (seconds, text)."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        stamp, _, text = line.partition(" ")
        rows.append((float(stamp), text))
    return rows


def texts(path: Path) -> list[str]:
    return [text for _, text in stamped(path)]


def wait_line(path: Path, text: str, timeout: float = 120.0) -> None:
    wait_for(lambda: text in texts(path), timeout, f"{text!r} in {path.name}")


# Unquoted, so that it fits in any YAML string of the manifests below.
STAMP = "read up idle < /proc/uptime; echo $up {what} >> /data/{file}"


def stamp(what: str, file: str = "log") -> str:
    return STAMP.format(what=what, file=file)


# -- postStart: the design document's experiment 4.1 ----------------------------------

EXPERIMENT = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: __NAMESPACE__}}
spec:
  terminationGracePeriodSeconds: 2
  volumes:
  - name: data
    hostPath: {{path: __DATA__/{name}, type: DirectoryOrCreate}}
  containers:
  - name: main
    image: __IMAGE__
    volumeMounts: [{{name: data, mountPath: /data}}]
    command:
    - /bin/sh
    - -c
    - |
      trap 'exit 0' TERM
      {started}
      sleep {entrypoint_delay}
      {entrypoint}
      sleep 3600 & wait
    lifecycle:
      postStart:
        exec:
          command:
          - /bin/sh
          - -c
          - |
            {hook_started}
            sleep {hook_delay}
            {hook}
"""


@pytest.mark.parametrize(
    ("entrypoint_delay", "hook_delay"),
    [pytest.param(1, 6, id="entrypoint-first"), pytest.param(6, 1, id="poststart-first")],
)
def test_poststart_runs_alongside_the_entrypoint(
    node: KubeletNode, entrypoint_delay: int, hook_delay: int
) -> None:
    """Were postStart to hold the entrypoint back, the entrypoint's line would always come
    last; it comes in the order of the two delays (5 s apart, a margin for the kubelet's
    own latency in starting the hook), and the entrypoint ran while the hook did."""
    name = f"exp41-{entrypoint_delay}-{hook_delay}"
    node.add_pod(
        name,
        EXPERIMENT.format(
            name=name,
            entrypoint_delay=entrypoint_delay,
            hook_delay=hook_delay,
            started=stamp("entrypoint started"),
            entrypoint=stamp("written by entrypoint"),
            hook_started=stamp("post start started"),
            hook=stamp("written by post start"),
        ),
    )
    log = node.data / name / "log"
    wait_line(log, "written by entrypoint")
    wait_line(log, "written by post start")
    node.wait_running(name, "main")

    lines = {text: at for at, text in stamped(log)}
    first, second = (
        ("written by entrypoint", "written by post start")
        if entrypoint_delay < hook_delay
        else ("written by post start", "written by entrypoint")
    )
    assert [t for t in texts(log) if t.startswith("written")] == [first, second]
    # The entrypoint was not held back: it ran before the hook had finished.
    assert lines["entrypoint started"] < lines["written by post start"]
    gap = lines[second] - lines[first]
    assert gap > 0
    print(f"{name}: {second!r} {gap:.2f}s after {first!r}")
    container = node.container_status(name, "main")
    assert container is not None
    assert container["restartCount"] == 0


# -- preStop ----------------------------------------------------------------------------

PRESTOP = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: __NAMESPACE__}}
spec:
  terminationGracePeriodSeconds: {grace}
  volumes:
  - name: data
    hostPath: {{path: __DATA__/{name}, type: DirectoryOrCreate}}
  containers:
  - name: main
    image: __IMAGE__
    volumeMounts: [{{name: data, mountPath: /data}}]
    command:
    - /bin/sh
    - -c
    - |
      trap '{term}; exit 0' TERM
      {started}
      sleep 3600 & wait
    lifecycle:
      preStop:
        exec:
          command:
          - /bin/sh
          - -c
          - |
            {pre_started}
            sleep {pre_delay}
            {pre_done}
"""


def prestop_pod(node: KubeletNode, name: str, grace: int, pre_delay: int) -> Path:
    node.add_pod(
        name,
        PRESTOP.format(
            name=name,
            grace=grace,
            pre_delay=pre_delay,
            term=stamp("SIGTERM"),
            started=stamp("started"),
            pre_started=stamp("preStop started"),
            pre_done=stamp("preStop done"),
        ),
    )
    log = node.data / name / "log"
    wait_line(log, "started")
    node.wait_running(name, "main")
    return log


def test_prestop_runs_before_sigterm_when_the_manifest_is_removed(node: KubeletNode) -> None:
    log = prestop_pod(node, "prestop", grace=10, pre_delay=2)
    container_id = node.containers("prestop")[0].id
    node.remove_pod("prestop")
    wait_line(log, "SIGTERM")
    assert texts(log) == ["started", "preStop started", "preStop done", "SIGTERM"]
    wait_for(lambda: node.pod("prestop") is None, 120, "the pod gone from /pods")

    def stopped() -> bool:
        # The kubelet stops the sandbox at once; it removes it only at its next GC (1 min).
        sandboxes_ready = [s for s in node.sandboxes() if s.state == cri.SANDBOX_READY]
        running = [c for c in node.containers() if c.state == cri.CONTAINER_RUNNING]
        return not sandboxes_ready and not running

    wait_for(stopped, 120, "the sandbox stopped in the shim")
    assert container_id in {c.id for c in node.containers()}  # stopped, not yet removed


def test_a_prestop_outliving_the_grace_period_is_cut_off(node: KubeletNode) -> None:
    """Grace 3 s, a preStop of 600 s: the kubelet stops the container once the grace
    period is spent (plus its 2 s minimum), long before the preStop would have ended."""
    log = prestop_pod(node, "prestop-long", grace=3, pre_delay=600)
    node.remove_pod("prestop-long")
    wait_line(log, "preStop started")
    wait_line(log, "SIGTERM", timeout=240)
    wait_for(lambda: not node.containers("prestop-long"), 120, "the container removed")
    assert "preStop done" not in texts(log)
    lines = {text: at for at, text in stamped(log)}
    # Cut off on time: SIGTERM came well before the preStop's own end (half of it, as a
    # margin a loaded machine cannot use up; it takes about 5 s).
    assert lines["SIGTERM"] - lines["preStop started"] < 300


# -- postStart failures -------------------------------------------------------------------

FAILING_POSTSTART = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: __NAMESPACE__}}
spec:
  terminationGracePeriodSeconds: 2
  volumes:
  - name: data
    hostPath: {{path: __DATA__/{name}, type: DirectoryOrCreate}}
  containers:
  - name: main
    image: __IMAGE__
    volumeMounts: [{{name: data, mountPath: /data}}]
    command: ["/bin/sh", "-c", "trap 'exit 0' TERM; {started}; sleep 3600 & wait"]
    lifecycle:
      postStart:
{handler}
"""

EXEC_FAILS = """\
        exec: {command: ["/bin/sh", "-c", "exit 3"]}"""


def http_get_closed(port: int) -> str:
    return f"""\
        httpGet: {{host: 127.0.0.1, port: {port}, path: /hook}}"""


@pytest.mark.parametrize("handler", ["exec", "httpGet"])
def test_a_failing_poststart_gets_the_container_killed_and_restarted(
    node: KubeletNode, handler: str
) -> None:
    name = f"poststart-fails-{handler.lower()}"
    text = EXEC_FAILS if handler == "exec" else http_get_closed(free_port())
    node.add_pod(name, FAILING_POSTSTART.format(name=name, started=stamp("started"), handler=text))

    def restarted() -> bool:
        status = node.container_status(name, "main")
        return status is not None and status["restartCount"] >= 1

    wait_for(restarted, 120, f"{name} restarted by the kubelet")
    log = node.data / name / "log"
    wait_for(lambda: texts(log).count("started") >= 2, 120, "a second start of the entrypoint")
    attempts = sorted(c.metadata.attempt for c in node.containers(name))
    assert attempts
    assert attempts[-1] >= 1
    # Every attempt but the newest was killed by the kubelet, not left running.
    running = [c for c in node.containers(name) if c.state == cri.CONTAINER_RUNNING]
    assert len(running) <= 1


# -- CrashLoopBackOff -----------------------------------------------------------------------

CRASHING = """
apiVersion: v1
kind: Pod
metadata: {name: crashloop, namespace: __NAMESPACE__}
spec:
  restartPolicy: Always
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: __IMAGE__
    command: ["/bin/sh", "-c", "exit 1"]
"""


def test_a_crashing_container_goes_into_crashloopbackoff_with_growing_backoff(
    node: KubeletNode,
) -> None:
    node.add_pod("crashloop", CRASHING)
    # Attempt -> when the shim first saw it (the kubelet garbage-collects old attempts,
    # so they are recorded as they appear, from each container's creation time).
    created: dict[int, int] = {}
    reasons: set[str] = set()

    def third_attempt() -> bool:
        for container in node.containers("crashloop"):
            created.setdefault(container.metadata.attempt, container.created_at)
        status = node.container_status("crashloop", "main") or {}
        waiting = status.get("state", {}).get("waiting")
        if waiting:
            reasons.add(waiting.get("reason", ""))
        return len(created) >= 4

    wait_for(third_attempt, 240, "four attempts of the crashing container", every=0.5)
    assert "CrashLoopBackOff" in reasons
    starts = [created[a] / 1e9 for a in sorted(created)][:4]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    print(f"crash-loop gaps between attempts: {[round(g, 1) for g in gaps]}")
    # Back-off doubles (10 s, 20 s, 40 s in the kubelet): each wait longer than the one before.
    assert gaps[1] > gaps[0]
    assert gaps[2] > gaps[1]


# -- the kubelet's logs endpoint --------------------------------------------------------------

LOGGER = """
apiVersion: v1
kind: Pod
metadata: {name: logger, namespace: __NAMESPACE__}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: __IMAGE__
    command: ["/bin/sh", "-c", "echo first line; echo to stderr >&2; echo last line; sleep 3600"]
"""


def test_container_logs_through_the_kubelet_api(node: KubeletNode) -> None:
    node.add_pod("logger", LOGGER)
    node.wait_running("logger", "main")

    seen: list[str] = []

    def logged() -> str | None:
        try:
            text = node.container_logs("logger", "main")
        except urllib.error.HTTPError as exc:  # 404 until the kubelet has the container
            if exc.code != 404:
                raise
            seen.append(f"404 {exc.read()[:200]!r}")
            return None
        seen.append(text)
        return text if text.count("\n") >= 3 else None

    try:
        text = wait_for(logged, 90, "the container's output from /containerLogs")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last answers: {seen[-3:]}") from None
    # Both streams, every line; their interleaving is the shim's copy order, not checked.
    assert sorted(text.splitlines()) == ["first line", "last line", "to stderr"]


# -- restarts under a running kubelet ----------------------------------------------------------

STEADY = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: __NAMESPACE__}}
spec:
  terminationGracePeriodSeconds: 2
  volumes:
  - name: data
    hostPath: {{path: __DATA__/{name}, type: DirectoryOrCreate}}
  containers:
  - name: main
    image: __IMAGE__
    volumeMounts: [{{name: data, mountPath: /data}}]
    command: ["/bin/sh", "-c", "trap 'exit 0' TERM; {started}; sleep 3600 & wait"]
"""


def steady_pod(node: KubeletNode, name: str) -> tuple[str, str]:
    node.add_pod(name, STEADY.format(name=name, started=stamp("started")))
    node.wait_running(name, "main")
    (container,) = node.containers(name)
    return container.pod_sandbox_id, container.id


def test_a_kill_9_and_restart_of_the_shim_leaves_pods_running(node: KubeletNode) -> None:
    sandbox_id, container_id = steady_pod(node, "survivor")
    node.drop_channel()
    node.shim.kill()
    # The kubelet notices a missing runtime within a few of its relists.
    time.sleep(5)
    node.shim.start()
    node.wait_running("survivor", "main")
    # Two more relists with the runtime back, so a re-creation would have happened by now.
    time.sleep(5)
    node.wait_running("survivor", "main")
    containers = node.containers("survivor")
    assert [(c.id, c.pod_sandbox_id, c.metadata.attempt) for c in containers] == [
        (container_id, sandbox_id, 0)
    ]
    assert [s.id for s in node.sandboxes()] == [sandbox_id]
    assert texts(node.data / "survivor" / "log") == ["started"]
    status = node.container_status("survivor", "main")
    assert status is not None
    assert status["restartCount"] == 0


def test_a_restarted_kubelet_adopts_its_pods(node: KubeletNode) -> None:
    sandbox_id, container_id = steady_pod(node, "adopted")
    assert node.process is not None
    node.process.send_signal(signal.SIGKILL)
    node.process.wait(timeout=30)
    node.start_kubelet()
    node.wait_running("adopted", "main")
    time.sleep(5)  # a few sync loops of the new kubelet
    node.wait_running("adopted", "main")
    assert [(c.id, c.metadata.attempt) for c in node.containers("adopted")] == [(container_id, 0)]
    assert [s.id for s in node.sandboxes()] == [sandbox_id]
    assert texts(node.data / "adopted" / "log") == ["started"]


# -- exec through the kubelet ---------------------------------------------------------------


def processes(node: KubeletNode, pod: str) -> list[str]:
    """The container's processes as "<pid> <args>", but for the ps that lists them."""
    (container,) = node.containers(pod)
    listed = node.runtime.ExecSync(
        cri.ExecSyncRequest(container_id=container.id, cmd=["ps", "-o", "pid,args"], timeout=30),
        timeout=60,
    )
    assert listed.exit_code == 0, listed.stderr
    rows = [" ".join(line.split()) for line in listed.stdout.decode().splitlines()[1:]]
    return [row for row in rows if not row.split(" ", 1)[1].startswith("ps ")]


def test_exec_through_the_kubelet_api(node: KubeletNode) -> None:
    """GET /exec/<namespace>/<pod>/<container>?command=... upgraded to a WebSocket on the
    kubelet's API, the path `kubectl exec` takes: the kubelet asks the shim for a streaming
    URL and proxies the connection there."""
    steady_pod(node, "execed")
    before = processes(node, "execed")
    result = node.exec("execed", "main", ["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert result.protocol == "v4.channel.k8s.io"
    assert (result.stdout, result.stderr) == (b"out\n", b"err\n")
    assert result.status["status"] == "Failure"
    assert result.status["reason"] == "NonZeroExitCode"
    assert result.status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    # The command is gone, and the container is as it was.
    assert processes(node, "execed") == before
    node.wait_running("execed", "main")
    status = node.container_status("execed", "main")
    assert status is not None
    assert status["restartCount"] == 0
