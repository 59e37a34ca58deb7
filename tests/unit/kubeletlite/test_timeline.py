"""The timeline chart: bars from marks, the 80-column text chart, and the SVG/HTML page."""

from __future__ import annotations

import re

from kubeletlite.cli import timeline_svg
from kubeletlite.state import timeline
from kubeletlite.state.store import Mark

S = 1_000_000_000
T0 = 1_709_294_400 * S


def mark(container: str, what: str, at: float, ok: bool | None = None, note: str = "") -> Mark:
    cid = {"web": "a" * 64, "app": "b" * 64}[container]
    return Mark(container, cid, what, ok, note, T0 + round(at * S))


# The demo's shape: web's postStart runs beside its entrypoint; app's postStart fails;
# on deletion both preStops run before StopContainer, within a 10 s grace period.
DEMO = [
    mark("web", "created", 0.0),
    mark("web", "started", 0.1),
    mark("web", "postStart.begin", 0.12, note="exec sh"),
    mark("web", "postStart.end", 1.2, ok=True),
    mark("app", "created", 1.3),
    mark("app", "started", 1.4),
    mark("app", "postStart.begin", 1.41),
    mark("app", "postStart.end", 1.5, ok=False, note="HTTP 404"),
    mark("web", "preStop.begin", 6.0),
    mark("app", "preStop.begin", 6.0),
    mark("web", "preStop.end", 6.5, ok=True),
    mark("web", "stop.begin", 6.5, note="StopContainer with 10s"),
    mark("web", "stop.end", 6.8),
    mark("web", "exited", 7.0, ok=True, note="exit code 0"),
    mark("app", "preStop.end", 8.0, ok=True),
    mark("app", "stop.begin", 8.0, note="StopContainer with 8s"),
    mark("app", "stop.end", 8.2),
    mark("app", "exited", 8.4, ok=False, note="exit code 1"),
]


def chart() -> timeline.Chart:
    return timeline.build("pod default/demo", DEMO, T0 + 100 * S)


def test_bars_follow_the_marks() -> None:
    built = chart()
    assert (built.start_ns, built.end_ns) == (T0, T0 + round(8.4 * S))
    web, app = built.lanes
    assert (web.container, app.container) == ("web", "app")
    entry = web.bar("entrypoint")
    assert entry is not None
    # The entrypoint ends when StopContainer returned (it saw the exit), not at the relist.
    assert (entry.start_ns, entry.end_ns, entry.failed) == (T0 + S // 10, T0 + 68 * S // 10, False)
    post = web.bar("postStart")
    assert post is not None
    assert post.start_ns < entry.end_ns
    assert post.start_ns > entry.start_ns
    failed = app.bar("postStart")
    assert failed is not None
    assert failed.failed
    assert failed.note == "HTTP 404"
    app_entry = app.bar("entrypoint")
    assert app_entry is not None
    assert app_entry.failed
    # Grace: from preStop's start to when StopContainer's own timeout would end.
    assert web.grace == (T0 + 6 * S, T0 + round(16.5 * S))
    assert app.grace == (T0 + 6 * S, T0 + 16 * S)
    pre_stop, stop = web.bar("preStop"), web.bar("stop")
    assert pre_stop is not None
    assert stop is not None
    assert pre_stop.end_ns <= stop.start_ns


def test_a_running_container_is_drawn_up_to_now() -> None:
    now = T0 + 30 * S
    built = timeline.build("pod p", DEMO[:4], now)
    entry = built.lanes[0].bar("entrypoint")
    assert entry is not None
    assert entry.running
    assert entry.end_ns == now
    assert built.end_ns == now


def test_a_hook_that_ran_twice_shows_its_last_run() -> None:
    again = [*DEMO[:4], mark("web", "postStart.begin", 3.0), mark("web", "postStart.end", 3.5)]
    post = timeline.build("p", again, T0).lanes[0].bar("postStart")
    assert post is not None
    assert post.start_ns == T0 + 3 * S


def test_text_fits_80_columns_and_reads_without_colour() -> None:
    text = timeline.render_text(chart())
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "\x1b" not in text
    rows = {line.split("|")[0].strip(): line for line in lines if "|" in line}
    web_lines = text[text.index("web (") : text.index("app (")].splitlines()
    entry = next(line for line in web_lines if line.strip().startswith("entrypoint"))
    post = next(line for line in web_lines if line.strip().startswith("postStart"))
    plot = entry.split("|")[1]
    assert len(plot) == timeline.PLOT_WIDTH
    # postStart's glyphs sit in columns where the entrypoint's glyphs are too: they overlap.
    post_columns = {i for i, c in enumerate(post.split("|")[1]) if c == "▒"}
    entry_columns = {i for i, c in enumerate(plot) if c == "█"}
    assert post_columns
    assert post_columns <= entry_columns
    # Failures use their own glyph and say FAIL; the grace period is shaded.
    app_lines = text[text.index("app (") :].splitlines()
    failed = next(line for line in app_lines if line.strip().startswith("postStart"))
    assert "X" in failed
    assert failed.endswith("FAIL")
    assert "·" in entry  # the grace window behind web's bars
    assert "grace period 10.50s (ends off the chart)" in text
    assert rows  # lines are framed


def test_columns_are_proportional_to_time() -> None:
    built = chart()
    assert timeline.column(built, built.start_ns) == 0
    assert timeline.column(built, built.end_ns) == timeline.PLOT_WIDTH - 1
    half = built.start_ns + built.span_ns // 2
    assert abs(timeline.column(built, half) - (timeline.PLOT_WIDTH - 1) / 2) <= 1


def test_nothing_recorded() -> None:
    assert timeline.render_text(timeline.build("pod x", [], T0)) == "pod x: no timeline recorded"


def test_svg_bars_sit_where_their_times_say() -> None:
    built = chart()
    svg = timeline_svg.render_svg(built)
    bars = re.findall(
        r'<rect class="bar (\w+) (\w+)" data-container="(\w+)" data-row="\w+" '
        r'data-start-ms="([\d.]+)" data-end-ms="([\d.]+)" x="([\d.]+)" y="[\d.]+" '
        r'width="([\d.]+)"',
        svg,
    )
    assert len(bars) == 8
    span_ms = built.span_ns / 1e6
    for _row, _state, _container, start, end, x, width in bars:
        expected_x = timeline_svg.PLOT_X + float(start) / span_ms * timeline_svg.PLOT_WIDTH
        expected_w = (float(end) - float(start)) / span_ms * timeline_svg.PLOT_WIDTH
        assert abs(float(x) - expected_x) < 0.01
        assert abs(float(width) - max(expected_w, 1.5)) < 0.01
    states = {(row, container): state for row, state, container, *_ in bars}
    assert states[("postStart", "app")] == "failed"
    assert states[("postStart", "web")] == "ok"
    assert svg.count('class="grace"') == 2


def test_html_is_self_contained() -> None:
    page = timeline_svg.render_html(chart())
    assert page.startswith("<!doctype html>")
    assert "<script" not in page
    # The only URL is the SVG namespace name, which is never fetched.
    urls = re.findall(r"(?:https?:)?//[\w.-]+", page)
    assert set(urls) == {"http://www.w3.org"}
    assert not re.search(r"""(src|href)=["'](?!#)""", page)
    assert "HTTP 404" in page  # the failure's note, in the table


def test_names_are_escaped() -> None:
    hostile = [Mark("<b>", "x", "started", None, "", T0), Mark("<b>", "x", "exited", True, "", T0)]
    svg = timeline_svg.render_svg(timeline.build("pod <script>", hostile, T0))
    assert "<b>" not in svg
    assert "<script>" not in svg
