"""The pod worker and container lifecycle against the recording fake runtime, in virtual time.

These decide the timing behaviour (start order, postStart concurrency,
back-off, grace arithmetic) exactly, without dockerd and without waiting:
the integration suite keeps one real end-to-end run of each.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kubeletlite.settings import AgentOptions
from kubeletlite.state.podstate import DELETED, FAILED, SUCCEEDED
from tests.support import virtualtime
from tests.support.fakenode import fake_node, worker_for
from tests.support.fakeruntime import Behaviour, ExecScript, FakeRuntime

IMAGE = "127.0.0.1:5000/busybox:1.35"


def pod_yaml(policy: str, containers: str, grace: int = 30) -> str:
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: fast, namespace: fast-tests}}
spec:
  restartPolicy: {policy}
  terminationGracePeriodSeconds: {grace}
  containers:
{containers}
"""


def container(name: str, lifecycle: str = "") -> str:
    text = f"  - name: {name}\n    image: {IMAGE}\n"
    if lifecycle:
        text += f"    lifecycle: {lifecycle}\n"
    return text


def runtime_with(**behaviours: Behaviour) -> FakeRuntime:
    runtime = FakeRuntime(images={IMAGE})
    runtime.behaviours.update(behaviours)
    return runtime


async def wait_until(predicate, within: float = 600.0) -> None:
    """Poll in virtual time (costs nothing real) until ``predicate()``."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 (virtual time: polling costs nothing)
            await asyncio.sleep(0.5)


def supervise(
    runtime: FakeRuntime,
    root: Path,
    yaml: str,
    *,
    options: AgentOptions | None = None,
    until=None,
    grace: int | None = None,
) -> str:
    """Run the pod's worker in virtual time to its end, or until ``until()``, then delete it."""

    async def main() -> str:
        async with fake_node(runtime, root, options) as node:
            worker = worker_for(yaml, node)
            task = asyncio.create_task(worker.run())
            if until is not None:
                await wait_until(until)
                worker.request_termination(grace)
            return await task

    return virtualtime.run(main())


def test_containers_start_in_order_each_after_the_previous_post_start(tmp_path: Path) -> None:
    runtime = runtime_with(a=Behaviour(exit_after=60), b=Behaviour(exit_after=60))
    runtime.execs[("a", ("setup",))] = ExecScript(takes=5.0)
    yaml = pod_yaml(
        "Never",
        container("a", "{postStart: {exec: {command: [setup]}}}") + container("b"),
    )

    assert supervise(runtime, tmp_path, yaml) == SUCCEEDED
    (a_started,) = runtime.when("started", "a")
    (hook_began,) = runtime.when("exec:setup", "a")
    (hook_done,) = runtime.when("exec-done:setup", "a")
    (b_created,) = runtime.when("created", "b")
    # postStart runs alongside a's entrypoint: it begins once a is running, not after it ends.
    assert a_started <= hook_began < a_started + 60
    assert hook_done == pytest.approx(hook_began + 5.0)
    # SyncPod order: b is not even created before a's postStart completed.
    assert b_created >= hook_done


def test_parallel_start_does_not_wait_for_post_start(tmp_path: Path) -> None:
    runtime = runtime_with(a=Behaviour(exit_after=60), b=Behaviour(exit_after=60))
    runtime.execs[("a", ("setup",))] = ExecScript(takes=5.0)
    yaml = pod_yaml(
        "Never",
        container("a", "{postStart: {exec: {command: [setup]}}}") + container("b"),
    )

    assert (
        supervise(runtime, tmp_path, yaml, options=AgentOptions(parallel_start=True)) == SUCCEEDED
    )
    (hook_done,) = runtime.when("exec-done:setup", "a")
    (b_started,) = runtime.when("started", "b")
    assert b_started < hook_done


def test_a_failed_post_start_kills_its_container(tmp_path: Path) -> None:
    runtime = runtime_with(a=Behaviour())
    runtime.execs[("a", ("setup",))] = ExecScript(takes=1.0, exit_code=3)
    yaml = pod_yaml("Never", container("a", "{postStart: {exec: {command: [setup]}}}"))

    assert supervise(runtime, tmp_path, yaml) == FAILED
    (hook_done,) = runtime.when("exec-done:setup", "a")
    (stopped,) = runtime.when("sigterm", "a")
    assert stopped >= hook_done
    assert len(runtime.when("created", "a")) == 1  # restartPolicy Never: no second attempt


def test_crash_loop_back_off_doubles_from_the_initial_delay(tmp_path: Path) -> None:
    runtime = runtime_with(crash=Behaviour(exit_after=1.0, exit_code=1))
    yaml = pod_yaml("Always", container("crash"))
    relist = 1.0

    assert (
        supervise(
            runtime,
            tmp_path,
            yaml,
            options=AgentOptions(relist_period=relist),
            until=lambda: len(runtime.when("started", "crash")) >= 6,
        )
        == DELETED
    )
    starts = runtime.when("started", "crash")
    exits = runtime.when("exited", "crash")
    waits = [start - exit for exit, start in zip(exits, starts[1:], strict=False)]
    # First restart at once (noticed within one relist), then 10, 20, 40, 80 s after the exit.
    assert waits[0] <= relist
    for wait, expected in zip(waits[1:5], [10, 20, 40, 80], strict=True):
        assert expected <= wait <= expected + relist


def test_on_failure_does_not_restart_a_container_that_succeeded(tmp_path: Path) -> None:
    runtime = runtime_with(ok=Behaviour(exit_after=2.0), bad=Behaviour(exit_after=1.0, exit_code=2))
    yaml = pod_yaml("OnFailure", container("ok") + container("bad"))

    assert (
        supervise(
            runtime,
            tmp_path,
            yaml,
            options=AgentOptions(backoff_initial=1.0),
            until=lambda: len(runtime.when("started", "bad")) >= 3,
        )
        == DELETED
    )
    assert len(runtime.when("started", "ok")) == 1


def test_pre_stop_time_is_taken_from_the_grace_period(tmp_path: Path) -> None:
    runtime = runtime_with(web=Behaviour())
    runtime.execs[("web", ("drain",))] = ExecScript(takes=7.0)
    yaml = pod_yaml("Always", container("web", "{preStop: {exec: {command: [drain]}}}"), grace=30)

    assert (
        supervise(runtime, tmp_path, yaml, until=lambda: runtime.when("started", "web")) == DELETED
    )
    (stop,) = runtime.calls_to("stop_container")
    assert stop.args[1] == 30 - 7
    (hook_done,) = runtime.when("exec-done:drain", "web")
    assert stop.at == pytest.approx(hook_done)


def test_a_pre_stop_outliving_the_grace_period_leaves_the_minimum_for_stop(
    tmp_path: Path,
) -> None:
    runtime = runtime_with(web=Behaviour())
    runtime.execs[("web", ("drain",))] = ExecScript(takes=100.0)
    yaml = pod_yaml("Always", container("web", "{preStop: {exec: {command: [drain]}}}"), grace=10)

    async def main() -> float:
        async with fake_node(runtime, tmp_path) as node:
            worker = worker_for(yaml, node)
            task = asyncio.create_task(worker.run())
            await wait_until(lambda: runtime.when("started", "web"))
            asked = virtualtime.now()
            worker.request_termination()
            await task
            return asked

    asked = virtualtime.run(main())
    (stop,) = runtime.calls_to("stop_container")
    assert stop.args[1] == 2  # the kubelet's minimum grace
    assert stop.at - asked == pytest.approx(10.0, abs=0.5)


def test_a_deletion_grace_override_replaces_the_spec_grace(tmp_path: Path) -> None:
    runtime = runtime_with(web=Behaviour())
    yaml = pod_yaml("Always", container("web"), grace=30)

    assert (
        supervise(runtime, tmp_path, yaml, until=lambda: runtime.when("started", "web"), grace=5)
        == DELETED
    )
    (stop,) = runtime.calls_to("stop_container")
    assert stop.args[1] == 5


def test_a_new_worker_adopts_the_running_pod_instead_of_recreating_it(tmp_path: Path) -> None:
    runtime = runtime_with(web=Behaviour())
    yaml = pod_yaml("Always", container("web", "{postStart: {exec: {command: [setup]}}}"))

    async def main() -> None:
        async with fake_node(runtime, tmp_path) as node:
            first = asyncio.create_task(worker_for(yaml, node).run())
            await wait_until(lambda: runtime.when("exec-done:setup", "web"))
            await asyncio.sleep(2)  # the timeline has postStart.end
            first.cancel()  # kubelet-lite dies; the pod keeps running
            await asyncio.gather(first, return_exceptions=True)
            runtime.calls.clear()
            second = worker_for(yaml, node)
            task = asyncio.create_task(second.run())
            await asyncio.sleep(10)
            assert [s.started for s in second.containers] == [True]
            second.request_termination()
            await task

    virtualtime.run(main())
    assert not runtime.calls_to("run_pod_sandbox")
    assert not runtime.calls_to("create_container")
    # postStart completed before the crash: it is not run again.
    assert not [c for c in runtime.calls_to("exec_sync") if c.args[1] == ("setup",)]


def test_an_interrupted_post_start_runs_once_after_adoption(tmp_path: Path) -> None:
    runtime = runtime_with(web=Behaviour())
    runtime.execs[("web", ("setup",))] = ExecScript(takes=50.0)
    yaml = pod_yaml("Always", container("web", "{postStart: {exec: {command: [setup]}}}"))

    async def main() -> None:
        async with fake_node(runtime, tmp_path) as node:
            first = asyncio.create_task(worker_for(yaml, node).run())
            await wait_until(lambda: runtime.when("exec:setup", "web"))
            first.cancel()
            await asyncio.gather(first, return_exceptions=True)
            second = worker_for(yaml, node)
            task = asyncio.create_task(second.run())
            await wait_until(lambda: len(runtime.when("exec-done:setup", "web")) >= 1)
            await asyncio.sleep(5)
            second.request_termination()
            await task

    virtualtime.run(main())
    assert len(runtime.when("created", "web")) == 1
    assert len(runtime.when("exec:setup", "web")) == 2  # interrupted, then resumed once


def test_deleting_a_pod_forgets_its_back_off_entries(tmp_path: Path) -> None:
    runtime = runtime_with(crash=Behaviour(exit_after=1.0, exit_code=1))
    yaml = pod_yaml("Always", container("crash"))

    async def main() -> int:
        async with fake_node(runtime, tmp_path) as node:
            worker = worker_for(yaml, node)
            task = asyncio.create_task(worker.run())
            await wait_until(lambda: len(runtime.when("started", "crash")) >= 3)
            assert node.backoff.entries() != 0
            worker.request_termination()
            await task
            return node.backoff.entries()

    assert virtualtime.run(main()) == 0


def test_crash_loop_back_off_is_capped_by_its_maximum(tmp_path: Path) -> None:
    runtime = runtime_with(crash=Behaviour(exit_after=1.0, exit_code=1))
    yaml = pod_yaml("Always", container("crash"))
    options = AgentOptions(backoff_initial=10.0, backoff_max=40.0)

    assert (
        supervise(
            runtime,
            tmp_path,
            yaml,
            options=options,
            until=lambda: len(runtime.when("started", "crash")) >= 7,
        )
        == DELETED
    )
    starts, exits = runtime.when("started", "crash"), runtime.when("exited", "crash")
    waits = [start - exit for exit, start in zip(exits, starts[1:], strict=False)]
    for wait, expected in zip(waits[1:6], [10, 20, 40, 40, 40], strict=True):
        assert expected <= wait <= expected + options.relist_period


def test_containers_are_killed_in_parallel(tmp_path: Path) -> None:
    runtime = runtime_with(left=Behaviour(), right=Behaviour())
    for name in ("left", "right"):
        runtime.execs[(name, ("drain",))] = ExecScript(takes=20.0)
    hook = "{preStop: {exec: {command: [drain]}}}"
    yaml = pod_yaml("Always", container("left", hook) + container("right", hook))

    assert (
        supervise(runtime, tmp_path, yaml, until=lambda: runtime.when("started", "right"))
        == DELETED
    )
    (left_begin,), (right_begin,) = (
        runtime.when("exec:drain", "left"),
        runtime.when("exec:drain", "right"),
    )
    assert left_begin == pytest.approx(right_begin)
    stops = [call.at for call in runtime.calls_to("stop_container")]
    assert stops == pytest.approx([left_begin + 20, left_begin + 20])


def test_a_post_start_sleep_holds_the_next_container_for_its_seconds(tmp_path: Path) -> None:
    runtime = runtime_with(a=Behaviour(exit_after=60), b=Behaviour(exit_after=60))
    yaml = pod_yaml("Never", container("a", "{postStart: {sleep: {seconds: 5}}}") + container("b"))

    assert supervise(runtime, tmp_path, yaml) == SUCCEEDED
    (a_started,), (b_created,) = runtime.when("started", "a"), runtime.when("created", "b")
    assert b_created - a_started == pytest.approx(5.0)


def test_a_pre_stop_sleep_ends_when_its_container_exits(tmp_path: Path) -> None:
    runtime = runtime_with(web=Behaviour(exit_after=None))
    yaml = pod_yaml("Always", container("web", "{preStop: {sleep: {seconds: 100}}}"), grace=200)
    relist = 1.0

    async def main() -> float:
        async with fake_node(runtime, tmp_path, AgentOptions(relist_period=relist)) as node:
            worker = worker_for(yaml, node)
            task = asyncio.create_task(worker.run())
            await wait_until(lambda: runtime.when("started", "web"))
            worker.request_termination()
            await asyncio.sleep(3)
            (web,) = runtime.by_name("web")
            runtime._exit(web, 0, "Completed")  # its own process ends under the sleep
            exited = virtualtime.now()
            await task
            return exited

    exited = virtualtime.run(main())
    (stop,) = runtime.calls_to("stop_container")
    # The sleep noticed within one relist period, not after its 100 s.
    assert exited <= stop.at <= exited + relist + 0.5
    (events,) = [path.read_text() for path in (tmp_path / "state").rglob("events.jsonl")]
    assert "Killing" in events
    assert "FailedPreStopHook" not in events  # what preStop was for happened


def test_a_completed_pod_forgets_its_back_off_entries(tmp_path: Path) -> None:
    runtime = runtime_with(flaky=Behaviour(exit_after=1.0, exit_code=1))
    yaml = pod_yaml("OnFailure", container("flaky"))

    async def main() -> tuple[str, int]:
        async with fake_node(runtime, tmp_path, AgentOptions(backoff_initial=1.0)) as node:
            worker = worker_for(yaml, node)
            task = asyncio.create_task(worker.run())
            await wait_until(lambda: len(runtime.when("started", "flaky")) >= 3)
            runtime.behaviours["flaky"] = Behaviour(exit_after=1.0, exit_code=0)
            return await task, node.backoff.entries()

    assert virtualtime.run(main()) == (SUCCEEDED, 0)


def test_a_dead_sandbox_is_replaced_and_its_containers_restart_as_next_attempts(
    tmp_path: Path,
) -> None:
    runtime = runtime_with(web=Behaviour())
    yaml = pod_yaml("Always", container("web"))

    async def main() -> tuple[int, int]:
        async with fake_node(runtime, tmp_path) as node:
            worker = worker_for(yaml, node)
            task = asyncio.create_task(worker.run())
            await wait_until(lambda: worker.phase == "Running")
            first_sandbox = worker.sandbox.id
            await runtime.stop_pod_sandbox(first_sandbox)  # the sandbox dies under the pod
            await wait_until(lambda: len(runtime.when("started", "web")) == 2)
            await wait_until(lambda: worker.phase == "Running")
            assert worker.sandbox.id not in ("", first_sandbox)
            status = worker.status()
            worker.request_termination()
            await task
            return worker.sandbox.attempt, status.containers[0].restart_count

    sandbox_attempt, restart_count = virtualtime.run(main())
    assert (sandbox_attempt, restart_count) == (1, 1)
    created = runtime.calls_to("create_container")
    assert [call.args[1].metadata.attempt for call in created] == [0, 1]
    sandboxes = runtime.calls_to("run_pod_sandbox")
    assert [call.args[0].metadata.attempt for call in sandboxes] == [0, 1]
