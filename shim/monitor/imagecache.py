"""Image id -> digested reference, the map behind ListContainers and ContainerStatus.

It changes only when images are pulled, tagged, untagged, loaded or removed,
so it is built from one image listing and kept until such a change:
:meth:`ImageRefs.invalidate` drops it, and :meth:`ImageRefs.on_event`
does so for a Docker event that concerns images. The shim's own image
operations (pull, remove) invalidate it themselves; changes made behind its
back (``docker pull``, ``docker rmi``) reach it through Docker's event stream,
fed to :meth:`on_event` through the backend's event listener.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from shim.deadline import rpc_deadline
from shim.monitor.dockerevents import DockerEvent
from shim.translate import convert

JSON = dict[str, Any]


class ImageSource(Protocol):
    """What the map needs of Docker (``shim.engine.docker.DockerClient`` in the daemon)."""

    async def list_images(
        self, filters: Mapping[str, Sequence[str]] | None = None
    ) -> list[JSON]: ...

    async def inspect_image(self, ref: str) -> JSON | None: ...


class ImageRefs:
    def __init__(self, docker: ImageSource) -> None:
        self._docker = docker
        self._refs: dict[str, str] | None = None
        # References known to name a local image (the infra image, checked by every RunPodSandbox).
        self._present: set[str] = set()
        self._listing: asyncio.Task[dict[str, str]] | None = None
        # Bumped by every invalidation, so a listing that started before one is not kept.
        self._generation = 0

    def invalidate(self) -> None:
        self._refs = None
        self._present.clear()
        self._listing = None
        self._generation += 1

    def on_event(self, event: DockerEvent) -> None:
        """Image events (pull, tag, untag, delete, load) invalidate the map."""
        if event.type == "image":
            self.invalidate()

    async def all(self) -> Mapping[str, str]:
        """Every local image's id -> reference, listing images only when the map is stale."""
        if self._refs is not None:
            return self._refs
        generation = self._generation
        if self._listing is None or self._listing.done():
            self._listing = asyncio.create_task(self._list())
        # Shielded: a caller giving up must not cancel the listing others await.
        refs = await asyncio.shield(self._listing)
        if generation == self._generation:
            self._refs = refs
        return refs

    async def ref_of(self, image_id: str) -> str:
        """The reference of one image id; the id itself for an image dockerd no longer has."""
        refs = await self.all()
        found = refs.get(image_id)
        if found is not None:
            return found
        # Not in the map: removed, or pulled behind our back before any event said so.
        image = await self._docker.inspect_image(image_id)
        return convert.image_ref(image) if image is not None else image_id

    async def exists(self, ref: str) -> bool:
        """Whether dockerd has an image under ``ref``; asks only until the answer is yes."""
        if ref in self._present:
            return True
        generation = self._generation
        found = await self._docker.inspect_image(ref) is not None
        if found and generation == self._generation:
            self._present.add(ref)
        return found

    async def _list(self) -> dict[str, str]:
        # The shim's own deadline applies, not the first caller's: the map serves all.
        with rpc_deadline(None):
            images = await self._docker.list_images()
        return {image["Id"]: convert.image_ref(image) for image in images}
