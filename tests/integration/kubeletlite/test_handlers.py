"""The three handler types against real servers and containers: exec, httpGet, sleep;
and what their failures leave in the events (details kept, secrets redacted)."""

from __future__ import annotations

import asyncio

from tests.integration.kubeletlite.helpers import (
    HookServer,
    events,
    marks,
    run,
    seconds,
    wait_event,
    wait_file,
    wait_marks,
    wait_started,
)
from tests.support.kubeletlite import KubeletLite
from tests.support.net import free_port

SLEEPER = "trap 'exit 0' TERM; sleep 3600 & wait"


HTTP_HOOKS = """
apiVersion: v1
kind: Pod
metadata:
  name: http-hooks
  namespace: __NAMESPACE__
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 5
  volumes:
  - name: data
    hostPath: {path: __DATA__, type: DirectoryOrCreate}
  containers:
  - name: web
    image: __IMAGE__
    volumeMounts: [{name: data, mountPath: /data}]
    ports:
    - {name: hooks, containerPort: HOOK_PORT}
    - {name: web, containerPort: HTTPD_PORT}
    command:
    - sh
    - -c
    - |
      trap 'exit 0' TERM
      mkdir -p /www/drain && echo drained > /www/drain/index.html
      httpd -f -vv -p 127.0.0.1:HTTPD_PORT -h /www 2>> /data/httpd.log &
      wait
    lifecycle:
      postStart:
        httpGet:
          path: /ok/post-start?attempt=1
          port: hooks
          httpHeaders:
          - {name: X-Hook-Token, value: from-the-manifest}
      preStop:
        httpGet:
          host: 127.0.0.1
          path: /drain/
          port: web
"""


async def test_http_get_hooks_reach_their_servers(
    kubeletlite: KubeletLite, hook_server: HookServer
) -> None:
    """postStart: a named port, a path with a query and a custom header, to a server the test
    runs; preStop: a busybox httpd inside the (host-network) pod."""
    text = HTTP_HOOKS.replace("HOOK_PORT", str(hook_server.port))
    manifest = kubeletlite.manifest(text.replace("HTTPD_PORT", str(free_port())))
    agent = await run(kubeletlite, manifest)
    await wait_started(kubeletlite, "http-hooks", "web")

    (request,) = hook_server.requests
    assert (request.path, request.query) == ("/ok/post-start", "attempt=1")
    assert request.headers["X-Hook-Token"] == "from-the-manifest"
    assert request.headers["User-Agent"].startswith("kube-lifecycle/")
    assert request.headers["Accept"] == "*/*"
    (end,) = marks(kubeletlite, "http-hooks", "postStart.end")
    assert end["ok"] is True

    # httpd is listening once it answered something; preStop runs on delete.
    deleted = await kubeletlite.cli("delete", "pod", "http-hooks", "-n", kubeletlite.namespace)
    assert deleted.returncode == 0, deleted
    httpd_log = await wait_file(kubeletlite.data_dir / "httpd.log", "url:/drain/")
    assert "response:200" in httpd_log
    (pre_stop_end,) = marks(kubeletlite, "http-hooks", "preStop.end")
    assert pre_stop_end["ok"] is True
    assert not events(kubeletlite, "http-hooks", "FailedPreStopHook")
    assert await kubeletlite.wait_exit(agent) != 0  # deleted, not Succeeded


HTTP_FAILURES = """
apiVersion: v1
kind: Pod
metadata:
  name: http-500
  namespace: __NAMESPACE__
spec:
  hostNetwork: true
  restartPolicy: Never
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: __IMAGE__
    command: ["sh", "-c", "SLEEPER"]
    lifecycle:
      postStart:
        httpGet: {path: /fail/post-start, port: HOOK_PORT}
---
apiVersion: v1
kind: Pod
metadata:
  name: http-refused
  namespace: __NAMESPACE__
spec:
  hostNetwork: true
  restartPolicy: Never
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: __IMAGE__
    command: ["sh", "-c", "SLEEPER"]
    lifecycle:
      postStart:
        httpGet: {path: /anything, port: CLOSED_PORT}
"""


async def test_http_get_hook_fails_on_500_and_on_refused_connection(
    kubeletlite: KubeletLite, hook_server: HookServer
) -> None:
    text = HTTP_FAILURES.replace("SLEEPER", SLEEPER).replace("HOOK_PORT", str(hook_server.port))
    manifest = kubeletlite.manifest(text.replace("CLOSED_PORT", str(free_port())))
    agent = await run(kubeletlite, manifest)
    await kubeletlite.wait_exit(agent, timeout=60)

    assert hook_server.paths() == ["/fail/post-start"]
    (failed,) = events(kubeletlite, "http-500", "FailedPostStartHook")
    assert failed["message"] == "PostStartHook failed"
    assert failed["details"]["status"] == 500
    assert failed["details"]["url"] == f"http://127.0.0.1:{hook_server.port}/fail/post-start"
    assert "HTTP lifecycle hook (/fail/post-start)" in failed["details"]["message"]

    (refused,) = events(kubeletlite, "http-refused", "FailedPostStartHook")
    assert refused["message"] == "PostStartHook failed"
    assert "status" not in refused["details"]
    assert "connect" in refused["details"]["error"].lower()
    for pod in ("http-500", "http-refused"):
        (killing,) = events(kubeletlite, pod, "Killing")
        assert killing["message"] == "FailedPostStartHook"


SLEEP_HOOKS = """
apiVersion: v1
kind: Pod
metadata:
  name: sleepy
  namespace: __NAMESPACE__
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 10
  containers:
  - name: app
    image: __IMAGE__
    command: ["sh", "-c", "SLEEPER"]
    lifecycle:
      postStart:
        sleep: {seconds: 1}
      preStop:
        sleep: {seconds: 8}
"""


async def test_sleep_hooks(kubeletlite: KubeletLite) -> None:
    """postStart sleep delays "started" by its seconds; a preStop sleep ends early when the
    container exits under it, and that is no failure."""
    agent = await run(kubeletlite, kubeletlite.manifest(SLEEP_HOOKS.replace("SLEEPER", SLEEPER)))
    await wait_started(kubeletlite, "sleepy", "app")
    timeline = {m["what"]: m for m in marks(kubeletlite, "sleepy")}
    assert timeline["postStart.begin"]["note"] == "sleep 1s"
    slept = seconds(timeline["postStart.end"]) - seconds(timeline["postStart.begin"])
    assert slept >= 1.0
    assert timeline["postStart.end"]["ok"] is True

    deleting = asyncio.create_task(
        kubeletlite.cli("delete", "pod", "sleepy", "-n", kubeletlite.namespace)
    )
    await wait_marks(kubeletlite, "sleepy", "preStop.begin")
    # The container's own process ends (its TERM trap exits) while preStop sleeps.
    await kubeletlite.exec("sleepy", "app", "kill", "1")
    (end,) = await wait_marks(kubeletlite, "sleepy", "preStop.end", timeout=10)
    assert end["ok"] is False
    assert end["note"] == "container terminated before sleep hook finished"
    # The note says the sleep ended with its container (not after its 8 s); the timing is
    # decided with a fake clock in tests/fast/kubeletlite/test_podworker.py.
    assert (await deleting).returncode == 0
    assert not events(kubeletlite, "sleepy", "FailedPreStopHook")
    assert await kubeletlite.wait_exit(agent) != 0


SECRETS = """
apiVersion: v1
kind: Pod
metadata:
  name: secrets
  namespace: __NAMESPACE__
spec:
  hostNetwork: true
  restartPolicy: Never
  terminationGracePeriodSeconds: 3
  containers:
  - name: app
    image: __IMAGE__
    env:
    - {name: API_TOKEN, value: SECRET_VALUE_123}
    command: ["sh", "-c", "SLEEPER"]
    lifecycle:
      postStart:
        exec:
          command: ["sh", "-c", "echo token=$API_TOKEN; exit 2"]
      preStop:
        httpGet:
          path: /fail/pre-stop?auth=HEADER_SECRET_456
          port: HOOK_PORT
          httpHeaders:
          - {name: Authorization, value: HEADER_SECRET_456}
"""


async def test_hook_details_are_kept_with_secrets_redacted(
    kubeletlite: KubeletLite, hook_server: HookServer
) -> None:
    """Exit code, output and HTTP status stay in the events; env var and header values
    do not, anywhere kubelet-lite writes or shows them."""
    text = SECRETS.replace("SLEEPER", SLEEPER).replace("HOOK_PORT", str(hook_server.port))
    agent = await run(kubeletlite, kubeletlite.manifest(text))
    await kubeletlite.wait_exit(agent, timeout=60)

    # The servers saw the real values: only kubelet-lite's records are masked.
    (request,) = hook_server.requests
    assert request.headers["Authorization"] == "HEADER_SECRET_456"

    post_start = await wait_event(kubeletlite, "secrets", "FailedPostStartHook")
    assert post_start["details"]["exitCode"] == 2
    assert post_start["details"]["output"] == "token=[redacted]\n"
    assert "token=[redacted]" in post_start["details"]["message"]
    pre_stop = await wait_event(kubeletlite, "secrets", "FailedPreStopHook")
    assert pre_stop["message"] == "PreStopHook failed"
    assert pre_stop["details"]["status"] == 500
    assert "auth=[redacted]" in pre_stop["details"]["url"]

    described = await kubeletlite.cli("describe", "pod", "secrets", "-n", kubeletlite.namespace)
    assert described.returncode == 0, described
    assert "PostStartHookError" in described.stdout
    assert "[redacted]" in described.stdout
    recorded = "".join(
        path.read_text(errors="replace")
        for path in sorted(kubeletlite.state_dir.rglob("*"))
        if path.is_file() and path.suffix in (".json", ".jsonl")
    )
    for secret in ("SECRET_VALUE_123", "HEADER_SECRET_456"):
        assert secret not in recorded
        assert secret not in described.stdout
    assert "[redacted]" in recorded
    # A failing exec hook's non-zero exit is a failure, whatever it printed.
    assert post_start["message"] == "PostStartHook failed"
