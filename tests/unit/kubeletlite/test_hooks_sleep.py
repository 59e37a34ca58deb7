"""The sleep and exec lifecycle handlers, and the runner's dispatch."""

import asyncio
import time
from typing import Any

import grpc
import pytest

from criapi.runtime.v1 import api_pb2 as cri
from kubeletlite import manifest as m
from kubeletlite.pods.hooks import HookResult, HookRunner, HookTarget, describe_handler
from kubeletlite.runtime.client import RuntimeCallError


class FakeRuntime:
    """ExecSync only: answers with a canned response or error, and records the calls."""

    def __init__(self, answer: cri.ExecSyncResponse | RuntimeCallError) -> None:
        self.answer = answer
        self.calls: list[tuple[str, list[str]]] = []

    async def exec_sync(
        self, container_id: str, command: list[str], limit_seconds: int = 0
    ) -> cri.ExecSyncResponse:
        self.calls.append((container_id, command))
        assert limit_seconds == 0  # hooks run without a timeout, as the kubelet's do
        if isinstance(self.answer, RuntimeCallError):
            raise self.answer
        return self.answer


def runner(runtime: Any = None) -> HookRunner:
    # Neither sleep nor exec touches HTTP.
    return HookRunner(runtime or FakeRuntime(cri.ExecSyncResponse()), http=None)  # type: ignore[arg-type]


def target(terminated: asyncio.Event | None = None) -> HookTarget:
    container = m.Container(name="c", image="busybox:1.36", image_pull_policy="IfNotPresent")
    pod = m.Pod(name="name", namespace="ns", uid="uid", spec=m.PodSpec(containers=(container,)))
    return HookTarget(pod, container, "cid-1", "10.0.0.9", terminated or asyncio.Event())


# -- sleep -----------------------------------------------------------------------------------


async def test_sleep_zero_succeeds_at_once() -> None:
    async with asyncio.timeout(5):
        result = await runner().run(m.SleepAction(0), target())
    assert result.ok
    assert result.message == ""
    assert result.details == {"seconds": 0}


async def test_sleep_succeeds_after_its_seconds() -> None:
    began = time.monotonic()
    async with asyncio.timeout(5):
        result = await runner().run(m.SleepAction(1), target())
    assert result.ok
    assert time.monotonic() - began >= 1.0
    assert result.seconds >= 1.0


async def test_sleep_fails_early_when_the_container_terminates() -> None:
    terminated = asyncio.Event()

    async def container_exits() -> None:
        assert not hook.done()
        terminated.set()

    began = time.monotonic()
    async with asyncio.timeout(5):
        hook = asyncio.create_task(runner().run(m.SleepAction(3600), target(terminated)))
        # Tasks start in order: by now the hook is waiting out its hour.
        await asyncio.create_task(container_exits())
        result = await hook
    assert not result.ok
    assert result.message == "container terminated before sleep hook finished"
    assert result.details == {"seconds": 3600}
    assert result.seconds < 5
    assert time.monotonic() - began < 5


async def test_sleep_of_an_already_terminated_container_fails() -> None:
    terminated = asyncio.Event()
    terminated.set()
    async with asyncio.timeout(5):
        result = await runner().run(m.SleepAction(30), target(terminated))
    assert not result.ok
    assert result.message == "container terminated before sleep hook finished"


async def test_cancelling_a_sleep_hook_is_not_swallowed() -> None:
    async def cancel_it() -> None:
        assert not hook.done()
        hook.cancel()

    hook = asyncio.create_task(runner().run(m.SleepAction(3600), target()))
    await asyncio.create_task(cancel_it())
    with pytest.raises(asyncio.CancelledError):
        await hook


# -- exec -------------------------------------------------------------------------------------


async def test_exec_exit_zero_is_success_with_the_output() -> None:
    runtime = FakeRuntime(cri.ExecSyncResponse(stdout=b"warmed up\n", stderr=b"note\n"))
    result = await runner(runtime).run(m.ExecAction(("sh", "-c", "warm-up")), target())
    assert result == HookResult(
        True, "", {"exitCode": 0, "output": "warmed up\nnote\n"}, result.seconds
    )
    assert runtime.calls == [("cid-1", ["sh", "-c", "warm-up"])]


async def test_exec_non_zero_exit_is_a_failure_with_the_kubelets_message() -> None:
    runtime = FakeRuntime(
        cri.ExecSyncResponse(stdout=b"out\n", stderr=b'err "quoted"\n', exit_code=3)
    )
    command = ("sh", "-c", "echo out; exit 3")
    result = await runner(runtime).run(m.ExecAction(command), target())
    assert not result.ok
    assert result.message == (
        'Exec lifecycle hook ([sh -c echo out; exit 3]) for Container "c" in Pod '
        "\"name_ns(uid)\" failed - error: command 'sh -c echo out; exit 3' exited with 3: "
        'err "quoted"\n, message: "out\\nerr \\"quoted\\"\\n"'
    )
    assert result.details == {"exitCode": 3, "output": 'out\nerr "quoted"\n'}


async def test_exec_output_that_is_not_utf8_is_replaced_not_fatal() -> None:
    runtime = FakeRuntime(cri.ExecSyncResponse(stdout=b"\xff\xfe", exit_code=1))
    result = await runner(runtime).run(m.ExecAction(("x",)), target())
    assert not result.ok
    assert result.details["output"] == "\ufffd\ufffd"


async def test_exec_runtime_error_is_a_failure() -> None:
    error = RuntimeCallError("ExecSync", grpc.StatusCode.NOT_FOUND, "container not running (cid-1)")
    result = await runner(FakeRuntime(error)).run(m.ExecAction(("true",)), target())
    assert not result.ok
    assert result.message == (
        'Exec lifecycle hook ([true]) for Container "c" in Pod "name_ns(uid)" failed - '
        'error: container not running (cid-1), message: ""'
    )
    assert result.details == {"error": "container not running (cid-1)"}


# -- descriptions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("handler", "text"),
    [
        (m.ExecAction(("sh", "-c", "exit 0")), "exec sh -c exit 0"),
        (m.SleepAction(5), "sleep 5s"),
        (m.HTTPGetAction(port=8080, path="/q"), "httpGet http://<pod IP>:8080/q"),
        (
            m.HTTPGetAction(port="admin", path="/", host="10.0.0.1", scheme="HTTPS"),
            "httpGet https://10.0.0.1:admin/",
        ),
    ],
)
def test_describe_handler(handler: m.Handler, text: str) -> None:
    assert describe_handler(handler) == text
