"""Restart policy, pod phase and reported container state: pure rules over container views."""

import pytest

from criapi.runtime.v1 import api_pb2 as cri
from kubeletlite.state import podstate, records
from kubeletlite.state.podstate import FAILED, PENDING, RUNNING, SUCCEEDED, ContainerView


def slot(
    state: str = "none",
    exit_code: int = 0,
    *,
    attempt: int = 0,
    started: bool | None = None,
    starting: bool = False,
    **fields: str,
) -> ContainerView:
    """A container whose current attempt is in ``state`` (none: no container status yet)."""
    if state == "none":
        return ContainerView(
            name="app",
            image="busybox:1.36",
            attempt=attempt if attempt else -1,
            starting=starting,
            **fields,
        )
    states = {
        "created": cri.CONTAINER_CREATED,
        "running": cri.CONTAINER_RUNNING,
        "exited": cri.CONTAINER_EXITED,
    }
    status = cri.ContainerStatus(
        id=f"c{attempt}",
        state=states[state],
        exit_code=exit_code,
        started_at=1_000,
        finished_at=2_000 if state == "exited" else 0,
        reason="Error" if exit_code else ("Completed" if state == "exited" else ""),
        image_ref="sha256:abc",
    )
    return ContainerView(
        name="app",
        image="busybox:1.36",
        container_id=f"c{attempt}",
        attempt=attempt,
        status=status,
        started=state == "running" if started is None else started,
        starting=starting,
        **fields,
    )


@pytest.mark.parametrize(
    ("policy", "exit_code", "restart"),
    [
        ("Always", 0, True),
        ("Always", 1, True),
        ("OnFailure", 0, False),
        ("OnFailure", 137, True),
        ("Never", 0, False),
        ("Never", 1, False),
    ],
)
def test_restart_policy_table(policy: str, exit_code: int, restart: bool) -> None:
    exited = slot("exited", exit_code)
    assert podstate.restart_allowed(policy, exited) is restart
    assert podstate.will_restart(policy, exited) is restart


def test_on_failure_without_a_status_does_not_restart() -> None:
    assert podstate.restart_allowed("OnFailure", slot()) is False


def test_a_container_being_started_will_restart_whatever_the_policy() -> None:
    assert podstate.will_restart("Never", slot("exited", 0, starting=True)) is True
    assert podstate.will_restart("Never", slot("running")) is False


def test_view_state_properties_and_next_attempt() -> None:
    fresh = slot()
    assert (fresh.running, fresh.exited, fresh.created_only) == (False, False, False)
    assert fresh.next_attempt() == 0
    assert slot("created").created_only
    assert slot("running").running
    third = slot("exited", 1, attempt=2)
    assert third.exited
    assert third.next_attempt() == 3


@pytest.mark.parametrize(
    ("policy", "slots", "phase"),
    [
        # Nothing started yet.
        ("Always", [slot()], PENDING),
        ("Always", [slot("created")], PENDING),
        ("Never", [slot(starting=True)], PENDING),
        # Running, postStart done.
        ("Always", [slot("running")], RUNNING),
        ("Never", [slot("running"), slot("running")], RUNNING),
        # Until every container has started, the pod is Pending (Kubernetes' "Running"
        # means all containers started); that includes a postStart still running.
        ("Always", [slot("running", started=False)], PENDING),
        ("Always", [slot("running"), slot()], PENDING),
        ("Never", [slot("exited", 0), slot(starting=True)], PENDING),
        # Finished for good.
        ("Never", [slot("exited", 0)], SUCCEEDED),
        ("OnFailure", [slot("exited", 0), slot("exited", 0)], SUCCEEDED),
        ("Never", [slot("exited", 0), slot("exited", 2)], FAILED),
        ("Never", [slot("exited", 1)], FAILED),
        # Some finished, others still running.
        ("Never", [slot("exited", 1), slot("running")], RUNNING),
        ("OnFailure", [slot("exited", 0), slot("running")], RUNNING),
        # Restarting: exited, but the policy brings it back.
        ("Always", [slot("exited", 0)], RUNNING),
        ("Always", [slot("exited", 0), slot("exited", 0)], RUNNING),
        ("OnFailure", [slot("exited", 1)], RUNNING),
        ("OnFailure", [slot("exited", 0), slot("exited", 1)], RUNNING),
        ("Never", [slot("exited", 1, starting=True)], RUNNING),
        # A later attempt being created, or in its postStart: a restart, not a first start.
        ("Always", [slot(attempt=3)], RUNNING),
        ("Always", [slot("created", attempt=1)], RUNNING),
        ("Always", [slot("running", attempt=1, started=False)], RUNNING),
        ("Always", [slot("exited", 1, attempt=4), slot("running")], RUNNING),
    ],
)
def test_compute_phase(policy: str, slots: list[ContainerView], phase: str) -> None:
    assert podstate.compute_phase(policy, slots) == phase


def test_terminal_phases() -> None:
    assert frozenset({SUCCEEDED, FAILED}) == podstate.TERMINAL


def test_status_of_a_started_running_container() -> None:
    s = slot("running", attempt=2, termination_message="old message")
    assert podstate.container_status("Always", s) == records.ContainerStatus(
        name="app",
        container_id="c2",
        restart_count=2,
        started=True,
        image="busybox:1.36",
        state="running",
        started_at=1_000,
        finished_at=0,
        exit_code=0,
        runtime_reason="",
        image_ref="sha256:abc",
        termination_message="old message",
    )


def test_running_container_whose_post_start_has_not_finished_is_waiting() -> None:
    status = podstate.container_status("Always", slot("running", started=False))
    assert status.state == "waiting"
    assert status.reason == "ContainerCreating"
    assert status.started is False
    assert status.message == "postStart hook running"


def test_a_container_not_created_yet_is_waiting_container_creating() -> None:
    status = podstate.container_status("Always", slot())
    assert (status.state, status.reason) == ("waiting", "ContainerCreating")
    assert (status.container_id, status.restart_count) == ("", 0)
    assert (status.exit_code, status.started_at, status.image_ref) == (0, 0, "")


@pytest.mark.parametrize(
    ("policy", "exit_code", "state"),
    [
        ("Never", 0, "terminated"),
        ("Never", 1, "terminated"),
        ("OnFailure", 0, "terminated"),
        ("OnFailure", 1, "waiting"),
        ("Always", 0, "waiting"),
    ],
)
def test_exited_container_is_terminated_or_in_crash_loop_by_policy(
    policy: str, exit_code: int, state: str
) -> None:
    status = podstate.container_status(policy, slot("exited", exit_code))
    assert status.state == state
    assert status.exit_code == exit_code
    assert status.finished_at == 2_000
    if state == "waiting":
        assert status.reason == "CrashLoopBackOff"
    else:
        assert status.reason == ""
        assert status.runtime_reason == ("Error" if exit_code else "Completed")


def test_waiting_reason_and_hook_error_are_reported() -> None:
    s = slot(
        "exited",
        137,
        waiting_reason="PostStartHookError",
        waiting_message="hook failed",
        hook_error="Exec lifecycle hook ([false]) ...",
    )
    status = podstate.container_status("Always", s)
    assert (status.state, status.reason, status.message) == (
        "waiting",
        "PostStartHookError",
        "hook failed",
    )
    assert status.hook_error == "Exec lifecycle hook ([false]) ..."


def test_an_exited_container_being_restarted_is_waiting_even_under_never() -> None:
    status = podstate.container_status("Never", slot("exited", 0, starting=True))
    assert (status.state, status.reason) == ("waiting", "CrashLoopBackOff")


def test_an_exited_container_of_a_terminating_pod_is_terminated_whatever_the_policy():
    status = podstate.container_status("Always", slot("exited", 0), terminating=True)
    assert status.state == "terminated"
    assert podstate.container_status("Always", slot("exited", 0)).state == "waiting"
