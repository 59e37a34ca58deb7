"""Validation of CRI configs: pure, every refusal naming its field (shim.translate.validate)."""

from __future__ import annotations

import pytest

from criapi.runtime.v1 import api_pb2 as pb
from shim.errors import InvalidArgument
from shim.translate import validate
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

TARGET_ID = "7" * 64
MIB = 1024 * 1024


# -- sandbox validation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "prefix"),
    [
        (pb.PodSandboxConfig(), "config.metadata: required"),
        (
            sandbox_config(metadata=pb.PodSandboxMetadata(namespace="default", uid="u")),
            "config.metadata.name: must not be empty",
        ),
        (
            sandbox_config(metadata=pb.PodSandboxMetadata(name="n", namespace="a b", uid="u")),
            "config.metadata.namespace: must start with a letter or digit",
        ),
        (
            sandbox_config(metadata=pb.PodSandboxMetadata(name="n", namespace="ns")),
            "config.metadata.uid: must not be empty",
        ),
        (
            sandbox_config(metadata=pb.PodSandboxMetadata(name="_n", namespace="ns", uid="u")),
            "config.metadata.name: must start",
        ),
        (
            sandbox_config(port_mappings=[pb.PortMapping(container_port=0)]),
            "config.port_mappings[0].container_port: must be between 1 and 65535",
        ),
        (
            sandbox_config(
                port_mappings=[
                    pb.PortMapping(container_port=80),
                    pb.PortMapping(container_port=65536),
                ]
            ),
            "config.port_mappings[1].container_port:",
        ),
        (
            sandbox_config(port_mappings=[pb.PortMapping(container_port=-80)]),
            "config.port_mappings[0].container_port:",
        ),
        (
            sandbox_config(port_mappings=[pb.PortMapping(container_port=80, host_port=-1)]),
            "config.port_mappings[0].host_port: must be between 0 and 65535",
        ),
        (
            sandbox_config(port_mappings=[pb.PortMapping(container_port=80, host_port=65536)]),
            "config.port_mappings[0].host_port:",
        ),
        (
            sandbox_config(
                port_mappings=[
                    pb.PortMapping(container_port=80, host_ip="10.0.0.1"),
                    pb.PortMapping(container_port=80, host_ip="localhost"),
                ]
            ),
            "config.port_mappings[1].host_ip: 'localhost' is not an IP address",
        ),
        (
            sandbox_config(dns_config=pb.DNSConfig(servers=["8.8.8.8", "8.8.8"])),
            "config.dns_config.servers[1]: '8.8.8' is not an IP address",
        ),
        (
            sandbox_config(dns_config=pb.DNSConfig(servers=["dns.example.com"])),
            "config.dns_config.servers[0]:",
        ),
        (
            sandbox_config(
                linux=sandbox_security(namespace_options=namespaces(network=pb.CONTAINER))
            ),
            "config.linux.security_context.namespace_options.network: only POD and NODE",
        ),
        (
            sandbox_config(linux=sandbox_security(namespace_options=namespaces(network=pb.TARGET))),
            "config.linux.security_context.namespace_options.network:",
        ),
        (
            sandbox_config(linux=sandbox_security(namespace_options=namespaces(ipc=pb.CONTAINER))),
            "config.linux.security_context.namespace_options.ipc: only POD and NODE",
        ),
        (
            sandbox_config(linux=sandbox_security(namespace_options=namespaces(pid=pb.TARGET))),
            "config.linux.security_context.namespace_options.target_id: required",
        ),
        (
            sandbox_config(linux=sandbox_security(seccomp_profile_path="bogus")),
            "config.linux.security_context.seccomp_profile_path: must be",
        ),
        (
            sandbox_config(linux=sandbox_security(seccomp_profile_path="localhost/")),
            "config.linux.security_context.seccomp_profile_path:",
        ),
        (
            sandbox_config(linux=pb.LinuxPodSandboxConfig(sysctls={"kernel.panic/../x": "1"})),
            "config.linux.sysctls['kernel.panic/../x']: not a sysctl name",
        ),
        (
            sandbox_config(linux=pb.LinuxPodSandboxConfig(sysctls={"/proc/sys/kernel/x": "1"})),
            "config.linux.sysctls['/proc/sys/kernel/x']: not a sysctl name",
        ),
    ],
)
def test_invalid_sandbox_config_names_the_field(config, prefix):
    with pytest.raises(InvalidArgument) as info:
        validate.sandbox_config(config)
    assert info.value.message.startswith(prefix), info.value.message


@pytest.mark.parametrize(
    "config",
    [
        sandbox_config(),
        sandbox_config(
            port_mappings=[
                pb.PortMapping(container_port=1),
                pb.PortMapping(container_port=65535, host_port=65535, host_ip="::1"),
                pb.PortMapping(container_port=80, host_port=0, host_ip="0.0.0.0"),
            ]
        ),
        sandbox_config(dns_config=pb.DNSConfig(servers=["10.96.0.10", "fd00::10"])),
        sandbox_config(
            linux=sandbox_security(
                namespace_options=namespaces(network=pb.NODE, pid=pb.NODE, ipc=pb.NODE)
            )
        ),
        sandbox_config(
            linux=sandbox_security(namespace_options=namespaces(pid=pb.TARGET, target_id="x"))
        ),
        sandbox_config(linux=sandbox_security(seccomp_profile_path="runtime/default")),
        sandbox_config(linux=sandbox_security(seccomp_profile_path="docker/default")),
        sandbox_config(linux=sandbox_security(seccomp_profile_path="unconfined")),
        sandbox_config(linux=sandbox_security(seccomp_profile_path="localhost//p.json")),
        sandbox_config(
            linux=pb.LinuxPodSandboxConfig(
                sysctls={"net.ipv4.ip_forward": "1", "net/ipv4/conf/eth0.1/forwarding": "1"}
            )
        ),
    ],
)
def test_valid_sandbox_configs_pass(config):
    validate.sandbox_config(config)


# -- container validation ----------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "prefix"),
    [
        (pb.ContainerConfig(image=pb.ImageSpec(image="busybox")), "config.metadata: required"),
        (
            container_config(metadata=pb.ContainerMetadata()),
            "config.metadata.name: must not be empty",
        ),
        (
            container_config(metadata=pb.ContainerMetadata(name="my app")),
            "config.metadata.name: must start with a letter or digit",
        ),
        (container_config(image=pb.ImageSpec()), "config.image.image: required"),
        (container_config(envs=[kv("", b"x")]), "config.envs[0].key: must be non-empty"),
        (container_config(envs=[kv("A", b"1"), kv("B=C", b"2")]), "config.envs[1].key:"),
        (container_config(envs=[kv("A", b"\xff\xfe")]), "config.envs[0].value: not valid UTF-8"),
        (
            container_config(mounts=[pb.Mount(host_path="data", container_path="/data")]),
            "config.mounts[0].host_path: must be an absolute path",
        ),
        (
            container_config(mounts=[pb.Mount(host_path="/data", container_path="data")]),
            "config.mounts[0].container_path: must be an absolute path",
        ),
        (
            container_config(mounts=[pb.Mount(host_path="", container_path="/data")]),
            "config.mounts[0].host_path: must be an absolute path",
        ),
        (
            container_config(
                mounts=[
                    pb.Mount(host_path="/a", container_path="/a"),
                    pb.Mount(host_path="/b:c", container_path="/b"),
                ]
            ),
            "config.mounts[1].host_path: must not contain ':'",
        ),
        (
            container_config(mounts=[pb.Mount(host_path="/a", container_path="/a:ro")]),
            "config.mounts[0].container_path: must not contain ':'",
        ),
        (
            container_config(
                mounts=[
                    pb.Mount(
                        host_path="/a", container_path="/a", image=pb.ImageSpec(image="busybox")
                    )
                ]
            ),
            "config.mounts[0].image: image volumes are not supported",
        ),
        (
            container_config(devices=[pb.Device(host_path="dev/null", container_path="/dev/x")]),
            "config.devices[0].host_path: must be an absolute path",
        ),
        (
            container_config(devices=[pb.Device(host_path="/dev/null", container_path="/d:x")]),
            "config.devices[0].container_path: must not contain ':'",
        ),
        (
            container_config(
                devices=[pb.Device(host_path="/dev/null", container_path="/x", permissions="rwx")]
            ),
            "config.devices[0].permissions: must be a combination of r, w, m",
        ),
        (
            container_config(
                devices=[pb.Device(host_path="/dev/null", container_path="/x", permissions="R")]
            ),
            "config.devices[0].permissions:",
        ),
        (
            container_config(log_path="/var/log/app.log"),
            "config.log_path: must be a relative path",
        ),
        (
            container_config(log_path="../../../etc/x.log"),
            "config.log_path: must name a file",
        ),
        (container_config(log_path="."), "config.log_path: must name a file"),
        (container_config(log_path="app/"), "config.log_path: must name a file"),
        (container_config(log_path="app//0.log"), "config.log_path: must name a file"),
        (container_config(log_path="app\x000.log"), "config.log_path: must not contain a NUL"),
        (container_config(log_path="a" * 5000), "config.log_path: must be at most 4096 bytes"),
        (resources(cpu_shares=1), "config.linux.resources.cpu_shares: must be 0 (unset) or at"),
        (resources(cpu_shares=-2), "config.linux.resources.cpu_shares:"),
        (resources(cpu_period=999), "config.linux.resources.cpu_period: must be 0 (unset) or"),
        (resources(cpu_period=1_000_001), "config.linux.resources.cpu_period:"),
        (resources(cpu_period=-1000), "config.linux.resources.cpu_period:"),
        (resources(cpu_quota=999), "config.linux.resources.cpu_quota: must be 0 (unset), -1"),
        (resources(cpu_quota=-2), "config.linux.resources.cpu_quota:"),
        (
            resources(memory_limit_in_bytes=6 * MIB - 1),
            "config.linux.resources.memory_limit_in_bytes: must be 0 (unset) or at least 6291456",
        ),
        (resources(memory_limit_in_bytes=-1), "config.linux.resources.memory_limit_in_bytes:"),
        (
            resources(memory_limit_in_bytes=64 * MIB, memory_swap_limit_in_bytes=32 * MIB),
            "config.linux.resources.memory_swap_limit_in_bytes: must be at least memory",
        ),
        (
            resources(oom_score_adj=1001),
            "config.linux.resources.oom_score_adj: must be between -1000 and 1000",
        ),
        (resources(oom_score_adj=-1001), "config.linux.resources.oom_score_adj:"),
        (
            security(run_as_user=int64(1000), run_as_username="app"),
            "config.linux.security_context: run_as_user and run_as_username are exclusive",
        ),
        (
            security(run_as_user=int64(0), run_as_username="root"),
            "config.linux.security_context: run_as_user and run_as_username",
        ),
        (
            security(run_as_group=int64(1000)),
            "config.linux.security_context.run_as_group: requires run_as_user or run_as_username",
        ),
        (
            security(run_as_group=int64(0)),
            "config.linux.security_context.run_as_group:",
        ),
        (
            security(seccomp_profile_path="default"),
            "config.linux.security_context.seccomp_profile_path: must be runtime/default",
        ),
        (
            security(seccomp_profile_path="localhost/"),
            "config.linux.security_context.seccomp_profile_path:",
        ),
        (
            security(seccomp_profile_path="/abs/profile.json"),
            "config.linux.security_context.seccomp_profile_path:",
        ),
        (
            security(namespace_options=namespaces(network=pb.CONTAINER)),
            "config.linux.security_context.namespace_options.network: only POD and NODE",
        ),
        (
            security(namespace_options=namespaces(ipc=pb.TARGET)),
            "config.linux.security_context.namespace_options.ipc: only POD and NODE",
        ),
        (
            security(namespace_options=namespaces(pid=pb.TARGET)),
            "config.linux.security_context.namespace_options.target_id: required when pid",
        ),
    ],
)
def test_invalid_container_config_names_the_field(config, prefix):
    with pytest.raises(InvalidArgument) as info:
        validate.container_config(config)
    assert info.value.message.startswith(prefix), info.value.message


@pytest.mark.parametrize(
    "config",
    [
        container_config(),
        container_config(envs=[kv("A", b""), kv("LANG", "é".encode())]),
        container_config(
            mounts=[pb.Mount(host_path="/", container_path="/host", readonly=True)],
            devices=[
                pb.Device(host_path="/dev/null", container_path="/dev/a"),
                pb.Device(host_path="/dev/zero", container_path="/dev/b", permissions="r"),
                pb.Device(host_path="/dev/zero", container_path="/dev/c", permissions="mw"),
            ],
        ),
        container_config(log_path="app/1.log"),
        resources(cpu_shares=2, cpu_period=1000, cpu_quota=1000),
        resources(cpu_period=1_000_000, cpu_quota=-1),
        resources(memory_limit_in_bytes=6 * MIB, memory_swap_limit_in_bytes=6 * MIB),
        resources(memory_limit_in_bytes=64 * MIB, memory_swap_limit_in_bytes=-1),
        resources(memory_limit_in_bytes=64 * MIB),
        resources(oom_score_adj=-1000),
        resources(oom_score_adj=1000),
        security(run_as_user=int64(0), run_as_group=int64(0)),
        security(run_as_username="app", run_as_group=int64(1000)),
        security(seccomp_profile_path="runtime/default"),
        security(seccomp_profile_path="localhost/profiles/p.json"),
        security(namespace_options=namespaces(pid=pb.TARGET, target_id=TARGET_ID)),
        security(namespace_options=namespaces(pid=pb.CONTAINER, network=pb.NODE, ipc=pb.NODE)),
    ],
)
def test_valid_container_configs_pass(config):
    validate.container_config(config)


def test_validate_resources_uses_the_given_field():
    with pytest.raises(InvalidArgument, match=r"^linux\.cpu_period: "):
        validate.container_resources(pb.LinuxContainerResources(cpu_period=5), "linux")


# -- enum values outside the proto's range --------------------------------------------


def test_unknown_mount_propagation_is_rejected_naming_the_field():
    config = container_config(mounts=[pb.Mount(host_path="/a", container_path="/b", propagation=7)])
    with pytest.raises(InvalidArgument, match=r"^config\.mounts\[0\]\.propagation: "):
        validate.container_config(config)


def test_unknown_stop_signal_is_rejected_naming_the_field():
    with pytest.raises(InvalidArgument, match=r"^config\.stop_signal: "):
        validate.container_config(container_config(stop_signal=99))


# -- fields the tables above do not reach ------------------------------------------------


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            sandbox_config(linux=pb.LinuxPodSandboxConfig(cgroup_parent="/kubepods/../../etc")),
            "config.linux.cgroup_parent: must not contain '..'",
        ),
        (
            sandbox_config(log_directory="var/log/pods/x"),
            "config.log_directory: must be an absolute path",
        ),
        (
            sandbox_config(hostname="h" * 65),
            "config.hostname: longer than 64 bytes (65)",
        ),
        (
            sandbox_config(linux=sandbox_security(seccomp=pb.SecurityProfile(profile_type=9))),
            "config.linux.security_context.seccomp.profile_type: unknown value 9",
        ),
        (
            sandbox_config(linux=sandbox_security(supplemental_groups=range(1025))),
            "config.linux.security_context.supplemental_groups: more than 1024 entries (1025)",
        ),
    ],
)
def test_sandbox_refusals_name_the_field_and_the_reason(config, message):
    with pytest.raises(InvalidArgument) as info:
        validate.sandbox_config(config)
    assert info.value.message == message


def test_command_args_and_environment_are_bounded_together():
    # Each part is within its own bound; only their sum is too long for execve.
    chunk = "x" * (100 * 1024)
    config = container_config(
        command=[chunk] * 4,
        args=[chunk] * 4,
        envs=[kv(f"K{i}", chunk.encode()) for i in range(4)],
    )
    with pytest.raises(InvalidArgument) as info:
        validate.container_config(config)
    assert info.value.message.startswith(
        "config.command, config.args, config.envs: longer than 1048576 bytes together ("
    )


def test_validation_is_pure_and_leaves_the_config_as_it_was():
    config = security(
        run_as_user=int64(0),
        seccomp=pb.SecurityProfile(profile_type=pb.SecurityProfile.Localhost, localhost_ref="/p"),
    )
    before = config.SerializeToString(deterministic=True)
    validate.container_config(config)
    validate.container_config(config)
    assert config.SerializeToString(deterministic=True) == before


def test_the_container_resources_of_an_update_are_checked_under_the_given_field():
    with pytest.raises(InvalidArgument) as info:
        validate.container_resources(pb.LinuxContainerResources(oom_score_adj=-1001), "linux")
    assert info.value.message == "linux.oom_score_adj: must be between -1000 and 1000"
