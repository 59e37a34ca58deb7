"""`get pods` and `describe pod` text."""

import pytest

from kubeletlite.cli import views
from kubeletlite.state.podinfo import ContainerInfo, PodInfo
from kubeletlite.state.store import Event, Mark

S = 1_000_000_000  # one second in ns
MS = 1_000_000
# 2024-03-01 12:00:00 UTC
T0 = 1_709_294_400 * S


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (45, "45s"),
        (119, "119s"),
        (200, "3m20s"),
        (599, "9m59s"),
        (600, "10m"),
        (3599, "59m"),
        (2 * 3600 + 5 * 60 + 30, "2h5m"),
        (9 * 3600 + 59 * 60, "9h59m"),
        (10 * 3600 + 59 * 60, "10h"),
        (47 * 3600 + 3599, "47h"),
        (48 * 3600, "2d"),
        (4 * 86400 + 3600, "4d"),
    ],
)
def test_age(seconds: int, text: str) -> None:
    assert views.age(T0, T0 + seconds * S + 999_999_999) == text


def test_age_in_the_future_is_zero() -> None:
    assert views.age(T0 + 5 * S, T0) == "0s"


def test_timestamp() -> None:
    assert views.timestamp(T0 + 1_234 * MS) == "Fri, 01 Mar 2024 12:00:01 +0000"
    assert views.timestamp(T0 + 1_234 * MS, precise=True) == "12:00:01.234"
    assert views.timestamp(0) == "-"


# -- STATUS ------------------------------------------------------------------------------


def pod(phase: str = "Running", *containers: ContainerInfo, **fields: object) -> PodInfo:
    info = PodInfo(namespace="shop", name="web", uid="u-1", phase=phase, created_ns=T0)
    info.containers = list(containers)
    for key, value in fields.items():
        setattr(info, key, value)
    return info


RUNNING = ContainerInfo(name="app", state="running", started=True)


@pytest.mark.parametrize(
    ("info", "word"),
    [
        (pod("Running", RUNNING), "Running"),
        (pod("Pending"), "Pending"),
        (pod("Running", RUNNING, terminating=True), "Terminating"),
        (
            pod(
                "Running",
                ContainerInfo("a", state="waiting", reason="CrashLoopBackOff"),
                terminating=True,
            ),
            "Terminating",
        ),
        (
            pod("Pending", ContainerInfo("a", state="waiting", reason="ContainerCreating")),
            "ContainerCreating",
        ),
        (
            pod("Running", RUNNING, ContainerInfo("b", state="waiting", reason="CrashLoopBackOff")),
            "CrashLoopBackOff",
        ),
        (
            pod("Running", ContainerInfo("a", state="waiting", reason="PostStartHookError")),
            "PostStartHookError",
        ),
        (pod("Pending", ContainerInfo("a", state="waiting")), "Pending"),  # no reason yet
        (pod("Succeeded", ContainerInfo("a", state="terminated", reason="Completed")), "Completed"),
        (pod("Failed", ContainerInfo("a", state="terminated", reason="OOMKilled")), "OOMKilled"),
        (pod("Failed", ContainerInfo("a", state="terminated")), "Error"),
        # Like kubectl, the first container with a reason names the status.
        (
            pod(
                "Failed",
                ContainerInfo("a", state="terminated", reason="Completed"),
                ContainerInfo("b", state="terminated", reason="Error"),
            ),
            "Completed",
        ),
    ],
)
def test_status_word(info: PodInfo, word: str) -> None:
    assert views.status_word(info) == word


# -- get pods ------------------------------------------------------------------------------


def test_pods_table_columns_and_values() -> None:
    web = pod(
        "Running",
        ContainerInfo("app", state="running", started=True, restart_count=2),
        ContainerInfo("sidecar", state="running", started=False, restart_count=1),
        ContainerInfo("log", state="waiting", reason="CrashLoopBackOff", restart_count=4),
    )
    job = PodInfo(
        namespace="batch-jobs",
        name="nightly-report",
        uid="u-2",
        phase="Succeeded",
        created_ns=T0 - 3 * 86400 * S,
        containers=[ContainerInfo("run", state="terminated", reason="Completed")],
    )
    table = views.pods_table([web, job], now_ns=T0 + 200 * S, all_namespaces=False)
    assert table.splitlines() == [
        "NAME             READY   STATUS             RESTARTS   AGE",
        "web              1/3     CrashLoopBackOff   7          3m20s",
        "nightly-report   0/1     Completed          0          3d",
    ]


def test_pods_table_with_all_namespaces_leads_with_the_namespace() -> None:
    table = views.pods_table([pod("Running", RUNNING)], now_ns=T0 + 5 * S, all_namespaces=True)
    assert table.splitlines() == [
        "NAMESPACE   NAME   READY   STATUS    RESTARTS   AGE",
        "shop        web    1/1     Running   0          5s",
    ]


def test_pods_table_of_no_pods_is_the_header() -> None:
    assert views.pods_table([], now_ns=T0, all_namespaces=False) == (
        "NAME   READY   STATUS   RESTARTS   AGE"
    )


# -- describe --------------------------------------------------------------------------------


def full_pod() -> PodInfo:
    previous = ContainerInfo(
        "app",
        state="terminated",
        reason="Error",
        exit_code=1,
        started_at=T0 + 1 * S,
        finished_at=T0 + 2 * S,
    )
    app = ContainerInfo(
        "app",
        container_id="c" * 64,
        image="busybox:1.36",
        image_ref="sha256:" + "d" * 64,
        state="waiting",
        reason="PostStartHookError",
        message="hook failed",
        restart_count=1,
        hook_error='Exec lifecycle hook ([false]) for Container "app" failed',
        termination_message="bye\n",
        previous=previous,
    )
    side = ContainerInfo(
        "side",
        container_id="e" * 64,
        image="nginx:1.27",
        state="running",
        started=True,
        started_at=T0 + 3 * S,
    )
    marks = [
        Mark("app", "c" * 64, "started", time_ns=T0 + 10 * S),
        Mark("app", "c" * 64, "postStart.begin", time_ns=T0 + 10 * S + 2 * MS),
        Mark(
            "app",
            "c" * 64,
            "postStart.end",
            ok=False,
            note="exit 1",
            time_ns=T0 + 10 * S + 1500 * MS,
        ),
        Mark("side", "e" * 64, "preStop.begin", time_ns=T0 + 20 * S),
        Mark("side", "e" * 64, "preStop.end", ok=True, time_ns=T0 + 20 * S + 250 * MS),
    ]
    events = [
        Event("Normal", "Started", "Started container app", "app", time_ns=T0 + 10 * S),
        Event("Warning", "FailedPostStartHook", "PostStartHook failed", "app", time_ns=T0 + 11 * S),
        Event("Normal", "SandboxChanged", "Pod sandbox changed", None, time_ns=T0 + 12 * S),
    ]
    return pod(
        "Running",
        app,
        side,
        ip="10.88.0.5",
        source="/etc/pods/web.yaml",
        supervised=True,
        terminating=True,
        deleted_ns=T0 + 30 * S,
        marks=marks,
        events=events,
    )


def test_describe_has_every_section() -> None:
    text = views.describe(full_pod(), now_ns=T0 + 72 * S)
    lines = text.splitlines()
    assert lines[:9] == [
        "Name:         web",
        "Namespace:    shop",
        "UID:          u-1",
        "Source:       /etc/pods/web.yaml",
        "Start Time:   Fri, 01 Mar 2024 12:00:00 +0000",
        "Status:       Terminating",
        "IP:           10.88.0.5",
        "Supervised:   yes",
        "Deleted:      Fri, 01 Mar 2024 12:00:30 +0000",
    ]
    sections = [line for line in lines if line and not line.startswith(" ")]
    assert sections[-3:] == ["Containers:", "Timeline:", "Events:"]
    container_part = text[text.index("Containers:") : text.index("Timeline:")]
    for expected in [
        "  app:",
        f"    Container ID:   docker://{'c' * 64}",
        "    Image:          busybox:1.36",
        f"    Image ID:       sha256:{'d' * 64}",
        "    State:          Waiting",
        "      Reason:       PostStartHookError",
        "      Message:      hook failed",
        "    Last State:     Terminated",
        "      Reason:       Error",
        "      Exit Code:    1",
        "      Started:      Fri, 01 Mar 2024 12:00:01 +0000",
        "      Finished:     Fri, 01 Mar 2024 12:00:02 +0000",
        "    Started:        false",
        "    Restart Count:  1",
        "    Hook Error:     PostStartHookError: "
        'Exec lifecycle hook ([false]) for Container "app" failed',
        "    Message:        bye",
        "  side:",
        "    State:          Running",
        "      Started:      Fri, 01 Mar 2024 12:00:03 +0000",
        "    Started:        true",
    ]:
        assert expected in container_part.splitlines()
    events = text[text.index("Events:") :].splitlines()
    assert events[1].split() == ["TYPE", "REASON", "AGE", "FROM", "MESSAGE"]
    assert events[2].split() == [
        "Normal",
        "Started",
        "62s",
        "spec.containers{app}",
        "Started",
        "container",
        "app",
    ]
    assert events[3].split()[:4] == [
        "Warning",
        "FailedPostStartHook",
        "61s",
        "spec.containers{app}",
    ]
    assert events[4].split()[:4] == ["Normal", "SandboxChanged", "60s", "pod"]


def test_describe_of_a_bare_pod() -> None:
    info = PodInfo(namespace="shop", name="web", uid="u-1", phase="Pending")
    lines = views.describe(info, now_ns=T0).splitlines()
    assert "Source:       -" in lines
    assert "Start Time:   -" in lines
    assert "Status:       Pending" in lines
    assert "IP:           -" in lines
    assert "Supervised:   no" in lines
    assert not any(line.startswith("Deleted:") for line in lines)
    assert lines[-5:] == ["Containers:", "Timeline:", "  <none>", "Events:", "  <none>"]


def test_describe_of_a_container_never_created() -> None:
    info = pod("Pending", ContainerInfo("app"))
    text = views.describe(info, now_ns=T0)
    assert "    Container ID:   -" in text.splitlines()
    assert "    State:          Waiting" in text.splitlines()
    assert "      Reason:       -" in text.splitlines()


# -- timeline ---------------------------------------------------------------------------------


def test_timeline_offsets_are_relative_to_started() -> None:
    lines = views.timeline(full_pod().marks)
    assert lines == [
        f"  app ({'c' * 12}):",
        "    12:00:10.000        +0.0 ms  started (StartContainer returned; entrypoint running)",
        "    12:00:10.002        +2.0 ms  postStart begins",
        "    12:00:11.500     +1500.0 ms  postStart ends FAILED: exit 1",
        f"  side ({'e' * 12}):",
        "    12:00:20.000        +0.0 ms  preStop begins",
        "    12:00:20.250      +250.0 ms  preStop ends ok",
    ]


def test_timeline_marks_before_started_are_negative_and_sorted() -> None:
    marks = [
        Mark("app", "abc", "started", time_ns=T0 + 5 * S),
        Mark("app", "abc", "created", time_ns=T0 + 5 * S - 40 * MS),
        Mark("app", "abc", "custom.thing", time_ns=T0 + 6 * S),
    ]
    assert views.timeline(marks) == [
        "  app (abc):",
        "    12:00:04.960       -40.0 ms  created (CreateContainer returned)",
        "    12:00:05.000        +0.0 ms  started (StartContainer returned; entrypoint running)",
        "    12:00:06.000     +1000.0 ms  custom.thing",
    ]


def test_timeline_keeps_restarts_apart() -> None:
    marks = [
        Mark("app", "first", "started", time_ns=T0),
        Mark("app", "first", "exited", time_ns=T0 + 3 * S),
        Mark("app", "second", "started", time_ns=T0 + 13 * S),
        Mark("app", "", "stop.begin", time_ns=T0 + 14 * S),
    ]
    lines = views.timeline(marks)
    assert lines[0] == "  app (first):"
    assert lines[2].endswith("+3000.0 ms  exited")
    assert lines[3] == "  app (second):"
    assert lines[4].endswith("+0.0 ms  started (StartContainer returned; entrypoint running)")
    assert lines[5] == "  app (-):"
    assert lines[6].endswith("+0.0 ms  stop requested")


def test_empty_timeline() -> None:
    assert views.timeline([]) == []
