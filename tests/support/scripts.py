"""What the fakes' exec'd commands do, scripted by tests (shared by both fakes)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ExecScript:
    """One exec'd command: how long it runs and how it ends."""

    takes: float = 0.0
    exit_code: int = 0
    stdout: bytes = b""
    stderr: bytes = b""
    pid: int = 0  # a host pid the shim kills on timeout (a real process, or 0); Docker fake only
