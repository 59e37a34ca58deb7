"""ImageService: pull, inspect, list and remove images in dockerd."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from typing import Any

from criapi.runtime.v1 import api_pb2 as cri
from shim import limits
from shim.cri.backend import Backend
from shim.deadline import deadline_for, rpc_time_remaining
from shim.errors import (
    DeadlineExceeded,
    DockerAPIError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
    pull_failure,
)
from shim.translate import convert, imageref

log = logging.getLogger(__name__)

JSON = dict[str, Any]


async def pull_image(backend: Backend, request: cri.PullImageRequest) -> cri.PullImageResponse:
    ref = imageref.parse(request.image.image, "image.image")
    auth = registry_auth(request.auth, "auth") if request.HasField("auth") else None
    image_id = await pull(backend, ref, auth)
    return cri.PullImageResponse(image_ref=image_id)


async def pull(backend: Backend, ref: imageref.ImageRef, auth: JSON | None) -> str:
    """Pull ``ref``, cancelling it when dockerd reports no progress for a while; return its id."""
    loop = asyncio.get_running_loop()
    stall = backend.config.image_pull_progress_deadline
    client_deadline = deadline_for(None)

    def next_deadline() -> float:
        own = loop.time() + stall
        return own if client_deadline is None else min(own, client_deadline)

    try:
        async with asyncio.timeout_at(next_deadline()) as watchdog:
            await backend.docker.pull_image(
                str(ref), auth, lambda _progress: watchdog.reschedule(next_deadline())
            )
    except TimeoutError as exc:
        if rpc_time_remaining() == 0:
            raise DeadlineExceeded(f"pulling {ref}: client deadline exceeded") from exc
        raise DeadlineExceeded(
            f"pulling {ref}: cancelled after {stall:g}s without progress"
        ) from exc
    except DockerAPIError as exc:
        raise pull_failure(exc, f"pulling {ref}") from exc
    finally:
        # Even a failed pull may have fetched or re-tagged something.
        backend.image_refs.invalidate()
    image = await backend.docker.inspect_image(str(ref))
    if image is None:
        raise NotFound(f"pulling {ref}: dockerd reported success but has no such image")
    log.info("pulled %s (%s)", ref, image["Id"])
    return str(image["Id"])


def registry_auth(auth: cri.AuthConfig, field: str) -> JSON | None:
    """dockerd's X-Registry-Auth document for CRI credentials (None if empty)."""
    parts = ("username", "password", "auth", "server_address", "identity_token", "registry_token")
    for part in parts:
        limits.text(getattr(auth, part), f"{field}.{part}", limits.CREDENTIAL_BYTES)
    if auth.identity_token:
        return {"identitytoken": auth.identity_token, "serveraddress": auth.server_address}
    if auth.registry_token:
        return {"registrytoken": auth.registry_token, "serveraddress": auth.server_address}
    username, password = auth.username, auth.password
    if auth.auth:
        try:
            decoded = base64.b64decode(auth.auth, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise InvalidArgument(f"{field}.auth: not base64 of 'user:password'") from exc
        username, sep, password = decoded.partition(":")
        if not sep:
            raise InvalidArgument(f"{field}.auth: not base64 of 'user:password'")
    if not username and not password:
        return None
    return {"username": username, "password": password, "serveraddress": auth.server_address}


async def image_status(
    backend: Backend, request: cri.ImageStatusRequest
) -> cri.ImageStatusResponse:
    image = await lookup(backend, request.image.image, "image.image")
    if image is None:
        # The CRI's answer for an unknown image: success with no image.
        return cri.ImageStatusResponse()
    info = {}
    if request.verbose:
        info["info"] = json.dumps(
            {"id": image["Id"], "created": image.get("Created"), "config": image.get("Config")}
        )
    return cri.ImageStatusResponse(image=convert.image(image), info=info)


async def lookup(backend: Backend, value: str, field: str) -> JSON | None:
    """Inspect an image named by reference, id or id prefix; None if dockerd lacks it."""
    if not value:
        raise InvalidArgument(f"{field}: required")
    if not imageref.looks_like_id_prefix(value):
        value = str(imageref.parse(value, field))
    return await backend.docker.inspect_image(value)


async def list_images(backend: Backend, request: cri.ListImagesRequest) -> cri.ListImagesResponse:
    wanted = request.filter.image.image if request.HasField("filter") else ""
    entries = await backend.docker.list_images()
    images = [convert.image(entry) for entry in entries]
    if wanted:
        images = [image for image in images if _matches(image, wanted)]
    return cri.ListImagesResponse(images=images)


def _matches(image: cri.Image, wanted: str) -> bool:
    if imageref.looks_like_id_prefix(wanted):
        return image.id.removeprefix("sha256:").startswith(wanted.removeprefix("sha256:"))
    ref = imageref.parse(wanted, "filter.image.image")
    if ref.digest:
        return str(ref) in image.repo_digests
    if ref.tag:
        return str(ref) in image.repo_tags
    # A bare repository matches every tag of it.
    return any(imageref.repository_of(tag) == ref.repository for tag in image.repo_tags)


async def remove_image(
    backend: Backend, request: cri.RemoveImageRequest
) -> cri.RemoveImageResponse:
    image = await lookup(backend, request.image.image, "image.image")
    if image is None:
        return cri.RemoveImageResponse()
    # Checked first: dockerd untags an image in use and refuses only its last name,
    # which would leave it half removed.
    users = await backend.docker.list_containers({"ancestor": [image["Id"]]})
    if users:
        raise FailedPrecondition(
            f"image {image['Id']} is in use by {len(users)} container(s), "
            f"e.g. {users[0]['Id'][:12]}; nothing was removed"
        )
    # Removing the image means every name it has, then the id itself.
    names = [*(image.get("RepoTags") or []), *(image.get("RepoDigests") or []), image["Id"]]
    backend.image_refs.invalidate()
    for name in names:
        try:
            await backend.docker.remove_image(name)
        except DockerAPIError as exc:
            if exc.is_not_found:
                continue
            if exc.is_conflict:
                raise FailedPrecondition(f"image {image['Id']} is in use: {exc.message}") from exc
            raise
    return cri.RemoveImageResponse()


async def image_fs_info(
    backend: Backend, request: cri.ImageFsInfoRequest
) -> cri.ImageFsInfoResponse:
    info, usage = await asyncio.gather(backend.docker.info(), _disk_usage(backend))
    mountpoint = f"{info.get('DockerRootDir', '/var/lib/docker')}/{info.get('Driver', '')}"
    now = convert.now_ns()
    layers = int(usage.get("LayersSize") or 0)
    writable = sum(int(c.get("SizeRw") or 0) for c in usage.get("Containers") or [])
    return cri.ImageFsInfoResponse(
        image_filesystems=[_fs_usage(now, mountpoint, layers)],
        container_filesystems=[_fs_usage(now, mountpoint, writable)],
    )


# dockerd runs one disk-usage computation at a time and refuses a second one
# (any client's, e.g. `docker system df`) instead of waiting for it.
_DF_BUSY = "a disk usage operation is already running"
DF_RETRIES = 20
DF_RETRY_SECONDS = 0.25


async def _disk_usage(backend: Backend) -> dict[str, Any]:
    for _ in range(DF_RETRIES):
        try:
            return await backend.docker.disk_usage()
        except DockerAPIError as exc:
            if _DF_BUSY not in exc.message:
                raise
        await asyncio.sleep(DF_RETRY_SECONDS)
    raise Unavailable(f"dockerd: {_DF_BUSY} (another client's); try again")


def _fs_usage(timestamp: int, mountpoint: str, used: int) -> cri.FilesystemUsage:
    return cri.FilesystemUsage(
        timestamp=timestamp,
        fs_id=cri.FilesystemIdentifier(mountpoint=mountpoint),
        used_bytes=cri.UInt64Value(value=used),
    )
