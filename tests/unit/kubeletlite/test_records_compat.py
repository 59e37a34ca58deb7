"""Records written before they carried a schema version still read, and read the same.

The fixture is a state directory written by the code of that time (see its
README); it is never regenerated.
"""

import json
import shutil
from pathlib import Path

import pytest

from kubeletlite.state import podinfo, records
from kubeletlite.state.store import StateStore

FIXTURE = Path(__file__).parents[2] / "fixtures" / "kubeletlite-state-v0"


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    shutil.copytree(FIXTURE, tmp_path / "state")
    return StateStore(tmp_path / "state")


def test_version_less_pod_meta_and_deletion_read(store: StateStore) -> None:
    (record,) = store.find("fixtures", "fixture")
    meta = record.meta()
    assert meta is not None
    assert (meta.namespace, meta.name, meta.version) == ("fixtures", "fixture", 0)
    assert meta.uid == "3fb413cc-100f-af0e-8635-eeffa37401b0"
    assert (meta.source, meta.deleted_ns) == ("fast-test.yaml", 0)
    assert meta.created_ns == 1796077314082562036
    deletion = record.deletion()
    assert deletion == records.DeletionRequest(
        grace_seconds=7, time_ns=1796077314174651110, version=0
    )


def test_version_less_status_reads_every_container_in_spec_order(store: StateStore) -> None:
    (record,) = store.find("fixtures", "fixture")
    status = record.status()
    assert status is not None
    assert (status.version, status.phase, status.pod_ip, status.sandbox_id) == (
        0,
        "Running",
        "10.88.0.2",
        "sandbox0001",
    )
    web, crash = status.containers
    assert (web.name, web.state, web.started, web.restart_count) == ("web", "running", True, 0)
    assert web.container_id == "container0002"
    assert web.started_at == 1700000000000000000
    assert (crash.name, crash.state, crash.reason) == ("crash", "waiting", "CrashLoopBackOff")
    assert crash.message.startswith("back-off 20s restarting failed container=crash")
    assert (crash.restart_count, crash.exit_code, crash.runtime_reason) == (2, 1, "Error")
    assert crash.image_ref.startswith("sha256:")


def test_version_less_status_keeps_the_post_start_hook_error(store: StateStore) -> None:
    (record,) = store.find("fixtures", "hookfail")
    status = record.status()
    assert status is not None
    (app,) = status.containers
    assert (status.phase, app.state, app.exit_code) == ("Failed", "terminated", 143)
    assert app.hook_error.startswith('Exec lifecycle hook ([setup]) for Container "app"')


def test_events_and_marks_of_then_still_read(store: StateStore) -> None:
    (record,) = store.find("fixtures", "fixture")
    events = record.events()
    assert [e.reason for e in events[:3]] == ["Pulled", "Created", "Started"]
    marks = record.marks()
    assert [m.what for m in marks[:3]] == ["created", "started", "postStart.begin"]


def test_a_version_less_status_rewritten_today_reads_the_same(store: StateStore) -> None:
    for record in store.records():
        before = record.status()
        assert before is not None
        record.write_status(before)
        after = record.status()
        assert after is not None
        assert after.version == before.version == 0  # rewritten as read: 0
        assert records.PodStatus.from_json(before.to_json()) == before
        today = records.PodStatus(
            phase=before.phase,
            pod_ip=before.pod_ip,
            sandbox_id=before.sandbox_id,
            containers=before.containers,
        )
        assert today.version == records.SCHEMA_VERSION
        assert records.PodStatus.from_json(today.to_json()) == today


def test_describe_of_a_pod_from_its_old_record_alone(store: StateStore) -> None:
    (record,) = store.find("fixtures", "hookfail")
    info = podinfo._from_record_only(record)
    assert (info.namespace, info.name, info.phase) == ("fixtures", "hookfail", "Failed")
    (app,) = info.containers
    assert (app.state, app.reason, app.exit_code) == ("terminated", "Error", 143)
    assert app.hook_error


def test_a_version_less_serve_registration_reads() -> None:
    # What `serve` wrote before registrations carried a version (json.dumps of this dict).
    then = json.loads('{"manifestDir": "/etc/kubelet-lite/manifests", "pid": 4242}')
    registration = records.ServeRegistration.from_json(then)
    assert registration == records.ServeRegistration(
        manifest_dir="/etc/kubelet-lite/manifests", pid=4242, version=0
    )
    today = records.ServeRegistration("/m", 7)
    assert records.ServeRegistration.from_json(today.to_json()) == today
    assert today.to_json()["version"] == records.SCHEMA_VERSION
