"""The timeline chart (timeline.Chart) as a self-contained SVG or HTML page. Pure.

Nothing is fetched: styles are inline, there are no scripts or fonts to load.
Every bar carries its recorded times (``data-start-ms``/``data-end-ms``, from
the chart's start) and ``data-container``/``data-row``, and the plot area is
one rect of class ``plot``, so a browser can check that geometry matches time.
Colours are Paul Tol's colour-blind-safe set; failures are red and hatched.
"""

from __future__ import annotations

from html import escape

from kubeletlite.state.timeline import ROWS, Bar, Chart, Lane, Tick

PLOT_X = 190
PLOT_WIDTH = 720
ROW_HEIGHT = 18
BAR_HEIGHT = 12
LANE_GAP = 10
HEAD_HEIGHT = 22
TOP = 44
WIDTH = PLOT_X + PLOT_WIDTH + 100  # durations in a column right of the plot

COLOURS = {
    "entrypoint": "#4477aa",
    "postStart": "#228833",
    "preStop": "#ccbb44",
    "stop": "#777777",
}
FAILED = "#ee6677"
TICK_TEXT = {
    "created": "created",
    "started": "started",
    "stop.begin": "stop requested",
    "exited": "exited",
}


def render_svg(chart: Chart) -> str:
    lanes_height = sum(_lane_height(lane) for lane in chart.lanes)
    plot_height = max(lanes_height, ROW_HEIGHT)
    height = TOP + plot_height + 64
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(chart.title)}</title>",
        "<defs>"
        '<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)">'
        '<rect width="6" height="6" fill="#ee6677"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#ffffff" stroke-width="2"/>'
        "</pattern>"
        '<pattern id="grace" width="8" height="8" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)">'
        '<rect width="8" height="8" fill="#dddddd" fill-opacity="0.5"/>'
        '<line x1="0" y1="0" x2="0" y2="8" stroke="#bbbbbb" stroke-width="3"/>'
        "</pattern>"
        "</defs>",
        f'<text x="10" y="20" font-size="15" font-weight="bold">{escape(chart.title)}</text>',
        f'<rect class="plot" x="{PLOT_X}" y="{TOP}" width="{PLOT_WIDTH}" '
        f'height="{plot_height}" fill="none" stroke="#cccccc"/>',
    ]
    parts.extend(_axis(chart, TOP + plot_height))
    y = TOP
    for lane in chart.lanes:
        parts.extend(_lane(chart, lane, y))
        y += _lane_height(lane)
    parts.extend(_legend(TOP + plot_height + 36))
    parts.append("</svg>")
    return "\n".join(parts)


def render_html(chart: Chart) -> str:
    rows = "\n".join(_mark_rows(chart))
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{escape(chart.title)}</title>
<style>
body {{ font-family: sans-serif; margin: 16px; color: #222; }}
table {{ border-collapse: collapse; font-size: 12px; margin-top: 12px; }}
td, th {{ padding: 2px 10px; text-align: left; border-bottom: 1px solid #eee; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
td:last-child {{ max-width: 560px; overflow-wrap: anywhere; }}
.failed {{ color: #c0392b; font-weight: bold; }}
</style>
</head>
<body>
{render_svg(chart)}
<table>
<tr><th>container</th><th>bar</th><th>from (s)</th><th>to (s)</th><th>outcome</th><th>note</th></tr>
{rows}
</table>
</body>
</html>
"""


def x_of(chart: Chart, time_ns: int) -> float:
    return PLOT_X + (time_ns - chart.start_ns) / chart.span_ns * PLOT_WIDTH


def _lane_height(lane: Lane) -> int:
    rows = sum(1 for row in ROWS if lane.bar(row) is not None)
    return HEAD_HEIGHT + max(rows, 1) * ROW_HEIGHT + LANE_GAP


def _lane(chart: Chart, lane: Lane, top: int) -> list[str]:
    height = _lane_height(lane) - LANE_GAP
    name = escape(lane.container)
    parts = [
        f'<g class="lane" data-container="{name}" data-container-id="{escape(lane.container_id)}">',
        f'<text x="10" y="{top + 15}" font-weight="bold">{name}'
        f'<tspan fill="#777" font-weight="normal"> {escape(lane.container_id[:12])}</tspan></text>',
    ]
    if lane.grace is not None:
        # Clipped to the plot: the window may end long after the last mark.
        x0, x1 = x_of(chart, lane.grace[0]), min(x_of(chart, lane.grace[1]), PLOT_X + PLOT_WIDTH)
        parts.append(
            f'<rect class="grace" data-container="{name}" {_ms_attrs(chart, *lane.grace)} '
            f'x="{x0:.2f}" y="{top + 4}" width="{max(x1 - x0, 1):.2f}" height="{height - 4}" '
            f'fill="url(#grace)"><title>grace period: '
            f"{(lane.grace[1] - lane.grace[0]) / 1e9:.2f}s</title></rect>"
        )
    y = top + HEAD_HEIGHT
    for row in ROWS:
        bar = lane.bar(row)
        if bar is None:
            continue
        parts.extend(_bar(chart, lane, bar, y))
        y += ROW_HEIGHT
    parts.extend(_tick(chart, lane, tick, top + HEAD_HEIGHT, y) for tick in lane.ticks)
    parts.append("</g>")
    return parts


def _bar(chart: Chart, lane: Lane, bar: Bar, y: int) -> list[str]:
    x0, x1 = x_of(chart, bar.start_ns), x_of(chart, bar.end_ns)
    fill = "url(#hatch)" if bar.failed else COLOURS[bar.row]
    state = "failed" if bar.failed else ("running" if bar.running else "ok")
    tip = f"{bar.row} {bar.seconds:.3f}s {state}" + (f": {bar.note}" if bar.note else "")
    return [
        f'<text x="{PLOT_X - 8}" y="{y + BAR_HEIGHT - 1}" text-anchor="end" fill="#444">'
        f"{bar.row}</text>",
        f'<rect class="bar {bar.row} {state}" data-container="{escape(lane.container)}" '
        f'data-row="{bar.row}" {_ms_attrs(chart, bar.start_ns, bar.end_ns)} '
        f'x="{x0:.2f}" y="{y + (ROW_HEIGHT - BAR_HEIGHT) / 2:.1f}" '
        f'width="{max(x1 - x0, 1.5):.2f}" height="{BAR_HEIGHT}" rx="2" fill="{fill}">'
        f"<title>{escape(tip)}</title></rect>",
        f'<text x="{PLOT_X + PLOT_WIDTH + 8}" y="{y + BAR_HEIGHT - 1}" '
        f'font-size="11" fill="{FAILED if bar.failed else "#444"}">{bar.seconds:.2f}s'
        f"{' failed' if bar.failed else (' running' if bar.running else '')}</text>",
    ]


def _tick(chart: Chart, lane: Lane, tick: Tick, top: int, bottom: int) -> str:
    x = x_of(chart, tick.time_ns)
    colour = FAILED if tick.failed else "#222222"
    kind = tick.what.replace(".", "-")
    return (
        f'<line class="tick {kind}" data-container="{escape(lane.container)}"'
        f' data-ms="{(tick.time_ns - chart.start_ns) / 1e6:.3f}" x1="{x:.2f}" x2="{x:.2f}" '
        f'y1="{top}" y2="{bottom}" stroke="{colour}" stroke-dasharray="2,2">'
        f"<title>{TICK_TEXT[tick.what]}</title></line>"
    )


def _ms_attrs(chart: Chart, start_ns: int, end_ns: int) -> str:
    return (
        f'data-start-ms="{(start_ns - chart.start_ns) / 1e6:.3f}" '
        f'data-end-ms="{(end_ns - chart.start_ns) / 1e6:.3f}"'
    )


def _axis(chart: Chart, bottom: int) -> list[str]:
    step = _nice_step(chart.span_ns / 1e9)
    parts = []
    seconds = 0.0
    while seconds * 1e9 <= chart.span_ns + 1:
        x = x_of(chart, chart.start_ns + round(seconds * 1e9))
        parts.append(
            f'<line x1="{x:.2f}" x2="{x:.2f}" y1="{TOP}" y2="{bottom + 4}" stroke="#eeeeee"/>'
            f'<text x="{x:.2f}" y="{bottom + 16}" text-anchor="middle" font-size="10" '
            f'fill="#555">{seconds:g}s</text>'
        )
        seconds = round(seconds + step, 6)
    return parts


def _nice_step(total_seconds: float) -> float:
    for step in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600):
        if total_seconds / step <= 12:
            return float(step)
    return 3600.0


def _legend(y: int) -> list[str]:
    items = [(COLOURS[row], row) for row in ROWS]
    items += [("url(#hatch)", "failed"), ("url(#grace)", "grace period")]
    parts = []
    x = PLOT_X
    for fill, label in items:
        parts.append(
            f'<rect x="{x}" y="{y}" width="14" height="10" fill="{fill}" stroke="#999"/>'
            f'<text x="{x + 18}" y="{y + 9}" font-size="11">{label}</text>'
        )
        x += 26 + 7 * len(label)
    parts.append(
        f'<text x="{PLOT_X}" y="{y + 24}" font-size="11" fill="#555">dashed lines: created, '
        "started, stop requested, exited</text>"
    )
    return parts


def _mark_rows(chart: Chart) -> list[str]:
    rows = []
    for lane in chart.lanes:
        for bar in sorted(lane.bars, key=lambda b: b.start_ns):
            state = "failed" if bar.failed else ("running" if bar.running else "ok")
            css = ' class="failed"' if bar.failed else ""
            rows.append(
                f"<tr><td>{escape(lane.container)}</td><td>{bar.row}</td>"
                f'<td class="num">{(bar.start_ns - chart.start_ns) / 1e9:.3f}</td>'
                f'<td class="num">{(bar.end_ns - chart.start_ns) / 1e9:.3f}</td>'
                f"<td{css}>{state}</td><td>{escape(bar.note)}</td></tr>"
            )
    return rows
