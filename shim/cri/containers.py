"""Application containers: create, start, stop, remove, list, status, resources, logs."""

from __future__ import annotations

import json
import logging

from criapi.runtime.v1 import api_pb2 as cri
from shim.cri import resolve
from shim.cri.backend import JSON, Backend, ignore_not_found
from shim.deadline import abandoned_settled, finish_even_if_abandoned
from shim.errors import DockerAPIError, FailedPrecondition, InvalidArgument, refused_request
from shim.logs import copier as logs
from shim.translate import convert, createspec, dockerfilters, labels, naming, validate

log = logging.getLogger(__name__)


async def create_container(
    backend: Backend, request: cri.CreateContainerRequest
) -> cri.CreateContainerResponse:
    if not request.HasField("config"):
        raise InvalidArgument("config: required")
    config = request.config
    validate.container_config(config)
    resolved = await resolve.container(backend, request)
    body = createspec.container_body(config, resolved)
    meta = resolved.sandbox.metadata
    name = naming.container_name(
        config.metadata.name, config.metadata.attempt, meta.name, meta.namespace, meta.uid
    )
    # As for sandboxes: a client that gives up (a short deadline) must not leave a
    # container whose name its retry then meets while dockerd still creates it.
    work = f"creating container {name}"
    await abandoned_settled(work)
    container_id = await finish_even_if_abandoned(
        _create(backend, name, body), work, undo=lambda created: _remove_quietly(backend, created)
    )
    backend.note_created(container_id, logs.location(body["Labels"]), config.tty)
    log.info(
        "created container %s (%s)",
        container_id[:12],
        name,
        extra={
            "container": container_id,
            "sandbox": resolved.sandbox.id,
            "pod": f"{meta.namespace}/{meta.name}",
        },
    )
    return cri.CreateContainerResponse(container_id=container_id)


async def _create(backend: Backend, name: str, body: JSON) -> str:
    try:
        return await backend.create_named(name, body, lambda stale: _remove_quietly(backend, stale))
    except DockerAPIError as exc:
        raise refused_request(exc, "config") from exc


async def _remove_quietly(backend: Backend, container_id: str) -> None:
    await ignore_not_found(lambda: backend.docker.remove_container(container_id))


async def start_container(
    backend: Backend, request: cri.StartContainerRequest
) -> cri.StartContainerResponse:
    fresh = backend.take_fresh(request.container_id)
    if fresh is None:
        container_id, where, tty = await _startable(backend, request.container_id)
    else:
        # Created by this process and never started: nothing to inspect for.
        container_id, (where, tty) = request.container_id, fresh
    # The log file exists before the container runs (a client may open it at once),
    # and a path that cannot be written safely refuses the start, changing nothing.
    file = await backend.logs.open(*where) if where else None
    await finish_even_if_abandoned(
        _start_and_follow(backend, container_id, file, tty), f"starting container {container_id}"
    )
    return cri.StartContainerResponse()


async def _start_and_follow(
    backend: Backend, container_id: str, file: logs.LogFile | None, tty: bool
) -> None:
    """Start the container, then copy its output; a copier never misses a started container."""
    try:
        await backend.docker.start_container(container_id)
    except DockerAPIError as exc:
        # A failed start may still change the container (exit code 128, an error).
        await backend.changed(container_id)
        if file is not None:
            file.close()
        if exc.status == 304:
            raise FailedPrecondition(f"container {container_id} is already running") from exc
        if exc.status in (400, 500):
            # 400: dockerd's verdict on a missing or non-executable command.
            raise FailedPrecondition(f"starting container {container_id}: {exc.message}") from exc
        raise
    except BaseException:
        if file is not None:
            file.close()
        raise
    if file is not None:
        backend.logs.follow(container_id, file, tty)
    await backend.changed(container_id)


async def _startable(
    backend: Backend, container_id: str
) -> tuple[str, tuple[str, str] | None, bool]:
    """Full id, log file location and tty of a container that has never run."""
    inspect = await backend.container(container_id)
    container_id = inspect["Id"]
    state = inspect["State"]
    if state.get("Running"):
        raise FailedPrecondition(f"container {container_id} is already running")
    if convert.docker_time_ns(state.get("StartedAt")) or state.get("ExitCode"):
        raise FailedPrecondition(
            f"container {container_id} has already run; the CRI starts a container only once"
        )
    where = logs.location(inspect["Config"].get("Labels"))
    return container_id, where, bool(inspect["Config"].get("Tty"))


async def stop_container(
    backend: Backend, request: cri.StopContainerRequest
) -> cri.StopContainerResponse:
    if request.timeout < 0:
        raise InvalidArgument("timeout: must not be negative")
    container_id = await backend.owned_id(
        request.container_id, labels.TYPE_CONTAINER, "container_id"
    )
    if container_id is None:
        return cri.StopContainerResponse()
    # No inspect first: dockerd answers 304 for a container that is not running.
    await ignore_not_found(
        lambda: backend.docker.stop_container(container_id, int(request.timeout))
    )
    await backend.changed(container_id)
    return cri.StopContainerResponse()


async def remove_container(
    backend: Backend, request: cri.RemoveContainerRequest
) -> cri.RemoveContainerResponse:
    container_id = await backend.owned_id(
        request.container_id, labels.TYPE_CONTAINER, "container_id"
    )
    if container_id is None:
        return cri.RemoveContainerResponse()
    await ignore_not_found(lambda: backend.docker.remove_container(container_id))
    backend.forget(container_id)
    await backend.changed(container_id)
    await backend.logs.forget(container_id)
    backend.stats.forget(container_id)
    return cri.RemoveContainerResponse()


async def list_containers(
    backend: Backend, request: cri.ListContainersRequest
) -> cri.ListContainersResponse:
    query = dockerfilters.containers(request.filter)
    if query is None:
        return cri.ListContainersResponse()
    entries = await backend.matching(query)
    image_refs = await backend.image_refs.all() if entries else {}
    return cri.ListContainersResponse(
        containers=[backend.listing_cache.container(entry, image_refs) for entry in entries]
    )


async def container_status(
    backend: Backend, request: cri.ContainerStatusRequest
) -> cri.ContainerStatusResponse:
    inspect = await backend.container(request.container_id)
    state = inspect["State"]
    if not state.get("Running") and convert.docker_time_ns(state.get("StartedAt")):
        # Exited: its output reaches the CRI log file before its exit is reported.
        await backend.logs.settled(inspect["Id"])
    image_ref = await backend.image_refs.ref_of(inspect["Image"])
    info = {}
    if request.verbose:
        info["info"] = json.dumps(
            {
                "pid": inspect["State"].get("Pid", 0),
                "name": inspect["Name"].lstrip("/"),
                "sandboxID": (inspect["Config"].get("Labels") or {}).get(labels.SANDBOX_ID_KEY),
                "privileged": inspect["HostConfig"].get("Privileged"),
                "user": inspect["Config"].get("User"),
                "securityOpt": inspect["HostConfig"].get("SecurityOpt"),
            }
        )
    return cri.ContainerStatusResponse(
        status=convert.container_status(inspect, image_ref), info=info
    )


async def update_container_resources(
    backend: Backend, request: cri.UpdateContainerResourcesRequest
) -> cri.UpdateContainerResourcesResponse:
    if not request.HasField("linux"):
        raise InvalidArgument("linux: required (Windows resources are not supported)")
    validate.container_resources(request.linux, "linux")
    inspect = await backend.container(request.container_id)
    try:
        await backend.docker.update_container(inspect["Id"], createspec.update_body(request.linux))
    except DockerAPIError as exc:
        raise refused_request(exc, "linux") from exc
    return cri.UpdateContainerResourcesResponse()


async def reopen_container_log(
    backend: Backend, request: cri.ReopenContainerLogRequest
) -> cri.ReopenContainerLogResponse:
    inspect = await backend.container(request.container_id)
    if not inspect["State"].get("Running"):
        raise FailedPrecondition(f"container {inspect['Id']} is not running")
    await backend.logs.reopen(inspect["Id"])
    return cri.ReopenContainerLogResponse()
