"""A pod's timeline as a chart: every container's life on one time axis. Pure.

:func:`build` turns the recorded marks (store.Mark) into lanes of bars, one
lane per container attempt: the entrypoint (StartContainer returned → exit),
the postStart and preStop hooks beside it, the StopContainer call, and the
grace period as a window. :func:`render_text` draws it as a terminal Gantt
chart of at most 80 columns that reads without colour; timeline_svg draws
the same chart as SVG or HTML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kubeletlite.state.store import Mark

WIDTH = 80
LABEL_WIDTH = 14  # "  entrypoint  "
NOTE_WIDTH = 12  # " 10.25s FAIL"
PLOT_WIDTH = WIDTH - LABEL_WIDTH - NOTE_WIDTH - 2  # two frame characters

ROWS = ("entrypoint", "postStart", "preStop", "stop")
_STOP_GRACE = re.compile(r"StopContainer with (\d+)s")


@dataclass(frozen=True, slots=True)
class Bar:
    row: str  # one of ROWS
    start_ns: int
    end_ns: int
    running: bool = False  # no end recorded yet: drawn up to the chart's end
    failed: bool = False
    note: str = ""

    @property
    def seconds(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9


@dataclass(frozen=True, slots=True)
class Tick:
    what: str  # created, started, stop.begin, exited
    time_ns: int
    failed: bool = False


@dataclass(slots=True)
class Lane:
    container: str
    container_id: str
    bars: list[Bar] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    grace: tuple[int, int] | None = None  # the termination grace period's window

    def bar(self, row: str) -> Bar | None:
        return next((b for b in self.bars if b.row == row), None)


@dataclass(slots=True)
class Chart:
    title: str
    start_ns: int
    end_ns: int
    lanes: list[Lane]

    @property
    def span_ns(self) -> int:
        return max(self.end_ns - self.start_ns, 1)


TICK_SYMBOLS = {"created": "C", "started": "S", "stop.begin": "T", "exited": "E"}


def build(title: str, marks: list[Mark], now_ns: int) -> Chart:
    """Lanes in the order their containers were created; ``now_ns`` ends bars still open."""
    grouped: dict[tuple[str, str], list[Mark]] = {}
    for mark in sorted(marks, key=lambda m: m.time_ns):
        grouped.setdefault((mark.container, mark.container_id), []).append(mark)
    if not grouped:
        return Chart(title, now_ns, now_ns, [])
    start = min(m.time_ns for m in marks)
    last = max(m.time_ns for m in marks)
    lanes = [_lane(name, cid, own) for (name, cid), own in grouped.items()]
    open_ended = any(b.running for lane in lanes for b in lane.bars)
    # A grace window may end far beyond the last mark (30 s by default): it is clipped
    # to the chart rather than squeezing everything else into its first columns.
    end = max(last, now_ns) if open_ended else last
    lanes = [_close(lane, end) for lane in lanes]
    return Chart(title, start, end, lanes)


def _lane(name: str, container_id: str, marks: list[Mark]) -> Lane:
    lane = Lane(name, container_id)
    seen: dict[str, Mark] = {}
    for mark in marks:
        # A hook that ran twice (a restart of kubelet-lite re-runs postStart) keeps its last run.
        seen[mark.what] = mark
        if mark.what in TICK_SYMBOLS:
            lane.ticks.append(Tick(mark.what, mark.time_ns, mark.ok is False))
    started = seen.get("started")
    if started is not None:
        ended = seen.get("stop.end") or seen.get("exited")
        exited = seen.get("exited")
        lane.bars.append(
            Bar(
                "entrypoint",
                started.time_ns,
                ended.time_ns if ended else 0,
                running=ended is None,
                failed=exited is not None and exited.ok is False,
                note=exited.note if exited else "",
            )
        )
    for hook in ("postStart", "preStop"):
        begin, end = seen.get(f"{hook}.begin"), seen.get(f"{hook}.end")
        if begin is not None:
            lane.bars.append(
                Bar(
                    hook,
                    begin.time_ns,
                    end.time_ns if end else 0,
                    running=end is None,
                    failed=end is not None and end.ok is False,
                    note=(end.note if end and end.note else begin.note),
                )
            )
    stop_begin, stop_end = seen.get("stop.begin"), seen.get("stop.end")
    if stop_begin is not None:
        lane.bars.append(
            Bar(
                "stop",
                stop_begin.time_ns,
                stop_end.time_ns if stop_end else 0,
                running=stop_end is None,
                note=stop_begin.note,
            )
        )
        lane.grace = _grace_window(seen.get("preStop.begin"), stop_begin)
    return lane


def _grace_window(pre_stop: Mark | None, stop_begin: Mark) -> tuple[int, int] | None:
    """From the first step of termination to when StopContainer's timeout would SIGKILL.

    The grace period covers preStop and the stop together; StopContainer gets what
    preStop left of it (its note says how much), so its end is known exactly.
    """
    found = _STOP_GRACE.search(stop_begin.note)
    if found is None:
        return None
    begin = pre_stop.time_ns if pre_stop is not None else stop_begin.time_ns
    return begin, stop_begin.time_ns + int(found.group(1)) * 1_000_000_000


def _close(lane: Lane, end_ns: int) -> Lane:
    lane.bars = [
        Bar(b.row, b.start_ns, end_ns, b.running, b.failed, b.note) if b.running else b
        for b in lane.bars
    ]
    return lane


# -- text ----------------------------------------------------------------------------------

# Glyphs differ by kind, so the chart reads without colour.
GLYPHS = {"entrypoint": "█", "postStart": "▒", "preStop": "▒", "stop": "─"}
FAILED_GLYPH = "X"
GRACE_GLYPH = "·"


def render_text(chart: Chart) -> str:
    if not chart.lanes:
        return f"{chart.title}: no timeline recorded"
    lines = [_header(chart), _axis()]
    for lane in chart.lanes:
        lines.append(f"{lane.container} ({lane.container_id[:12] or '-'})"[:WIDTH])
        for row in ROWS:
            bar = lane.bar(row)
            if bar is not None:
                lines.append(_bar_line(chart, lane, bar))
        lines.append(_tick_line(chart, lane))
        if lane.grace is not None:
            seconds = (lane.grace[1] - lane.grace[0]) / 1e9
            clipped = " (ends off the chart)" if lane.grace[1] > chart.end_ns else ""
            lines.append(f"  {'':<{LABEL_WIDTH - 2}} grace period {seconds:.2f}s{clipped}")
    lines.append(_axis())
    lines.extend(_legend())
    return "\n".join(lines)


def column(chart: Chart, time_ns: int) -> int:
    """The plot column of a moment (0 .. PLOT_WIDTH-1)."""
    fraction = (time_ns - chart.start_ns) / chart.span_ns
    return min(max(round(fraction * (PLOT_WIDTH - 1)), 0), PLOT_WIDTH - 1)


def _header(chart: Chart) -> str:
    """The title, then the seconds at each quarter of the axis."""
    cells = [" "] * (PLOT_WIDTH + NOTE_WIDTH)
    for i in range(5):
        label = f"{chart.span_ns / 1e9 * i / 4:.2f}s"
        at = min(max(_quarter(i) + 1 - len(label) // 2, 0), len(cells) - len(label))
        cells[at : at + len(label)] = label
    return f"{chart.title[:WIDTH]}\n{' ' * LABEL_WIDTH}{''.join(cells)}".rstrip()


def _quarter(i: int) -> int:
    return round(i * (PLOT_WIDTH - 1) / 4)


def _axis() -> str:
    cells = ["-"] * PLOT_WIDTH
    for i in range(5):
        cells[_quarter(i)] = "+"
    return " " * LABEL_WIDTH + "-" + "".join(cells) + "-"


def _bar_line(chart: Chart, lane: Lane, bar: Bar) -> str:
    cells = _background(chart, lane)
    first, last = column(chart, bar.start_ns), column(chart, bar.end_ns)
    glyph = FAILED_GLYPH if bar.failed else GLYPHS[bar.row]
    for i in range(first, last + 1):
        cells[i] = glyph
    outcome = " FAIL" if bar.failed else ("  ..." if bar.running else "")
    note = (
        f"{bar.seconds:6.2f}s{outcome}" if bar.seconds < 1000 else f"{bar.seconds:6.0f}s{outcome}"
    )
    return f"  {bar.row:<{LABEL_WIDTH - 2}}|{''.join(cells)}|{note}"


def _tick_line(chart: Chart, lane: Lane) -> str:
    cells = _background(chart, lane)
    for tick in lane.ticks:
        cells[column(chart, tick.time_ns)] = TICK_SYMBOLS[tick.what]
    return f"  {'marks':<{LABEL_WIDTH - 2}}|{''.join(cells)}|"


def _background(chart: Chart, lane: Lane) -> list[str]:
    cells = [" "] * PLOT_WIDTH
    if lane.grace is not None:
        for i in range(column(chart, lane.grace[0]), column(chart, lane.grace[1]) + 1):
            cells[i] = GRACE_GLYPH
    return cells


def _legend() -> list[str]:
    return [
        f"{GLYPHS['entrypoint']} entrypoint running  {GLYPHS['postStart']} hook running  "
        f"{FAILED_GLYPH} failed  {GLYPHS['stop']} StopContainer  {GRACE_GLYPH} grace period",
        "marks: C created  S started  T stop requested (SIGTERM)  E exited",
    ]
