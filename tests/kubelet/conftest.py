"""Fixtures of the kubelet suite: a real kubelet, standalone, on a shim of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.kubelet import KubeletNode
from tests.support.tools import tool


@pytest.fixture
def node(tmp_path: Path) -> Iterator[KubeletNode]:
    kubelet = tool("kubelet")
    node = KubeletNode(kubelet, tmp_path, prefix="kubelet-e2e")
    try:
        node.start()
        yield node
    finally:
        node.close()
