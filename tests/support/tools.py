"""The real Kubernetes clients the tests drive: crictl, critest and the kubelet.

They are upstream binaries kept outside the repository. ``CRI_TOOLS_BIN``
names their folder (default: ``../shared/tools/bin`` beside the checkout), so
that a user can point the tests at their own copies of the release binaries.
Where a tool is missing its tests are skipped with a one-line reason, except
in CI (``CI=true``), where a missing tool fails them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOLS_DIR = Path(os.environ.get("CRI_TOOLS_BIN", str(REPO.parent / "shared" / "tools" / "bin")))


def tool(name: str) -> Path:
    """The path of tool ``name``; skips the test (fails it in CI) when it is missing."""
    path = TOOLS_DIR / name
    if path.is_file() and os.access(path, os.X_OK):
        return path
    reason = f"{name} not found in {TOOLS_DIR} (set CRI_TOOLS_BIN to its folder)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)
