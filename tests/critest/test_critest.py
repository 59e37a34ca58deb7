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
from tests.support.critest import focus_regex, judge, read_list, spec_statuses
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


def run_critest(
    binary: Path, shim: ShimProcess, images: Path, workdir: Path, *extra: str
) -> dict[str, str]:
    """Run critest once against ``shim``; spec name -> status from its JUnit report."""
    workdir.mkdir(parents=True, exist_ok=True)
    report = workdir / "junit.xml"
    with open(workdir / "critest.log", "wb") as output:
        subprocess.run(
            [
                str(binary),
                "--runtime-endpoint",
                shim.endpoint,
                "--image-endpoint",
                shim.endpoint,
                "-test-images-file",
                str(images),
                "-ginkgo.no-color",
                "-ginkgo.junit-report",
                str(report),
                *extra,
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            timeout=CRITEST_TIMEOUT,
            check=False,  # it exits non-zero whenever any spec fails; the report decides
            cwd=workdir,
            env={**os.environ, "HOME": str(workdir)},
        )
    assert report.is_file(), f"critest wrote no report; see {workdir / 'critest.log'}"
    return spec_statuses(report)


@pytest.mark.parametrize("version", list(VERSIONS))
def test_critest_passes_every_expected_spec(
    version: str, scoped_shim: ShimProcess, test_images: Path, tmp_path: Path
) -> None:
    """A listed spec that fails is run once more on its own (-ginkgo.focus) before it fails
    the test: a few specs read a container's log file the moment it exits, a race with the
    shim's log copy (README) that a second run does not lose twice in a row."""
    binary = tool(VERSIONS[version])
    started = time.monotonic()
    statuses = run_critest(binary, scoped_shim, test_images, tmp_path / "run")
    verdict = judge(statuses, read_list(HERE / f"expected-passes-{version}.txt"))
    print(
        f"critest {version}: {len(verdict.passed)} of {verdict.ran} specs passed "
        f"in {time.monotonic() - started:.0f}s (log: {tmp_path / 'run' / 'critest.log'})"
    )
    if verdict.newly_passing:
        print(f"newly passing, move onto expected-passes-{version}.txt:")
        print("\n".join(verdict.newly_passing))
    regressed = verdict.regressed
    if regressed:
        print(f"failed, run again on their own: {regressed}")
        again = run_critest(
            binary,
            scoped_shim,
            test_images,
            tmp_path / "retry",
            "-ginkgo.focus",
            focus_regex(regressed),
        )
        regressed = [name for name in regressed if again.get(name) != "passed"]
    assert regressed == [], (
        f"{len(regressed)} expected critest {version} specs did not pass twice in a row "
        f"(logs: {tmp_path}):\n" + "\n".join(regressed)
    )
