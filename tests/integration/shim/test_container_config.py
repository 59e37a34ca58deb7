"""How a ContainerConfig is honoured, asked of the running container itself (and of Docker)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiodocker
import pytest

from criapi.runtime.v1 import api_pb2 as pb
from tests.support.cri import CriClient, Workspace

SLEEPER = ("sleep", "3600")
MIB = 1024 * 1024
CAP_CHOWN, CAP_NET_ADMIN = 0, 12


async def run_sleeper(
    workspace: Workspace, container: pb.ContainerConfig | None = None, **fields: Any
) -> str:
    """Run ``container`` (a sleeper by default) in a fresh host-network pod."""
    pod_id, pod = await workspace.run_pod(name="cfg", host_network=True)
    config = container or workspace.container_config("app", SLEEPER, **fields)
    return await workspace.run_container(pod_id, pod, config)


def own_pid_namespace(config: pb.ContainerConfig) -> pb.ContainerConfig:
    """PID 1 is then the container's own process, whose /proc entries tell its config."""
    config.linux.security_context.namespace_options.pid = pb.CONTAINER
    return config


async def output(workspace: Workspace, container_id: str, *cmd: str) -> str:
    """stdout of a command that must succeed in the container."""
    response = await workspace.exec(container_id, *cmd)
    assert response.exit_code == 0, response.stderr.decode()
    return response.stdout.decode()


async def failure(workspace: Workspace, container_id: str, *cmd: str) -> str:
    """stderr of a command that must fail in the container."""
    response = await workspace.exec(container_id, *cmd)
    assert response.exit_code != 0, response.stdout.decode()
    return response.stderr.decode()


async def proc_status(workspace: Workspace, container_id: str, field: str) -> str:
    """A /proc/self/status field of an exec'd process, which inherits the container's."""
    text = await output(workspace, container_id, "cat", "/proc/self/status")
    values = [
        line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith(f"{field}:")
    ]
    assert len(values) == 1, text
    return values[0]


async def host_config(docker: aiodocker.Docker, container_id: str) -> dict[str, Any]:
    inspect = await docker.containers.container(container_id).show()
    config: dict[str, Any] = inspect["HostConfig"]
    return config


# -- process ----------------------------------------------------------------------


async def test_command_and_args_become_the_process(
    workspace: Workspace, docker: aiodocker.Docker
) -> None:
    config = own_pid_namespace(
        workspace.container_config("app", ["sh", "-c"], args=["sleep 3600; true", "arg 0"])
    )
    container_id = await run_sleeper(workspace, config)
    cmdline = await output(workspace, container_id, "cat", "/proc/1/cmdline")
    assert cmdline.split("\0") == ["sh", "-c", "sleep 3600; true", "arg 0", ""]
    inspect = await docker.containers.container(container_id).show()
    assert inspect["Config"]["Entrypoint"] == ["sh", "-c"]
    assert inspect["Config"]["Cmd"] == ["sleep 3600; true", "arg 0"]


async def test_args_alone_replace_the_image_command(workspace: Workspace) -> None:
    config = own_pid_namespace(workspace.container_config("app", [], args=list(SLEEPER)))
    container_id = await run_sleeper(workspace, config)
    assert await output(workspace, container_id, "cat", "/proc/1/cmdline") == "sleep\x003600\x00"


async def test_env_is_given_to_the_process(workspace: Workspace) -> None:
    envs = [
        pb.KeyValue(key="GREETING", value=b"hello world"),
        pb.KeyValue(key="EMPTY", value=b""),
        pb.KeyValue(key="WITH_EQUALS", value=b"a=b"),
        pb.KeyValue(key="UNICODE", value="h\u00e9".encode()),
    ]
    config = own_pid_namespace(workspace.container_config("app", SLEEPER, envs=envs))
    container_id = await run_sleeper(workspace, config)
    environ = await output(workspace, container_id, "cat", "/proc/1/environ")
    variables = environ.split("\0")
    for expected in ("GREETING=hello world", "EMPTY=", "WITH_EQUALS=a=b", "UNICODE=h\u00e9"):
        assert expected in variables


async def test_working_dir_is_the_process_cwd(workspace: Workspace) -> None:
    config = own_pid_namespace(workspace.container_config("app", SLEEPER, working_dir="/etc"))
    container_id = await run_sleeper(workspace, config)
    assert (await output(workspace, container_id, "readlink", "/proc/1/cwd")).strip() == "/etc"
    assert (await output(workspace, container_id, "pwd")).strip() == "/etc"


async def test_tty_gives_the_process_a_terminal(
    workspace: Workspace, docker: aiodocker.Docker
) -> None:
    pod_id, pod = await workspace.run_pod(name="tty", host_network=True)
    with_tty = await workspace.run_container(
        pod_id, pod, own_pid_namespace(workspace.container_config("tty", SLEEPER, tty=True))
    )
    without = await workspace.run_container(
        pod_id, pod, own_pid_namespace(workspace.container_config("plain", SLEEPER))
    )
    assert (await output(workspace, with_tty, "readlink", "/proc/1/fd/1")).startswith("/dev/pts/")
    assert not (await output(workspace, without, "readlink", "/proc/1/fd/1")).startswith(
        "/dev/pts/"
    )
    inspect = await docker.containers.container(with_tty).show()
    assert inspect["Config"]["Tty"] is True


# -- mounts and devices -----------------------------------------------------------


async def test_a_readonly_mount_cannot_be_written(workspace: Workspace, tmp_path: Path) -> None:
    (tmp_path / "given.txt").write_text("from the host\n")
    mount = pb.Mount(container_path="/data", host_path=str(tmp_path), readonly=True)
    container_id = await run_sleeper(workspace, mounts=[mount])
    assert await output(workspace, container_id, "cat", "/data/given.txt") == "from the host\n"
    error = await failure(workspace, container_id, "touch", "/data/new.txt")
    assert "Read-only file system" in error
    assert not (tmp_path / "new.txt").exists()


async def test_a_writable_mount_shares_files_with_the_host(
    workspace: Workspace, tmp_path: Path
) -> None:
    mount = pb.Mount(container_path="/data", host_path=str(tmp_path))
    container_id = await run_sleeper(workspace, mounts=[mount])
    await output(workspace, container_id, "sh", "-c", "echo written > /data/out.txt")
    assert (tmp_path / "out.txt").read_text() == "written\n"


async def test_a_device_is_mapped_into_the_container(workspace: Workspace) -> None:
    device = pb.Device(container_path="/dev/mynull", host_path="/dev/null", permissions="rw")
    container_id = await run_sleeper(workspace, devices=[device])
    # Character device 1:3, writable, and reads as empty.
    assert (
        await output(workspace, container_id, "stat", "-c", "%F %t:%T", "/dev/mynull")
    ).strip() == ("character special file 1:3")
    await output(workspace, container_id, "sh", "-c", "echo discarded > /dev/mynull")
    assert await output(workspace, container_id, "cat", "/dev/mynull") == ""


# -- resources --------------------------------------------------------------------


async def cgroup_value(workspace: Workspace, container_id: str, path: str) -> str:
    return (await output(workspace, container_id, "cat", f"/sys/fs/cgroup/{path}")).strip()


async def test_resources_are_applied_and_reported(
    workspace: Workspace, docker: aiodocker.Docker
) -> None:
    resources = pb.LinuxContainerResources(
        cpu_shares=512,
        cpu_period=100_000,
        cpu_quota=50_000,
        memory_limit_in_bytes=64 * MIB,
        cpuset_cpus="0",
    )
    config = workspace.container_config("app", SLEEPER)
    config.linux.resources.CopyFrom(resources)
    container_id = await run_sleeper(workspace, config)

    docker_config = await host_config(docker, container_id)
    assert docker_config["CpuShares"] == 512
    assert (docker_config["CpuPeriod"], docker_config["CpuQuota"]) == (100_000, 50_000)
    assert docker_config["Memory"] == 64 * MIB
    assert docker_config["MemorySwap"] == 64 * MIB
    assert docker_config["CpusetCpus"] == "0"

    reported = (await workspace.status(container_id)).resources.linux
    assert reported.cpu_shares == 512
    assert (reported.cpu_period, reported.cpu_quota) == (100_000, 50_000)
    assert reported.memory_limit_in_bytes == 64 * MIB
    assert reported.cpuset_cpus == "0"

    assert await cgroup_value(workspace, container_id, "cpu/cpu.shares") == "512"
    assert await cgroup_value(workspace, container_id, "cpu/cpu.cfs_quota_us") == "50000"
    assert await cgroup_value(workspace, container_id, "memory/memory.limit_in_bytes") == str(
        64 * MIB
    )
    assert await cgroup_value(workspace, container_id, "cpuset/cpuset.cpus") == "0"


async def test_update_container_resources_changes_them(
    cri: CriClient, workspace: Workspace, docker: aiodocker.Docker
) -> None:
    config = workspace.container_config("app", SLEEPER)
    config.linux.resources.CopyFrom(
        pb.LinuxContainerResources(
            cpu_shares=512, cpu_quota=50_000, cpu_period=100_000, memory_limit_in_bytes=64 * MIB
        )
    )
    container_id = await run_sleeper(workspace, config)

    update = pb.LinuxContainerResources(
        cpu_shares=1024,
        cpu_period=100_000,
        cpu_quota=20_000,
        memory_limit_in_bytes=128 * MIB,
        cpuset_cpus="0",
    )
    await cri.runtime.UpdateContainerResources(
        pb.UpdateContainerResourcesRequest(container_id=container_id, linux=update)
    )
    docker_config = await host_config(docker, container_id)
    assert docker_config["CpuShares"] == 1024
    assert docker_config["CpuQuota"] == 20_000
    assert docker_config["Memory"] == 128 * MIB
    assert docker_config["CpusetCpus"] == "0"
    reported = (await workspace.status(container_id)).resources.linux
    assert (reported.cpu_shares, reported.cpu_quota) == (1024, 20_000)
    assert reported.memory_limit_in_bytes == 128 * MIB
    assert reported.cpuset_cpus == "0"
    assert await cgroup_value(workspace, container_id, "cpu/cpu.shares") == "1024"
    assert await cgroup_value(workspace, container_id, "cpu/cpu.cfs_quota_us") == "20000"
    assert await cgroup_value(workspace, container_id, "memory/memory.limit_in_bytes") == str(
        128 * MIB
    )


# -- identity ---------------------------------------------------------------------


async def test_run_as_user_65534(workspace: Workspace) -> None:
    config = workspace.container_config("app", SLEEPER)
    config.linux.security_context.run_as_user.value = 65534
    container_id = await run_sleeper(workspace, config)
    assert (await output(workspace, container_id, "id", "-u")).strip() == "65534"
    assert (await output(workspace, container_id, "id", "-un")).strip() == "nobody"


async def test_run_as_user_0_is_root_explicitly(
    workspace: Workspace, docker: aiodocker.Docker
) -> None:
    config = workspace.container_config("app", SLEEPER)
    config.linux.security_context.run_as_user.value = 0
    container_id = await run_sleeper(workspace, config)
    assert (await output(workspace, container_id, "id", "-u")).strip() == "0"
    inspect = await docker.containers.container(container_id).show()
    assert inspect["Config"]["User"] == "0"


async def test_run_as_group_and_supplemental_groups(workspace: Workspace) -> None:
    config = workspace.container_config("app", SLEEPER)
    security = config.linux.security_context
    security.run_as_user.value = 65534
    security.run_as_group.value = 1234
    security.supplemental_groups.extend([5000, 5001])
    container_id = await run_sleeper(workspace, config)
    assert (await output(workspace, container_id, "id", "-u")).strip() == "65534"
    assert (await output(workspace, container_id, "id", "-g")).strip() == "1234"
    groups = (await output(workspace, container_id, "id", "-G")).split()
    assert set(groups) == {"1234", "5000", "5001"}


# -- restrictions -----------------------------------------------------------------


async def test_readonly_rootfs_cannot_be_written(workspace: Workspace) -> None:
    config = workspace.container_config("app", SLEEPER)
    config.linux.security_context.readonly_rootfs = True
    container_id = await run_sleeper(workspace, config)
    assert "Read-only file system" in await failure(workspace, container_id, "touch", "/x")
    assert "Read-only file system" in await failure(workspace, container_id, "touch", "/tmp/x")


def has_capability(cap_eff: str, bit: int) -> bool:
    return bool(int(cap_eff, 16) & (1 << bit))


async def test_dropping_chown_forbids_chown(workspace: Workspace) -> None:
    pod_id, pod = await workspace.run_pod(name="caps", host_network=True)
    config = workspace.container_config("dropped", SLEEPER)
    config.linux.security_context.capabilities.drop_capabilities.append("CHOWN")
    dropped = await workspace.run_container(pod_id, pod, config)
    default = await workspace.run_container(
        pod_id, pod, workspace.container_config("default", SLEEPER)
    )
    chown = ("sh", "-c", "touch /tmp/f && chown 65534 /tmp/f")
    assert "Operation not permitted" in await failure(workspace, dropped, *chown)
    await output(workspace, default, *chown)
    assert not has_capability(await proc_status(workspace, dropped, "CapEff"), CAP_CHOWN)
    assert has_capability(await proc_status(workspace, default, "CapEff"), CAP_CHOWN)


async def test_adding_net_admin_grants_it(workspace: Workspace) -> None:
    pod_id, pod = await workspace.run_pod(name="caps", host_network=True)
    config = workspace.container_config("added", SLEEPER)
    config.linux.security_context.capabilities.add_capabilities.append("NET_ADMIN")
    added = await workspace.run_container(pod_id, pod, config)
    default = await workspace.run_container(
        pod_id, pod, workspace.container_config("default", SLEEPER)
    )
    with_net_admin = await proc_status(workspace, added, "CapEff")
    without = await proc_status(workspace, default, "CapEff")
    assert with_net_admin != without
    assert has_capability(with_net_admin, CAP_NET_ADMIN)
    assert not has_capability(without, CAP_NET_ADMIN)
    assert int(with_net_admin, 16) == int(without, 16) | (1 << CAP_NET_ADMIN)


async def test_no_new_privs(workspace: Workspace) -> None:
    pod_id, pod = await workspace.run_pod(name="nnp", host_network=True)
    config = workspace.container_config("nnp", SLEEPER)
    config.linux.security_context.no_new_privs = True
    restricted = await workspace.run_container(pod_id, pod, config)
    default = await workspace.run_container(
        pod_id, pod, workspace.container_config("default", SLEEPER)
    )
    assert await proc_status(workspace, restricted, "NoNewPrivs") == "1"
    assert await proc_status(workspace, default, "NoNewPrivs") == "0"


async def test_custom_masked_paths(
    workspace: Workspace, docker: aiodocker.Docker, tmp_path: Path
) -> None:
    (tmp_path / "secret.txt").write_text("top secret\n")
    (tmp_path / "public.txt").write_text("public\n")
    config = workspace.container_config(
        "app", SLEEPER, mounts=[pb.Mount(container_path="/data", host_path=str(tmp_path))]
    )
    config.linux.security_context.masked_paths.extend(["/data/secret.txt", "/proc/cpuinfo"])
    container_id = await run_sleeper(workspace, config)
    assert await output(workspace, container_id, "cat", "/data/secret.txt") == ""
    assert await output(workspace, container_id, "cat", "/proc/cpuinfo") == ""
    assert await output(workspace, container_id, "cat", "/data/public.txt") == "public\n"
    assert (await host_config(docker, container_id))["MaskedPaths"] == [
        "/data/secret.txt",
        "/proc/cpuinfo",
    ]


async def test_custom_readonly_paths(workspace: Workspace, docker: aiodocker.Docker) -> None:
    config = workspace.container_config("app", SLEEPER)
    config.linux.security_context.readonly_paths.append("/tmp")
    container_id = await run_sleeper(workspace, config)
    assert "Read-only file system" in await failure(workspace, container_id, "touch", "/tmp/x")
    await output(workspace, container_id, "touch", "/root/x")
    assert (await host_config(docker, container_id))["ReadonlyPaths"] == ["/tmp"]


# -- seccomp ----------------------------------------------------------------------

DEFAULT_FILTER, NO_FILTER = "2", "0"


def structured(kind: pb.SecurityProfile.ProfileType.ValueType) -> dict[str, Any]:
    return {"seccomp": pb.SecurityProfile(profile_type=kind)}


@pytest.mark.parametrize(
    ("security", "mode"),
    [
        pytest.param(
            structured(pb.SecurityProfile.RuntimeDefault), DEFAULT_FILTER, id="RuntimeDefault"
        ),
        pytest.param(structured(pb.SecurityProfile.Unconfined), NO_FILTER, id="Unconfined"),
        pytest.param(
            {"seccomp_profile_path": "runtime/default"}, DEFAULT_FILTER, id="runtime/default"
        ),
        pytest.param(
            {"seccomp_profile_path": "docker/default"}, DEFAULT_FILTER, id="docker/default"
        ),
        pytest.param({"seccomp_profile_path": "unconfined"}, NO_FILTER, id="unconfined"),
        pytest.param({}, NO_FILTER, id="unset"),
        pytest.param(
            {
                "seccomp": pb.SecurityProfile(profile_type=pb.SecurityProfile.Unconfined),
                "seccomp_profile_path": "runtime/default",
            },
            NO_FILTER,
            id="structured-wins",
        ),
    ],
)
async def test_seccomp_profiles(workspace: Workspace, security: dict[str, Any], mode: str) -> None:
    config = workspace.container_config("app", SLEEPER)
    config.linux.security_context.MergeFrom(pb.LinuxContainerSecurityContext(**security))
    container_id = await run_sleeper(workspace, config)
    assert await proc_status(workspace, container_id, "Seccomp") == mode


DENY_MKDIR = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
}


@pytest.mark.parametrize("form", ["structured", "legacy"])
async def test_seccomp_localhost_profile(workspace: Workspace, tmp_path: Path, form: str) -> None:
    profile = tmp_path / "deny-mkdir.json"
    profile.write_text(json.dumps(DENY_MKDIR))
    config = workspace.container_config("app", SLEEPER)
    security = config.linux.security_context
    if form == "structured":
        security.seccomp.profile_type = pb.SecurityProfile.Localhost
        security.seccomp.localhost_ref = str(profile)
    else:
        security.seccomp_profile_path = f"localhost/{profile}"
    container_id = await run_sleeper(workspace, config)
    assert await proc_status(workspace, container_id, "Seccomp") == DEFAULT_FILTER
    assert "Operation not permitted" in await failure(workspace, container_id, "mkdir", "/tmp/d")
    await output(workspace, container_id, "touch", "/tmp/f")
