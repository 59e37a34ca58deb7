"""kubelet-lite's own per-pod records: events, timeline marks, status, deletion."""

import json
import threading
from pathlib import Path

import pytest

from kubeletlite.state.records import SCHEMA_VERSION, ContainerStatus, PodMeta, PodStatus
from kubeletlite.state.store import Event, Mark, PodRecord, StateStore, pod_key


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / "state")


def test_pod_record_lives_under_pods_by_namespace_name_and_uid(store: StateStore) -> None:
    record = store.pod("shop", "web", "u-1")
    assert pod_key("shop", "web", "u-1") == "shop_web_u-1"
    assert record.key == "shop_web_u-1"
    assert record.directory == store.root / "pods" / "shop_web_u-1"


def test_init_writes_meta_once(store: StateStore) -> None:
    record = store.pod("shop", "web", "u-1")
    record.init(PodMeta(namespace="shop", name="web", uid="u-1", source="web.yaml"))
    meta = record.meta()
    assert meta is not None
    assert (meta.source, meta.version, meta.deleted_ns) == ("web.yaml", SCHEMA_VERSION, 0)
    assert meta.created_ns > 0
    record.init(PodMeta(namespace="shop", name="web", uid="u-1", source="changed.yaml"))
    assert record.meta() == meta
    assert json.loads(record.files.meta.read_text())["version"] == SCHEMA_VERSION


def test_a_missing_record_reads_as_empty(store: StateStore) -> None:
    record = store.pod("shop", "ghost", "u-0")
    assert record.meta() is None
    assert record.events() == []
    assert record.marks() == []
    assert record.status() is None
    assert record.deletion() is None
    assert store.records() == []


def test_events_append_and_read_back(store: StateStore) -> None:
    record = store.pod("shop", "web", "u-1")
    first = Event("Normal", "Started", "Started container app", "app", time_ns=1)
    second = Event(
        "Warning",
        "FailedPostStartHook",
        "PostStartHook failed",
        "app",
        details={"exitCode": 1, "output": ["a", "b"]},
        time_ns=2,
    )
    pod_level = Event("Normal", "SandboxChanged", "Pod sandbox changed")
    for event in (first, second, pod_level):
        record.add_event(event)
    assert record.events() == [first, second, pod_level]
    assert pod_level.time_ns > 0


def test_marks_append_and_read_back(store: StateStore) -> None:
    record = store.pod("shop", "web", "u-1")
    marks = [
        Mark("app", "c1", "started", time_ns=10),
        Mark("app", "c1", "postStart.end", ok=False, note="exit 1", time_ns=20),
        Mark("app", "c1", "preStop.end", ok=True, time_ns=30),
    ]
    for mark in marks:
        record.add_mark(mark)
    assert record.marks() == marks


def test_unreadable_lines_are_skipped(store: StateStore) -> None:
    record = store.pod("shop", "web", "u-1")
    record.add_event(Event("Normal", "Pulled", "ok", time_ns=1))
    with (record.directory / "events.jsonl").open("a") as handle:
        handle.write('{"type": "Normal", "reas')  # a write cut short by a crash
    assert record.events() == [Event("Normal", "Pulled", "ok", time_ns=1)]


def test_status_write_and_read(store: StateStore) -> None:
    record = store.pod("shop", "web", "u-1")
    running = PodStatus(
        phase="Running",
        pod_ip="10.88.0.4",
        sandbox_id="s1",
        containers=(
            ContainerStatus(name="app", container_id="c1", state="running", started=True),
            ContainerStatus(name="sidecar", state="waiting", reason="ContainerCreating"),
        ),
    )
    record.write_status(running)
    assert record.status() == running
    record.write_status(PodStatus(phase="Succeeded"))
    assert record.status() == PodStatus(phase="Succeeded")
    # Written whole, with no temporary file left behind.
    assert sorted(p.name for p in record.directory.iterdir()) == ["status.json"]


def test_status_that_is_not_an_object_reads_as_empty(store: StateStore) -> None:
    record = store.pod("shop", "web", "u-1")
    record.directory.mkdir(parents=True)
    (record.directory / "status.json").write_text("[1, 2]")
    assert record.status() is None
    (record.directory / "status.json").write_text("{not json")
    assert record.status() is None


def test_status_fields_of_the_wrong_type_read_as_their_defaults(store: StateStore) -> None:
    record = store.pod("shop", "web", "u-1")
    record.directory.mkdir(parents=True)
    document = {
        "phase": 3,
        "containers": {"app": {"state": "exploded", "exitCode": "one", "started": "yes"}, "x": 1},
        "containerOrder": ["app", 7],
    }
    (record.directory / "status.json").write_text(json.dumps(document))
    status = record.status()
    assert status is not None
    assert status.phase == ""
    assert status.containers == (
        ContainerStatus(name="app", state="terminated"),
        ContainerStatus(name="x", state="terminated"),
    )


def test_deletion_marker(store: StateStore) -> None:
    record = store.pod("shop", "web", "u-1")
    record.request_deletion(5)
    deletion = record.deletion()
    assert deletion is not None
    assert deletion.grace_seconds == 5
    assert deletion.time_ns > 0
    record.request_deletion(None)
    again = record.deletion()
    assert again is not None
    assert again.grace_seconds is None


def test_mark_deleted_records_the_time_and_clears_the_marker(store: StateStore) -> None:
    record = store.pod("shop", "web", "u-1")
    record.init(PodMeta(namespace="shop", name="web", uid="u-1"))
    record.request_deletion(30)
    record.mark_deleted()
    meta = record.meta()
    assert meta is not None
    assert meta.deleted_ns >= meta.created_ns
    assert meta.name == "web"
    assert record.deletion() is None
    record.mark_deleted()  # again, with no marker: fine
    again = record.meta()
    assert again is not None
    assert again.deleted_ns >= meta.deleted_ns


def test_records_and_find_newest_first(store: StateStore) -> None:
    def make(namespace: str, name: str, uid: str, created: int) -> PodRecord:
        record = store.pod(namespace, name, uid)
        record.directory.mkdir(parents=True)
        (record.directory / "pod.json").write_text(json.dumps({"created_ns": created}))
        return record

    make("shop", "web", "old", 100)
    make("shop", "web", "new", 300)
    make("shop", "web", "mid", 200)
    make("shop", "web-2", "x", 400)  # another pod whose name starts the same
    make("data", "web", "y", 500)  # same name, other namespace
    (store.root / "pods" / "stray-file").write_text("")
    assert [r.key for r in store.records()] == [
        "data_web_y",
        "shop_web-2_x",
        "shop_web_mid",
        "shop_web_new",
        "shop_web_old",
    ]
    assert [r.key for r in store.find("shop", "web")] == [
        "shop_web_new",
        "shop_web_mid",
        "shop_web_old",
    ]
    assert store.find("shop", "nothing") == []


def test_concurrent_appends_from_threads_do_not_interleave(store: StateStore) -> None:
    record = store.pod("shop", "web", "u-1")
    writers, each = 8, 200
    # Long lines make a torn or interleaved write easy to see.
    padding = "x" * 3000
    start = threading.Barrier(writers)

    def write(writer: int) -> None:
        start.wait()
        for n in range(each):
            record.add_event(Event("Normal", "Tick", padding, details={"w": writer, "n": n}))

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = (record.directory / "events.jsonl").read_text().splitlines()
    assert len(lines) == writers * each
    rows = [json.loads(line) for line in lines]  # every line is one whole event
    for writer in range(writers):
        # Each writer's own events stay in order.
        assert [r["details"]["n"] for r in rows if r["details"]["w"] == writer] == list(range(each))


def test_concurrent_status_writes_from_threads_all_succeed(store: StateStore) -> None:
    record = store.pod("shop", "web", "u-1")
    writers, each = 8, 40
    start = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(writer: int) -> None:
        start.wait()
        for n in range(each):
            try:
                record.write_status(PodStatus(phase=f"{writer}/{n}"))
            except OSError as exc:
                errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    status = record.status()
    assert status is not None
    assert status.phase.endswith(f"/{each - 1}")
    assert sorted(p.name for p in record.directory.iterdir()) == ["status.json"]


def test_lines_with_unknown_keys_read_and_lines_that_are_not_records_are_skipped(
    store: StateStore,
) -> None:
    record = store.pod("shop", "web", "u-1")
    record.add_mark(Mark("app", "c1", "started", time_ns=10))
    with record.files.timeline.open("a") as handle:
        later = {"container": "app", "container_id": "c1", "what": "exited", "time_ns": 20}
        handle.write(json.dumps({**later, "added_later": 1}) + "\n")
        handle.write(json.dumps({"what": "no container"}) + "\n")
        handle.write("[1, 2]\n")
    assert record.marks() == [
        Mark("app", "c1", "started", time_ns=10),
        Mark("app", "c1", "exited", time_ns=20),
    ]
