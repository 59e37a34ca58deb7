"""The pod's one owner of changing state: each transition, and the views it leaves."""

import pytest

from criapi.runtime.v1 import api_pb2 as cri
from kubeletlite import manifest as m
from kubeletlite.pods.podmachine import ContainerState, PodState
from kubeletlite.state import podstate

SPEC = m.Container(name="app", image="busybox:1.36", image_pull_policy="IfNotPresent")


def exited(container_id: str, exit_code: int = 1) -> cri.ContainerStatus:
    return cri.ContainerStatus(id=container_id, state=cri.CONTAINER_EXITED, exit_code=exit_code)


def running(container_id: str) -> cri.ContainerStatus:
    return cri.ContainerStatus(id=container_id, state=cri.CONTAINER_RUNNING)


def pod(policy: str = "Always", names: tuple[str, ...] = ("a", "b")) -> m.Pod:
    containers = tuple(
        m.Container(name=n, image="busybox:1.36", image_pull_policy="IfNotPresent") for n in names
    )
    return m.Pod(
        name="web",
        namespace="shop",
        uid="u-1",
        spec=m.PodSpec(containers=containers, restart_policy=policy),
    )


def test_a_new_container_state_has_no_container_and_waits_for_its_first_start() -> None:
    state = ContainerState(SPEC)
    assert (state.container_id, state.attempt, state.status) == ("", -1, None)
    assert state.next_attempt() == 0
    assert podstate.awaiting_first_start(state.view)
    assert state.view.name == "app"
    assert state.view.image == "busybox:1.36"


def test_created_follows_the_new_container_and_forgets_the_last_hook_error() -> None:
    state = ContainerState(SPEC)
    state.created("c0", 0)
    state.post_start_failed("hook failed")
    assert (state.view.waiting_reason, state.view.hook_error) == (
        "PostStartHookError",
        "hook failed",
    )
    old_event = state.terminated
    state.created("c1", 1)
    assert (state.container_id, state.attempt, state.status) == ("c1", 1, None)
    assert (state.view.waiting_reason, state.view.hook_error) == ("ContainerCreating", "")
    assert state.terminated is not old_event
    assert not state.terminated.is_set()
    state.container_started()
    assert state.view.waiting_reason == ""


def test_an_exit_is_reported_once_per_container_and_ends_started() -> None:
    state = ContainerState(SPEC)
    state.created("c0", 0)
    assert state.observed(running("c0")) is False
    state.start_completed()
    assert state.started
    assert state.running
    assert state.observed(exited("c0")) is True
    assert state.observed(exited("c0")) is False  # the next relist: the same exit
    assert not state.started
    assert state.exited
    assert state.terminated.is_set()
    state.created("c1", 1)
    assert state.observed(exited("c1")) is True  # a new container's exit is news


def test_back_off_is_reported_once_per_container_and_sets_the_retry_time() -> None:
    state = ContainerState(SPEC)
    state.created("c0", 0)
    state.observed(exited("c0"))
    assert state.backing_off("back-off 10s", retry_at=110.0) is True
    assert state.backing_off("back-off 8s", retry_at=110.0) is False
    assert (state.view.waiting_reason, state.view.waiting_message) == (
        "CrashLoopBackOff",
        "back-off 8s",
    )
    assert state.retry_at == 110.0
    state.created("c1", 1)
    state.observed(exited("c1"))
    assert state.backing_off("back-off 20s", retry_at=140.0) is True


def test_start_failed_says_why_and_when_to_retry() -> None:
    state = ContainerState(SPEC)
    state.start_failed("ErrImagePull", "no such image", retry_at=42.0)
    assert (state.view.waiting_reason, state.view.waiting_message) == (
        "ErrImagePull",
        "no such image",
    )
    assert state.retry_at == 42.0


def test_starting_lasts_the_block_even_when_it_fails() -> None:
    state = ContainerState(SPEC)
    seen: list[bool] = []

    def attempt() -> None:
        with state.starting_attempt():
            seen.append(state.starting and state.view.starting)
            raise RuntimeError

    with pytest.raises(RuntimeError):
        attempt()
    assert seen == [True]
    assert not state.starting


def test_vanished_and_exit_recorded() -> None:
    state = ContainerState(SPEC)
    state.created("c0", 0)
    state.observed(exited("c0"))
    state.exit_recorded("bye")
    assert state.view.termination_message == "bye"
    state.vanished()
    assert (state.container_id, state.status, state.attempt) == ("", None, 0)


def test_a_replaced_sandbox_keeps_attempts_so_the_next_container_is_a_restart() -> None:
    state = PodState(pod())
    state.sandbox.created("s0")
    a, b = state.containers
    a.created("a0", 0)
    a.observed(running("a0"))
    a.start_completed()
    b.created("b0", 0)
    state.sandbox.removed()
    state.sandbox_replaced()
    assert (state.sandbox.id, state.sandbox.attempt) == ("", 1)
    for container in (a, b):
        assert (container.container_id, container.status, container.started) == ("", None, False)
        assert container.terminated.is_set()
        assert container.next_attempt() == 1


def test_the_phase_is_computed_from_the_views_and_reported_in_the_status() -> None:
    state = PodState(pod("Never"))
    assert state.update_phase() == podstate.PENDING
    a, b = state.containers
    for container, cid in ((a, "a0"), (b, "b0")):
        container.created(cid, 0)
        container.observed(running(cid))
        container.start_completed()
    assert state.all_started()
    assert state.update_phase() == podstate.RUNNING
    a.observed(exited("a0", 0))
    b.observed(exited("b0", 2))
    assert state.phase == podstate.RUNNING  # the reported phase changes on update only
    assert state.update_phase() == podstate.FAILED
    state.sandbox.created("s0")
    state.sandbox.observed("10.88.0.9")
    status = state.status(terminating=False)
    assert (status.phase, status.pod_ip, status.sandbox_id) == ("Failed", "10.88.0.9", "s0")
    assert [(c.name, c.state, c.exit_code) for c in status.containers] == [
        ("a", "terminated", 0),
        ("b", "terminated", 2),
    ]
    state.deleted()
    assert state.status(terminating=True).phase == podstate.DELETED


def test_a_terminating_pod_reports_exited_containers_as_terminated() -> None:
    state = PodState(pod("Always", ("a",)))
    (a,) = state.containers
    a.created("a0", 0)
    a.observed(exited("a0", 0))
    assert state.status(terminating=False).containers[0].state == "waiting"
    assert state.status(terminating=True).containers[0].state == "terminated"


def test_sandbox_transitions() -> None:
    state = PodState(pod())
    sandbox = state.sandbox
    sandbox.adopted("s3", 3)
    config = cri.PodSandboxConfig()
    sandbox.configured(config, {"data": "/v/data"})
    assert (sandbox.id, sandbox.attempt, sandbox.config) == ("s3", 3, config)
    paths = sandbox.volume_paths
    paths["other"] = "/x"  # a copy: the owner's map does not change behind its back
    assert sandbox.volume_paths == {"data": "/v/data"}
