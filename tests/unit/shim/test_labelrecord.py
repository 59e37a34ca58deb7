"""The shim's typed records: what older shims wrote still reads, and garbage reads as empty."""

from __future__ import annotations

import json

import pytest

from criapi.runtime.v1 import api_pb2 as pb
from shim.translate import convert, labelrecord, labels

# Written by the shim before records were typed and versioned (commit 713fa95), byte for byte.
UNVERSIONED_SANDBOX = (
    '{"created_at":1700000000123456789,"log_directory":"/var/log/pods/shop_web_u-1",'
    '"metadata":{"attempt":2,"name":"web","namespace":"shop","uid":"u-1"},'
    '"namespace_options":{"ipc":0,"network":2,"pid":1,"target_id":""},"runtime_handler":"runc"}'
)
UNVERSIONED_CONTAINER = (
    '{"created_at":1700000000987654321,"image":{"annotations":{"a":"b"},'
    '"image":"docker.io/library/busybox:1.35","runtime_handler":"",'
    '"user_specified_image":"busybox:1.35"},"metadata":{"attempt":3,"name":"app"},'
    '"mounts":[{"container_path":"/data","host_path":"/srv/data","propagation":1,'
    '"readonly":true,"selinux_relabel":false}]}'
)


def test_a_sandbox_record_written_before_versions_still_reads() -> None:
    record = labelrecord.sandbox({labels.RECORD_KEY: UNVERSIONED_SANDBOX})
    assert record == labelrecord.SandboxRecord(
        name="web",
        uid="u-1",
        namespace="shop",
        attempt=2,
        created_at=1700000000123456789,
        runtime_handler="runc",
        log_directory="/var/log/pods/shop_web_u-1",
        namespace_options=labelrecord.NamespaceRecord(
            network=pb.NODE, pid=pb.CONTAINER, ipc=pb.POD
        ),
    )


def test_a_container_record_written_before_versions_still_reads() -> None:
    record = labelrecord.container({labels.RECORD_KEY: UNVERSIONED_CONTAINER})
    assert record == labelrecord.ContainerRecord(
        name="app",
        attempt=3,
        created_at=1700000000987654321,
        image=labelrecord.ImageRecord(
            image="docker.io/library/busybox:1.35",
            annotations={"a": "b"},
            user_specified_image="busybox:1.35",
        ),
        mounts=(
            pb.Mount(
                container_path="/data",
                host_path="/srv/data",
                readonly=True,
                propagation=pb.PROPAGATION_HOST_TO_CONTAINER,
            ),
        ),
    )


def test_todays_records_are_the_old_layout_plus_a_version() -> None:
    for old, read in (
        (UNVERSIONED_SANDBOX, labelrecord.sandbox),
        (UNVERSIONED_CONTAINER, labelrecord.container),
    ):
        record = read({labels.RECORD_KEY: old})
        assert json.loads(labelrecord.encode(record)) == {**json.loads(old), "version": 1}
        assert read({labels.RECORD_KEY: labelrecord.encode(record)}) == record


def test_a_newer_version_reads_the_fields_it_knows() -> None:
    newer = {**json.loads(UNVERSIONED_CONTAINER), "version": 7, "future": {"x": 1}}
    record = labelrecord.container({labels.RECORD_KEY: json.dumps(newer)})
    assert (record.name, record.attempt) == ("app", 3)


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[1, 2]",
        '{"metadata": "web", "mounts": {"a": 1}, "created_at": "soon", "image": []}',
        '{"metadata": {"name": 5, "attempt": true}, "mounts": [1, {"readonly": 1}]}',
    ],
)
def test_a_garbled_record_reads_as_defaults_and_never_fails(raw: str) -> None:
    sandbox = labelrecord.sandbox({labels.RECORD_KEY: raw})
    container = labelrecord.container({labels.RECORD_KEY: raw})
    assert sandbox.metadata == pb.PodSandboxMetadata()
    assert container.metadata == pb.ContainerMetadata()
    assert sandbox.created_at == container.created_at == 0


def test_status_answers_come_from_an_old_record() -> None:
    inspect = {
        "Id": "c" * 64,
        "Created": "2024-01-01T00:00:00Z",
        "Image": "sha256:" + "1" * 64,
        "Config": {"Labels": {labels.RECORD_KEY: UNVERSIONED_CONTAINER}, "Image": "busybox"},
        "HostConfig": {},
        "State": {"Running": True, "StartedAt": "2024-01-01T00:00:01Z"},
    }
    status = convert.container_status(inspect, None)
    assert status.metadata == pb.ContainerMetadata(name="app", attempt=3)
    assert status.image.user_specified_image == "busybox:1.35"
    assert [m.container_path for m in status.mounts] == ["/data"]
