"""Shell completion for bash and zsh, generated from the parser by shtab.

Pod and container names come from the state directory (the one
KUBELETLITE_STATE_DIR names, else the default) through a hidden helper,
``kubeletlite __complete pods|containers``, which reads no runtime and
prints one name a line, so completing stays fast and works with no shim.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import shtab

from kubeletlite.settings import DEFAULT_STATE_DIR
from kubeletlite.state.store import StateStore

SHELLS = ("bash", "zsh")
HELPER = "__complete"
PODS = shtab.cmd(f"kubeletlite {HELPER} pods 2>/dev/null")
CONTAINERS = shtab.cmd(f"kubeletlite {HELPER} containers 2>/dev/null")
FILE = shtab.FILE
DIRECTORY = shtab.DIRECTORY


def attach(action: argparse.Action, how: Any) -> None:
    """Tell shtab how to complete an argument (an attribute it reads off the action)."""
    action.complete = how  # type: ignore[attr-defined]


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    return shtab.complete(parser, shell=shell)


def helper(words: Sequence[str]) -> int:
    """``__complete pods``: live pods' names; ``__complete containers``: their containers'."""
    store = StateStore(Path(os.environ.get("KUBELETLITE_STATE_DIR") or DEFAULT_STATE_DIR))
    kind = words[0] if words else "pods"
    names: set[str] = set()
    with contextlib.suppress(OSError):
        for record in store.records():
            meta = record.meta()
            if meta is None or meta.deleted_ns or not meta.name:
                continue
            if kind == "pods":
                names.add(meta.name)
            elif (status := record.status()) is not None:
                names.update(c.name for c in status.containers)
    for name in sorted(names):
        print(name)
    return 0
