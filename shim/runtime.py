"""Runtime information: Version, Status, RuntimeConfig, UpdateRuntimeConfig."""

from __future__ import annotations

import dataclasses
import json
import logging

from criapi.runtime.v1 import api_pb2 as cri
from shim import __version__, limits
from shim.backend import Backend
from shim.errors import ShimError

log = logging.getLogger(__name__)

RUNTIME_NAME = "docker"
RUNTIME_API_VERSION = "v1"
# Networks that need no Docker network object to exist.
_BUILTIN_NETWORKS = frozenset({"host", "none"})


async def version(backend: Backend, request: cri.VersionRequest) -> cri.VersionResponse:
    docker_version = await backend.docker.version()
    return cri.VersionResponse(
        # The CRI calls this "the runtime's API version"; the kubelet ignores
        # it. It carries this shim's release, matching `cri-shim --version`.
        version=__version__,
        runtime_name=RUNTIME_NAME,
        runtime_version=str(docker_version.get("Version", "")),
        runtime_api_version=RUNTIME_API_VERSION,
    )


async def status(backend: Backend, request: cri.StatusRequest) -> cri.StatusResponse:
    runtime_ready, network_ready = await _conditions(backend)
    info = {}
    if request.verbose:
        info["config"] = json.dumps(
            {
                "shimVersion": __version__,
                "dockerEndpoint": backend.docker.endpoint,
                "negativeOomScoreAllowed": backend.oom.negative_allowed,
                **dataclasses.asdict(backend.config),
            }
        )
    return cri.StatusResponse(
        status=cri.RuntimeStatus(conditions=[runtime_ready, network_ready]),
        info=info,
        runtime_handlers=[
            cri.RuntimeHandler(
                name="",
                features=cri.RuntimeHandlerFeatures(
                    recursive_read_only_mounts=False, user_namespaces=False
                ),
            )
        ],
        features=cri.RuntimeFeatures(supplemental_groups_policy=False),
    )


async def _conditions(backend: Backend) -> tuple[cri.RuntimeCondition, cri.RuntimeCondition]:
    """RuntimeReady: dockerd answers. NetworkReady: the pod network exists in it."""
    try:
        await backend.docker.ping()
    except ShimError as exc:
        down = {"reason": "DockerDaemonNotReady", "message": exc.message}
        return (
            cri.RuntimeCondition(type="RuntimeReady", status=False, **down),
            cri.RuntimeCondition(type="NetworkReady", status=False, **down),
        )
    runtime_ready = cri.RuntimeCondition(type="RuntimeReady", status=True)
    network = backend.config.pod_network
    try:
        exists = network in _BUILTIN_NETWORKS or await backend.docker.network_exists(network)
    except ShimError as exc:
        return runtime_ready, cri.RuntimeCondition(
            type="NetworkReady", status=False, reason="NetworkCheckFailed", message=exc.message
        )
    if not exists:
        return runtime_ready, cri.RuntimeCondition(
            type="NetworkReady",
            status=False,
            reason="NetworkMissing",
            message=f"docker network {network!r} does not exist",
        )
    return runtime_ready, cri.RuntimeCondition(type="NetworkReady", status=True)


async def runtime_config(
    backend: Backend, request: cri.RuntimeConfigRequest
) -> cri.RuntimeConfigResponse:
    info = await backend.docker.info()
    driver = cri.SYSTEMD if info.get("CgroupDriver") == "systemd" else cri.CGROUPFS
    return cri.RuntimeConfigResponse(linux=cri.LinuxRuntimeConfiguration(cgroup_driver=driver))


async def update_runtime_config(
    backend: Backend, request: cri.UpdateRuntimeConfigRequest
) -> cri.UpdateRuntimeConfigResponse:
    # Pods use a Docker network whose addresses dockerd assigns; a pod CIDR
    # from the kubelet has nothing to configure here.
    cidr = request.runtime_config.network_config.pod_cidr
    limits.text(cidr, "runtime_config.network_config.pod_cidr", limits.SHORT_BYTES)
    if cidr:
        log.info(
            "pod CIDR %s noted; sandbox addresses come from docker network %s",
            cidr,
            backend.config.pod_network,
        )
    return cri.UpdateRuntimeConfigResponse()
