"""`get` shows the phase the supervisor computed, and computes it with the same rules
(``podstate.compute_phase``) when no process supervises the pod. Fake runtime, virtual time."""

from __future__ import annotations

import asyncio
from pathlib import Path

from kubeletlite.state import podinfo
from tests.fast.kubeletlite.test_podworker import container, pod_yaml, runtime_with, wait_until
from tests.support import virtualtime
from tests.support.fakenode import fake_node, worker_for
from tests.support.fakeruntime import Behaviour, ExecScript


def test_the_supervisor_s_status_reads_back_as_written_and_gives_the_phase(
    tmp_path: Path,
) -> None:
    runtime = runtime_with(web=Behaviour(), job=Behaviour(exit_after=5.0))
    yaml = pod_yaml("Always", container("web") + container("job"))

    async def main() -> None:
        async with fake_node(runtime, tmp_path) as node:
            worker = worker_for(yaml, node)
            task = asyncio.create_task(worker.run())
            await wait_until(lambda: len(runtime.when("started", "job")) >= 2)
            await asyncio.sleep(2)
            written = worker.recorder.record.status()
            assert written == worker.status()
            (pod,) = await podinfo.list_pods(runtime, node.store)
            assert pod.supervised
            # Always: the job's exits are restarts, so the pod stays Running.
            assert pod.phase == worker.phase == "Running"
            assert [c.name for c in pod.containers] == ["web", "job"]
            worker.request_termination()
            await task

    virtualtime.run(main())


def test_an_unsupervised_pod_s_phase_comes_from_the_runtime_by_the_same_rules(
    tmp_path: Path,
) -> None:
    runtime = runtime_with(a=Behaviour(exit_after=30.0), b=Behaviour(exit_after=60.0, exit_code=3))
    yaml = pod_yaml("Always", container("a") + container("b"))

    async def main() -> list[str]:
        phases = []
        async with fake_node(runtime, tmp_path) as node:
            task = asyncio.create_task(worker_for(yaml, node).run())
            await wait_until(lambda: bool(runtime.when("started", "b")))
            task.cancel()  # kubelet-lite dies; the containers keep running
            await asyncio.gather(task, return_exceptions=True)
            for wait in (1.0, 40.0, 30.0):
                await asyncio.sleep(wait)
                (pod,) = await podinfo.list_pods(runtime, node.store)
                assert not pod.supervised
                phases.append(pod.phase)
        return phases

    # Both running; a exited, b running; both exited, b failed. Nobody restarts the
    # containers of an unsupervised pod, whatever its policy: the phase says so.
    assert virtualtime.run(main()) == ["Running", "Running", "Failed"]


def test_an_unsupervised_pod_whose_post_start_never_completed_is_pending(
    tmp_path: Path,
) -> None:
    runtime = runtime_with(web=Behaviour())
    runtime.execs[("web", ("setup",))] = ExecScript(takes=100.0)
    yaml = pod_yaml("Always", container("web", "{postStart: {exec: {command: [setup]}}}"))

    async def main() -> str:
        async with fake_node(runtime, tmp_path) as node:
            task = asyncio.create_task(worker_for(yaml, node).run())
            await wait_until(lambda: bool(runtime.when("exec:setup", "web")))
            await asyncio.sleep(2)  # the status shows the hook running
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            (pod,) = await podinfo.list_pods(runtime, node.store)
            (web,) = pod.containers
            assert (web.state, web.reason) == ("waiting", "ContainerCreating")
            return pod.phase

    assert virtualtime.run(main()) == "Pending"
