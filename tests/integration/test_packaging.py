"""What `pip install .` and scripts/install-systemd give a user: both commands, versions
that agree with the CRI Version RPC, complete --help, and systemd units that verify."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from criapi.runtime.v1 import api_pb2 as pb
from shim.config import OPTIONS
from tests.support.cri import CriClient

REPO = Path(__file__).resolve().parents[2]
HELP_COMMANDS = (
    ("cri-shim",),
    ("kubeletlite",),
    ("kubeletlite", "run"),
    ("kubeletlite", "serve"),
    ("kubeletlite", "get"),
    ("kubeletlite", "describe"),
    ("kubeletlite", "logs"),
    ("kubeletlite", "delete"),
)


@pytest.fixture(scope="module")
def installed() -> Iterator[Path]:
    """A non-editable install into a fresh prefix, with the units rendered for it."""
    root = Path(tempfile.mkdtemp(prefix="cri-install-", dir="/tmp"))
    env = {**os.environ, "PREFIX": str(root / "prefix"), "UNIT_DIR": str(root / "units")}
    subprocess.run(
        [str(REPO / "scripts" / "install-systemd"), "--no-start"],
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    yield root
    shutil.rmtree(root, ignore_errors=True)


def run(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=60).stdout


async def test_both_commands_report_the_version_the_cri_reports(
    installed: Path, cri: CriClient
) -> None:
    bin_dir = installed / "prefix" / "bin"
    shim_version = run(str(bin_dir / "cri-shim"), "--version").split()[-1]
    lite_version = run(str(bin_dir / "kubeletlite"), "--version").split()[-1]
    rpc = await cri.runtime.Version(pb.VersionRequest())
    assert shim_version == lite_version == rpc.version
    assert re.fullmatch(r"\d+\.\d+\.\d+", rpc.version)


@pytest.mark.parametrize("command", HELP_COMMANDS, ids=" ".join)
def test_every_command_has_help(installed: Path, command: tuple[str, ...]) -> None:
    program, *sub = command
    text = run(str(installed / "prefix" / "bin" / program), *sub, "--help")
    assert text.startswith("usage:")
    assert "--help" in text


def test_shim_help_lists_every_environment_variable(installed: Path) -> None:
    text = run(str(installed / "prefix" / "bin" / "cri-shim"), "--help")
    for option in OPTIONS:
        assert option.flag in text
        assert option.env in text


def test_systemd_units_verify(installed: Path) -> None:
    units = sorted((installed / "units").glob("*.service"))
    assert [u.name for u in units] == ["cri-shim.service", "kubelet-lite.service"]
    result = subprocess.run(
        ["systemd-analyze", "verify", *map(str, units)],
        capture_output=True,
        text=True,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    shim_unit = units[0].read_text()
    assert f"ExecStart={installed}/prefix/bin/cri-shim" in shim_unit
    assert "After=network-online.target docker.service" in shim_unit
