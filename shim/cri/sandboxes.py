"""Pod sandboxes: one infra container per pod holding its namespaces."""

from __future__ import annotations

import asyncio
import json
import logging

from criapi.runtime.v1 import api_pb2 as cri
from shim import limits
from shim.cri import resolve
from shim.cri.backend import JSON, Backend, gather_all, ignore_not_found
from shim.deadline import abandoned_settled, finish_even_if_abandoned
from shim.errors import (
    DockerAPIError,
    FailedPrecondition,
    ShimError,
    refused_request,
)
from shim.translate import convert, createspec, dockerfilters, labels, naming, validate

log = logging.getLogger(__name__)

# Grace the infra process gets on StopPodSandbox; the pause binary exits at once.
INFRA_STOP_GRACE = 10
# Left-over containers are killed outright when their sandbox stops (the
# kubelet stops them gracefully before it gets here).
LEFTOVER_STOP_GRACE = 0


async def run_pod_sandbox(
    backend: Backend, request: cri.RunPodSandboxRequest
) -> cri.RunPodSandboxResponse:
    config = request.config
    validate.sandbox_config(config)
    limits.text(request.runtime_handler, "runtime_handler", limits.SHORT_BYTES)
    resolved = await resolve.sandbox(backend, config, request.runtime_handler)
    body = createspec.sandbox_body(config, resolved)
    meta = config.metadata
    name = naming.sandbox_name(meta.name, meta.namespace, meta.uid, meta.attempt)
    # A client that gives up (deadline, kill) must not leave a running sandbox that
    # blocks its retry: the creation finishes, then is rolled back.
    work = f"creating sandbox {name}"
    await abandoned_settled(work)
    sandbox_id = await finish_even_if_abandoned(
        _create_and_start(backend, name, body),
        work,
        undo=lambda created: _remove(backend, created),
    )
    backend.note_sandbox_ready(sandbox_id, body["Labels"], body["HostConfig"]["CgroupParent"])
    log.info(
        "sandbox %s (%s) ready",
        sandbox_id[:12],
        name,
        extra={"sandbox": sandbox_id, "pod": f"{meta.namespace}/{meta.name}"},
    )
    return cri.RunPodSandboxResponse(pod_sandbox_id=sandbox_id)


async def _create_and_start(backend: Backend, name: str, body: JSON) -> str:
    try:
        sandbox_id = await backend.create_named(name, body, lambda stale: _remove(backend, stale))
    except DockerAPIError as exc:
        raise refused_request(exc, "config") from exc
    try:
        await backend.docker.start_container(sandbox_id)
    except BaseException as exc:
        # A sandbox that cannot start is removed: a failed RunPodSandbox leaves nothing.
        await asyncio.shield(_remove_quietly(backend, sandbox_id))
        if isinstance(exc, DockerAPIError):
            raise FailedPrecondition(f"starting sandbox {name}: {exc.message}") from exc
        raise
    await backend.changed(sandbox_id)
    return sandbox_id


async def _remove_quietly(backend: Backend, sandbox_id: str) -> None:
    try:
        await ignore_not_found(lambda: backend.docker.remove_container(sandbox_id))
    except ShimError as exc:
        log.warning("could not remove sandbox %s that failed to start: %s", sandbox_id, exc)
    await backend.changed(sandbox_id)


async def stop_pod_sandbox(
    backend: Backend, request: cri.StopPodSandboxRequest
) -> cri.StopPodSandboxResponse:
    sandbox_id = await backend.owned_id(
        request.pod_sandbox_id, labels.TYPE_SANDBOX, "pod_sandbox_id"
    )
    if sandbox_id is None:
        return cri.StopPodSandboxResponse()
    backend.sandbox_not_ready(sandbox_id)
    running = await backend.sandbox_containers(sandbox_id, running_only=True)
    try:
        await gather_all([_kill_leftover(backend, entry["Id"]) for entry in running])
        await ignore_not_found(lambda: backend.docker.stop_container(sandbox_id, INFRA_STOP_GRACE))
    finally:
        await backend.changed(sandbox_id, *(entry["Id"] for entry in running))
    return cri.StopPodSandboxResponse()


async def _kill_leftover(backend: Backend, container_id: str) -> None:
    await ignore_not_found(lambda: backend.docker.stop_container(container_id, LEFTOVER_STOP_GRACE))


async def remove_pod_sandbox(
    backend: Backend, request: cri.RemovePodSandboxRequest
) -> cri.RemovePodSandboxResponse:
    sandbox_id = await backend.owned_id(
        request.pod_sandbox_id, labels.TYPE_SANDBOX, "pod_sandbox_id"
    )
    if sandbox_id is not None:
        await _remove(backend, sandbox_id)
    return cri.RemovePodSandboxResponse()


async def _remove(backend: Backend, sandbox_id: str) -> None:
    """Remove a sandbox's containers (forcibly, as the CRI asks), then its infra container."""
    members = await backend.sandbox_containers(sandbox_id)
    try:
        await gather_all([_remove_container(backend, entry["Id"]) for entry in members])
        await ignore_not_found(lambda: backend.docker.remove_container(sandbox_id))
    finally:
        await backend.changed(sandbox_id, *(entry["Id"] for entry in members))
    backend.forget(sandbox_id)
    backend.stats.forget(sandbox_id)


async def _remove_container(backend: Backend, container_id: str) -> None:
    await ignore_not_found(lambda: backend.docker.remove_container(container_id))
    backend.forget(container_id)
    await backend.logs.forget(container_id)
    backend.stats.forget(container_id)


async def pod_sandbox_status(
    backend: Backend, request: cri.PodSandboxStatusRequest
) -> cri.PodSandboxStatusResponse:
    inspect = await backend.sandbox(request.pod_sandbox_id)
    info = {}
    if request.verbose:
        info["info"] = json.dumps(
            {
                "pid": inspect["State"].get("Pid", 0),
                "name": inspect["Name"].lstrip("/"),
                "image": inspect["Config"].get("Image"),
                "hostname": inspect["Config"].get("Hostname"),
                "networkMode": inspect["HostConfig"].get("NetworkMode"),
                "oomScoreAdj": inspect["HostConfig"].get("OomScoreAdj"),
                "resolvConfPath": inspect.get("ResolvConfPath"),
            }
        )
    return cri.PodSandboxStatusResponse(
        status=convert.pod_sandbox_status(inspect), info=info, timestamp=convert.now_ns()
    )


async def list_pod_sandbox(
    backend: Backend, request: cri.ListPodSandboxRequest
) -> cri.ListPodSandboxResponse:
    query = dockerfilters.sandboxes(request.filter)
    if query is None:
        return cri.ListPodSandboxResponse()
    entries = await backend.matching(query)
    return cri.ListPodSandboxResponse(
        items=[backend.listing_cache.pod_sandbox(entry) for entry in entries]
    )
