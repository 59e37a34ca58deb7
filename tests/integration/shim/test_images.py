"""ImageService against the real dockerd and the two loopback registries."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiodocker
import aiohttp
import grpc
import pytest

from criapi.runtime.v1 import api_pb2 as pb
from tests.support import env
from tests.support.cri import CriClient, Workspace, rpc_error
from tests.support.processes import ShimProcess, short_socket_dir

IMAGE_ID = re.compile(r"sha256:[0-9a-f]{64}")
# A fully qualified name starts with a registry host: "docker.io/", "127.0.0.1:5000/".
QUALIFIED = re.compile(r"[a-z0-9.-]+(\.[a-z0-9-]+|:[0-9]+)/[^\s]+")
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    )
)


def pull_request(image: str, auth: pb.AuthConfig | None = None) -> pb.PullImageRequest:
    return pb.PullImageRequest(image=pb.ImageSpec(image=image), auth=auth)


async def image_status(cri: CriClient, image: str, verbose: bool = False) -> pb.ImageStatusResponse:
    return await cri.images.ImageStatus(
        pb.ImageStatusRequest(image=pb.ImageSpec(image=image), verbose=verbose)
    )


async def list_images(cri: CriClient, wanted: str | None = None) -> list[pb.Image]:
    request = pb.ListImagesRequest()
    if wanted is not None:
        request.filter.image.image = wanted
    return list((await cri.images.ListImages(request)).images)


async def local_image(docker: aiodocker.Docker, name: str) -> dict | None:
    try:
        return await docker.images.inspect(name)
    except aiodocker.DockerError as exc:
        if exc.status == 404:
            return None
        raise


async def drop_repository(docker: aiodocker.Docker, image: str, repository: str) -> None:
    """Remove every local tag and digest of ``repository`` that ``image`` carries."""
    info = await local_image(docker, image) or {}
    names = [*(info.get("RepoTags") or []), *(info.get("RepoDigests") or [])]
    for name in names:
        if name.startswith((f"{repository}:", f"{repository}@")):
            with contextlib.suppress(aiodocker.DockerError):
                await docker.images.delete(name, noprune=True)


async def delete_from_registry(repository: str, tag: str) -> None:
    """Delete a tag's manifest from the open registry (its storage allows deletes)."""
    registry, _, name = repository.partition("/")
    base = f"http://{registry}/v2/{name}/manifests"
    async with aiohttp.ClientSession() as http:
        async with http.head(f"{base}/{tag}", headers={"Accept": MANIFEST_TYPES}) as response:
            digest = response.headers.get("Docker-Content-Digest")
        if digest:
            async with http.delete(f"{base}/{digest}") as response:
                assert response.status in (202, 404), await response.text()


@pytest.fixture
async def busybox_id(docker: aiodocker.Docker) -> str:
    return str((await docker.images.inspect(env.BUSYBOX))["Id"])


@pytest.fixture
async def pushed(docker: aiodocker.Docker, busybox_id: str) -> AsyncIterator[str]:
    """A tag only the open registry has: pushed there, then removed locally."""
    repository = f"{env.REGISTRY}/test-{uuid.uuid4().hex[:12]}"
    await docker.images.tag(env.BUSYBOX, repository, tag="v1")
    try:
        await docker.images.push(repository, tag="v1")
        await drop_repository(docker, busybox_id, repository)
        yield f"{repository}:v1"
    finally:
        await drop_repository(docker, busybox_id, repository)
        await delete_from_registry(repository, "v1")


@pytest.fixture
async def private_pull(docker: aiodocker.Docker, busybox_id: str) -> AsyncIterator[str]:
    """The private registry's busybox; whatever a test pulls of it is untagged afterwards."""
    await drop_repository(docker, busybox_id, env.PRIVATE_BUSYBOX.rsplit(":", 1)[0])
    yield env.PRIVATE_BUSYBOX
    await drop_repository(docker, busybox_id, env.PRIVATE_BUSYBOX.rsplit(":", 1)[0])


@pytest.fixture
async def short_name(docker: aiodocker.Docker) -> AsyncIterator[str]:
    """busybox tagged locally under a familiar docker.io name that is never pulled."""
    tag = f"shimtest-{uuid.uuid4().hex[:12]}"
    await docker.images.tag(env.BUSYBOX, "busybox", tag=tag)
    try:
        yield f"busybox:{tag}"
    finally:
        with contextlib.suppress(aiodocker.DockerError):
            await docker.images.delete(f"busybox:{tag}", noprune=True)


@pytest.fixture
async def own_image(docker: aiodocker.Docker) -> AsyncIterator[tuple[str, str]]:
    """An image of its own (a commit of busybox with a unique label): (id, repository)."""
    unique = uuid.uuid4().hex[:12]
    repository = f"{env.REGISTRY}/test-own-{unique}"
    container = await docker.containers.create({"Image": env.BUSYBOX, "Cmd": ["true"]})
    try:
        result = await container.commit(
            repository=repository, tag="one", changes=f"LABEL test.cri-shim/image={unique}"
        )
    finally:
        await container.delete(force=True)
    image_id = str(result["Id"])
    try:
        yield image_id, repository
    finally:
        with contextlib.suppress(aiodocker.DockerError):
            await docker.images.delete(image_id, force=True)


# -- PullImage ------------------------------------------------------------------------


async def test_pull_from_the_open_registry_returns_the_image_id(
    cri: CriClient, docker: aiodocker.Docker, pushed: str
) -> None:
    assert await local_image(docker, pushed) is None

    response = await cri.images.PullImage(pull_request(pushed))

    assert IMAGE_ID.fullmatch(response.image_ref)
    local = await local_image(docker, pushed)
    assert local is not None
    assert response.image_ref == local["Id"]
    image = (await image_status(cri, pushed)).image
    assert image.id == response.image_ref
    assert pushed in image.repo_tags
    repository = pushed.rsplit(":", 1)[0]
    assert any(d.startswith(f"{repository}@sha256:") for d in image.repo_digests)
    for name in [*image.repo_tags, *image.repo_digests]:
        assert QUALIFIED.fullmatch(name), name


@pytest.mark.parametrize(
    "auth",
    [
        pb.AuthConfig(username=env.AUTH_USER, password=env.AUTH_PASSWORD),
        pb.AuthConfig(
            auth=base64.b64encode(f"{env.AUTH_USER}:{env.AUTH_PASSWORD}".encode()).decode()
        ),
    ],
    ids=["username-password", "auth"],
)
async def test_pull_from_the_private_registry_with_credentials(
    cri: CriClient,
    docker: aiodocker.Docker,
    private_pull: str,
    busybox_id: str,
    auth: pb.AuthConfig,
) -> None:
    response = await cri.images.PullImage(pull_request(private_pull, auth))

    assert response.image_ref == busybox_id
    assert private_pull in (await image_status(cri, private_pull)).image.repo_tags


@pytest.mark.parametrize(
    "auth",
    [None, pb.AuthConfig(username=env.AUTH_USER, password="not-the-password")],
    ids=["no-credentials", "wrong-password"],
)
async def test_pull_from_the_private_registry_without_valid_credentials_is_unauthenticated(
    cri: CriClient, private_pull: str, auth: pb.AuthConfig | None
) -> None:
    error = await rpc_error(cri.images.PullImage(pull_request(private_pull, auth)))

    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert private_pull in error.details()
    assert re.search(r"unauthorized|credentials|authentication", error.details()), error.details()
    assert not (await image_status(cri, private_pull)).HasField("image")


@pytest.mark.parametrize(
    "image",
    [f"{env.REGISTRY}/no-such-repository-{uuid.uuid4().hex[:8]}:v1", f"{env.BUSYBOX}-no-such-tag"],
    ids=["repository", "tag"],
)
async def test_pull_of_an_unknown_image_is_not_found(cri: CriClient, image: str) -> None:
    error = await rpc_error(cri.images.PullImage(pull_request(image)))

    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert image in error.details()


@pytest.mark.parametrize("image", ["Bad Image", "a b", ""])
async def test_pull_of_a_malformed_reference_is_invalid(cri: CriClient, image: str) -> None:
    error = await rpc_error(cri.images.PullImage(pull_request(image)))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "image.image" in error.details()


async def test_pull_with_auth_that_is_not_base64_is_invalid(cri: CriClient) -> None:
    request = pull_request(env.PRIVATE_BUSYBOX, pb.AuthConfig(auth="not base64!"))

    error = await rpc_error(cri.images.PullImage(request))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "auth.auth" in error.details()


@dataclass
class SilentRegistry:
    """A TCP server that accepts connections and never answers them."""

    port: int = 0
    connections: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    handlers: set[asyncio.Task[None]] = field(default_factory=set)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        self.connections += 1
        try:
            await self.stop.wait()
        finally:
            writer.close()


@pytest.fixture
async def silent_registry() -> AsyncIterator[SilentRegistry]:
    registry = SilentRegistry()
    server = await asyncio.start_server(registry.handle, "127.0.0.1", 0)
    registry.port = server.sockets[0].getsockname()[1]
    try:
        yield registry
    finally:
        registry.stop.set()
        server.close()
        await server.wait_closed()
        await asyncio.gather(*registry.handlers, return_exceptions=True)


@pytest.fixture
async def impatient_shim(tmp_path: Path) -> AsyncIterator[CriClient]:
    """A shim of its own that gives up on a pull after one second without progress."""
    socket_dir = short_socket_dir()
    shim = ShimProcess(
        socket_dir / "cri.sock",
        tmp_path / "impatient-shim.log",
        args=["--image-pull-progress-deadline", "1"],
        env={"DOCKER_HOST": env.DOCKER_HOST},
    )
    try:
        await asyncio.to_thread(shim.start)
        client = CriClient(shim.endpoint)
        try:
            yield client
        finally:
            await client.close()
        code = await asyncio.to_thread(shim.stop)
        assert code == 0, shim.log_text()
    finally:
        if shim.process is not None and shim.process.poll() is None:
            await asyncio.to_thread(shim.kill)
        shutil.rmtree(socket_dir, ignore_errors=True)


async def test_a_pull_without_progress_is_cancelled(
    impatient_shim: CriClient, silent_registry: SilentRegistry
) -> None:
    image = f"127.0.0.1:{silent_registry.port}/x:y"

    error = await rpc_error(impatient_shim.images.PullImage(pull_request(image), timeout=30))

    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "without progress" in error.details()
    assert image in error.details()
    # "without progress" comes from the shim's watchdog only (not dockerd's own TLS timeout);
    # its timing is decided with a fake clock in tests/fast/shim/test_timing.py.
    assert silent_registry.connections >= 1
    assert not (await image_status(impatient_shim, image)).HasField("image")


async def test_a_client_deadline_shorter_than_the_stall_ends_the_pull(
    cri: CriClient, silent_registry: SilentRegistry
) -> None:
    error = await rpc_error(
        cri.images.PullImage(pull_request(f"127.0.0.1:{silent_registry.port}/x:y"), timeout=1)
    )

    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert silent_registry.connections >= 1
    assert (await cri.runtime.Version(pb.VersionRequest())).runtime_name == "docker"


# -- ImageStatus ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "image", [f"{env.REGISTRY}/no-such-image-{uuid.uuid4().hex[:8]}:v1", "0123456789abcdef0123"]
)
async def test_status_of_an_unknown_image_is_empty(cri: CriClient, image: str) -> None:
    response = await image_status(cri, image)

    assert not response.HasField("image")
    assert not response.info


async def test_status_of_a_malformed_reference_is_invalid(cri: CriClient) -> None:
    error = await rpc_error(image_status(cri, "Bad Image"))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "image.image" in error.details()


async def test_status_verbose_has_info(cri: CriClient, busybox_id: str) -> None:
    response = await image_status(cri, env.BUSYBOX, verbose=True)

    assert response.image.id == busybox_id
    assert env.BUSYBOX in response.image.repo_tags
    assert response.image.size > 0
    info = json.loads(response.info["info"])
    assert info["id"] == busybox_id
    assert info["config"]["Cmd"]


async def test_status_without_verbose_has_no_info(cri: CriClient) -> None:
    assert not (await image_status(cri, env.BUSYBOX)).info


@pytest.mark.parametrize(
    "name",
    [lambda i: i, lambda i: i.removeprefix("sha256:"), lambda i: i.removeprefix("sha256:")[:12]],
    ids=["id", "bare-id", "12-char-prefix"],
)
async def test_status_by_id(cri: CriClient, busybox_id: str, name) -> None:
    image = (await image_status(cri, name(busybox_id))).image

    assert image.id == busybox_id
    assert env.BUSYBOX in image.repo_tags


async def test_status_by_a_short_name_reports_it_qualified(
    cri: CriClient, short_name: str, busybox_id: str
) -> None:
    image = (await image_status(cri, short_name)).image

    assert image.id == busybox_id
    assert f"docker.io/library/{short_name}" in image.repo_tags
    assert short_name not in image.repo_tags
    assert (await image_status(cri, f"docker.io/library/{short_name}")).image.id == busybox_id


# -- ListImages -----------------------------------------------------------------------


async def test_list_reports_every_image_with_qualified_names(
    cri: CriClient, short_name: str, busybox_id: str
) -> None:
    images = await list_images(cri)

    by_id = {image.id: image for image in images}
    assert busybox_id in by_id
    assert f"docker.io/library/{short_name}" in by_id[busybox_id].repo_tags
    assert env.BUSYBOX in by_id[busybox_id].repo_tags
    pause = by_id[(await image_status(cri, env.PAUSE)).image.id]
    assert env.PAUSE in pause.repo_tags
    for image in images:
        assert IMAGE_ID.fullmatch(image.id)
        for name in [*image.repo_tags, *image.repo_digests]:
            assert QUALIFIED.fullmatch(name), name


@pytest.mark.parametrize(
    "wanted",
    [
        lambda short, _: short,
        lambda short, _: f"docker.io/library/{short}",
        lambda _, image_id: image_id,
        lambda _, image_id: image_id.removeprefix("sha256:")[:12],
    ],
    ids=["tag", "qualified-tag", "id", "id-prefix"],
)
async def test_list_filtered_to_one_image(
    cri: CriClient, short_name: str, busybox_id: str, wanted
) -> None:
    images = await list_images(cri, wanted(short_name, busybox_id))

    assert [image.id for image in images] == [busybox_id]
    assert f"docker.io/library/{short_name}" in images[0].repo_tags


async def test_list_filtered_by_a_bare_repository(
    cri: CriClient, short_name: str, busybox_id: str
) -> None:
    images = await list_images(cri, "busybox")

    assert busybox_id in [image.id for image in images]
    for image in images:
        assert any(tag.startswith("docker.io/library/busybox:") for tag in image.repo_tags)
    repository = env.BUSYBOX.rsplit(":", 1)[0]
    registry_images = await list_images(cri, repository)
    assert busybox_id in [image.id for image in registry_images]
    for image in registry_images:
        assert any(tag.startswith(f"{repository}:") for tag in image.repo_tags)
    assert all(env.PAUSE not in image.repo_tags for image in [*images, *registry_images])


async def test_list_filtered_by_an_unknown_tag_is_empty(cri: CriClient, short_name: str) -> None:
    assert await list_images(cri, f"{short_name}-gone") == []


# -- RemoveImage ----------------------------------------------------------------------


async def test_remove_removes_every_tag_and_is_idempotent(
    cri: CriClient, docker: aiodocker.Docker, own_image: tuple[str, str]
) -> None:
    image_id, repository = own_image
    await docker.images.tag(image_id, repository, tag="two")
    assert set((await image_status(cri, image_id)).image.repo_tags) == {
        f"{repository}:one",
        f"{repository}:two",
    }

    await cri.images.RemoveImage(
        pb.RemoveImageRequest(image=pb.ImageSpec(image=f"{repository}:one"))
    )

    assert await local_image(docker, image_id) is None
    assert await local_image(docker, f"{repository}:two") is None
    assert not (await image_status(cri, f"{repository}:two")).HasField("image")
    assert await local_image(docker, env.BUSYBOX) is not None
    await cri.images.RemoveImage(
        pb.RemoveImageRequest(image=pb.ImageSpec(image=f"{repository}:one"))
    )
    await cri.images.RemoveImage(pb.RemoveImageRequest(image=pb.ImageSpec(image=image_id)))


async def test_remove_of_an_image_in_use_fails_and_keeps_it(
    own_image: tuple[str, str], workspace: Workspace
) -> None:
    image_id, repository = own_image
    pod_id, pod = await workspace.run_pod()
    await workspace.create(
        pod_id, pod, workspace.container_config("user", ["true"], image=f"{repository}:one")
    )

    error = await rpc_error(
        workspace.cri.images.RemoveImage(pb.RemoveImageRequest(image=pb.ImageSpec(image=image_id)))
    )

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert image_id in error.details()
    image = (await image_status(workspace.cri, image_id)).image
    assert image.id == image_id
    assert f"{repository}:one" in image.repo_tags


# -- ImageFsInfo ----------------------------------------------------------------------


async def test_image_fs_info_reports_a_mountpoint_and_usage(
    cri: CriClient, docker: aiodocker.Docker
) -> None:
    response = await cri.images.ImageFsInfo(pb.ImageFsInfoRequest())

    root = (await docker.system.info())["DockerRootDir"]
    [images] = response.image_filesystems
    assert images.fs_id.mountpoint.startswith(root)
    assert images.used_bytes.value > 0
    assert images.timestamp > 0
    [containers] = response.container_filesystems
    assert containers.fs_id.mountpoint == images.fs_id.mountpoint
