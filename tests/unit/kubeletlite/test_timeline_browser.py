"""The HTML timeline in a real browser (Debian's headless chromium): the bars the browser
lays out sit where the recorded times say. scripts/setup-host installs chromium; where
it is missing the test is skipped, except in CI (CI=true), where that fails it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kubeletlite.cli import timeline_svg
from kubeletlite.state import timeline
from kubeletlite.state.store import Mark

pytestmark = pytest.mark.slow

S = 1_000_000_000
T0 = 1_709_294_400 * S
MARKS = [
    ("web", "created", 0.0, None),
    ("web", "started", 0.2, None),
    ("web", "postStart.begin", 0.25, None),
    ("web", "postStart.end", 1.3, True),
    ("app", "created", 1.4, None),
    ("app", "started", 1.5, None),
    ("app", "postStart.begin", 1.52, None),
    ("app", "postStart.end", 1.6, False),
    ("web", "preStop.begin", 5.0, None),
    ("app", "preStop.begin", 5.0, None),
    ("web", "preStop.end", 5.4, True),
    ("web", "stop.begin", 5.4, None),
    ("web", "stop.end", 5.9, None),
    ("app", "preStop.end", 6.1, True),
    ("app", "stop.begin", 6.1, None),
    ("app", "stop.end", 6.4, None),
    ("web", "exited", 6.0, True),
    ("app", "exited", 6.5, True),
]
# Where each bar must begin and end, in seconds from the first mark (what was recorded).
EXPECTED = {
    ("web", "entrypoint"): (0.2, 5.9),
    ("web", "postStart"): (0.25, 1.3),
    ("web", "preStop"): (5.0, 5.4),
    ("web", "stop"): (5.4, 5.9),
    ("app", "entrypoint"): (1.5, 6.4),
    ("app", "postStart"): (1.52, 1.6),
    ("app", "preStop"): (5.0, 6.1),
    ("app", "stop"): (6.1, 6.4),
}
SPAN = 6.5  # the last mark

# Appended by the test only (the page itself has no script): writes what the browser laid out.
PROBE = """
<pre id="geometry"></pre>
<script>
const box = (e) => { const r = e.getBoundingClientRect(); return {left: r.left, width: r.width}; };
const plot = box(document.querySelector("rect.plot"));
const bars = [...document.querySelectorAll("rect.bar")].map((e) => ({
  container: e.dataset.container, row: e.dataset.row,
  colour: getComputedStyle(e).fill, failed: e.classList.contains("failed"), ...box(e)}));
document.getElementById("geometry").textContent = JSON.stringify({plot, bars});
</script>
"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    reason = "chromium not installed (scripts/setup-host installs Debian's chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def browser(*args: str) -> subprocess.CompletedProcess[str]:
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def page(tmp_path: Path) -> Path:
    marks = [
        Mark(c, c * 8, what, ok, "StopContainer with 10s" if what == "stop.begin" else "",
             T0 + round(at * S))
        for c, what, at, ok in MARKS
    ]  # fmt: skip
    html = timeline_svg.render_html(timeline.build("pod default/demo", marks, T0))
    path = tmp_path / "timeline.html"
    path.write_text(html)
    return path


def test_bars_are_laid_out_where_the_recorded_times_say(tmp_path: Path) -> None:
    html = page(tmp_path)
    probed = tmp_path / "probed.html"
    probed.write_text(html.read_text().replace("</body>", PROBE + "</body>"))
    dom = browser("--window-size=1000,700", "--dump-dom", probed.as_uri()).stdout
    found = re.search(r'<pre id="geometry">(.*?)</pre>', dom, re.S)
    assert found is not None, dom[:2000]
    geometry = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    plot = geometry["plot"]
    assert plot["width"] == pytest.approx(timeline_svg.PLOT_WIDTH, abs=1)
    laid_out = {(b["container"], b["row"]): b for b in geometry["bars"]}
    assert set(laid_out) == set(EXPECTED)
    for key, (start, end) in EXPECTED.items():
        bar = laid_out[key]
        assert bar["left"] - plot["left"] == pytest.approx(start / SPAN * plot["width"], abs=1), key
        expected_width = max((end - start) / SPAN * plot["width"], 1.5)
        assert bar["width"] == pytest.approx(expected_width, abs=1), key
    # web's postStart overlaps its entrypoint; preStop comes before the stop.
    web_entry, web_post = laid_out[("web", "entrypoint")], laid_out[("web", "postStart")]
    assert web_entry["left"] < web_post["left"] < web_entry["left"] + web_entry["width"]
    web_pre, web_stop = laid_out[("web", "preStop")], laid_out[("web", "stop")]
    assert web_pre["left"] + web_pre["width"] <= web_stop["left"] + 1
    # The failed hook is drawn in another colour (a pattern) than the one that worked.
    assert laid_out[("app", "postStart")]["failed"]
    assert laid_out[("app", "postStart")]["colour"] != laid_out[("web", "postStart")]["colour"]


def test_screenshot(tmp_path: Path) -> None:
    """The page renders to a picture (kept under the test's tmp_path for a person to look at)."""
    shot = tmp_path / "timeline.png"
    browser("--hide-scrollbars", "--window-size=1000,600", f"--screenshot={shot}",
            page(tmp_path).as_uri())  # fmt: skip
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 10_000  # more than a blank page
