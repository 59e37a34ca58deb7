"""`apply` into a running serve's folder, and the pull progress `run` shows."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubeletlite.cli import manifestdir, pullprogress
from kubeletlite.manifest import ManifestError
from kubeletlite.state.store import Event, StateStore

S = 1_000_000_000
POD = """
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec:
  containers: [{name: app, image: busybox}]
"""


def test_apply_writes_each_pod_into_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    [created] = manifestdir.apply(POD, "pod.yaml", folder)
    assert (created.outcome, created.path) == ("created", folder / "shop_web.yaml")
    assert [a.outcome for a in manifestdir.apply(POD, "pod.yaml", folder)] == ["unchanged"]
    changed = POD.replace("image: busybox", "image: busybox:1.36")
    assert [a.outcome for a in manifestdir.apply(changed, "pod.yaml", folder)] == ["configured"]
    assert "busybox:1.36" in (folder / "shop_web.yaml").read_text()
    assert sorted(p.name for p in folder.iterdir()) == ["shop_web.yaml"]  # no temporary left


def test_apply_refuses_a_pod_another_file_defines(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(POD)
    with pytest.raises(manifestdir.ApplyError, match=r"shop/web is defined in .*mine.yaml"):
        manifestdir.apply(POD, "pod.yaml", tmp_path)


def test_apply_validates_first(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"spec\.containers"):
        manifestdir.apply(POD.replace("containers", "containerz"), "pod.yaml", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_only_live_serves_are_found(tmp_path: Path) -> None:
    state, folder = tmp_path / "state", tmp_path / "m"
    folder.mkdir()
    with pytest.raises(manifestdir.ApplyError, match="no kubeletlite serve is running"):
        manifestdir.manifest_dir(state)
    with manifestdir.registered(state, folder):
        assert manifestdir.manifest_dir(state) == folder.resolve()
    assert manifestdir.live_manifest_dirs(state) == []
    # A serve that died without cleaning up (its lock went with it) is not found either.
    code = (
        "import sys, pathlib; from kubeletlite.cli import manifestdir; "
        "ctx = manifestdir.registered(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])); "
        "ctx.__enter__(); import os; os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", code, str(state), str(folder)], check=True)
    assert len(os.listdir(state / "serve")) == 1
    assert manifestdir.live_manifest_dirs(state) == []


def events(*rows: tuple[str, str, str, float]) -> list[Event]:
    return [
        Event("Normal", reason, message, c, {}, round(at * S)) for c, reason, message, at in rows
    ]


def test_pulls_from_events() -> None:
    found = pullprogress.pulls(
        "shop/web",
        events(
            ("app", "Pulling", 'Pulling image "busybox:1.36"', 1.0),
            ("side", "Pulling", 'Pulling image "nginx"', 1.5),
            ("app", "Pulled", 'Successfully pulled image "busybox:1.36" in 2s', 3.0),
            ("side", "Failed", "Failed to pull image", 4.0),
        ),
    )
    by_container = {p.container: p for p in found}
    assert by_container["app"] == pullprogress.Pull("shop/web", "app", "busybox:1.36", S, 3 * S)
    assert not by_container["side"].ok
    assert pullprogress.line(by_container["app"], 0, 0).startswith("done    busybox:1.36")
    pending = pullprogress.Pull("p", "c", "img", S)
    assert pullprogress.line(pending, 3 * S, 1) == "/ pulling img (p/c)    2.0s"


def test_plain_lines_when_not_a_terminal(tmp_path: Path) -> None:
    record = StateStore(tmp_path).pod("shop", "web", "u1")
    record.add_event(Event("Normal", "Pulling", 'Pulling image "busybox"', "app", {}, S))
    out = io.StringIO()
    progress = pullprogress.PullProgress({"shop/web": record}, out, tty=False)
    progress._show(progress._read(), 0)
    record.add_event(Event("Normal", "Pulled", "Successfully pulled", "app", {}, 3 * S))
    progress._show(progress._read(), 1)
    progress._show(progress._read(), 2)
    assert out.getvalue().splitlines() == [
        "Pulling busybox for shop/web/app",
        "done    busybox (shop/web/app)    2.0s",
    ]


def test_a_terminal_redraws_active_pulls_in_place(tmp_path: Path) -> None:
    record = StateStore(tmp_path).pod("shop", "web", "u1")
    record.add_event(Event("Normal", "Pulling", 'Pulling image "busybox"', "app", {}, S))
    out = io.StringIO()
    progress = pullprogress.PullProgress({"shop/web": record}, out, tty=True)
    progress._show(progress._read(), 0)
    progress._show(progress._read(), 1)
    record.add_event(Event("Normal", "Pulled", "Successfully pulled", "app", {}, 3 * S))
    progress._show(progress._read(), 2)
    progress._show(progress._read(), 3)  # nothing left to draw: nothing written
    frames = out.getvalue().split("\r\x1b[2K")
    assert frames[1].startswith("| pulling busybox (shop/web/app)")
    assert frames[2].startswith("/ pulling busybox")
    assert frames[1].endswith("\n\x1b[1A\x1b[2K")  # the next frame moves up over this one
    assert frames[3] == "done    busybox (shop/web/app)    2.0s\n"
    assert len(frames) == 4
