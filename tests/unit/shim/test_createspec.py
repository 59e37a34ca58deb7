"""Validated CRI configs to Docker create bodies, in one pure pass (shim.translate.createspec)."""

from __future__ import annotations

import json

import pytest

from criapi.runtime.v1 import api_pb2 as pb
from shim.engine import capabilities
from shim.translate import createspec, labelrecord, labels, validate
from shim.translate.createspec import ResolvedContainer, ResolvedSandbox, SandboxView
from shim.translate.seccomp import SeccompChoice
from tests.support.criconfigs import (
    container_config,
    int64,
    kv,
    namespaces,
    resources,
    sandbox_config,
    sandbox_security,
    security,
)

SID = "5" * 64
TARGET_ID = "7" * 64
MIB = 1024 * 1024
DEFAULT_SECCOMP = SeccompChoice(None)


# -- builders ----------------------------------------------------------------------------


def settings(**fields):
    fields.setdefault("infra_image", "registry.k8s.io/pause:3.10")
    fields.setdefault("pod_network", "bridge")
    fields.setdefault("oom_score_adj", -998)
    fields.setdefault("seccomp", DEFAULT_SECCOMP)
    fields.setdefault("runtime_handler", "runc")
    fields.setdefault("docker_runtime", "")
    fields.setdefault("created_at", 42)
    fields.setdefault("instance", "")
    fields.setdefault("privileges", None)
    return ResolvedSandbox(**fields)


def sandbox_view(**namespace_options):
    return SandboxView(
        id=SID,
        metadata=pb.PodSandboxMetadata(name="nginx", namespace="default", uid="uid-1"),
        namespace_options=namespace_options,
        cgroup_parent="/kubepods/pod-1",
        log_directory="/var/log/pods/default_nginx_uid-1",
    )


def resolved_container(sandbox=None, seccomp=DEFAULT_SECCOMP, oom_score_adj=0, **fields):
    fields.setdefault("created_at", 42)
    fields.setdefault("instance", "")
    fields.setdefault("privileges", None)
    return ResolvedContainer(
        sandbox=sandbox or sandbox_view(), seccomp=seccomp, oom_score_adj=oom_score_adj, **fields
    )


def build_sandbox(config, settings_=None):
    return createspec.sandbox_body(config, settings_ or settings())


def build_container(config, sandbox=None, seccomp=DEFAULT_SECCOMP, oom_score_adj=0):
    return createspec.container_body(
        config, resolved_container(sandbox, seccomp=seccomp, oom_score_adj=oom_score_adj)
    )


# -- sandbox body -------------------------------------------------------------------


def test_sandbox_record():
    config = sandbox_config(
        metadata=pb.PodSandboxMetadata(name="nginx", namespace="default", uid="uid-1", attempt=2),
        log_directory="/var/log/pods/x",
        linux=sandbox_security(
            namespace_options=namespaces(network=pb.NODE, pid=pb.TARGET, target_id="t")
        ),
    )
    assert createspec.sandbox_record(config, "runc", 42).to_json() == {
        "version": labelrecord.VERSION,
        "metadata": {"name": "nginx", "uid": "uid-1", "namespace": "default", "attempt": 2},
        "created_at": 42,
        "runtime_handler": "runc",
        "log_directory": "/var/log/pods/x",
        "namespace_options": {
            "network": pb.NODE,
            "pid": pb.TARGET,
            "ipc": pb.POD,
            "target_id": "t",
        },
    }


def test_sandbox_record_is_json_serialisable():
    record = createspec.sandbox_record(sandbox_config(), "", 1)
    assert json.loads(labelrecord.encode(record)) == record.to_json()


def test_sandbox_body_pod_network():
    config = sandbox_config(
        hostname="nginx",
        port_mappings=[
            pb.PortMapping(container_port=80, host_port=8080, host_ip="127.0.0.1"),
            pb.PortMapping(protocol=pb.UDP, container_port=53, host_port=5353),
            pb.PortMapping(protocol=pb.SCTP, container_port=9000, host_port=9000),
            pb.PortMapping(container_port=443),  # exposed, not published
        ],
    )
    body = build_sandbox(config, settings(pod_network="podnet"))
    assert body["Image"] == "registry.k8s.io/pause:3.10"
    assert body["Hostname"] == "nginx"
    assert body["HostConfig"]["NetworkMode"] == "podnet"
    assert body["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}, "9000/sctp": {}, "443/tcp": {}}
    assert body["HostConfig"]["PortBindings"] == {
        "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
        "53/udp": [{"HostIp": "", "HostPort": "5353"}],
        "9000/sctp": [{"HostIp": "", "HostPort": "9000"}],
    }


def test_sandbox_body_binds_one_container_port_to_several_host_ports():
    config = sandbox_config(
        port_mappings=[
            pb.PortMapping(container_port=80, host_port=8080),
            pb.PortMapping(container_port=80, host_port=8081, host_ip="::1"),
        ]
    )
    assert build_sandbox(config)["HostConfig"]["PortBindings"] == {
        "80/tcp": [
            {"HostIp": "", "HostPort": "8080"},
            {"HostIp": "::1", "HostPort": "8081"},
        ]
    }


def test_sandbox_body_host_network_has_no_port_bindings():
    config = sandbox_config(
        port_mappings=[pb.PortMapping(container_port=80, host_port=8080)],
        linux=sandbox_security(namespace_options=namespaces(network=pb.NODE)),
    )
    body = build_sandbox(config)
    assert body["HostConfig"]["NetworkMode"] == "host"
    assert body["ExposedPorts"] == {}
    assert body["HostConfig"]["PortBindings"] == {}


@pytest.mark.parametrize(
    ("options", "pid_mode", "ipc_mode"),
    [
        (namespaces(), "", "shareable"),
        (namespaces(pid=pb.NODE), "host", "shareable"),
        (namespaces(ipc=pb.NODE), "", "host"),
        (namespaces(pid=pb.CONTAINER), "", "shareable"),
    ],
)
def test_sandbox_body_pid_and_ipc(options, pid_mode, ipc_mode):
    body = build_sandbox(sandbox_config(linux=sandbox_security(namespace_options=options)))
    assert body["HostConfig"]["PidMode"] == pid_mode
    assert body["HostConfig"]["IpcMode"] == ipc_mode


def test_sandbox_body_dns():
    config = sandbox_config(
        dns_config=pb.DNSConfig(
            servers=["10.96.0.10"], searches=["default.svc.cluster.local"], options=["ndots:5"]
        )
    )
    host_config = build_sandbox(config)["HostConfig"]
    assert host_config["Dns"] == ["10.96.0.10"]
    assert host_config["DnsSearch"] == ["default.svc.cluster.local"]
    assert host_config["DnsOptions"] == ["ndots:5"]


def test_sandbox_body_labels_include_type_and_record():
    config = sandbox_config(labels={"app": "web", "label.x": "1"}, annotations={"note": "n"})
    record = createspec.sandbox_record(config, "runc", 42)
    body = createspec.sandbox_body(config, settings())
    docker_labels = body["Labels"]
    assert docker_labels[labels.TYPE_KEY] == labels.TYPE_SANDBOX
    assert labelrecord.sandbox(docker_labels) == record
    assert labels.decode(docker_labels) == ({"app": "web", "label.x": "1"}, {"note": "n"})


def test_sandbox_body_host_settings():
    config = sandbox_config(
        linux=pb.LinuxPodSandboxConfig(
            cgroup_parent="/kubepods/pod-1",
            sysctls={"net.ipv4.ip_forward": "1"},
            security_context=pb.LinuxSandboxSecurityContext(
                readonly_rootfs=True, privileged=True, supplemental_groups=[1, 2000]
            ),
        )
    )
    body = build_sandbox(config, settings(oom_score_adj=-998))
    host_config = body["HostConfig"]
    assert host_config["CgroupParent"] == "/kubepods/pod-1"
    assert host_config["Sysctls"] == {"net.ipv4.ip_forward": "1"}
    assert host_config["OomScoreAdj"] == -998
    assert host_config["ReadonlyRootfs"] is True
    assert host_config["Privileged"] is True
    assert host_config["GroupAdd"] == ["1", "2000"]
    assert host_config["RestartPolicy"] == {"Name": "no"}
    assert host_config["LogConfig"]["Type"] == "json-file"
    assert body["Healthcheck"] == {"Test": ["NONE"]}


@pytest.mark.parametrize(
    ("seccomp", "security_opt"),
    [
        (SeccompChoice(None), []),
        (SeccompChoice("seccomp=unconfined"), ["seccomp=unconfined"]),
        (SeccompChoice('seccomp={"a":1}'), ['seccomp={"a":1}']),
    ],
)
def test_sandbox_body_seccomp(seccomp, security_opt):
    body = build_sandbox(sandbox_config(), settings(seccomp=seccomp))
    assert body["HostConfig"]["SecurityOpt"] == security_opt


@pytest.mark.parametrize(
    ("security_fields", "user"),
    [
        ({"run_as_user": int64(0)}, "0"),
        ({"run_as_user": int64(65535)}, "65535"),
        ({"run_as_user": int64(1000), "run_as_group": int64(3000)}, "1000:3000"),
        ({"run_as_user": int64(0), "run_as_group": int64(0)}, "0:0"),
    ],
)
def test_sandbox_body_user(security_fields, user):
    body = build_sandbox(sandbox_config(linux=sandbox_security(**security_fields)))
    assert body["User"] == user


def test_sandbox_body_without_user_keeps_the_image_user():
    assert "User" not in build_sandbox(sandbox_config())


# -- container body -----------------------------------------------------------------


def test_container_record():
    config = container_config(
        image=pb.ImageSpec(
            image="docker.io/library/busybox:latest",
            annotations={"a": "b"},
            user_specified_image="busybox",
            runtime_handler="runc",
        ),
        mounts=[pb.Mount(host_path="/a", container_path="/b", readonly=True)],
    )
    assert createspec.container_record(config, 42).to_json() == {
        "version": labelrecord.VERSION,
        "metadata": {"name": "app", "attempt": 1},
        "created_at": 42,
        "image": {
            "image": "docker.io/library/busybox:latest",
            "annotations": {"a": "b"},
            "user_specified_image": "busybox",
            "runtime_handler": "runc",
        },
        "mounts": [
            {
                "container_path": "/b",
                "host_path": "/a",
                "readonly": True,
                "selinux_relabel": False,
                "propagation": pb.PROPAGATION_PRIVATE,
            }
        ],
    }


@pytest.mark.parametrize(
    ("command", "args", "entrypoint", "cmd"),
    [
        ([], [], None, None),
        (["/bin/sh"], [], ["/bin/sh"], None),
        ([], ["-c", "echo"], None, ["-c", "echo"]),
        (["sh", "-c"], ["sleep 1"], ["sh", "-c"], ["sleep 1"]),
    ],
)
def test_container_body_entrypoint_and_cmd(command, args, entrypoint, cmd):
    body = build_container(container_config(command=command, args=args))
    assert body["Entrypoint"] == entrypoint
    assert body["Cmd"] == cmd


def test_container_body_basic_fields():
    config = container_config(
        envs=[kv("A", b"1"), kv("EMPTY", b""), kv("U", "ü=x".encode())],
        working_dir="/work",
        tty=True,
        stdin=True,
        stdin_once=True,
    )
    body = build_container(config)
    assert body["Image"] == "docker.io/library/busybox:latest"
    assert body["Env"] == ["A=1", "EMPTY=", "U=ü=x"]
    assert body["WorkingDir"] == "/work"
    assert body["Tty"] is True
    assert body["OpenStdin"] is True
    assert body["StdinOnce"] is True
    assert body["AttachStdin"] is True
    assert body["Healthcheck"] == {"Test": ["NONE"]}
    assert body["HostConfig"]["RestartPolicy"] == {"Name": "no"}
    assert body["HostConfig"]["CgroupParent"] == "/kubepods/pod-1"
    assert "Hostname" not in body


def test_container_body_labels():
    config = container_config(
        labels={"app": "web"}, annotations={"note": "n"}, log_path="app/1.log"
    )
    record = createspec.container_record(config, 42, "/var/log/pods/default_nginx_uid-1")
    body = createspec.container_body(config, resolved_container())
    docker_labels = body["Labels"]
    assert docker_labels[labels.TYPE_KEY] == labels.TYPE_CONTAINER
    assert docker_labels[labels.SANDBOX_ID_KEY] == SID
    assert docker_labels[labels.LOG_PATH_KEY] == "/var/log/pods/default_nginx_uid-1/app/1.log"
    assert labelrecord.container(docker_labels) == record
    assert labels.decode(docker_labels) == ({"app": "web"}, {"note": "n"})


@pytest.mark.parametrize(
    ("mount", "bind"),
    [
        (pb.Mount(host_path="/h", container_path="/c"), "/h:/c:rw,rprivate"),
        (pb.Mount(host_path="/h", container_path="/c", readonly=True), "/h:/c:ro,rprivate"),
        (
            pb.Mount(
                host_path="/h", container_path="/c", propagation=pb.PROPAGATION_HOST_TO_CONTAINER
            ),
            "/h:/c:rw,rslave",
        ),
        (
            pb.Mount(
                host_path="/h",
                container_path="/c",
                readonly=True,
                propagation=pb.PROPAGATION_BIDIRECTIONAL,
            ),
            "/h:/c:ro,rshared",
        ),
        (
            pb.Mount(host_path="/h", container_path="/c", selinux_relabel=True),
            "/h:/c:rw,rprivate,Z",
        ),
    ],
)
def test_container_body_binds(mount, bind):
    assert build_container(container_config(mounts=[mount]))["HostConfig"]["Binds"] == [bind]


def test_container_body_devices_default_to_rwm():
    config = container_config(
        devices=[
            pb.Device(host_path="/dev/fuse", container_path="/dev/fuse"),
            pb.Device(host_path="/dev/sda", container_path="/dev/xvda", permissions="r"),
        ]
    )
    assert build_container(config)["HostConfig"]["Devices"] == [
        {"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"},
        {"PathOnHost": "/dev/sda", "PathInContainer": "/dev/xvda", "CgroupPermissions": "r"},
    ]


JOINED = f"container:{SID}"


@pytest.mark.parametrize(
    ("sandbox_ns", "container_ns", "expected"),
    [
        (
            {"network": pb.POD, "pid": pb.POD, "ipc": pb.POD},
            namespaces(),
            {"NetworkMode": JOINED, "IpcMode": JOINED, "PidMode": JOINED, "UTSMode": ""},
        ),
        (
            {},
            namespaces(),
            {"NetworkMode": JOINED, "IpcMode": JOINED, "PidMode": JOINED, "UTSMode": ""},
        ),
        (
            {"network": pb.NODE, "pid": pb.POD, "ipc": pb.POD},
            namespaces(network=pb.NODE),
            {"NetworkMode": JOINED, "IpcMode": JOINED, "PidMode": JOINED, "UTSMode": "host"},
        ),
        (
            {"network": pb.POD, "pid": pb.NODE, "ipc": pb.NODE},
            namespaces(),
            {"NetworkMode": JOINED, "IpcMode": "host", "PidMode": "host", "UTSMode": ""},
        ),
        (
            {"network": pb.POD, "pid": pb.POD, "ipc": pb.POD},
            namespaces(pid=pb.NODE),
            {"NetworkMode": JOINED, "IpcMode": JOINED, "PidMode": "host", "UTSMode": ""},
        ),
        (
            {"network": pb.POD, "pid": pb.POD, "ipc": pb.POD},
            namespaces(pid=pb.CONTAINER),
            {"NetworkMode": JOINED, "IpcMode": JOINED, "PidMode": "", "UTSMode": ""},
        ),
        (
            {"network": pb.POD, "pid": pb.POD, "ipc": pb.POD},
            namespaces(pid=pb.TARGET, target_id=TARGET_ID),
            {
                "NetworkMode": JOINED,
                "IpcMode": JOINED,
                "PidMode": f"container:{TARGET_ID}",
                "UTSMode": "",
            },
        ),
    ],
)
def test_container_body_joins_sandbox_namespaces(sandbox_ns, container_ns, expected):
    body = build_container(security(namespace_options=container_ns), sandbox_view(**sandbox_ns))
    modes = {k: body["HostConfig"][k] for k in expected}
    assert modes == expected


def test_container_body_masked_and_readonly_paths_omitted_when_empty():
    host_config = build_container(container_config())["HostConfig"]
    assert "MaskedPaths" not in host_config
    assert "ReadonlyPaths" not in host_config


def test_container_body_masked_and_readonly_paths_when_set():
    config = security(masked_paths=["/proc/kcore"], readonly_paths=["/proc/sys", "/proc/bus"])
    host_config = build_container(config)["HostConfig"]
    assert host_config["MaskedPaths"] == ["/proc/kcore"]
    assert host_config["ReadonlyPaths"] == ["/proc/sys", "/proc/bus"]


@pytest.mark.parametrize(
    ("security_fields", "user"),
    [
        ({"run_as_user": int64(0)}, "0"),
        ({"run_as_user": int64(1000)}, "1000"),
        ({"run_as_user": int64(1000), "run_as_group": int64(2000)}, "1000:2000"),
        ({"run_as_user": int64(0), "run_as_group": int64(0)}, "0:0"),
        ({"run_as_username": "app"}, "app"),
        ({"run_as_username": "app", "run_as_group": int64(2000)}, "app:2000"),
    ],
)
def test_container_body_user(security_fields, user):
    assert build_container(security(**security_fields))["User"] == user


def test_container_body_without_user_keeps_the_image_user():
    assert "User" not in build_container(container_config())


@pytest.mark.parametrize(
    ("signal", "expected"),
    [(pb.SIGKILL, "SIGKILL"), (pb.SIGTERM, "SIGTERM"), (pb.SIGRTMINPLUS3, "SIGRTMINPLUS3")],
)
def test_container_body_stop_signal(signal, expected):
    assert build_container(container_config(stop_signal=signal))["StopSignal"] == expected


def test_container_body_default_stop_signal_is_omitted():
    assert "StopSignal" not in build_container(container_config())


@pytest.mark.parametrize(
    ("seccomp", "no_new_privs", "security_opt"),
    [
        (SeccompChoice(None), False, []),
        (SeccompChoice(None), True, ["no-new-privileges"]),
        (SeccompChoice("seccomp=unconfined"), False, ["seccomp=unconfined"]),
        (
            SeccompChoice('seccomp={"a":1}'),
            True,
            ['seccomp={"a":1}', "no-new-privileges"],
        ),
    ],
)
def test_container_body_security_opts(seccomp, no_new_privs, security_opt):
    body = build_container(security(no_new_privs=no_new_privs), seccomp=seccomp)
    assert body["HostConfig"]["SecurityOpt"] == security_opt


def test_container_body_capabilities_and_groups():
    config = security(
        capabilities=pb.Capability(add_capabilities=["NET_ADMIN"], drop_capabilities=["ALL"]),
        supplemental_groups=[0, 44],
        privileged=True,
        readonly_rootfs=True,
    )
    host_config = build_container(config)["HostConfig"]
    assert host_config["CapAdd"] == ["NET_ADMIN"]
    assert host_config["CapDrop"] == ["ALL"]
    assert host_config["GroupAdd"] == ["0", "44"]
    assert host_config["Privileged"] is True
    assert host_config["ReadonlyRootfs"] is True


def test_container_body_resources():
    config = resources(
        cpu_shares=512,
        cpu_period=100_000,
        cpu_quota=50_000,
        memory_limit_in_bytes=64 * MIB,
        cpuset_cpus="0-1",
        cpuset_mems="0",
        oom_score_adj=999,  # the caller decides the effective score
    )
    host_config = build_container(config, oom_score_adj=500)["HostConfig"]
    assert {
        k: host_config[k]
        for k in (
            "CpuShares",
            "CpuPeriod",
            "CpuQuota",
            "Memory",
            "MemorySwap",
            "CpusetCpus",
            "CpusetMems",
            "OomScoreAdj",
        )
    } == {
        "CpuShares": 512,
        "CpuPeriod": 100_000,
        "CpuQuota": 50_000,
        "Memory": 64 * MIB,
        "MemorySwap": 64 * MIB,
        "CpusetCpus": "0-1",
        "CpusetMems": "0",
        "OomScoreAdj": 500,
    }


# -- update body --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "memory", "swap"),
    [
        ({}, 0, 0),
        ({"memory_limit_in_bytes": 64 * MIB}, 64 * MIB, 64 * MIB),
        (
            {"memory_limit_in_bytes": 64 * MIB, "memory_swap_limit_in_bytes": 128 * MIB},
            64 * MIB,
            128 * MIB,
        ),
        ({"memory_limit_in_bytes": 64 * MIB, "memory_swap_limit_in_bytes": -1}, 64 * MIB, -1),
    ],
)
def test_update_body_swap_defaults_to_memory(fields, memory, swap):
    body = createspec.update_body(pb.LinuxContainerResources(**fields))
    assert body["Memory"] == memory
    assert body["MemorySwap"] == swap


def test_update_body_has_no_oom_score():
    body = createspec.update_body(pb.LinuxContainerResources(oom_score_adj=100, cpu_shares=256))
    assert "OomScoreAdj" not in body
    assert body == {
        "CpuShares": 256,
        "CpuPeriod": 0,
        "CpuQuota": 0,
        "Memory": 0,
        "MemorySwap": 0,
        "CpusetCpus": "",
        "CpusetMems": "",
    }


# -- one pass: everything resolved is in the body, nothing is added afterwards ---------


REPLACEMENT = capabilities.Replacement(("CHOWN", "KILL"), ("/dev/fuse",))


def test_sandbox_body_names_the_docker_runtime_of_the_handler():
    assert (
        build_sandbox(sandbox_config(), settings(docker_runtime="kata"))["HostConfig"]["Runtime"]
        == "kata"
    )
    assert "Runtime" not in build_sandbox(sandbox_config())["HostConfig"]


def test_bodies_carry_the_instance_label_of_a_scoped_shim():
    sandbox = build_sandbox(sandbox_config(), settings(instance="i9"))
    container = createspec.container_body(container_config(), resolved_container(instance="i9"))
    for body in (sandbox, container):
        assert body["Labels"][labels.INSTANCE_KEY] == "i9"
        assert labels.in_scope(body["Labels"], "i9")
    unscoped = build_sandbox(sandbox_config())
    assert labels.INSTANCE_KEY not in unscoped["Labels"]


def test_a_privileged_sandbox_gets_the_replacement_where_the_host_needs_one():
    config = sandbox_config(linux=sandbox_security(privileged=True))
    host_config = build_sandbox(config, settings(privileges=REPLACEMENT))["HostConfig"]
    assert host_config["Privileged"] is False
    assert host_config["CapAdd"] == ["CHOWN", "KILL"]
    assert [d["PathOnHost"] for d in host_config["Devices"]] == ["/dev/fuse"]
    assert build_sandbox(config)["HostConfig"]["Privileged"] is True


def test_a_privileged_container_gets_the_replacement_where_the_host_needs_one():
    config = security(privileged=True, seccomp_profile_path="runtime/default")
    resolved = resolved_container(seccomp=SeccompChoice("seccomp=unconfined"))
    plain = createspec.container_body(config, resolved)["HostConfig"]
    assert plain["Privileged"] is True
    replaced = createspec.container_body(
        config, resolved_container(seccomp=resolved.seccomp, privileges=REPLACEMENT)
    )["HostConfig"]
    assert replaced["Privileged"] is False
    assert replaced["CapAdd"] == ["CHOWN", "KILL"]
    assert replaced["CapDrop"] == []
    assert replaced["MaskedPaths"] == []
    assert "seccomp=unconfined" in replaced["SecurityOpt"]


def test_adding_all_capabilities_is_replaced_by_the_held_ones_minus_the_drops():
    config = security(
        capabilities=pb.Capability(add_capabilities=["ALL"], drop_capabilities=["KILL"])
    )
    host_config = createspec.container_body(config, resolved_container(privileges=REPLACEMENT))[
        "HostConfig"
    ]
    assert host_config["CapAdd"] == ["CHOWN"]
    assert host_config["Devices"] == []


def test_a_replacement_is_not_applied_to_a_container_that_does_not_want_every_capability():
    config = security(capabilities=pb.Capability(add_capabilities=["NET_ADMIN"]))
    with_replacement = createspec.container_body(config, resolved_container(privileges=REPLACEMENT))
    assert with_replacement == build_container(config)


@pytest.mark.parametrize(
    ("log_path", "expected_path", "recorded_directory"),
    [
        (
            "app/1.log",
            "/var/log/pods/default_nginx_uid-1/app/1.log",
            "/var/log/pods/default_nginx_uid-1",
        ),
        ("", "", ""),
    ],
)
def test_container_log_file_is_below_the_sandbox_log_directory(
    log_path, expected_path, recorded_directory
):
    body = build_container(container_config(log_path=log_path))
    assert body["Labels"][labels.LOG_PATH_KEY] == expected_path
    assert labelrecord.container(body["Labels"]).log_directory == recorded_directory


def test_no_log_file_without_a_sandbox_log_directory():
    view = SandboxView(
        id=SID,
        metadata=pb.PodSandboxMetadata(name="nginx", namespace="default", uid="uid-1"),
        namespace_options={},
        cgroup_parent="",
        log_directory="",
    )
    body = build_container(container_config(log_path="app/1.log"), sandbox=view)
    assert body["Labels"][labels.LOG_PATH_KEY] == ""


def test_translation_is_pure():
    config = security(
        privileged=True, capabilities=pb.Capability(add_capabilities=["ALL"]), run_as_user=int64(7)
    )
    before = config.SerializeToString(deterministic=True)
    resolved = resolved_container(privileges=REPLACEMENT)
    first = createspec.container_body(config, resolved)
    assert createspec.container_body(config, resolved) == first
    assert config.SerializeToString(deterministic=True) == before
    assert resolved.privileges == REPLACEMENT


def test_every_enum_value_validation_accepts_has_a_docker_spelling():
    assert set(createspec._PROTOCOLS) == validate.PROTOCOLS
    assert set(createspec._PROPAGATION) == validate.PROPAGATIONS
