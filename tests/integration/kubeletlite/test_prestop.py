"""preStop and termination: preStop before StopContainer within one grace-period budget,
failures reported, exited containers left alone, containers killed in parallel, and the
sandbox gone at the end."""

from __future__ import annotations

import asyncio
import signal

import pytest

from tests.integration.kubeletlite.helpers import (
    events,
    marks,
    run,
    seconds,
    timed_cli,
    wait_file,
    wait_started,
)
from tests.support.kubeletlite import KubeletLite

SLEEPER = "trap 'exit 0' TERM; sleep 3600 & wait"


def pod(name: str, grace: int, pre_stop: str | None, *, extra: str = "") -> str:
    """A host-network pod whose one container stops at once on SIGTERM."""
    lifecycle = ""
    if pre_stop is not None:
        lifecycle = f"""
    lifecycle:
      preStop:
        exec:
          command: ["sh", "-c", "{pre_stop}"]"""
    return f"""
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: __NAMESPACE__
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: {grace}{extra}
  volumes:
  - name: data
    hostPath: {{path: __DATA__, type: DirectoryOrCreate}}
  containers:
  - name: app
    image: __IMAGE__
    volumeMounts: [{{name: data, mountPath: /data}}]
    command: ["sh", "-c", "{SLEEPER}"]{lifecycle}
"""


async def delete(lite: KubeletLite, name: str, *args: str) -> float:
    result, took = await timed_cli(lite, "delete", "pod", name, "-n", lite.namespace, *args)
    assert (result.returncode, result.stdout) == (0, f'pod "{name}" deleted\n'), result
    return took


def stop_note(lite: KubeletLite, name: str) -> str:
    (stop,) = marks(lite, name, "stop.begin")
    return str(stop["note"])


async def test_delete_runs_prestop_then_stop_with_the_rest_of_the_grace_period(
    kubeletlite: KubeletLite,
) -> None:
    """terminationGracePeriodSeconds 30, a preStop of 3 s: StopContainer gets what is left.

    The exact arithmetic is decided with a fake clock (tests/fast/kubeletlite/test_podworker.py);
    here the preStop's real seconds, however long a loaded machine makes them, are deducted."""
    agent = await run(kubeletlite, kubeletlite.manifest(pod("graceful", 30, "sleep 3")))
    await wait_started(kubeletlite, "graceful", "app")
    (sandbox,) = await kubeletlite.sandboxes()

    await delete(kubeletlite, "graceful")
    order = [m["what"] for m in marks(kubeletlite, "graceful")]
    assert order[-5:] == ["preStop.begin", "preStop.end", "stop.begin", "stop.end", "exited"]
    timeline = {m["what"]: m for m in marks(kubeletlite, "graceful")}
    assert seconds(timeline["preStop.end"]) - seconds(timeline["preStop.begin"]) >= 3.0
    assert timeline["preStop.end"]["ok"] is True
    used = int(seconds(timeline["preStop.end"]) - seconds(timeline["preStop.begin"]))
    assert stop_note(kubeletlite, "graceful") in {
        f"StopContainer with {30 - n}s" for n in (used, used + 1)
    }
    (killing,) = events(kubeletlite, "graceful", "Killing")
    assert killing["message"] == "Stopping container app"
    assert seconds(killing) <= seconds(timeline["preStop.begin"])

    # The sandbox is stopped and removed; the pod is gone from `get pods`.
    assert await kubeletlite.sandboxes() == []
    assert not await kubeletlite.containers()
    listed = await kubeletlite.cli("get", "pods", "-n", kubeletlite.namespace)
    # As kubectl, the notice goes to stderr: stdout (what scripts read) stays empty.
    assert (listed.stdout, listed.stderr.strip()) == (
        "",
        f"No resources found in {kubeletlite.namespace} namespace.",
    )
    assert await kubeletlite.wait_exit(agent) != 0
    assert f"pod/{kubeletlite.namespace}/graceful Deleted" in kubeletlite.agent_log()
    assert sandbox.id not in {s.id for s in await kubeletlite.sandboxes()}


async def test_prestop_beyond_the_grace_period_and_grace_period_override(
    kubeletlite: KubeletLite,
) -> None:
    """A preStop longer than the grace period is abandoned, StopContainer gets the 2 s floor;
    `delete --grace-period N` replaces the pod's own grace period."""
    text = pod("abandoned", 2, "sleep 10") + "---" + pod("overridden", 30, None)
    agent = await run(kubeletlite, kubeletlite.manifest(text))
    await wait_started(kubeletlite, "abandoned", "app")
    await wait_started(kubeletlite, "overridden", "app")

    await asyncio.gather(
        delete(kubeletlite, "abandoned"), delete(kubeletlite, "overridden", "--grace-period", "4")
    )
    begin, end = (
        marks(kubeletlite, "abandoned", what)[0] for what in ("preStop.begin", "preStop.end")
    )
    assert end["ok"] is False
    assert end["note"] == "abandoned: still running after the 2s grace period"
    # The grace period's timer starts just before the begin mark is written. (The exact
    # arithmetic is decided with a fake clock in tests/fast/kubeletlite/test_podworker.py.)
    assert seconds(end) - seconds(begin) >= 1.9
    assert stop_note(kubeletlite, "abandoned") == "StopContainer with 2s"
    assert stop_note(kubeletlite, "overridden") == "StopContainer with 4s"
    assert await kubeletlite.sandboxes() == []
    assert await kubeletlite.wait_exit(agent) != 0


async def test_failed_prestop_is_reported_and_the_container_still_stopped(
    kubeletlite: KubeletLite,
) -> None:
    manifest = kubeletlite.manifest(pod("failing", 5, "echo cannot drain; exit 1"))
    agent = await run(kubeletlite, manifest)
    await wait_started(kubeletlite, "failing", "app")
    await delete(kubeletlite, "failing")

    (failed,) = events(kubeletlite, "failing", "FailedPreStopHook")
    assert failed["message"] == "PreStopHook failed"
    assert failed["details"]["exitCode"] == 1
    assert failed["details"]["output"] == "cannot drain\n"
    timeline = [(m["what"], m["ok"]) for m in marks(kubeletlite, "failing")]
    assert timeline[-5:] == [
        ("preStop.begin", None),
        ("preStop.end", False),
        ("stop.begin", None),
        ("stop.end", None),
        ("exited", True),  # it traps SIGTERM and exits 0
    ]
    assert await kubeletlite.sandboxes() == []
    assert await kubeletlite.wait_exit(agent) != 0


EXITS_AT_ONCE = """
apiVersion: v1
kind: Pod
metadata:
  name: done
  namespace: __NAMESPACE__
spec:
  hostNetwork: true
  restartPolicy: Never
  terminationGracePeriodSeconds: 5
  volumes:
  - name: data
    hostPath: {path: __DATA__, type: DirectoryOrCreate}
  containers:
  - name: app
    image: __IMAGE__
    command: ["sh", "-c", "echo finished"]
    volumeMounts: [{name: data, mountPath: /data}]
    lifecycle:
      preStop:
        exec:
          command: ["sh", "-c", "touch /data/prestop-ran"]
"""


async def test_no_prestop_for_a_container_that_already_exited(kubeletlite: KubeletLite) -> None:
    """A completed pod (exit 0, restartPolicy Never): `run` exits 0, and deleting it later
    runs no preStop: there is nothing to stop (kubernetes/kubernetes#55807)."""
    agent = await run(kubeletlite, kubeletlite.manifest(EXITS_AT_ONCE))
    assert await kubeletlite.wait_exit(agent) == 0
    assert f"pod/{kubeletlite.namespace}/done Succeeded" in kubeletlite.agent_log()
    assert len(await kubeletlite.sandboxes()) == 1  # kept, with its container, for the logs

    await delete(kubeletlite, "done")
    assert not (kubeletlite.data_dir / "prestop-ran").exists()
    assert not marks(kubeletlite, "done", "preStop.begin")
    assert not events(kubeletlite, "done", "Killing")
    assert await kubeletlite.sandboxes() == []


TWO_SLOW_STOPPERS = f"""
apiVersion: v1
kind: Pod
metadata:
  name: pair
  namespace: __NAMESPACE__
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 10
  containers:
  - name: left
    image: __IMAGE__
    command: ["sh", "-c", "{SLEEPER}"]
    lifecycle:
      preStop:
        exec: {{command: ["sleep", "2"]}}
  - name: right
    image: __IMAGE__
    command: ["sh", "-c", "{SLEEPER}"]
    lifecycle:
      preStop:
        exec: {{command: ["sleep", "2"]}}
"""


async def test_containers_are_killed_in_parallel(kubeletlite: KubeletLite) -> None:
    agent = await run(kubeletlite, kubeletlite.manifest(TWO_SLOW_STOPPERS))
    await wait_started(kubeletlite, "pair", "left", "right")
    await delete(kubeletlite, "pair")

    # In parallel, both preStops begin before either ends; one after the other, the first
    # would end (2 s later) before the second begins. The timing is decided with a fake
    # clock in tests/fast/kubeletlite/test_podworker.py.
    order = [m["what"] for m in marks(kubeletlite, "pair") if m["what"].startswith("preStop.")]
    assert order == ["preStop.begin", "preStop.begin", "preStop.end", "preStop.end"]
    assert len(marks(kubeletlite, "pair", "stop.end")) == 2
    assert {e["container"] for e in events(kubeletlite, "pair", "Killing")} == {"left", "right"}
    assert await kubeletlite.wait_exit(agent) != 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
async def test_signal_terminates_the_pods_of_run_gracefully(
    kubeletlite: KubeletLite, signum: signal.Signals
) -> None:
    manifest = kubeletlite.manifest(pod("foreground", 5, "echo bye > /data/prestop-ran"))
    agent = await run(kubeletlite, manifest)
    await wait_started(kubeletlite, "foreground", "app")

    agent.send_signal(signum)
    assert await kubeletlite.wait_exit(agent, timeout=30) == 1  # Deleted is not Succeeded
    assert await wait_file(kubeletlite.data_dir / "prestop-ran") == "bye\n"
    order = [m["what"] for m in marks(kubeletlite, "foreground")]
    assert order[-5:] == ["preStop.begin", "preStop.end", "stop.begin", "stop.end", "exited"]
    assert [e["reason"] for e in events(kubeletlite, "foreground")][-1] == "Killing"
    assert await kubeletlite.sandboxes() == []
    assert f"pod/{kubeletlite.namespace}/foreground Deleted" in kubeletlite.agent_log()
