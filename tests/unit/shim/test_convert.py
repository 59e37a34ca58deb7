"""Docker JSON to CRI messages (shim.translate.convert)."""

from __future__ import annotations

import calendar
import time

import pytest

from criapi.runtime.v1 import api_pb2 as pb
from shim.translate import convert, labelrecord, labels

ZERO_TIME = "0001-01-01T00:00:00Z"
CID = "c" * 64
SID = "5" * 64
IMAGE_ID = "sha256:" + "1" * 64
DIGEST = "sha256:" + "2" * 64
BASE_NS = calendar.timegm((2024, 1, 2, 3, 4, 5)) * 1_000_000_000  # 2024-01-02T03:04:05Z


# -- timestamps --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, 0),
        ("", 0),
        (ZERO_TIME, 0),
        ("0001-01-01T00:00:00.000000000Z", 0),
        ("not a time", 0),
        ("2024-01-02 03:04:05Z", 0),
        ("2024-01-02T03:04:05", 0),  # no zone
        ("1970-01-01T00:00:01Z", 1_000_000_000),
        ("2024-01-02T03:04:05Z", BASE_NS),
        ("2024-01-02T03:04:05.1Z", BASE_NS + 100_000_000),
        ("2024-01-02T03:04:05.000001Z", BASE_NS + 1_000),
        ("2024-01-02T03:04:05.123456Z", BASE_NS + 123_456_000),
        ("2024-01-02T03:04:05.123456789Z", BASE_NS + 123_456_789),
        ("2024-01-02T03:04:05.000000001Z", BASE_NS + 1),
        ("2024-01-02T03:04:05.1234567899Z", BASE_NS + 123_456_789),  # beyond ns: cut
        ("2024-01-02T05:04:05+02:00", BASE_NS),
        ("2024-01-02T05:04:05.5+02:00", BASE_NS + 500_000_000),
        ("2024-01-01T21:34:05-05:30", BASE_NS),
        ("1969-12-31T23:59:59.5Z", -500_000_000),
    ],
)
def test_docker_time_ns(value, expected):
    assert convert.docker_time_ns(value) == expected


def test_now_ns_is_the_current_time():
    before = time.time_ns()
    now = convert.now_ns()
    after = time.time_ns()
    # now_ns has microsecond resolution, rounded either way.
    assert before - 1_000 <= now <= after + 1_000


# -- helpers ------------------------------------------------------------------------


def sandbox_labels(record=None, cri_labels=None, annotations=None):
    internal = {labels.TYPE_KEY: labels.TYPE_SANDBOX}
    if record is not None:
        internal[labels.RECORD_KEY] = labels.encode_record(record)
    return labels.encode(cri_labels or {}, annotations or {}, internal)


SANDBOX_RECORD = {
    "metadata": {"name": "nginx", "uid": "uid-1", "namespace": "default", "attempt": 2},
    "created_at": 1234,
    "runtime_handler": "runc",
    "namespace_options": {"network": pb.NODE, "pid": pb.CONTAINER, "ipc": pb.NODE},
}


def sandbox_inspect(running=True, networks=None, record=SANDBOX_RECORD):
    return {
        "Id": SID,
        "Config": {"Labels": sandbox_labels(record, {"app": "web"}, {"a": "b"})},
        "State": {"Running": running},
        "NetworkSettings": {"Networks": networks if networks is not None else {}},
    }


# -- sandboxes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("docker_state", "cri_state"),
    [
        ("running", pb.SANDBOX_READY),
        ("created", pb.SANDBOX_NOTREADY),
        ("exited", pb.SANDBOX_NOTREADY),
        ("dead", pb.SANDBOX_NOTREADY),
        ("", pb.SANDBOX_NOTREADY),
    ],
)
def test_pod_sandbox_state(docker_state, cri_state):
    entry = {"Id": SID, "State": docker_state, "Labels": sandbox_labels(SANDBOX_RECORD)}
    assert convert.pod_sandbox(entry).state == cri_state


def test_pod_sandbox_from_list_entry():
    entry = {
        "Id": SID,
        "State": "running",
        "Labels": sandbox_labels(SANDBOX_RECORD, {"app": "web"}, {"note": "x"}),
    }
    assert convert.pod_sandbox(entry) == pb.PodSandbox(
        id=SID,
        metadata=pb.PodSandboxMetadata(name="nginx", uid="uid-1", namespace="default", attempt=2),
        state=pb.SANDBOX_READY,
        created_at=1234,
        labels={"app": "web"},
        annotations={"note": "x"},
        runtime_handler="runc",
    )


def test_pod_sandbox_without_labels_or_record():
    sandbox = convert.pod_sandbox({"Id": SID, "State": "exited"})
    assert sandbox.id == SID
    assert sandbox.metadata == pb.PodSandboxMetadata()
    assert sandbox.created_at == 0
    assert dict(sandbox.labels) == {}


def test_pod_sandbox_status_from_inspect():
    status = convert.pod_sandbox_status(
        sandbox_inspect(networks={"bridge": {"IPAddress": "172.17.0.2"}})
    )
    assert status.id == SID
    assert status.metadata.name == "nginx"
    assert status.metadata.attempt == 2
    assert status.state == pb.SANDBOX_READY
    assert status.created_at == 1234
    assert status.network.ip == "172.17.0.2"
    assert dict(status.labels) == {"app": "web"}
    assert dict(status.annotations) == {"a": "b"}
    assert status.runtime_handler == "runc"


def test_pod_sandbox_status_namespace_options_come_from_the_record():
    options = convert.pod_sandbox_status(sandbox_inspect()).linux.namespaces.options
    assert options == pb.NamespaceOption(network=pb.NODE, pid=pb.CONTAINER, ipc=pb.NODE)


def test_pod_sandbox_status_namespace_options_default_to_pod():
    options = convert.pod_sandbox_status(sandbox_inspect(record={})).linux.namespaces.options
    assert options == pb.NamespaceOption(network=pb.POD, pid=pb.POD, ipc=pb.POD)


def test_pod_sandbox_status_target_id_from_record():
    record = {"namespace_options": {"pid": pb.TARGET, "target_id": CID}}
    options = convert.pod_sandbox_status(sandbox_inspect(record=record)).linux.namespaces.options
    assert options.pid == pb.TARGET
    assert options.target_id == CID


def test_stopped_sandbox_is_not_ready_and_has_no_ip():
    status = convert.pod_sandbox_status(
        sandbox_inspect(running=False, networks={"bridge": {"IPAddress": "172.17.0.2"}})
    )
    assert status.state == pb.SANDBOX_NOTREADY
    assert status.network.ip == ""
    assert list(status.network.additional_ips) == []


@pytest.mark.parametrize(
    ("running", "networks", "expected"),
    [
        (True, {"bridge": {"IPAddress": "10.0.0.2"}}, ("10.0.0.2", [])),
        (False, {"bridge": {"IPAddress": "10.0.0.2"}}, ("", [])),
        (True, {}, ("", [])),
        (True, None, ("", [])),
        (True, {"host": {"IPAddress": "", "GlobalIPv6Address": ""}}, ("", [])),
        (
            True,
            {"bridge": {"IPAddress": "10.0.0.2", "GlobalIPv6Address": "fd00::2"}},
            ("10.0.0.2", ["fd00::2"]),
        ),
        (True, {"v6": {"IPAddress": "", "GlobalIPv6Address": "fd00::2"}}, ("fd00::2", [])),
        (
            True,
            {
                "a": {"IPAddress": "10.0.0.2", "GlobalIPv6Address": "fd00::2"},
                "b": {"IPAddress": "10.1.0.2"},
            },
            ("10.0.0.2", ["10.1.0.2", "fd00::2"]),
        ),
    ],
)
def test_sandbox_ips(running, networks, expected):
    inspect = {"State": {"Running": running}, "NetworkSettings": {"Networks": networks}}
    assert convert.sandbox_ips(inspect) == expected


def test_sandbox_ips_without_network_settings():
    assert convert.sandbox_ips({"State": {"Running": True}, "NetworkSettings": None}) == ("", [])
    assert convert.sandbox_ips({"State": {"Running": True}}) == ("", [])


def test_pod_sandbox_status_additional_ips():
    status = convert.pod_sandbox_status(
        sandbox_inspect(networks={"n": {"IPAddress": "10.0.0.2", "GlobalIPv6Address": "fd00::2"}})
    )
    assert status.network.ip == "10.0.0.2"
    assert [p.ip for p in status.network.additional_ips] == ["fd00::2"]


# -- container lifecycle -----------------------------------------------------------


CREATED = "2024-01-02T03:04:05Z"
STARTED = "2024-01-02T03:04:06Z"
FINISHED = "2024-01-02T03:04:07Z"
CREATED_NS = BASE_NS
STARTED_NS = BASE_NS + 1_000_000_000
FINISHED_NS = BASE_NS + 2_000_000_000


def container_inspect(record=None, labels_extra=None, image="busybox", **state):
    record = record if record is not None else {"metadata": {"name": "app", "attempt": 1}}
    internal = {
        labels.TYPE_KEY: labels.TYPE_CONTAINER,
        labels.SANDBOX_ID_KEY: SID,
        labels.LOG_PATH_KEY: "/var/log/pods/p/app/1.log",
        labels.RECORD_KEY: labels.encode_record(record),
    }
    base_state = {
        "Status": "created",
        "Running": False,
        "OOMKilled": False,
        "ExitCode": 0,
        "Error": "",
        "StartedAt": ZERO_TIME,
        "FinishedAt": ZERO_TIME,
    }
    return {
        "Id": CID,
        "Created": CREATED,
        "Image": IMAGE_ID,
        "Config": {
            "Image": image,
            "Labels": labels.encode(labels_extra or {}, {}, internal),
        },
        "State": {**base_state, **state},
        "HostConfig": {},
    }


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (
            {"Status": "running", "Running": True, "StartedAt": STARTED},
            (pb.CONTAINER_RUNNING, "", STARTED_NS, 0),
        ),
        (
            # A paused container is still Running in Docker's state.
            {"Status": "paused", "Running": True, "Paused": True, "StartedAt": STARTED},
            (pb.CONTAINER_RUNNING, "", STARTED_NS, 0),
        ),
        (
            {"Status": "exited", "StartedAt": STARTED, "FinishedAt": FINISHED, "ExitCode": 0},
            (pb.CONTAINER_EXITED, "Completed", STARTED_NS, FINISHED_NS),
        ),
        (
            {"Status": "exited", "StartedAt": STARTED, "FinishedAt": FINISHED, "ExitCode": 3},
            (pb.CONTAINER_EXITED, "Error", STARTED_NS, FINISHED_NS),
        ),
        (
            {
                "Status": "exited",
                "StartedAt": STARTED,
                "FinishedAt": FINISHED,
                "ExitCode": 137,
                "OOMKilled": True,
            },
            (pb.CONTAINER_EXITED, "OOMKilled", STARTED_NS, FINISHED_NS),
        ),
        (
            # OOMKilled wins even when the process exited 0.
            {"Status": "exited", "FinishedAt": FINISHED, "ExitCode": 0, "OOMKilled": True},
            (pb.CONTAINER_EXITED, "OOMKilled", 0, FINISHED_NS),
        ),
        (
            # Start failed before the process ran.
            {"Status": "created", "ExitCode": 127, "Error": "exec: not found"},
            (pb.CONTAINER_EXITED, "ContainerCannotRun", CREATED_NS, CREATED_NS),
        ),
        (
            {"Status": "created"},
            (pb.CONTAINER_CREATED, "", 0, 0),
        ),
        (
            {"Status": "dead"},
            (pb.CONTAINER_UNKNOWN, "", 0, 0),
        ),
        (
            {"Status": "removing"},
            (pb.CONTAINER_UNKNOWN, "", 0, 0),
        ),
        (
            # A dead container that had finished is reported as exited.
            {"Status": "dead", "StartedAt": STARTED, "FinishedAt": FINISHED, "ExitCode": 1},
            (pb.CONTAINER_EXITED, "Error", STARTED_NS, FINISHED_NS),
        ),
    ],
)
def test_container_lifecycle(state, expected):
    status = convert.container_status(container_inspect(**state), IMAGE_ID)
    assert (status.state, status.reason, status.started_at, status.finished_at) == expected


def test_container_status_started_at_is_never_after_finished_at():
    # dockerd can stamp StartedAt after FinishedAt for a process that exits at once.
    status = convert.container_status(
        container_inspect(Status="exited", StartedAt=FINISHED, FinishedAt=STARTED, ExitCode=0),
        IMAGE_ID,
    )
    assert status.started_at <= status.finished_at == STARTED_NS


def test_container_status_exit_code_and_message():
    status = convert.container_status(
        container_inspect(Status="exited", FinishedAt=FINISHED, ExitCode=2, Error="boom"),
        IMAGE_ID,
    )
    assert status.exit_code == 2
    assert status.message == "boom"


def test_container_status_fields():
    record = {
        "metadata": {"name": "app", "attempt": 3},
        "created_at": 999,
        "image": {
            "image": "docker.io/library/busybox:latest",
            "annotations": {"k": "v"},
            "user_specified_image": "busybox",
            "runtime_handler": "",
        },
        "mounts": [
            {
                "container_path": "/data",
                "host_path": "/srv/data",
                "readonly": True,
                "selinux_relabel": False,
                "propagation": pb.PROPAGATION_HOST_TO_CONTAINER,
            }
        ],
    }
    inspect = container_inspect(record=record, labels_extra={"app": "web"})
    inspect["HostConfig"] = {"Memory": 64 << 20, "CpuShares": 512}
    inspect["Config"]["StopSignal"] = "SIGQUIT"
    status = convert.container_status(inspect, IMAGE_ID)
    assert status.id == CID
    assert status.metadata == pb.ContainerMetadata(name="app", attempt=3)
    assert status.created_at == 999
    assert status.image == pb.ImageSpec(
        image="docker.io/library/busybox:latest",
        annotations={"k": "v"},
        user_specified_image="busybox",
    )
    assert status.image_id == IMAGE_ID
    assert dict(status.labels) == {"app": "web"}
    assert dict(status.annotations) == {}
    assert list(status.mounts) == [
        pb.Mount(
            container_path="/data",
            host_path="/srv/data",
            readonly=True,
            propagation=pb.PROPAGATION_HOST_TO_CONTAINER,
        )
    ]
    assert status.log_path == "/var/log/pods/p/app/1.log"
    assert status.resources.linux.memory_limit_in_bytes == 64 << 20
    assert status.resources.linux.cpu_shares == 512
    assert status.stop_signal == pb.SIGQUIT


def test_container_status_created_at_falls_back_to_docker_created():
    status = convert.container_status(container_inspect(record={}), IMAGE_ID)
    assert status.created_at == CREATED_NS


def test_container_status_image_falls_back_to_config_image():
    status = convert.container_status(container_inspect(record={}, image="busybox:1.35"), IMAGE_ID)
    assert status.image.image == "busybox:1.35"


def test_container_status_carries_the_image_reference_it_is_given():
    ref = "docker.io/library/busybox@" + DIGEST
    assert convert.container_status(container_inspect(), ref).image_ref == ref


def test_image_ref_prefers_the_digest_and_falls_back_to_the_id():
    image = {"Id": IMAGE_ID, "RepoDigests": ["busybox@" + DIGEST]}
    assert convert.image_ref(image) == "docker.io/library/busybox@" + DIGEST
    assert convert.image_ref({"Id": IMAGE_ID}) == IMAGE_ID


# -- container list ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("docker_state", "cri_state"),
    [
        ("running", pb.CONTAINER_RUNNING),
        ("paused", pb.CONTAINER_RUNNING),
        ("restarting", pb.CONTAINER_RUNNING),
        ("created", pb.CONTAINER_CREATED),
        ("exited", pb.CONTAINER_EXITED),
        ("dead", pb.CONTAINER_UNKNOWN),
        ("removing", pb.CONTAINER_UNKNOWN),
        ("", pb.CONTAINER_UNKNOWN),
        ("Running", pb.CONTAINER_UNKNOWN),
    ],
)
def test_list_state(docker_state, cri_state):
    assert convert.list_state(docker_state) == cri_state


def test_container_from_list_entry():
    record = {
        "metadata": {"name": "app", "attempt": 1},
        "created_at": 77,
        "image": {"image": "docker.io/library/busybox:latest"},
    }
    entry = {
        "Id": CID,
        "Image": "busybox",
        "ImageID": IMAGE_ID,
        "State": "exited",
        "Labels": labels.encode(
            {"app": "web"},
            {"note": "n"},
            {
                labels.TYPE_KEY: labels.TYPE_CONTAINER,
                labels.SANDBOX_ID_KEY: SID,
                labels.RECORD_KEY: labels.encode_record(record),
            },
        ),
    }
    refs = {IMAGE_ID: "docker.io/library/busybox@" + DIGEST}
    assert convert.container(entry, refs) == pb.Container(
        id=CID,
        pod_sandbox_id=SID,
        metadata=pb.ContainerMetadata(name="app", attempt=1),
        image=pb.ImageSpec(image="docker.io/library/busybox:latest"),
        image_ref="docker.io/library/busybox@" + DIGEST,
        image_id=IMAGE_ID,
        state=pb.CONTAINER_EXITED,
        created_at=77,
        labels={"app": "web"},
        annotations={"note": "n"},
    )


def test_container_image_ref_defaults_to_image_id():
    entry = {"Id": CID, "ImageID": IMAGE_ID, "Image": "busybox", "State": "running"}
    container = convert.container(entry, {})
    assert container.image_ref == IMAGE_ID
    assert container.image.image == "busybox"
    assert container.pod_sandbox_id == ""


def test_container_with_null_labels():
    container = convert.container({"Id": CID, "Labels": None, "State": "created"}, {})
    assert container.state == pb.CONTAINER_CREATED
    assert container.metadata == pb.ContainerMetadata()


# -- mounts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mount",
    [
        pb.Mount(container_path="/a", host_path="/b"),
        pb.Mount(
            container_path="/a",
            host_path="/b",
            readonly=True,
            selinux_relabel=True,
            propagation=pb.PROPAGATION_BIDIRECTIONAL,
        ),
        pb.Mount(container_path="/c", host_path="/d", propagation=pb.PROPAGATION_HOST_TO_CONTAINER),
    ],
)
def test_mount_record_round_trip(mount):
    assert labelrecord.mount_from_json(labelrecord.mount_to_json(mount)) == mount


def test_mount_from_empty_record():
    assert labelrecord.mount_from_json({}) == pb.Mount(propagation=pb.PROPAGATION_PRIVATE)


# -- resources and signals ----------------------------------------------------------


def test_linux_resources():
    host_config = {
        "CpuPeriod": 100000,
        "CpuQuota": 50000,
        "CpuShares": 512,
        "Memory": 128 << 20,
        "MemorySwap": 256 << 20,
        "OomScoreAdj": -500,
        "CpusetCpus": "0-1",
        "CpusetMems": "0",
    }
    assert convert.linux_resources(host_config) == pb.LinuxContainerResources(
        cpu_period=100000,
        cpu_quota=50000,
        cpu_shares=512,
        memory_limit_in_bytes=128 << 20,
        memory_swap_limit_in_bytes=256 << 20,
        oom_score_adj=-500,
        cpuset_cpus="0-1",
        cpuset_mems="0",
    )


@pytest.mark.parametrize("host_config", [{}, dict.fromkeys(("CpuPeriod", "Memory", "CpusetCpus"))])
def test_linux_resources_missing_or_null_are_zero(host_config):
    assert convert.linux_resources(host_config) == pb.LinuxContainerResources()


def test_linux_resources_unlimited_swap():
    assert convert.linux_resources({"MemorySwap": -1}).memory_swap_limit_in_bytes == -1


@pytest.mark.parametrize(
    ("docker_signal", "cri_signal"),
    [
        (None, pb.RUNTIME_DEFAULT),
        ("", pb.RUNTIME_DEFAULT),
        ("SIGTERM", pb.SIGTERM),
        ("SIGKILL", pb.SIGKILL),
        ("TERM", pb.SIGTERM),
        ("sigquit", pb.SIGQUIT),
        ("usr1", pb.SIGUSR1),
        ("SIGRTMIN", pb.SIGRTMIN),
        ("SIGBOGUS", pb.RUNTIME_DEFAULT),
        ("RUNTIME_DEFAULT", pb.RUNTIME_DEFAULT),
    ],
)
def test_stop_signal(docker_signal, cri_signal):
    assert convert.stop_signal(docker_signal) == cri_signal


@pytest.mark.parametrize(("docker_signal", "cri_signal"), [("9", pb.SIGKILL), ("3", pb.SIGQUIT)])
def test_stop_signal_numeric(docker_signal, cri_signal):
    assert convert.stop_signal(docker_signal) == cri_signal


# -- images -----------------------------------------------------------------------------


def test_image_conversion():
    doc = {
        "Id": IMAGE_ID,
        "RepoTags": ["busybox:1.35", "<none>:<none>", "127.0.0.1:5000/busybox:1.35"],
        "RepoDigests": ["busybox@" + DIGEST, "<none>@<none>"],
        "Size": 4_000_000,
        "Config": {"User": ""},
    }
    assert convert.image(doc) == pb.Image(
        id=IMAGE_ID,
        repo_tags=["docker.io/library/busybox:1.35", "127.0.0.1:5000/busybox:1.35"],
        repo_digests=["docker.io/library/busybox@" + DIGEST],
        size=4_000_000,
        spec=pb.ImageSpec(image=IMAGE_ID),
    )


def test_image_without_tags_digests_or_config():
    image = convert.image({"Id": IMAGE_ID, "RepoTags": None, "RepoDigests": None, "Config": None})
    assert list(image.repo_tags) == []
    assert list(image.repo_digests) == []
    assert not image.HasField("uid")
    assert image.username == ""
    assert image.size == 0


@pytest.mark.parametrize(
    ("user", "uid", "username"),
    [
        ("", None, ""),
        ("0", 0, ""),
        ("1000", 1000, ""),
        ("1000:1000", 1000, ""),
        ("0:0", 0, ""),
        ("nobody", None, "nobody"),
        ("nobody:nogroup", None, "nobody"),
        ("www-data:33", None, "www-data"),
        (":1000", None, ""),
    ],
)
def test_image_user(user, uid, username):
    assert convert.image_user(user) == (uid, username)


@pytest.mark.parametrize(
    ("user", "uid", "username"),
    [("0", 0, ""), ("1000:1000", 1000, ""), ("nobody", None, "nobody"), ("", None, "")],
)
def test_image_uid_and_username_from_user(user, uid, username):
    image = convert.image({"Id": IMAGE_ID, "Config": {"User": user}})
    if uid is None:
        assert not image.HasField("uid")
    else:
        # uid 0 is a real uid: the field is present with value 0.
        assert image.HasField("uid")
        assert image.uid.value == uid
    assert image.username == username


@pytest.mark.parametrize("user", ["²", "99999999999999999999"])
def test_image_with_odd_numeric_looking_user_is_a_username(user):
    image = convert.image({"Id": IMAGE_ID, "Config": {"User": user}})
    assert not image.HasField("uid")
    assert image.username == user


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            {"Id": IMAGE_ID, "RepoDigests": ["busybox@" + DIGEST, "quay.io/b@" + DIGEST]},
            "docker.io/library/busybox@" + DIGEST,
        ),
        ({"Id": IMAGE_ID, "RepoDigests": []}, IMAGE_ID),
        ({"Id": IMAGE_ID, "RepoDigests": None}, IMAGE_ID),
        ({"Id": IMAGE_ID}, IMAGE_ID),
        ({}, ""),
    ],
)
def test_image_ref(doc, expected):
    assert convert.image_ref(doc) == expected


def test_image_spec_prefers_the_record():
    record = {"image": {"image": "docker.io/library/busybox:latest", "runtime_handler": "h"}}
    spec = convert.image_spec(labelrecord.ContainerRecord.from_json(record).image, "busybox")
    assert spec.image == "docker.io/library/busybox:latest"
    assert spec.runtime_handler == "h"


@pytest.mark.parametrize("record", [{}, {"image": {}}, {"image": {"image": ""}}])
def test_image_spec_falls_back(record):
    image = labelrecord.ContainerRecord.from_json(record).image
    assert convert.image_spec(image, "busybox") == pb.ImageSpec(image="busybox")


def test_sandbox_and_container_metadata_defaults():
    assert labelrecord.SandboxRecord.from_json({}).metadata == pb.PodSandboxMetadata()
    assert labelrecord.ContainerRecord.from_json({}).metadata == pb.ContainerMetadata()
    assert labelrecord.SandboxRecord.from_json({"metadata": {"attempt": "4"}}).attempt == 4
