"""The I/O step of a create: everything the translation needs, resolved once.

Between validation (:mod:`shim.translate.validate`) and translation
(:mod:`shim.translate.createspec`), one function per RPC does all the I/O a create
needs, in the order the errors are reported: the sandbox a container joins,
the dockerd runtime of a handler, the infra image, the effective OOM score,
a localhost seccomp profile's text, and what stands in for privileged mode
where the host cannot run dockerd's own.
"""

from __future__ import annotations

import logging

from criapi.runtime.v1 import api_pb2 as cri
from shim.cri import images
from shim.cri.backend import JSON, Backend
from shim.errors import FailedPrecondition, InvalidArgument
from shim.translate import convert, imageref, labelrecord, seccomp
from shim.translate.createspec import ResolvedContainer, ResolvedSandbox, SandboxView

log = logging.getLogger(__name__)


async def sandbox(
    backend: Backend, config: cri.PodSandboxConfig, runtime_handler: str
) -> ResolvedSandbox:
    """The inputs of a RunPodSandbox whose ``config`` passed validation."""
    docker_runtime = await _docker_runtime(backend, runtime_handler)
    infra_image = await _ensure_infra_image(backend)
    security = config.linux.security_context
    oom_score_adj = await backend.oom.effective(backend.config.sandbox_oom_score_adj, infra_image)
    return ResolvedSandbox(
        infra_image=infra_image,
        pod_network=backend.config.pod_network,
        oom_score_adj=oom_score_adj,
        seccomp=await seccomp.resolve(security),
        runtime_handler=runtime_handler,
        docker_runtime=docker_runtime,
        created_at=convert.now_ns(),
        instance=backend.config.instance,
        privileges=await backend.privileges.replacement(security.privileged, (), infra_image),
    )


async def container(backend: Backend, request: cri.CreateContainerRequest) -> ResolvedContainer:
    """The inputs of a CreateContainer whose ``config`` passed validation."""
    config = request.config
    # A sandbox this process started needs no inspect (cri-dockerd inspects none at all).
    sandbox_inspect = backend.ready_sandbox(request.pod_sandbox_id) or await backend.sandbox(
        request.pod_sandbox_id
    )
    if not sandbox_inspect["State"].get("Running"):
        raise FailedPrecondition(f"pod sandbox {sandbox_inspect['Id']} is not ready")
    security = config.linux.security_context
    choice = await seccomp.resolve(security)
    image = backend.config.pod_infra_image
    oom_score_adj = await backend.oom.effective(config.linux.resources.oom_score_adj, image)
    return ResolvedContainer(
        sandbox=sandbox_view(sandbox_inspect, request.sandbox_config),
        seccomp=choice,
        oom_score_adj=oom_score_adj,
        created_at=convert.now_ns(),
        instance=backend.config.instance,
        privileges=await backend.privileges.replacement(
            security.privileged, security.capabilities.add_capabilities, image
        ),
    )


def sandbox_view(inspect: JSON, given: cri.PodSandboxConfig) -> SandboxView:
    """The sandbox as recorded at its creation; the request's copy only fills gaps."""
    record = labelrecord.sandbox(inspect["Config"].get("Labels"))
    return SandboxView(
        id=inspect["Id"],
        metadata=record.metadata,
        namespace_options=record.namespace_options.as_mapping(),
        cgroup_parent=inspect["HostConfig"].get("CgroupParent") or "",
        log_directory=record.log_directory or given.log_directory,
    )


async def _docker_runtime(backend: Backend, handler: str) -> str:
    """The Docker runtime for a CRI runtime handler; "" is dockerd's default."""
    if not handler:
        return ""
    known = (await backend.docker.info()).get("Runtimes") or {}
    if handler not in known:
        raise InvalidArgument(
            f"runtime_handler: {handler!r} is not a runtime of this dockerd "
            f"(known: {', '.join(sorted(known)) or 'none'})"
        )
    return handler


async def _ensure_infra_image(backend: Backend) -> str:
    image = backend.config.pod_infra_image
    if not await backend.image_refs.exists(image):
        log.info("pulling pod infra image %s", image)
        await images.pull(backend, imageref.parse(image, "--pod-infra-image"), None)
    return image
