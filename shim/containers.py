"""Application containers: create, start, stop, remove, list, status, resources, logs."""

from __future__ import annotations

import json
import logging
import os

from criapi.runtime.v1 import api_pb2 as cri
from shim import convert, createspec, dockerfilters, labels, logs, naming, records, seccomp
from shim.backend import JSON, Backend, ignore_not_found
from shim.deadline import finish_even_if_abandoned
from shim.errors import DockerAPIError, FailedPrecondition, InvalidArgument, refused_request

log = logging.getLogger(__name__)


async def create_container(
    backend: Backend, request: cri.CreateContainerRequest
) -> cri.CreateContainerResponse:
    if not request.HasField("config"):
        raise InvalidArgument("config: required")
    config = request.config
    createspec.validate_container_config(config)
    # A sandbox this process started needs no inspect (cri-dockerd inspects none at all).
    sandbox_inspect = backend.ready_sandbox(request.pod_sandbox_id) or await backend.sandbox(
        request.pod_sandbox_id
    )
    if not sandbox_inspect["State"].get("Running"):
        raise FailedPrecondition(f"pod sandbox {sandbox_inspect['Id']} is not ready")
    sandbox = _sandbox_view(sandbox_inspect, request.sandbox_config)
    security = config.linux.security_context
    choice = await seccomp.resolve(security)
    oom_score = await backend.oom.effective(
        config.linux.resources.oom_score_adj, backend.config.pod_infra_image
    )
    log_path = _log_path(sandbox.log_directory, config.log_path)
    record = createspec.container_record(
        config, convert.now_ns(), sandbox.log_directory if log_path else ""
    )
    body = createspec.container_body(
        config,
        sandbox=sandbox,
        record=record,
        log_path=log_path,
        seccomp=choice,
        oom_score_adj=oom_score,
    )
    await backend.privileges.apply(body["HostConfig"], backend.config.pod_infra_image)
    meta = sandbox.metadata
    name = naming.container_name(
        config.metadata.name, config.metadata.attempt, meta.name, meta.namespace, meta.uid
    )
    try:
        container_id = await backend.create_named(
            name,
            body,
            lambda stale: ignore_not_found(lambda: backend.docker.remove_container(stale)),
        )
    except DockerAPIError as exc:
        raise refused_request(exc, "config") from exc
    backend.note_created(container_id, logs.location(body["Labels"]), config.tty)
    log.info(
        "created container %s (%s)",
        container_id[:12],
        name,
        extra={
            "container": container_id,
            "sandbox": sandbox.id,
            "pod": f"{meta.namespace}/{meta.name}",
        },
    )
    return cri.CreateContainerResponse(container_id=container_id)


def _sandbox_view(inspect: JSON, given: cri.PodSandboxConfig) -> createspec.SandboxView:
    """The sandbox as recorded at its creation; the request's copy only fills gaps."""
    record = records.sandbox(inspect["Config"].get("Labels"))
    return createspec.SandboxView(
        id=inspect["Id"],
        metadata=record.metadata,
        namespace_options=record.namespace_options.as_mapping(),
        cgroup_parent=inspect["HostConfig"].get("CgroupParent") or "",
        log_directory=record.log_directory or given.log_directory,
    )


def _log_path(directory: str, relative: str) -> str:
    """Where the CRI log goes; empty (no file) unless both parts are given."""
    if not directory or not relative:
        return ""
    return os.path.join(directory, relative)


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
    entries = [e for e in await backend.list_owned(query.filters) if query.keep(e)]
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
    createspec.validate_resources(request.linux, "linux")
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
