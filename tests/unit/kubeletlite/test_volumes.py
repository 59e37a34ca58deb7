"""Host paths behind termination messages (kubeletlite.pods.volumes)."""

from __future__ import annotations

from pathlib import Path

from kubeletlite import manifest as m
from kubeletlite.pods import volumes


def test_the_file_made_for_a_container_is_the_one_read_back(tmp_path: Path) -> None:
    loaded = m.load_pods(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
        "spec: {containers: [{name: app, image: busybox:1.35}]}\n"
    )
    pod = loaded.pods[0]
    made = volumes.termination_log(pod, pod.spec.containers[0], 2, str(tmp_path))
    expected = volumes.termination_log_path(pod.uid, "app", 2, str(tmp_path))
    assert made == str(expected)
    assert expected == tmp_path / pod.uid / "containers" / "app" / "termination-log-2"
    expected.write_text("bye")
    assert volumes.read_termination_message(expected) == "bye"
    assert volumes.read_termination_message(tmp_path / "missing") == ""
