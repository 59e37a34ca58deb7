"""The committed stubs in criapi/ must be exactly what scripts/gen-proto makes from proto/."""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
from pathlib import Path

from criapi.runtime.v1 import api_pb2

REPO = Path(__file__).resolve().parents[2]
GENERATED = ("api_pb2.py", "api_pb2.pyi", "api_pb2_grpc.py", "api_pb2_grpc.pyi")


def test_committed_stubs_match_the_proto(tmp_path: Path) -> None:
    subprocess.run(
        [str(REPO / "scripts" / "gen-proto"), str(tmp_path)],
        check=True,
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
    )
    fresh = tmp_path / "criapi" / "runtime" / "v1"
    committed = REPO / "criapi" / "runtime" / "v1"
    stale = [
        name for name in GENERATED if not filecmp.cmp(fresh / name, committed / name, shallow=False)
    ]
    assert stale == [], f"stubs out of date, run scripts/gen-proto: {stale}"


def test_upstream_package_and_services() -> None:
    assert api_pb2.DESCRIPTOR.package == "runtime.v1"
    assert set(api_pb2.DESCRIPTOR.services_by_name) == {"RuntimeService", "ImageService"}
    services = api_pb2.DESCRIPTOR.services_by_name
    assert len(services["RuntimeService"].methods) == 30
    assert len(services["ImageService"].methods) == 5


def test_a_few_wire_facts_match_upstream() -> None:
    """Spot checks of numbers a client depends on (the token check is in proto/UPSTREAM.md)."""
    fields = api_pb2.ContainerConfig.DESCRIPTOR.fields_by_name
    assert fields["log_path"].number == 11
    assert fields["stop_signal"].number == 18
    assert api_pb2.ContainerStatus.DESCRIPTOR.fields_by_name["log_path"].number == 15
    assert api_pb2.CONTAINER_EXITED == 2
    assert api_pb2.SANDBOX_NOTREADY == 1
    assert api_pb2.NamespaceMode.Value("TARGET") == 3
