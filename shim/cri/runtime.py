"""Runtime information: Version, Status, RuntimeConfig, UpdateRuntimeConfig."""

from __future__ import annotations

import dataclasses
import json
import logging

from criapi.runtime.v1 import api_pb2 as cri
from shim import __version__, limits
from shim.cri.backend import Backend
from shim.errors import Unavailable
from shim.monitor.enginestate import Condition

log = logging.getLogger(__name__)

RUNTIME_NAME = "docker"
RUNTIME_API_VERSION = "v1"


async def version(backend: Backend, request: cri.VersionRequest) -> cri.VersionResponse:
    engine = await backend.engine.current()
    if not engine.runtime.ready:
        # Down at the last look: look again now rather than report a stale outage.
        engine = await backend.engine.refresh()
        if not engine.runtime.ready:
            raise Unavailable(f"dockerd is not reachable: {engine.runtime.message}")
    return cri.VersionResponse(
        # The CRI calls this "the runtime's API version"; the kubelet ignores
        # it. It carries this shim's release, matching `cri-shim --version`.
        version=__version__,
        runtime_name=RUNTIME_NAME,
        runtime_version=engine.version,
        runtime_api_version=RUNTIME_API_VERSION,
    )


async def status(backend: Backend, request: cri.StatusRequest) -> cri.StatusResponse:
    # The health loop keeps this current; Status itself costs no Docker call.
    engine = await backend.engine.current()
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
        status=cri.RuntimeStatus(
            conditions=[
                _condition("RuntimeReady", engine.runtime),
                _condition("NetworkReady", engine.network),
            ]
        ),
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


def _condition(kind: str, condition: Condition) -> cri.RuntimeCondition:
    return cri.RuntimeCondition(
        type=kind, status=condition.ready, reason=condition.reason, message=condition.message
    )


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
