"""Loading and validating Pod manifests: defaults, Kubernetes-shaped errors, hashes."""

import re
from typing import Any

import pytest
import yaml

from kubeletlite.manifest import (
    Container,
    ContainerPort,
    EmptyDirVolume,
    ErrorType,
    ExecAction,
    FieldError,
    HostPathVolume,
    HTTPGetAction,
    HTTPHeader,
    LoadResult,
    ManifestError,
    Pod,
    SleepAction,
    container_hash,
    default_pull_policy,
    image_has_tag_or_digest,
    load_pods,
    resolve_port,
)

SOURCE = "pod.yaml"
DIGEST = "sha256:" + "a" * 64


def pod_doc(
    *,
    container: dict[str, Any] | None = None,
    spec: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    **top: Any,
) -> dict[str, Any]:
    """A valid one-container Pod, with fields added or replaced."""
    app = {"name": "app", "image": "busybox:1.36", **(container or {})}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", **(metadata or {})},
        "spec": {"containers": [app], **(spec or {})},
        **top,
    }


def as_text(doc: dict[str, Any] | str) -> str:
    return doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False)


def load(doc: dict[str, Any] | str, source: str = SOURCE) -> LoadResult:
    return load_pods(as_text(doc), source)


def only_pod(doc: dict[str, Any] | str) -> Pod:
    result = load(doc)
    assert len(result.pods) == 1
    return result.pods[0]


def error_lines(doc: dict[str, Any] | str) -> list[str]:
    with pytest.raises(ManifestError) as info:
        load(doc)
    return str(info.value).splitlines()


C0 = f"{SOURCE}: spec.containers[0]"
HOOK = f"{C0}.lifecycle"


# Defaults.


def test_minimal_pod_gets_kubernetes_defaults() -> None:
    pod = only_pod(pod_doc(container={"ports": [{"containerPort": 80}]}))
    assert (pod.name, pod.namespace, pod.source) == ("web", "default", SOURCE)
    assert pod.spec.restart_policy == "Always"
    assert pod.spec.termination_grace_period_seconds == 30
    assert pod.spec.dns_policy == "ClusterFirst"
    assert pod.spec.host_network is False
    app = pod.spec.containers[0]
    assert app.image_pull_policy == "IfNotPresent"
    assert (app.termination_message_path, app.termination_message_policy) == (
        "/dev/termination-log",
        "File",
    )
    assert app.ports == (ContainerPort(container_port=80),)


@pytest.mark.parametrize(
    ("image", "pinned", "policy"),
    [
        ("busybox", False, "Always"),
        ("busybox:latest", True, "Always"),
        ("busybox:1.36", True, "IfNotPresent"),
        ("127.0.0.1:5000/busybox", False, "Always"),  # the colon is the registry's port
        ("127.0.0.1:5000/busybox:1.36", True, "IfNotPresent"),
        (f"localhost:5000/team/app:latest@{DIGEST}", True, "IfNotPresent"),
    ],
)
def test_default_pull_policy_follows_the_image_reference(
    image: str, pinned: bool, policy: str
) -> None:
    assert image_has_tag_or_digest(image) is pinned
    assert default_pull_policy(image) == policy
    container = only_pod(pod_doc(container={"image": image})).spec.containers[0]
    assert container.image_pull_policy == policy


def test_explicit_pull_policy_is_kept() -> None:
    doc = pod_doc(container={"image": "busybox", "imagePullPolicy": "Never"})
    assert only_pod(doc).spec.containers[0].image_pull_policy == "Never"


def test_unknown_pull_policy_is_unsupported() -> None:
    assert error_lines(pod_doc(container={"imagePullPolicy": "Sometimes"})) == [
        f'{C0}.imagePullPolicy: Unsupported value: "Sometimes": '
        'supported values: "Always", "IfNotPresent", "Never"'
    ]


# Documents and streams.


def test_multi_document_stream_loads_every_pod_and_skips_empty_documents() -> None:
    text = "---\n" + as_text(pod_doc()) + "---\n# nothing here\n---\n"
    text += as_text(pod_doc(metadata={"name": "db", "namespace": "data"}))
    pods = load(text).pods
    assert [p.full_name for p in pods] == ["web_default", "db_data"]


def test_empty_text_yields_no_pods() -> None:
    assert load("# just a comment\n") == LoadResult(pods=(), warnings=())


def test_errors_of_every_document_are_reported_together() -> None:
    first = pod_doc(container={"image": None})
    second = pod_doc(metadata={"name": "db"}, spec={"restartPolicy": "Sometimes"})
    # The index counts the empty document in between, so it matches the file.
    assert error_lines(as_text(first) + "---\n---\n" + as_text(second)) == [
        f"{SOURCE}[0]: spec.containers[0].image: Required value",
        f'{SOURCE}[2]: spec.restartPolicy: Unsupported value: "Sometimes": '
        'supported values: "Always", "Never", "OnFailure"',
    ]


def test_every_error_of_one_document_is_reported() -> None:
    doc = pod_doc(
        metadata={"name": "Web"},
        spec={"terminationGracePeriodSeconds": -1},
        container={"image": "", "ports": [{"containerPort": 70000}]},
    )
    lines = error_lines(doc)
    assert lines[0].startswith(f'{SOURCE}: metadata.name: Invalid value: "Web": a lowercase RFC')
    assert lines[1:] == [
        f"{SOURCE}: spec.terminationGracePeriodSeconds: Invalid value: -1: "
        "must be greater than or equal to 0",
        f"{C0}.image: Required value",
        f"{C0}.ports[0].containerPort: Invalid value: 70000: "
        "must be between 1 and 65535, inclusive",
    ]


def test_same_pod_twice_is_a_duplicate() -> None:
    text = as_text(pod_doc()) + "---\n" + as_text(pod_doc())
    assert error_lines(text) == [
        f'{SOURCE}[1]: metadata.name: Duplicate value: "web": '
        "pod default/web is already defined in document 0"
    ]


def test_same_name_in_another_namespace_is_another_pod() -> None:
    text = as_text(pod_doc()) + "---\n" + as_text(pod_doc(metadata={"namespace": "other"}))
    assert len(load(text).pods) == 2


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"apiVersion": "apps/v1", "kind": "Deployment"},
            [
                'apiVersion: Unsupported value: "apps/v1": supported values: "v1"',
                'kind: Unsupported value: "Deployment": supported values: "Pod"',
            ],
        ),
        ({"kind": None}, ["kind: Required value"]),
    ],
)
def test_document_must_be_a_v1_pod(changes: dict[str, Any], expected: list[str]) -> None:
    doc = {**pod_doc(), **changes}
    assert error_lines(doc) == [f"{SOURCE}: {line}" for line in expected]


def test_yaml_syntax_error_names_source_and_line() -> None:
    text = "apiVersion: v1\nkind: Pod\nmetadata: {name: [web}\n"
    (line,) = error_lines(text)
    assert line.startswith(f"{SOURCE}: line 3, column ")
    assert "invalid YAML" in line


def test_duplicate_yaml_keys_are_rejected_like_strict_decoding() -> None:
    text = "apiVersion: v1\nkind: Pod\nkind: Pod\n"
    assert error_lines(text) == [
        f'{SOURCE}: line 3, column 1: invalid YAML: found duplicate key "kind"'
    ]


# Error rendering.


@pytest.mark.parametrize(
    ("error", "rendered"),
    [
        (FieldError("spec.a", ErrorType.REQUIRED), "spec.a: Required value"),
        (
            FieldError("p", ErrorType.INVALID, "must be between 1 and 65535, inclusive", 70000),
            "p: Invalid value: 70000: must be between 1 and 65535, inclusive",
        ),
        (
            FieldError("p", ErrorType.INVALID, "bad", 'a"b\n\x01é'),
            r'p: Invalid value: "a\"b\n\x01é": bad',
        ),
        (FieldError("p", ErrorType.INVALID, "bad", None), "p: Invalid value: null: bad"),
        (FieldError("p", ErrorType.INVALID, "bad", 1e6), "p: Invalid value: 1e+06: bad"),
        (
            FieldError("p", ErrorType.INVALID, "bad", {"b": [1], "a": "x"}),
            'p: Invalid value: {"a":"x","b":[1]}: bad',
        ),
        (FieldError("p", ErrorType.INVALID, "no value shown"), "p: Invalid value: no value shown"),
        (FieldError("p", ErrorType.NOT_FOUND, value="x"), 'p: Not found: "x"'),
        (FieldError("p", ErrorType.FORBIDDEN, "nope", "hidden"), "p: Forbidden: nope"),
        (FieldError("spec.x", ErrorType.UNKNOWN_FIELD), 'unknown field "spec.x"'),
    ],
)
def test_field_error_renders_like_kubernetes(error: FieldError, rendered: str) -> None:
    assert str(error) == rendered


# Lifecycle handlers.


def test_every_handler_type_parses() -> None:
    http_get = {
        "port": "http",
        "path": "/ready",
        "host": "127.0.0.1",
        "scheme": "HTTPS",
        "httpHeaders": [{"name": "X-Probe", "value": "1"}],
    }
    container = {
        "ports": [{"containerPort": 8080, "name": "http"}],
        "lifecycle": {"postStart": {"httpGet": http_get}, "preStop": {"exec": {"command": ["sh"]}}},
    }
    lifecycle = only_pod(pod_doc(container=container)).spec.containers[0].lifecycle
    assert lifecycle.post_start == HTTPGetAction(
        port="http",
        path="/ready",
        host="127.0.0.1",
        scheme="HTTPS",
        headers=(HTTPHeader("X-Probe", "1"),),
    )
    assert lifecycle.pre_stop == ExecAction(("sh",))
    doc = pod_doc(container={"lifecycle": {"preStop": {"sleep": {"seconds": 5}}}})
    assert only_pod(doc).spec.containers[0].lifecycle.pre_stop == SleepAction(5)


def test_http_get_defaults() -> None:
    doc = pod_doc(container={"lifecycle": {"postStart": {"httpGet": {"port": 8080}}}})
    handler = only_pod(doc).spec.containers[0].lifecycle.post_start
    assert handler == HTTPGetAction(port=8080, path="/", host=None, scheme="HTTP", headers=())


@pytest.mark.parametrize(
    ("hook", "expected"),
    [
        ({}, "postStart: Required value: must specify a handler type"),
        (
            {"exec": {"command": ["true"]}, "sleep": {"seconds": 1}},
            "postStart.sleep: Forbidden: may not specify more than 1 handler type",
        ),
        (
            {"tcpSocket": {"port": 80}},
            "postStart.tcpSocket: Forbidden: tcpSocket is not supported as a lifecycle handler",
        ),
        (
            {"sleep": {"seconds": -1}},
            "postStart.sleep: Invalid value: -1: "
            "must be non-negative and less than terminationGracePeriodSeconds (30)",
        ),
        (
            {"sleep": {"seconds": 31}},
            "postStart.sleep: Invalid value: 31: "
            "must be non-negative and less than terminationGracePeriodSeconds (30)",
        ),
        (
            {"httpGet": {"port": 70000}},
            "postStart.httpGet.port: Invalid value: 70000: must be between 1 and 65535, inclusive",
        ),
        (
            {"httpGet": {"port": "web"}},
            'postStart.httpGet.port: Invalid value: "web": '
            "must be the name of one of this container's ports",
        ),
        (
            {"httpGet": {"port": 80, "scheme": "FTP"}},
            'postStart.httpGet.scheme: Unsupported value: "FTP": supported values: "HTTP", "HTTPS"',
        ),
        (
            {"httpGet": {"port": 80, "httpHeaders": [{"name": "X Bad", "value": "1"}]}},
            'postStart.httpGet.httpHeaders[0].name: Invalid value: "X Bad": a valid HTTP header '
            "must consist of alphanumeric characters or '-' (e.g. 'X-Header-Name', "
            "regex used for validation is '[-A-Za-z0-9]+')",
        ),
        (
            {"httpGet": {"port": 80, "path": "healthz"}},
            'postStart.httpGet.path: Invalid value: "healthz": must start with "/"',
        ),
        ({"exec": {"command": []}}, "postStart.exec.command: Required value"),
    ],
)
def test_handler_validation(hook: dict[str, Any], expected: str) -> None:
    doc = pod_doc(container={"lifecycle": {"postStart": hook}})
    assert error_lines(doc) == [f"{HOOK}.{expected}"]


def test_sleep_equal_to_grace_period_passes() -> None:
    doc = pod_doc(
        spec={"terminationGracePeriodSeconds": 10},
        container={"lifecycle": {"preStop": {"sleep": {"seconds": 10}}}},
    )
    assert only_pod(doc).spec.containers[0].lifecycle.pre_stop == SleepAction(10)


def test_sleep_is_checked_against_the_pods_own_grace_period() -> None:
    doc = pod_doc(
        spec={"terminationGracePeriodSeconds": 10},
        container={"lifecycle": {"preStop": {"sleep": {"seconds": 11}}}},
    )
    assert error_lines(doc) == [
        f"{HOOK}.preStop.sleep: Invalid value: 11: "
        "must be non-negative and less than terminationGracePeriodSeconds (10)"
    ]


def test_sleep_is_not_checked_against_an_invalid_grace_period() -> None:
    doc = pod_doc(
        spec={"terminationGracePeriodSeconds": -5},
        container={"lifecycle": {"preStop": {"sleep": {"seconds": 3}}}},
    )
    # Only the grace period is reported: a sleep cannot be measured against it.
    assert error_lines(doc) == [
        f"{SOURCE}: spec.terminationGracePeriodSeconds: Invalid value: -5: "
        "must be greater than or equal to 0"
    ]


# Unknown, ignored and unsupported fields.


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        (pod_doc(extra=1), "extra"),
        (pod_doc(metadata={"lables": {"a": "b"}}), "metadata.lables"),
        (pod_doc(container={"imagePullPolcy": "Always"}), "spec.containers[0].imagePullPolcy"),
        (
            pod_doc(container={"lifecycle": {"postStart": {"exec": {"comand": ["x"]}}}}),
            "spec.containers[0].lifecycle.postStart.exec.comand",
        ),
    ],
)
def test_unknown_fields_are_reported_with_their_path(doc: dict[str, Any], path: str) -> None:
    assert f'{SOURCE}: unknown field "{path}"' in error_lines(doc)


def test_unknown_field_in_a_handler_has_the_exact_strict_decoding_message() -> None:
    doc = pod_doc(container={"lifecycle": {"postStart": {"exec": {"comand": ["x"]}}}})
    assert error_lines(doc) == [
        f'{SOURCE}: unknown field "spec.containers[0].lifecycle.postStart.exec.comand"',
        f"{HOOK}.postStart.exec.command: Required value",
    ]


def test_scheduler_fields_are_ignored_with_a_warning() -> None:
    doc = pod_doc(spec={"nodeName": "n1", "tolerations": [{"operator": "Exists"}]})
    result = load(doc)
    assert result.warnings == (
        f"{SOURCE}: spec.nodeName: ignored by kubelet-lite",
        f"{SOURCE}: spec.tolerations: ignored by kubelet-lite",
    )
    assert len(result.pods) == 1


def test_server_bookkeeping_is_ignored_silently() -> None:
    doc = pod_doc(
        metadata={"creationTimestamp": None, "resourceVersion": "12", "managedFields": [{}]},
        status={"phase": "Running"},
    )
    assert load(doc).warnings == ()


def test_owner_references_are_ignored_with_a_warning() -> None:
    doc = pod_doc(metadata={"ownerReferences": [{"kind": "ReplicaSet"}]})
    assert load(doc).warnings == (f"{SOURCE}: metadata.ownerReferences: ignored by kubelet-lite",)


def test_unsupported_fields_at_their_zero_value_are_accepted() -> None:
    doc = pod_doc(spec={"hostPID": False, "initContainers": []})
    assert load(doc).warnings == ()


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        (pod_doc(metadata={"generateName": "web-"}), "metadata.generateName"),
        (pod_doc(spec={"initContainers": [{"name": "i"}]}), "spec.initContainers"),
        (pod_doc(container={"livenessProbe": {"exec": {}}}), "spec.containers[0].livenessProbe"),
        (
            pod_doc(container={"env": [{"name": "A", "valueFrom": {"fieldRef": {}}}]}),
            "spec.containers[0].env[0].valueFrom",
        ),
        (
            pod_doc(container={"securityContext": {"seccompProfile": {"type": "x"}}}),
            "spec.containers[0].securityContext.seccompProfile",
        ),
        (pod_doc(spec={"volumes": [{"name": "c", "configMap": {}}]}), "spec.volumes[0].configMap"),
    ],
)
def test_features_kubelet_lite_cannot_honour_are_forbidden(doc: dict[str, Any], path: str) -> None:
    assert error_lines(doc) == [f"{SOURCE}: {path}: Forbidden: not supported by kubelet-lite"]


# Types.


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            pod_doc(spec={"terminationGracePeriodSeconds": "thirty"}),
            'spec.terminationGracePeriodSeconds: Invalid value: "thirty": must be an integer',
        ),
        (
            pod_doc(spec={"terminationGracePeriodSeconds": True}),
            "spec.terminationGracePeriodSeconds: Invalid value: true: must be an integer",
        ),
        (
            pod_doc(spec={"hostNetwork": "yes"}),
            'spec.hostNetwork: Invalid value: "yes": must be a boolean',
        ),
        (
            {**pod_doc(), "spec": {"containers": {"name": "app"}}},
            'spec.containers: Invalid value: {"name":"app"}: must be a list',
        ),
        (
            pod_doc(container={"env": [{"name": "PORT", "value": 8080}]}),
            "spec.containers[0].env[0].value: Invalid value: 8080: must be a string",
        ),
        (
            pod_doc(container={"command": ["sh", 1]}),
            "spec.containers[0].command[1]: Invalid value: 1: must be a string",
        ),
    ],
)
def test_wrong_types_are_invalid_values(doc: dict[str, Any], expected: str) -> None:
    assert error_lines(doc) == [f"{SOURCE}: {expected}"]


# Volumes and mounts.


def test_host_path_and_empty_dir_volumes_parse() -> None:
    volumes = [
        {"name": "logs", "hostPath": {"path": "/var/log", "type": "Directory"}},
        {"name": "cache", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
        {"name": "scratch", "emptyDir": {}},
    ]
    mounts = [{"name": "logs", "mountPath": "/logs", "readOnly": True, "subPath": "app"}]
    pod = only_pod(pod_doc(spec={"volumes": volumes}, container={"volumeMounts": mounts}))
    assert [(v.name, v.source) for v in pod.spec.volumes] == [
        ("logs", HostPathVolume("/var/log", "Directory")),
        ("cache", EmptyDirVolume("Memory", 64 * 2**20)),
        ("scratch", EmptyDirVolume()),
    ]
    (mount,) = pod.spec.containers[0].volume_mounts
    assert (mount.name, mount.mount_path, mount.read_only, mount.sub_path) == (
        "logs",
        "/logs",
        True,
        "app",
    )


@pytest.mark.parametrize(
    ("volumes", "expected"),
    [
        ([{"name": "v"}], "spec.volumes[0]: Required value: must specify a volume type"),
        (
            [{"name": "v", "emptyDir": {}, "hostPath": {"path": "/x"}}],
            "spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type",
        ),
        (
            [{"name": "v", "hostPath": {"path": "var/log"}}],
            'spec.volumes[0].hostPath.path: Invalid value: "var/log": must be an absolute path',
        ),
        (
            [{"name": "v", "hostPath": {"path": "/x", "type": "Folder"}}],
            'spec.volumes[0].hostPath.type: Unsupported value: "Folder": supported values: "", '
            '"BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", '
            '"FileOrCreate", "Socket"',
        ),
        (
            [{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}],
            'spec.volumes[1].name: Duplicate value: "v"',
        ),
    ],
)
def test_volume_validation(volumes: list[dict[str, Any]], expected: str) -> None:
    assert error_lines(pod_doc(spec={"volumes": volumes})) == [f"{SOURCE}: {expected}"]


@pytest.mark.parametrize(
    ("mount", "expected"),
    [
        ({"name": "nope", "mountPath": "/d"}, 'volumeMounts[0].name: Not found: "nope"'),
        (
            {"name": "data", "mountPath": "d"},
            'volumeMounts[0].mountPath: Invalid value: "d": must be an absolute path',
        ),
        (
            {"name": "data", "mountPath": "/d", "subPath": "../up"},
            "volumeMounts[0].subPath: Invalid value: \"../up\": must not contain '..'",
        ),
        (
            {"name": "data", "mountPath": "/d", "mountPropagation": "Bidirectional"},
            "volumeMounts[0].mountPropagation: Forbidden: "
            "Bidirectional mount propagation is available only to privileged containers",
        ),
    ],
)
def test_volume_mount_validation(mount: dict[str, Any], expected: str) -> None:
    doc = pod_doc(
        spec={"volumes": [{"name": "data", "emptyDir": {}}]}, container={"volumeMounts": [mount]}
    )
    assert error_lines(doc) == [f"{C0}.{expected}"]


def test_mount_paths_must_be_unique() -> None:
    mounts = [{"name": "data", "mountPath": "/d"}, {"name": "data", "mountPath": "/d"}]
    doc = pod_doc(
        spec={"volumes": [{"name": "data", "emptyDir": {}}]}, container={"volumeMounts": mounts}
    )
    assert error_lines(doc) == [
        f'{C0}.volumeMounts[1].mountPath: Invalid value: "/d": must be unique'
    ]


# Ports.


def test_duplicate_port_names_in_a_container() -> None:
    ports = [{"containerPort": 80, "name": "web"}, {"containerPort": 81, "name": "web"}]
    assert error_lines(pod_doc(container={"ports": ports})) == [
        f'{C0}.ports[1].name: Duplicate value: "web"'
    ]


def test_port_names_must_be_iana_service_names() -> None:
    ports = [{"containerPort": 80, "name": "Web--1"}]
    assert error_lines(pod_doc(container={"ports": ports})) == [
        f'{C0}.ports[0].name: Invalid value: "Web--1": '
        "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
        f'{C0}.ports[0].name: Invalid value: "Web--1": must not contain consecutive hyphens',
    ]


def test_host_network_requires_host_port_to_match_container_port() -> None:
    doc = pod_doc(
        spec={"hostNetwork": True}, container={"ports": [{"containerPort": 80, "hostPort": 8080}]}
    )
    assert error_lines(doc) == [
        f"{C0}.ports[0].hostPort: Invalid value: 8080: "
        "must match `containerPort` when `hostNetwork` is true"
    ]


def test_host_network_defaults_host_port_to_container_port() -> None:
    doc = pod_doc(spec={"hostNetwork": True}, container={"ports": [{"containerPort": 80}]})
    assert only_pod(doc).spec.containers[0].ports[0].host_port == 80


def test_host_port_zero_means_unpublished() -> None:
    doc = pod_doc(container={"ports": [{"containerPort": 80, "hostPort": 0, "protocol": "UDP"}]})
    port = only_pod(doc).spec.containers[0].ports[0]
    assert (port.host_port, port.protocol) == (None, "UDP")


def test_a_host_port_can_be_claimed_only_once_per_pod() -> None:
    doc = pod_doc(container={"ports": [{"containerPort": 80, "hostPort": 8080}]})
    doc["spec"]["containers"].append(
        {"name": "b", "image": "busybox:1", "ports": [{"containerPort": 81, "hostPort": 8080}]}
    )
    assert error_lines(doc) == [
        f'{SOURCE}: spec.containers[1].ports[0].hostPort: Duplicate value: "TCP//8080"'
    ]


# Resources.


def test_resources_are_converted_and_requests_default_to_limits() -> None:
    resources = {"limits": {"cpu": "500m", "memory": "1Gi"}, "requests": {"cpu": 0.0001}}
    res = only_pod(pod_doc(container={"resources": resources})).spec.containers[0].resources
    assert (res.cpu_request_millis, res.cpu_limit_millis) == (1, 500)
    assert (res.memory_request_bytes, res.memory_limit_bytes) == (2**30, 2**30)


def test_ephemeral_storage_is_ignored_with_a_warning() -> None:
    doc = pod_doc(container={"resources": {"limits": {"ephemeral-storage": "1Gi"}}})
    assert load(doc).warnings == (
        f"{C0}.resources.limits[ephemeral-storage]: ignored by kubelet-lite",
    )


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        (
            {"limits": {"cpu": "500m"}, "requests": {"cpu": "1"}},
            'requests[cpu]: Invalid value: "1": must be less than or equal to cpu limit of 500m',
        ),
        (
            {"limits": {"memory": "1KB"}},
            'limits[memory]: Invalid value: "1KB": quantities must match the regular expression '
            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        ),
        (
            {"requests": {"memory": "-1Mi"}},
            'requests[memory]: Invalid value: "-1Mi": must be greater than or equal to 0',
        ),
        (
            {"limits": {"nvidia.com/gpu": 1}},
            'limits[nvidia.com/gpu]: Unsupported value: "nvidia.com/gpu": '
            'supported values: "cpu", "ephemeral-storage", "memory"',
        ),
    ],
)
def test_resource_validation(resources: dict[str, Any], expected: str) -> None:
    assert error_lines(pod_doc(container={"resources": resources})) == [
        f"{C0}.resources.{expected}"
    ]


# Security contexts.


def test_security_contexts_parse() -> None:
    container = {
        "securityContext": {
            "runAsUser": 1000,
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
        }
    }
    spec = {"securityContext": {"runAsGroup": 3000, "supplementalGroups": [4000], "fsGroup": 2000}}
    pod = only_pod(pod_doc(container=container, spec=spec))
    sc = pod.spec.containers[0].security_context
    assert (sc.run_as_user, sc.run_as_non_root, sc.read_only_root_filesystem) == (1000, True, True)
    assert (sc.privileged, sc.allow_privilege_escalation) == (False, False)
    assert (sc.capabilities.add, sc.capabilities.drop) == (("NET_ADMIN",), ("ALL",))
    psc = pod.spec.security_context
    assert (psc.run_as_group, psc.supplemental_groups, psc.fs_group) == (3000, (4000,), 2000)


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        (
            {"privileged": True, "allowPrivilegeEscalation": False},
            "securityContext: Invalid value: "
            "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
        ),
        (
            {"runAsUser": -1},
            "securityContext.runAsUser: Invalid value: -1: "
            "must be between 0 and 2147483647, inclusive",
        ),
    ],
)
def test_security_context_validation(context: dict[str, Any], expected: str) -> None:
    assert error_lines(pod_doc(container={"securityContext": context})) == [f"{C0}.{expected}"]


# DNS, metadata, environment.


def test_dns_policy_none_requires_dns_config() -> None:
    assert error_lines(pod_doc(spec={"dnsPolicy": "None"})) == [
        f"{SOURCE}: spec.dnsConfig: Required value: "
        "must provide `dnsConfig` when `dnsPolicy` is None"
    ]


def test_dns_config_parses() -> None:
    config = {
        "nameservers": ["1.1.1.1"],
        "searches": ["svc.local."],
        "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}],
    }
    spec = only_pod(pod_doc(spec={"dnsPolicy": "None", "dnsConfig": config})).spec
    assert spec.dns_config is not None
    assert spec.dns_config.nameservers == ("1.1.1.1",)
    assert spec.dns_config.options == (("ndots", "2"), ("edns0", None))


def test_dns_nameservers_are_limited_and_must_be_ips() -> None:
    servers = ["1.1.1.1", "8.8.8.8", "9.9.9.9", "dns.local"]
    assert error_lines(pod_doc(spec={"dnsConfig": {"nameservers": servers}})) == [
        f'{SOURCE}: spec.dnsConfig.nameservers: Invalid value: ["1.1.1.1","8.8.8.8","9.9.9.9",'
        '"dns.local"]: must not have more than 3 nameservers',
        f'{SOURCE}: spec.dnsConfig.nameservers[3]: Invalid value: "dns.local": '
        "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
    ]


def test_labels_and_annotations_parse() -> None:
    metadata = {"labels": {"app.kubernetes.io/name": "web"}, "annotations": {"note": "any text"}}
    pod = only_pod(pod_doc(metadata=metadata))
    assert pod.labels == {"app.kubernetes.io/name": "web"}
    assert pod.annotations == {"note": "any text"}


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (
            {"bad key": "v"},
            'metadata.labels[bad key]: Invalid value: "bad key": name part must consist of '
            "alphanumeric characters, '-', '_' or '.', and must start and end with an "
            "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used "
            "for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
        ),
        ({"version": 1.0}, "metadata.labels[version]: Invalid value: 1: must be a string"),
    ],
)
def test_label_validation(labels: dict[str, Any], expected: str) -> None:
    assert error_lines(pod_doc(metadata={"labels": labels})) == [f"{SOURCE}: {expected}"]


def test_annotations_are_limited_in_total_size() -> None:
    text = "apiVersion: v1\nkind: Pod\nmetadata: {name: web, annotations: {a: %s}}\n" % (
        "x" * 256 * 1024
    )
    text += "spec: {containers: [{name: app, image: busybox}]}\n"
    assert error_lines(text) == [
        f"{SOURCE}: metadata.annotations: Too long: may not be more than 262144 bytes"
    ]


def test_later_duplicate_env_var_wins() -> None:
    env = [{"name": "A", "value": "1"}, {"name": "B"}, {"name": "A", "value": "2"}]
    container = only_pod(pod_doc(container={"env": env})).spec.containers[0]
    assert [(e.name, e.value) for e in container.env] == [("A", "2"), ("B", "")]


def test_env_names_may_not_contain_equals() -> None:
    doc = pod_doc(container={"env": [{"name": "A=B", "value": "1"}]})
    assert error_lines(doc) == [
        f'{C0}.env[0].name: Invalid value: "A=B": '
        "must consist only of printable ASCII characters except '='"
    ]


# Identity: uid, full name and hashes.


def test_uid_is_deterministic_and_uuid_shaped() -> None:
    first, second = only_pod(pod_doc()), only_pod(pod_doc())
    assert first.uid == second.uid
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", first.uid)


def test_uid_ignores_formatting_but_not_content() -> None:
    text = "kind: Pod  # a comment\napiVersion: v1\nmetadata: {name: web}\n"
    text += "spec: {containers: [{image: 'busybox:1.36', name: app}]}\n"
    assert only_pod(text).uid == only_pod(pod_doc()).uid
    assert only_pod(pod_doc(container={"image": "busybox:1.37"})).uid != only_pod(pod_doc()).uid


def test_uid_depends_on_the_source() -> None:
    assert load(pod_doc(), "a.yaml").pods[0].uid != load(pod_doc(), "b.yaml").pods[0].uid


def test_metadata_uid_is_respected() -> None:
    assert only_pod(pod_doc(metadata={"uid": "1234-abcd"})).uid == "1234-abcd"


def test_full_name_and_describe_follow_the_kubelet() -> None:
    pod = only_pod(pod_doc(metadata={"namespace": "prod", "uid": "u1"}))
    assert pod.full_name == "web_prod"
    assert pod.describe() == "web_prod(u1)"


def test_spec_hash_is_stable_and_ignores_spelled_out_defaults() -> None:
    plain = only_pod(pod_doc())
    explicit = only_pod(pod_doc(spec={"restartPolicy": "Always"}))
    assert re.fullmatch("[0-9a-f]{16}", plain.spec_hash)
    assert plain.spec_hash == explicit.spec_hash
    assert plain.spec_hash != only_pod(pod_doc(spec={"restartPolicy": "Never"})).spec_hash


def test_container_hash_changes_only_for_the_changed_container() -> None:
    def two_containers(sidecar_image: str) -> Pod:
        doc = pod_doc()
        doc["spec"]["containers"].append({"name": "side", "image": sidecar_image})
        return only_pod(doc)

    before, after = two_containers("envoy:1"), two_containers("envoy:2")
    assert container_hash(before, "app") == container_hash(after, "app")
    assert container_hash(before, "side") != container_hash(after, "side")
    assert len(container_hash(before, "app")) == 16
    with pytest.raises(KeyError):
        container_hash(before, "missing")


# resolve_port.


@pytest.mark.parametrize(("port", "expected"), [(8080, 8080), ("http", 9000), ("7000", 7000)])
def test_resolve_port(port: int | str, expected: int) -> None:
    container = Container(
        name="app",
        image="busybox",
        image_pull_policy="Always",
        ports=(ContainerPort(container_port=9000, name="http"),),
    )
    assert resolve_port(HTTPGetAction(port=port), container) == expected


@pytest.mark.parametrize("port", ["metrics", 70000])
def test_resolve_port_rejects_what_does_not_resolve(port: int | str) -> None:
    container = Container(name="app", image="busybox", image_pull_policy="Always")
    with pytest.raises(ValueError, match="app"):
        resolve_port(HTTPGetAction(port=port), container)


# Robustness.

# Six lines that alias their way to a million values.
ALIAS_BOMB = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 6)
)

ODD_DOCUMENTS = [
    "- a\n- b",
    "just text",
    "apiVersion: v1\nkind: Pod\nmetadata: []\nspec: 5",
    "apiVersion: v1\nkind: Pod\nmetadata: {name: null, labels: [1]}\nspec: {containers: null}",
    "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [null, 1, x, []]}",
    "apiVersion: v1\nkind: Pod\nmetadata: {name: a, annotations: {1: 2, null: true}}\n"
    "spec: {containers: [{name: a, image: b, lifecycle: {postStart: exec}}]}",
    "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {volumes: [{name: 1, hostPath: []}],"
    " containers: [{name: a, image: b, resources: {limits: [], requests: {cpu: [1]}}}]}",
    "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: a, image: b,"
    " ports: [{containerPort: 1.5, hostPort: 99999999999999999999999}], env: {a: b}}]}",
    "apiVersion: v1\nkind: Pod\nmetadata: {name: a, creationTimestamp: 2024-13-45}",
    "apiVersion: v1\nkind: Pod\nmetadata: {name: a, uid: !!binary aGk=}\nspec: {containers: [{}]}",
    "? [a, b]\n: c",
    "a: !!python/object/apply:os.system [true]",
    "a: &a [*a]",
    ALIAS_BOMB,
    "a: " + "[" * 150 + "]" * 150,
    "a: 1" + "0" * 5000,
    "a: \x00",
]


@pytest.mark.parametrize("text", ODD_DOCUMENTS)
def test_odd_input_raises_only_manifest_error(text: str) -> None:
    with pytest.raises(ManifestError) as info:
        load_pods(text, SOURCE)
    assert info.value.errors
    assert str(info.value).startswith(SOURCE)


def test_manifest_error_lists_each_error_with_its_source() -> None:
    error = ManifestError(
        [FieldError("a", ErrorType.REQUIRED), FieldError("b", ErrorType.REQUIRED, document=2)],
        "x.yaml",
    )
    assert str(error) == "x.yaml: a: Required value\nx.yaml[2]: b: Required value"
