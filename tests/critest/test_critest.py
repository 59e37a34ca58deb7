"""The CRI validation suite (critest) against the shim, held to a list of expected passes.

Each critest version runs against a shim of its own (its own socket and
``--instance``, so nothing else on the dockerd is touched), with the offline
stand-in images of scripts/build-test-images. A spec on
``expected-passes-<version>.txt`` that does not pass fails the test; a spec
that passes but is not on the list is printed, to be moved onto it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import env
from tests.support.critest import judge, read_list, spec_statuses
from tests.support.processes import ShimProcess, remove_instance_containers, short_socket_dir
from tests.support.tools import REPO, tool

pytestmark = [pytest.mark.critest, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
VERSIONS = {"v1.34": "critest", "v1.26.1": "critest-v1.26.1"}
# Well above a run's length here (about 2 minutes each): a hang, not a slow machine.
CRITEST_TIMEOUT = 1200


@pytest.fixture(scope="module")
def test_images() -> Path:
    """Build (or find already built) the stand-in images critest creates containers from."""
    subprocess.run([str(REPO / "scripts" / "build-test-images")], check=True, timeout=600)
    return HERE / "test-images.yaml"


@pytest.fixture
def scoped_shim(tmp_path: Path) -> Iterator[ShimProcess]:
    instance = f"critest-{uuid.uuid4().hex[:8]}"
    socket_dir = short_socket_dir()
    shim = ShimProcess(
        socket_dir / "cri.sock",
        tmp_path / "shim.log",
        args=["--instance", instance, "--log-level", "info"],
        env={"DOCKER_HOST": env.DOCKER_HOST},
    )
    try:
        shim.start()
        yield shim
    finally:
        if shim.process is not None and shim.process.poll() is None:
            shim.stop()
        remove_instance_containers(instance)
        shutil.rmtree(socket_dir, ignore_errors=True)


@pytest.mark.parametrize("version", list(VERSIONS))
def test_critest_passes_every_expected_spec(
    version: str, scoped_shim: ShimProcess, test_images: Path, tmp_path: Path
) -> None:
    binary = tool(VERSIONS[version])
    report = tmp_path / "junit.xml"
    started = time.monotonic()
    with open(tmp_path / "critest.log", "wb") as output:
        subprocess.run(
            [
                str(binary),
                "--runtime-endpoint",
                scoped_shim.endpoint,
                "--image-endpoint",
                scoped_shim.endpoint,
                "-test-images-file",
                str(test_images),
                "-ginkgo.no-color",
                "-ginkgo.junit-report",
                str(report),
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            timeout=CRITEST_TIMEOUT,
            check=False,  # it exits non-zero whenever any spec fails; the report decides
            cwd=tmp_path,
            env={**os.environ, "HOME": str(tmp_path)},
        )
    assert report.is_file(), f"critest wrote no report; see {tmp_path / 'critest.log'}"
    verdict = judge(spec_statuses(report), read_list(HERE / f"expected-passes-{version}.txt"))
    print(
        f"critest {version}: {len(verdict.passed)} of {verdict.ran} specs passed "
        f"in {time.monotonic() - started:.0f}s (log: {tmp_path / 'critest.log'})"
    )
    if verdict.newly_passing:
        print(f"newly passing, move onto expected-passes-{version}.txt:")
        print("\n".join(verdict.newly_passing))
    assert verdict.regressed == [], (
        f"{len(verdict.regressed)} expected critest {version} specs did not pass "
        f"(log: {tmp_path / 'critest.log'}):\n" + "\n".join(verdict.regressed)
    )
