"""Fixtures shared by all suites.

Integration tests (under tests/integration) talk to the real dockerd and the
real registries that scripts/setup-host starts; they are marked ``docker``, as
are tests/critest and tests/kubelet, which drive the shim with critest and the
real kubelet.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiodocker
import pytest

from tests.support import env
from tests.support.cri import CriClient, Workspace
from tests.support.kubeletlite import KubeletLite
from tests.support.processes import ShimProcess, short_socket_dir

# Suites under these folders need the real dockerd (critest and kubelet: the real clients too).
DOCKER_SUITES = frozenset({"integration", "critest", "kubelet"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if DOCKER_SUITES.intersection(item.path.parts):
            item.add_marker(pytest.mark.docker)


@pytest.fixture(scope="session")
def shim_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShimProcess]:
    """One shim daemon for the session; tests that restart or kill a shim start their own."""
    socket_dir = short_socket_dir()
    logs = tmp_path_factory.mktemp("shim")
    daemon = ShimProcess(
        socket_dir / "cri.sock", logs / "shim.log", env={"DOCKER_HOST": env.DOCKER_HOST}
    )
    daemon.start()
    yield daemon
    code = daemon.stop()
    shutil.rmtree(socket_dir, ignore_errors=True)
    assert code == 0, f"shim exited with {code}; log:\n{daemon.log_text()}"


@pytest.fixture
async def cri(shim_daemon: ShimProcess) -> AsyncIterator[CriClient]:
    client = CriClient(shim_daemon.endpoint)
    yield client
    await client.close()


@pytest.fixture
async def docker() -> AsyncIterator[aiodocker.Docker]:
    """Direct Docker access, for checking what the shim did and for cleanup."""
    client = aiodocker.Docker(url=env.DOCKER_HOST)
    yield client
    await client.close()


@pytest.fixture
async def workspace(
    cri: CriClient, docker: aiodocker.Docker, tmp_path: Path
) -> AsyncIterator[Workspace]:
    space = Workspace(cri, docker, tmp_path / "pod-logs")
    try:
        yield space
    finally:
        await space.cleanup()


@pytest.fixture
async def kubeletlite(
    shim_daemon: ShimProcess, cri: CriClient, tmp_path: Path
) -> AsyncIterator[KubeletLite]:
    """The kubeletlite CLI against the session's shim, in a namespace of its own."""
    lite = KubeletLite(shim_daemon.endpoint, tmp_path, cri)
    try:
        yield lite
    finally:
        await lite.cleanup()
