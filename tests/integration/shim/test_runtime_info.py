"""Version, Status, RuntimeConfig and UpdateRuntimeConfig against the real dockerd."""

from __future__ import annotations

import json

import aiodocker

from criapi.runtime.v1 import api_pb2 as pb
from shim import __version__
from tests.support.cri import CriClient


async def test_version_reports_docker_and_the_shim(
    cri: CriClient, docker: aiodocker.Docker
) -> None:
    response = await cri.runtime.Version(pb.VersionRequest(version="0.1.0"))
    engine = await docker.version()
    assert response.runtime_name == "docker"
    assert response.runtime_version == engine["Version"]
    assert response.runtime_api_version == "v1"
    assert response.version == __version__


async def test_status_reports_runtime_and_network_ready(cri: CriClient) -> None:
    response = await cri.runtime.Status(pb.StatusRequest(verbose=True))
    conditions = {c.type: c for c in response.status.conditions}
    assert conditions["RuntimeReady"].status is True
    assert conditions["NetworkReady"].status is True
    config = json.loads(response.info["config"])
    assert config["shimVersion"] == __version__
    assert [h.name for h in response.runtime_handlers] == [""]


async def test_runtime_config_reports_dockers_cgroup_driver(
    cri: CriClient, docker: aiodocker.Docker
) -> None:
    response = await cri.runtime.RuntimeConfig(pb.RuntimeConfigRequest())
    expected = (
        pb.SYSTEMD if (await docker.system.info())["CgroupDriver"] == "systemd" else pb.CGROUPFS
    )
    assert response.linux.cgroup_driver == expected


async def test_update_runtime_config_accepts_a_pod_cidr(cri: CriClient) -> None:
    request = pb.UpdateRuntimeConfigRequest(
        runtime_config=pb.RuntimeConfig(network_config=pb.NetworkConfig(pod_cidr="10.244.0.0/24"))
    )
    await cri.runtime.UpdateRuntimeConfig(request)
