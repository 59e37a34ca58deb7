"""Pod model → CRI sandbox and container configs, shaped as the kubelet shapes them."""

import json
from typing import Any

import pytest
import yaml

from criapi.runtime.v1 import api_pb2 as cri
from kubeletlite import manifest as m
from kubeletlite.runtime import podconfig
from kubeletlite.runtime.podconfig import ContainerInputs
from kubeletlite.settings import NodeFacts

GIB = 1024**3
RESOLV_CONF = """\
# written by the node's resolver
nameserver 10.0.0.2
nameserver 10.0.0.3  # secondary
search corp.example lab.example
options ndots:2 edns0
"""
FACTS = NodeFacts(
    pod_logs_root="/var/log/pods",
    pods_root="/var/lib/kubelet-lite/pods",
    memory_capacity_bytes=8 * GIB,
    host_resolv_conf=RESOLV_CONF,
)
UID = "0f8fad5b-d9cb-469f-a165-70867728950e"


def make_pod(
    *,
    spec: dict[str, Any] | None = None,
    containers: list[dict[str, Any]] | None = None,
    metadata: dict[str, Any] | None = None,
) -> m.Pod:
    """A pod loaded through the real manifest loader (so defaults are Kubernetes')."""
    doc = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "shop", "uid": UID, **(metadata or {})},
        "spec": {
            "containers": containers or [{"name": "app", "image": "busybox:1.36"}],
            **(spec or {}),
        },
    }
    (pod,) = m.load_pods(yaml.safe_dump(doc), "pods/web.yaml").pods
    return pod


def sandbox(pod: m.Pod, attempt: int = 0, manifest_json: str = '{"kind":"Pod"}'):
    return podconfig.sandbox_config(pod, attempt, FACTS, manifest_json)


def inputs(**changes: Any) -> ContainerInputs:
    base: dict[str, Any] = {
        "image_ref": "sha256:" + "b" * 64,
        "restart_count": 0,
        "volume_paths": {},
        "termination_log": None,
    }
    return ContainerInputs(**{**base, **changes})


def container(pod: m.Pod, index: int = 0, **changes: Any) -> cri.ContainerConfig:
    return podconfig.container_config(pod, pod.spec.containers[index], inputs(**changes), FACTS)


# -- sandbox -------------------------------------------------------------------------


def test_sandbox_metadata_log_directory_and_namespaces() -> None:
    pod = make_pod()
    config = sandbox(pod, attempt=3)
    assert (config.metadata.name, config.metadata.namespace) == ("web", "shop")
    assert (config.metadata.uid, config.metadata.attempt) == (UID, 3)
    assert config.log_directory == f"/var/log/pods/shop_web_{UID}"
    assert podconfig.pod_log_directory(pod, FACTS) == config.log_directory
    options = config.linux.security_context.namespace_options
    assert (options.network, options.pid, options.ipc) == (cri.POD, cri.CONTAINER, cri.POD)


def test_sandbox_labels_keep_the_pods_own_and_add_the_kubelets() -> None:
    pod = make_pod(metadata={"labels": {"app": "shop", "tier": "web"}})
    assert dict(sandbox(pod).labels) == {
        "app": "shop",
        "tier": "web",
        "io.kubernetes.pod.name": "web",
        "io.kubernetes.pod.namespace": "shop",
        "io.kubernetes.pod.uid": UID,
        "kubelet-lite.io/managed": "true",
    }


def test_a_pod_label_cannot_forge_the_identity_labels() -> None:
    pod = make_pod(metadata={"labels": {"io.kubernetes.pod.name": "other"}})
    assert sandbox(pod).labels["io.kubernetes.pod.name"] == "web"


def test_sandbox_annotations_carry_the_manifest_and_config_hash() -> None:
    pod = make_pod(metadata={"annotations": {"team": "payments"}})
    stored = '{"kind":"Pod","metadata":{"name":"web"}}'
    annotations = dict(sandbox(pod, manifest_json=stored).annotations)
    assert annotations == {
        "team": "payments",
        "kubelet-lite.io/manifest": stored,
        "kubelet-lite.io/source": "pods/web.yaml",
        "kubernetes.io/config.hash": pod.spec_hash,
        "kubernetes.io/config.source": "file",
    }
    assert len(pod.spec_hash) == 16


def test_hostname_is_the_pod_name() -> None:
    assert sandbox(make_pod()).hostname == "web"


def test_hostname_prefers_spec_hostname() -> None:
    assert sandbox(make_pod(spec={"hostname": "front"})).hostname == "front"


def test_long_pod_name_is_cut_to_63_characters() -> None:
    name = "a" * 70
    assert sandbox(make_pod(metadata={"name": name})).hostname == "a" * 63


@pytest.mark.parametrize(
    ("name", "hostname"),
    [
        ("a" * 62 + "-b", "a" * 62),
        ("a" * 62 + ".b", "a" * 62),
        ("a" * 61 + "--b", "a" * 61),
        ("a" * 61 + "-b.c", "a" * 61 + "-b"),  # a dash inside the cut stays
    ],
)
def test_cut_hostname_never_ends_in_a_dash_or_dot(name: str, hostname: str) -> None:
    assert sandbox(make_pod(metadata={"name": name})).hostname == hostname


def test_host_network_pod_has_no_hostname_and_uses_the_node_network() -> None:
    config = sandbox(make_pod(spec={"hostNetwork": True, "hostname": "ignored"}))
    assert config.hostname == ""
    assert config.linux.security_context.namespace_options.network == cri.NODE


@pytest.mark.parametrize("policy", ["ClusterFirst", "Default"])
def test_dns_from_the_node_resolv_conf(policy: str) -> None:
    dns = sandbox(make_pod(spec={"dnsPolicy": policy})).dns_config
    assert list(dns.servers) == ["10.0.0.2", "10.0.0.3"]
    assert list(dns.searches) == ["corp.example", "lab.example"]
    assert list(dns.options) == ["ndots:2", "edns0"]


def test_dns_policy_none_uses_only_dns_config() -> None:
    spec = {
        "dnsPolicy": "None",
        "dnsConfig": {
            "nameservers": ["1.1.1.1"],
            "searches": ["svc.example"],
            "options": [{"name": "ndots", "value": "1"}, {"name": "rotate"}],
        },
    }
    dns = sandbox(make_pod(spec=spec)).dns_config
    assert list(dns.servers) == ["1.1.1.1"]
    assert list(dns.searches) == ["svc.example"]
    assert list(dns.options) == ["ndots:1", "rotate"]


def test_dns_config_is_merged_into_the_node_configuration() -> None:
    spec = {
        "dnsConfig": {
            "nameservers": ["10.0.0.3", "1.1.1.1"],
            "searches": ["lab.example", "svc.example"],
            "options": [{"name": "ndots", "value": "5"}, {"name": "single-request"}],
        }
    }
    dns = sandbox(make_pod(spec=spec)).dns_config
    assert list(dns.servers) == ["10.0.0.2", "10.0.0.3", "1.1.1.1"]
    assert list(dns.searches) == ["corp.example", "lab.example", "svc.example"]
    # One option per name, the pod's value winning (the kubelet's mergeDNSOptions).
    assert list(dns.options) == ["ndots:5", "edns0", "single-request"]


def test_parse_resolv_conf_ignores_comments_and_takes_the_last_search_line() -> None:
    text = "; old\nsearch a.example\ndomain b.example\nnameserver\nnameserver 9.9.9.9 # x\n"
    assert podconfig.parse_resolv_conf(text) == (["9.9.9.9"], ["b.example"], [])


def test_only_ports_with_a_host_port_are_mapped() -> None:
    ports = [
        {"containerPort": 80, "name": "http"},
        {"containerPort": 443, "hostPort": 8443, "hostIP": "127.0.0.1"},
        {"containerPort": 53, "hostPort": 5353, "protocol": "UDP"},
    ]
    mappings = sandbox(make_pod(containers=[{"name": "app", "image": "x:1", "ports": ports}]))
    assert [
        (p.protocol, p.container_port, p.host_port, p.host_ip) for p in mappings.port_mappings
    ] == [(cri.TCP, 443, 8443, "127.0.0.1"), (cri.UDP, 53, 5353, "")]


def test_sandbox_security_context_from_the_pod() -> None:
    spec = {
        "securityContext": {
            "runAsUser": 0,
            "runAsGroup": 10,
            "supplementalGroups": [20, 30],
            "fsGroup": 40,
        }
    }
    context = sandbox(make_pod(spec=spec)).linux.security_context
    assert context.HasField("run_as_user")
    assert (context.run_as_user.value, context.run_as_group.value) == (0, 10)
    assert list(context.supplemental_groups) == [20, 30, 40]


def test_sandbox_without_a_pod_security_context_sets_no_user() -> None:
    context = sandbox(make_pod()).linux.security_context
    assert not context.HasField("run_as_user")
    assert not context.HasField("run_as_group")


# -- container -----------------------------------------------------------------------


def test_container_metadata_log_path_and_image() -> None:
    pod = make_pod()
    config = container(pod, restart_count=4, image_ref="sha256:" + "c" * 64)
    assert (config.metadata.name, config.metadata.attempt) == ("app", 4)
    assert config.log_path == "app/4.log"
    assert config.image.image == "sha256:" + "c" * 64
    assert config.image.user_specified_image == "busybox:1.36"


def test_container_command_env_and_flags() -> None:
    spec = {
        "name": "app",
        "image": "busybox:1.36",
        "command": ["sh", "-c"],
        "args": ["echo $GREETING"],
        "workingDir": "/srv",
        "env": [{"name": "GREETING", "value": "héllo"}, {"name": "EMPTY", "value": ""}],
        "stdin": True,
        "tty": True,
    }
    config = container(make_pod(containers=[spec]))
    assert list(config.command) == ["sh", "-c"]
    assert list(config.args) == ["echo $GREETING"]
    assert config.working_dir == "/srv"
    assert [(e.key, e.value) for e in config.envs] == [
        ("GREETING", "héllo".encode()),
        ("EMPTY", b""),
    ]
    assert (config.stdin, config.stdin_once, config.tty) == (True, False, True)


def test_container_labels() -> None:
    config = container(make_pod())
    assert dict(config.labels) == {
        "io.kubernetes.pod.name": "web",
        "io.kubernetes.pod.namespace": "shop",
        "io.kubernetes.pod.uid": UID,
        "kubelet-lite.io/managed": "true",
        "io.kubernetes.container.name": "app",
    }


def test_mounts_with_sub_path_propagation_and_termination_log() -> None:
    spec = {
        "name": "app",
        "image": "busybox:1.36",
        "volumeMounts": [
            {"name": "data", "mountPath": "/data"},
            {"name": "data", "mountPath": "/conf", "subPath": "etc/app", "readOnly": True},
            {"name": "host", "mountPath": "/host", "mountPropagation": "HostToContainer"},
            {"name": "host", "mountPath": "/shared", "mountPropagation": "None"},
        ],
    }
    volumes = [
        {"name": "data", "emptyDir": {}},
        {"name": "host", "hostPath": {"path": "/srv"}},
    ]
    pod = make_pod(containers=[spec], spec={"volumes": volumes})
    config = container(
        pod,
        volume_paths={"data": "/pods/uid/volumes/data", "host": "/srv"},
        termination_log="/pods/uid/containers/app/0a1b2c3d",
    )
    assert [
        (mount.container_path, mount.host_path, mount.readonly, mount.propagation)
        for mount in config.mounts
    ] == [
        ("/data", "/pods/uid/volumes/data", False, cri.PROPAGATION_PRIVATE),
        ("/conf", "/pods/uid/volumes/data/etc/app", True, cri.PROPAGATION_PRIVATE),
        ("/host", "/srv", False, cri.PROPAGATION_HOST_TO_CONTAINER),
        ("/shared", "/srv", False, cri.PROPAGATION_PRIVATE),
        ("/dev/termination-log", "/pods/uid/containers/app/0a1b2c3d", False, 0),
    ]


def test_bidirectional_propagation_is_mapped() -> None:
    spec = {
        "name": "app",
        "image": "busybox:1.36",
        "securityContext": {"privileged": True},
        "volumeMounts": [{"name": "h", "mountPath": "/h", "mountPropagation": "Bidirectional"}],
    }
    pod = make_pod(containers=[spec], spec={"volumes": [{"name": "h", "hostPath": {"path": "/"}}]})
    (mount,) = container(pod, volume_paths={"h": "/"}).mounts
    assert mount.propagation == cri.PROPAGATION_BIDIRECTIONAL


def test_termination_log_follows_a_custom_path() -> None:
    spec = {"name": "app", "image": "busybox:1.36", "terminationMessagePath": "/tmp/why"}
    (mount,) = container(make_pod(containers=[spec]), termination_log="/host/why").mounts
    assert (mount.container_path, mount.host_path) == ("/tmp/why", "/host/why")


def test_container_annotations_for_adoption_after_a_restart() -> None:
    spec = {
        "name": "app",
        "image": "busybox:1.36",
        "ports": [{"containerPort": 8080, "name": "http"}, {"containerPort": 53, "hostPort": 53}],
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "lifecycle": {
            "postStart": {"httpGet": {"path": "/ready", "port": "http"}},
            "preStop": {"exec": {"command": ["sh", "-c", "sleep 1"]}},
        },
    }
    pod = make_pod(containers=[spec], spec={"terminationGracePeriodSeconds": 45})
    annotations = dict(container(pod, restart_count=2).annotations)
    assert annotations == {
        "io.kubernetes.container.hash": m.container_hash(pod, "app"),
        "io.kubernetes.container.restartCount": "2",
        "io.kubernetes.container.terminationMessagePath": "/dev/termination-log",
        "io.kubernetes.container.terminationMessagePolicy": "FallbackToLogsOnError",
        "io.kubernetes.pod.terminationGracePeriod": "45",
        "io.kubernetes.container.ports": json.dumps(
            [
                {"containerPort": 8080, "protocol": "TCP", "name": "http"},
                {"containerPort": 53, "protocol": "TCP", "hostPort": 53},
            ]
        ),
        "io.kubernetes.container.preStopHandler": '{"exec": {"command": ["sh", "-c", "sleep 1"]}}',
        "kubelet-lite.io/postStartHandler": json.dumps(
            {"httpGet": {"path": "/ready", "port": "http", "scheme": "HTTP"}}
        ),
    }


def test_container_without_ports_or_hooks_has_only_the_base_annotations() -> None:
    annotations = container(make_pod()).annotations
    assert set(annotations) == {
        "io.kubernetes.container.hash",
        "io.kubernetes.container.restartCount",
        "io.kubernetes.container.terminationMessagePath",
        "io.kubernetes.container.terminationMessagePolicy",
        "io.kubernetes.pod.terminationGracePeriod",
    }


# -- resources and QoS ----------------------------------------------------------------


def resources(**kinds: dict[str, str]) -> dict[str, Any]:
    return {"name": "app", "image": "busybox:1.36", "resources": kinds}


@pytest.mark.parametrize(
    ("requests", "shares"),
    [
        ({}, 2),  # nothing requested: the minimum
        ({"cpu": "1m"}, 2),  # 1 * 1024 / 1000 rounds down to 1, raised to the minimum
        ({"cpu": "100m"}, 102),
        ({"cpu": "250m"}, 256),
        ({"cpu": "1"}, 1024),
        ({"cpu": "2.5"}, 2560),
    ],
)
def test_cpu_shares_from_the_request(requests: dict[str, str], shares: int) -> None:
    config = container(make_pod(containers=[resources(requests=requests)]))
    assert config.linux.resources.cpu_shares == shares


@pytest.mark.parametrize(
    ("cpu_limit", "quota"),
    [("500m", 50_000), ("2", 200_000), ("5m", 1000), ("1m", 1000)],
)
def test_cpu_quota_and_period_from_the_limit(cpu_limit: str, quota: int) -> None:
    config = container(make_pod(containers=[resources(limits={"cpu": cpu_limit})]))
    assert (config.linux.resources.cpu_period, config.linux.resources.cpu_quota) == (
        100_000,
        quota,
    )


def test_no_cpu_limit_means_no_quota() -> None:
    config = container(make_pod(containers=[resources(requests={"cpu": "1"})]))
    assert (config.linux.resources.cpu_period, config.linux.resources.cpu_quota) == (0, 0)


def test_memory_limit() -> None:
    config = container(make_pod(containers=[resources(limits={"memory": "64Mi"})]))
    assert config.linux.resources.memory_limit_in_bytes == 64 * 1024**2
    assert container(make_pod()).linux.resources.memory_limit_in_bytes == 0


@pytest.mark.parametrize(
    ("kinds", "qos", "oom"),
    [
        ({}, "BestEffort", 1000),
        ({"limits": {"cpu": "1", "memory": "1Gi"}}, "Guaranteed", -997),
        (
            {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
            "Guaranteed",
            -997,
        ),
        # A request below the limit, or a limit missing: Burstable, 1000 - 1000 * req / capacity.
        ({"requests": {"memory": "2Gi"}}, "Burstable", 750),
        ({"requests": {"memory": "1Gi"}, "limits": {"memory": "2Gi"}}, "Burstable", 875),
        ({"limits": {"memory": "1Gi"}}, "Burstable", 875),  # no cpu limit
        ({"requests": {"cpu": "100m"}}, "Burstable", 999),  # no memory request: 1000 - 1
        ({"requests": {"memory": "8Gi"}}, "Burstable", 3),  # all the memory: the floor
        ({"requests": {"memory": "7999Mi"}}, "Burstable", 24),  # 1000 - 976, above the floor
    ],
)
def test_qos_class_and_oom_score_adj(kinds: dict[str, Any], qos: str, oom: int) -> None:
    pod = make_pod(containers=[{"name": "app", "image": "busybox:1.36", "resources": kinds}])
    assert podconfig.qos_class(pod) == qos
    assert container(pod).linux.resources.oom_score_adj == oom


def test_qos_is_decided_over_all_containers() -> None:
    guaranteed = {"limits": {"cpu": "1", "memory": "1Gi"}}
    both = [
        {"name": "a", "image": "busybox:1.36", "resources": guaranteed},
        {"name": "b", "image": "busybox:1.36"},
    ]
    pod = make_pod(containers=both)
    assert podconfig.qos_class(pod) == "Burstable"
    # b requests nothing: as Burstable it gets the ceiling.
    assert container(pod, 1).linux.resources.oom_score_adj == 999
    assert container(pod, 0).linux.resources.oom_score_adj == 1000 - 1000 // 8


def test_burstable_score_is_capped_below_best_effort() -> None:
    pod = make_pod(containers=[resources(requests={"memory": "1"})])
    assert container(pod).linux.resources.oom_score_adj == 999


def test_burstable_score_never_goes_below_the_floor() -> None:
    facts = NodeFacts("/l", "/p", memory_capacity_bytes=GIB, host_resolv_conf="")
    pod = make_pod(containers=[resources(requests={"memory": "4Gi"})])
    assert podconfig.oom_score_adj(pod, pod.spec.containers[0], facts.memory_capacity_bytes) == 3


# -- security context ------------------------------------------------------------------


def security(pod_context: dict[str, Any] | None = None, **context: Any) -> cri.ContainerConfig:
    spec = {"name": "app", "image": "busybox:1.36", "securityContext": context}
    return container(make_pod(containers=[spec], spec={"securityContext": pod_context or {}}))


def test_run_as_user_zero_is_honoured() -> None:
    context = security(runAsUser=0).linux.security_context
    assert context.HasField("run_as_user")
    assert context.run_as_user.value == 0


def test_container_user_and_group_override_the_pods() -> None:
    context = security({"runAsUser": 1000, "runAsGroup": 1000}, runAsUser=7, runAsGroup=8)
    sc = context.linux.security_context
    assert (sc.run_as_user.value, sc.run_as_group.value) == (7, 8)


def test_pod_user_and_group_apply_when_the_container_sets_none() -> None:
    sc = security({"runAsUser": 1000, "runAsGroup": 2000}).linux.security_context
    assert (sc.run_as_user.value, sc.run_as_group.value) == (1000, 2000)


def test_group_is_only_set_with_a_user() -> None:
    sc = security(runAsGroup=5).linux.security_context
    assert not sc.HasField("run_as_user")
    assert not sc.HasField("run_as_group")


def test_no_user_at_all() -> None:
    sc = security().linux.security_context
    assert not sc.HasField("run_as_user")
    assert podconfig.effective_user(make_pod(), make_pod().spec.containers[0]) is None


@pytest.mark.parametrize(("allow", "no_new_privs"), [(None, False), (True, False), (False, True)])
def test_no_new_privs_only_when_privilege_escalation_is_forbidden(
    allow: bool | None, no_new_privs: bool
) -> None:
    context = {} if allow is None else {"allowPrivilegeEscalation": allow}
    assert security(**context).linux.security_context.no_new_privs is no_new_privs


def test_capabilities_privileged_and_read_only_root() -> None:
    sc = security(
        capabilities={"add": ["NET_ADMIN"], "drop": ["ALL"]},
        privileged=True,
        readOnlyRootFilesystem=True,
    ).linux.security_context
    assert list(sc.capabilities.add_capabilities) == ["NET_ADMIN"]
    assert list(sc.capabilities.drop_capabilities) == ["ALL"]
    assert sc.privileged is True
    assert sc.readonly_rootfs is True


def test_supplemental_groups_include_the_fs_group_once() -> None:
    sc = security({"supplementalGroups": [5, 6], "fsGroup": 6}).linux.security_context
    assert list(sc.supplemental_groups) == [5, 6]
    sc = security({"supplementalGroups": [5], "fsGroup": 9}).linux.security_context
    assert list(sc.supplemental_groups) == [5, 9]


def test_container_namespaces() -> None:
    options = security().linux.security_context.namespace_options
    assert (options.network, options.pid, options.ipc) == (cri.POD, cri.CONTAINER, cri.POD)
    host = make_pod(spec={"hostNetwork": True})
    options = container(host).linux.security_context.namespace_options
    assert options.network == cri.NODE


@pytest.mark.parametrize(
    ("pod_flag", "container_flag", "expected"),
    [(None, None, False), (True, None, True), (True, False, False), (None, True, True)],
)
def test_run_as_non_root_container_overrides_pod(
    pod_flag: bool | None, container_flag: bool | None, expected: bool
) -> None:
    pod_context = {} if pod_flag is None else {"runAsNonRoot": pod_flag}
    context = {} if container_flag is None else {"runAsNonRoot": container_flag}
    spec = {"name": "app", "image": "busybox:1.36", "securityContext": context}
    pod = make_pod(containers=[spec], spec={"securityContext": pod_context})
    assert podconfig.run_as_non_root(pod, pod.spec.containers[0]) is expected


# -- handlers as JSON -------------------------------------------------------------------


HANDLERS = [
    (
        m.ExecAction(command=("sh", "-c", "echo bye")),
        {"exec": {"command": ["sh", "-c", "echo bye"]}},
    ),
    (m.SleepAction(seconds=5), {"sleep": {"seconds": 5}}),
    (m.SleepAction(seconds=0), {"sleep": {"seconds": 0}}),
    (
        m.HTTPGetAction(port=8080, path="/drain"),
        {"httpGet": {"path": "/drain", "port": 8080, "scheme": "HTTP"}},
    ),
    (
        m.HTTPGetAction(
            port="admin",
            path="/q?x=1",
            host="10.1.2.3",
            scheme="HTTPS",
            headers=(m.HTTPHeader("X-Token", "abc"), m.HTTPHeader("Accept", "")),
        ),
        {
            "httpGet": {
                "path": "/q?x=1",
                "port": "admin",
                "host": "10.1.2.3",
                "scheme": "HTTPS",
                "httpHeaders": [
                    {"name": "X-Token", "value": "abc"},
                    {"name": "Accept", "value": ""},
                ],
            }
        },
    ),
]


@pytest.mark.parametrize(("handler", "document"), HANDLERS)
def test_handler_json_matches_the_kubelets_annotation(
    handler: m.Handler, document: dict[str, Any]
) -> None:
    assert podconfig.handler_to_json(handler) == document


def test_handler_to_json_rejects_something_else() -> None:
    with pytest.raises(TypeError):
        podconfig.handler_to_json("exec ls")  # type: ignore[arg-type]
