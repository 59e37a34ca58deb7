"""An invalid manifest is refused as a whole: every problem reported with its field path,
and nothing created."""

from __future__ import annotations

from tests.support.kubeletlite import KubeletLite

INVALID = """
apiVersion: v1
kind: Pod
metadata:
  name: fine
  namespace: __NAMESPACE__
spec:
  hostNetwork: true
  containers:
  - name: app
    image: __IMAGE__
    command: ["sh", "-c", "sleep 3600"]
---
apiVersion: v1
kind: Pod
metadata:
  name: broken
  namespace: __NAMESPACE__
spec:
  terminationGracePeriodSeconds: 5
  hostNetwork: true
  restartPolcy: Never
  containers:
  - name: app
    image: __IMAGE__
    command: ["sh", "-c", "sleep 3600"]
    lifecycle:
      postStart: {}
      preStop:
        tcpSocket: {port: 8080}
  - name: sidecar
    image: __IMAGE__
    lifecycle:
      postStart:
        httpGet: {path: /ready, port: metrics}
      preStop:
        sleep: {seconds: 6}
"""


async def test_invalid_manifest_reports_every_error_and_creates_nothing(
    kubeletlite: KubeletLite,
) -> None:
    manifest = kubeletlite.manifest(INVALID)
    result = await kubeletlite.cli("run", "-f", str(manifest))

    assert result.returncode != 0
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    source = f"error: {manifest}[1]: "
    assert result.stderr.splitlines() == [
        source + 'unknown field "spec.restartPolcy"',
        source + "spec.containers[0].lifecycle.postStart: Required value: "
        "must specify a handler type",
        source + "spec.containers[0].lifecycle.preStop.tcpSocket: Forbidden: "
        "tcpSocket is not supported as a lifecycle handler",
        source + 'spec.containers[1].lifecycle.postStart.httpGet.port: Invalid value: "metrics": '
        "must be the name of one of this container's ports",
        source + "spec.containers[1].lifecycle.preStop.sleep: Invalid value: 6: "
        "must be non-negative and less than terminationGracePeriodSeconds (5)",
    ]
    # The valid document did not run either: nothing at all was created.
    assert await kubeletlite.sandboxes() == []
    assert await kubeletlite.containers() == []
    assert kubeletlite.record_dirs() == []
