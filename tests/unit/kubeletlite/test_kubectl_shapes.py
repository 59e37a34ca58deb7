"""kubectl's shapes kubelet-lite reads and writes: label selectors, durations and times,
v1.Pod documents, the log filters (--since, --tail)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubeletlite import kubetime
from kubeletlite.cli import podobject, selector
from kubeletlite.state import podlogs
from kubeletlite.state.podinfo import ContainerInfo, PodInfo

S = 1_000_000_000
T0 = 1_709_294_400 * S  # 2024-03-01T12:00:00Z


@pytest.mark.parametrize(
    ("text", "labels", "matches"),
    [
        ("app=web", {"app": "web"}, True),
        ("app==web", {"app": "db"}, False),
        ("app!=web", {}, True),
        ("app", {"app": ""}, True),
        ("!app", {"app": "x"}, False),
        ("env in (a, b),tier", {"env": "b", "tier": "x"}, True),
        ("env notin (a,b)", {"env": "a"}, False),
        ("app=web,tier=db", {"app": "web", "tier": "fe"}, False),
        ("example.com/role=x", {"example.com/role": "x"}, True),
    ],
)
def test_selectors(text: str, labels: dict[str, str], matches: bool) -> None:
    assert selector.parse(text)(labels) is matches


@pytest.mark.parametrize("text", ["", "app=web,", "a b", "env in a", "=x"])
def test_bad_selectors(text: str) -> None:
    with pytest.raises(selector.SelectorError):
        selector.parse(text)


@pytest.mark.parametrize(
    ("text", "ns"),
    [("5s", 5 * S), ("1h30m", 5400 * S), ("250ms", S // 4), ("1.5m", 90 * S), ("0s", 0)],
)
def test_durations(text: str, ns: int) -> None:
    assert kubetime.parse_duration(text) == ns


@pytest.mark.parametrize("text", ["", "5", "s", "5 s", "1h-3m", "10x"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        kubetime.parse_duration(text)


def test_times() -> None:
    assert kubetime.parse_rfc3339("2024-03-01T12:00:00Z") == T0
    assert kubetime.parse_rfc3339("2024-03-01T12:00:01.123456789Z") == T0 + S + 123_456_789
    assert kubetime.parse_rfc3339("2024-03-01T13:00:00+01:00") == T0
    assert kubetime.rfc3339(T0 + 999_999_999) == "2024-03-01T12:00:00Z"
    for bad in ("yesterday", "2024-03-01T12:00:00"):
        with pytest.raises(ValueError, match="invalid time"):
            kubetime.parse_rfc3339(bad)


def pod() -> PodInfo:
    previous = ContainerInfo(
        name="app",
        container_id="old",
        state="terminated",
        exit_code=2,
        reason="Error",
        started_at=T0 + S,
        finished_at=T0 + 2 * S,
    )
    app = ContainerInfo(
        name="app",
        container_id="c1",
        image="busybox",
        image_ref="sha256:abc",
        state="running",
        started=True,
        restart_count=1,
        started_at=T0 + 3 * S,
        previous=previous,
    )
    side = ContainerInfo(name="side", state="waiting", reason="CrashLoopBackOff", message="m")
    manifest = {
        "metadata": {"name": "web", "labels": {"app": "web"}, "uid": "u1"},
        "spec": {"containers": [{"name": "app"}, {"name": "side"}]},
    }
    return PodInfo(
        namespace="shop",
        name="web",
        uid="u1",
        phase="Running",
        ip="10.0.0.5",
        created_ns=T0,
        sandbox_id="s1",
        containers=[app, side],
        manifest=manifest,
    )


def test_a_pod_document_as_kubectl_prints_it() -> None:
    document = podobject.pod_list([pod()], "node-1")
    # What scripts written for kubectl read, e.g. jq '.items[].status.containerStatuses[]...'.
    text = json.dumps(document)
    listed = json.loads(text)
    assert (listed["apiVersion"], listed["kind"]) == ("v1", "List")
    item = listed["items"][0]
    assert (item["apiVersion"], item["kind"]) == ("v1", "Pod")
    assert item["metadata"] == {
        "name": "web",
        "namespace": "shop",
        "uid": "u1",
        "creationTimestamp": "2024-03-01T12:00:00Z",
        "labels": {"app": "web"},
    }
    assert item["spec"]["nodeName"] == "node-1"
    status = item["status"]
    assert status["phase"] == "Running"
    assert status["podIP"] == "10.0.0.5"
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions["Ready"] == "False"  # side is not ready
    assert conditions["PodReadyToStartContainers"] == "True"
    app, side = status["containerStatuses"]
    assert [c["restartCount"] for c in status["containerStatuses"]] == [1, 0]
    assert app["state"] == {"running": {"startedAt": "2024-03-01T12:00:03Z"}}
    assert app["lastState"]["terminated"] == {
        "exitCode": 2,
        "reason": "Error",
        "startedAt": "2024-03-01T12:00:01Z",
        "finishedAt": "2024-03-01T12:00:02Z",
        "containerID": "docker://old",
    }
    assert (app["ready"], app["started"], app["containerID"]) == (True, True, "docker://c1")
    assert (app["image"], app["imageID"]) == ("busybox", "sha256:abc")
    assert side["state"] == {"waiting": {"reason": "CrashLoopBackOff", "message": "m"}}
    assert (side["ready"], side["lastState"]) == (False, {})
    assert "containerID" not in side


def log_file(tmp_path: Path) -> Path:
    path = tmp_path / "0.log"
    path.write_bytes(
        b"2024-03-01T12:00:00.5Z stdout F one\n"
        b"2024-03-01T12:00:01.5Z stdout P tw\n"
        b"2024-03-01T12:00:01.6Z stdout F o\n"
        b"2024-03-01T12:00:02.5Z stderr F three\n"
        b"2024-03-01T12:00:03.5Z stdout F unfinish"
    )
    return path


def test_read_complete_stops_at_the_last_newline(tmp_path: Path) -> None:
    path = log_file(tmp_path)
    lines, end = podlogs.read_complete(str(path))
    assert [line.text for line in lines] == [b"one", b"two", b"three"]
    assert path.read_bytes()[end:] == b"2024-03-01T12:00:03.5Z stdout F unfinish"


@pytest.mark.parametrize(
    ("since", "tail", "texts"),
    [
        (0, -1, [b"one", b"two", b"three"]),
        (0, 2, [b"two", b"three"]),
        (0, 0, []),
        (T0 + S, -1, [b"two", b"three"]),  # a joined line keeps its first fragment's time
        (T0 + 2 * S, 5, [b"three"]),
    ],
)
def test_since_and_tail(tmp_path: Path, since: int, tail: int, texts: list[bytes]) -> None:
    lines, _ = podlogs.read_complete(str(log_file(tmp_path)))
    assert [line.text for line in podlogs.select(lines, since, tail)] == texts
