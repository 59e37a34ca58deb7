"""Image pulls of `run`, shown while they happen.

The CRI's PullImage is one call that returns when the image is there: it
streams no layers and no bytes, so there is no honest per-layer bar to draw.
What kubelet-lite does know is which image each container waits for and
since when (its Pulling event), and when the pull ended (Pulled or Failed).
On a terminal that is one line per image with a spinner and the time
elapsed, redrawn in place; elsewhere one plain line when a pull starts and
one when it ends.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import TextIO

from kubeletlite.state.store import Event, PodRecord

TTY_PERIOD = 0.2
PLAIN_PERIOD = 0.5
SPINNER = "|/-\\"
_PULLING = re.compile(r'Pulling image "(.*)"')


@dataclass(frozen=True, slots=True)
class Pull:
    pod: str
    container: str
    image: str
    started_ns: int
    ended_ns: int = 0
    ok: bool = True


def pulls(pod: str, events: list[Event]) -> list[Pull]:
    """The pulls a pod's events tell of, the latest per container. Pure."""
    found: dict[str, Pull] = {}
    for event in sorted(events, key=lambda e: e.time_ns):
        container = event.container or ""
        if event.reason == "Pulling" and (match := _PULLING.search(event.message)):
            found[container] = Pull(pod, container, match.group(1), event.time_ns)
            continue
        current = found.get(container)
        if current is None or current.ended_ns:
            continue
        if event.reason == "Pulled":
            found[container] = Pull(
                pod, container, current.image, current.started_ns, event.time_ns
            )
        elif event.reason in ("Failed", "ErrImagePull", "BackOff"):
            found[container] = Pull(
                pod, container, current.image, current.started_ns, event.time_ns, ok=False
            )
    return list(found.values())


def line(pull: Pull, now_ns: int, frame: int) -> str:
    """One pull as text. Pure."""
    end = pull.ended_ns or now_ns
    seconds = (end - pull.started_ns) / 1e9
    if not pull.ended_ns:
        state = f"{SPINNER[frame % len(SPINNER)]} pulling"
    else:
        state = "done   " if pull.ok else "FAILED "
    return f"{state} {pull.image} ({pull.pod}/{pull.container}) {seconds:6.1f}s"


class PullProgress:
    """Draw the pulls of ``records``' pods on ``out`` until cancelled."""

    def __init__(self, records: dict[str, PodRecord], out: TextIO, tty: bool) -> None:
        self.records = records
        self.out = out
        self.tty = tty
        self._shown: dict[tuple[str, str, int], bool] = {}  # pull -> end shown
        self._drawn = 0  # lines drawn by the last redraw (tty)

    async def run(self) -> None:
        frame = 0
        try:
            while True:
                current = await asyncio.to_thread(self._read)
                self._show(current, frame)
                frame += 1
                await asyncio.sleep(TTY_PERIOD if self.tty else PLAIN_PERIOD)
        finally:
            # A last look: a pull may have ended since the previous read.
            self._show(self._read(), frame, final=True)

    def _read(self) -> list[Pull]:
        found: list[Pull] = []
        for pod, record in self.records.items():
            found.extend(pulls(pod, record.events()))
        return found

    def _show(self, current: list[Pull], frame: int, final: bool = False) -> None:
        if self.tty:
            self._redraw(current, frame, final)
        else:
            self._plain(current)

    def _plain(self, current: list[Pull]) -> None:
        for pull in current:
            key = (pull.pod, pull.container, pull.started_ns)
            if key not in self._shown:
                self.out.write(f"Pulling {pull.image} for {pull.pod}/{pull.container}\n")
                self._shown[key] = False
            if pull.ended_ns and not self._shown[key]:
                self.out.write(line(pull, pull.ended_ns, 0) + "\n")
                self._shown[key] = True
        self.out.flush()

    def _redraw(self, current: list[Pull], frame: int, final: bool) -> None:
        """Active pulls and those just finished, in place; a finished one is left above."""
        now = time.time_ns()
        fresh = [
            p for p in current if not self._shown.get((p.pod, p.container, p.started_ns), False)
        ]
        if not fresh and not self._drawn:
            return
        self.out.write("\x1b[1A\x1b[2K" * self._drawn + "\r\x1b[2K")
        settled = [p for p in fresh if p.ended_ns]
        active = [] if final else [p for p in fresh if not p.ended_ns]
        for pull in settled:
            self.out.write(line(pull, now, frame) + "\n")
            self._shown[(pull.pod, pull.container, pull.started_ns)] = True
        for pull in active:
            self.out.write(line(pull, now, frame) + "\n")
        self._drawn = len(active)
        self.out.flush()
