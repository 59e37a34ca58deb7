"""kubelet-lite as a kubectl user drives it: global flags after the command, get -o json
(a v1.Pod / List that scripts read), -l, --show-labels, -o name, -w; logs -p, --tail,
--since-time, --all-containers; get events --for; delete -f --wait=false; the timeline of
what happened; apply into a running serve."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

from tests.integration.kubeletlite.helpers import (
    container_doc,
    one_error_line,
    run,
    until,
    wait_started,
)
from tests.support.kubeletlite import CliResult, KubeletLite

HABITS = """
apiVersion: v1
kind: Pod
metadata:
  name: habits
  namespace: __NAMESPACE__
  labels: {app: habits, tier: test}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 5
  volumes:
  - name: data
    hostPath: {path: __DATA__, type: DirectoryOrCreate}
  containers:
  - name: flaky
    image: __IMAGE__
    volumeMounts: [{name: data, mountPath: /data}]
    # Fails its first run, then keeps running: one restart, and a previous log.
    command:
    - sh
    - -c
    - |
      if [ ! -e /data/ran ]; then touch /data/ran; echo first run; exit 3; fi
      echo second run; echo line2; echo line3
      trap 'exit 0' TERM
      sleep 3600 & wait
    lifecycle:
      preStop:
        exec: {command: ["sh", "-c", "sleep 1"]}
  - name: steady
    image: __IMAGE__
    command: ["sh", "-c", "echo steady; trap 'exit 0' TERM; sleep 3600 & wait"]
"""


async def cli_flags_after(lite: KubeletLite, *args: str) -> CliResult:
    """The command first, every global flag after it, as kubectl users type it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kubeletlite",
        *args,
        "--runtime-endpoint",
        lite.endpoint,
        "--state-dir",
        str(lite.state_dir),
        "-n",
        lite.namespace,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    async with asyncio.timeout(120):
        out, err = await process.communicate()
    assert process.returncode is not None
    return CliResult(process.returncode, out.decode(), err.decode())


async def test_kubectl_habits(kubeletlite: KubeletLite) -> None:
    ns = kubeletlite.namespace
    manifest = kubeletlite.manifest(HABITS)
    agent = await run(kubeletlite, manifest, "--backoff-initial", "0.2")

    def restarted_and_running() -> bool:
        doc = container_doc(kubeletlite, "habits", "flaky")
        return doc.get("restartCount") == 1 and doc.get("state") == "running"

    await until(restarted_and_running)
    await wait_started(kubeletlite, "habits", "flaky", "steady")

    one, listed = await asyncio.gather(
        cli_flags_after(kubeletlite, "get", "pods", "habits", "-o", "json"),
        cli_flags_after(kubeletlite, "get", "pods", "-o", "json"),
    )
    assert one.returncode == 0, one.stderr
    pod = json.loads(one.stdout)
    assert (pod["apiVersion"], pod["kind"], pod["metadata"]["name"]) == ("v1", "Pod", "habits")
    assert pod["metadata"]["labels"] == {"app": "habits", "tier": "test"}
    assert pod["status"]["phase"] == "Running"
    flaky, steady = pod["status"]["containerStatuses"]
    assert (flaky["name"], flaky["ready"], flaky["started"]) == ("flaky", True, True)
    assert flaky["lastState"]["terminated"]["exitCode"] == 3
    assert "running" in flaky["state"]
    assert (steady["restartCount"], steady["lastState"]) == (0, {})
    assert flaky["containerID"].startswith("docker://")
    # jq '.items[].status.containerStatuses[].restartCount'
    document = json.loads(listed.stdout)
    assert document["kind"] == "List"
    counts = [
        c["restartCount"] for i in document["items"] for c in i["status"]["containerStatuses"]
    ]
    assert counts == [1, 0]
    conditions = {c["type"]: c["status"] for c in document["items"][0]["status"]["conditions"]}
    assert conditions["Ready"] == "True"

    selected, unselected, labelled, names, yaml_out = await asyncio.gather(
        kubeletlite.cli("get", "pods", "-n", ns, "-l", "app=habits,tier in (test)"),
        kubeletlite.cli("get", "pods", "-n", ns, "-l", "app!=habits"),
        kubeletlite.cli("get", "pods", "-n", ns, "--show-labels"),
        kubeletlite.cli("get", "pods", "-n", ns, "-o", "name"),
        kubeletlite.cli("get", "pods", "habits", "-n", ns, "-o", "yaml"),
    )
    assert selected.stdout.splitlines()[1].split()[:4] == ["habits", "2/2", "Running", "1"]
    assert (unselected.stdout, unselected.stderr) == (
        "",
        f"No resources found in {ns} namespace.\n",
    )
    assert labelled.stdout.splitlines()[1].endswith("app=habits,tier=test")
    assert names.stdout == "pod/habits\n"
    assert "kind: Pod\n" in yaml_out.stdout
    assert "restartCount: 1\n" in yaml_out.stdout

    previous, tail, everything, future, events = await asyncio.gather(
        cli_flags_after(kubeletlite, "logs", "habits", "-c", "flaky", "-p"),
        cli_flags_after(kubeletlite, "logs", "habits", "-c", "flaky", "--tail", "2"),
        cli_flags_after(kubeletlite, "logs", "habits", "--all-containers", "--since", "1h"),
        cli_flags_after(
            kubeletlite, "logs", "habits", "-c", "flaky", "--since-time", "2999-01-01T00:00:00Z"
        ),
        cli_flags_after(kubeletlite, "get", "events", "--for", "pod/habits"),
    )
    assert previous.stdout == "first run\n"
    assert tail.stdout == "line2\nline3\n"
    assert everything.stdout.splitlines() == [
        "[pod/habits/flaky] second run",
        "[pod/habits/flaky] line2",
        "[pod/habits/flaky] line3",
        "[pod/habits/steady] steady",
    ]
    assert (future.returncode, future.stdout) == (0, "")
    header, *rows = events.stdout.splitlines()
    assert header.split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert any("BackOff" in row or "Started" in row for row in rows)
    assert all("pod/habits" in row for row in rows)

    # -w: the table, then the pod again whenever it changes, until interrupted.
    watcher = await asyncio.create_subprocess_exec(
        *kubeletlite.base_args(),
        *("get", "pods", "habits", "-w", "-n", ns),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    kubeletlite.processes.append(watcher)
    assert watcher.stdout is not None
    async with asyncio.timeout(30):
        assert (await watcher.stdout.readline()).split()[0] == b"NAME"
        assert (await watcher.stdout.readline()).split()[:3] == [b"habits", b"2/2", b"Running"]

    # delete -f, not waiting: it returns at once, the pod goes its way (preStop first).
    deleted = await kubeletlite.cli("delete", "-f", str(manifest), "--wait=false")
    assert (deleted.returncode, deleted.stdout) == (0, 'pod "habits" deleted\n')
    async with asyncio.timeout(60):
        while b"Terminating" not in (line := await watcher.stdout.readline()):
            assert line, "the watch ended"
    watcher.terminate()
    await watcher.wait()
    assert await kubeletlite.wait_exit(agent, timeout=60) != 0

    # The timeline of what happened, from the state directory alone.
    text, html = await asyncio.gather(
        cli_flags_after(kubeletlite, "timeline", "habits"),
        cli_flags_after(kubeletlite, "timeline", "habits", "-o", "html"),
    )
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert sum(1 for line in lines if line.startswith("flaky (")) == 2  # two attempts
    assert any(line.strip().startswith("preStop") for line in lines)
    assert "grace period" in text.stdout
    assert html.stdout.startswith("<!doctype html>")
    assert 'data-container="flaky" data-row="preStop"' in html.stdout


STATIC = """
apiVersion: v1
kind: Pod
metadata:
  name: applied
  namespace: __NAMESPACE__
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: __IMAGE__
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
"""


async def test_apply_hands_the_manifest_to_the_running_serve(kubeletlite: KubeletLite) -> None:
    manifest = kubeletlite.manifest(STATIC, "applied.yaml")
    nobody = await kubeletlite.cli("apply", "-f", str(manifest))
    assert "no kubeletlite serve is running" in one_error_line(nobody)

    folder = kubeletlite.root / "static"
    folder.mkdir()
    serve = await kubeletlite.start("serve", "--manifest-dir", str(folder))
    # serve registers its folder in the state directory once it has reached the runtime.
    await until(lambda: any((kubeletlite.state_dir / "serve").glob("*.json")))
    first = await kubeletlite.cli("apply", "-f", str(manifest))
    assert first.stdout == "pod/applied created\n"
    await wait_started(kubeletlite, "applied", "app")
    again = await kubeletlite.cli("apply", "-f", str(manifest))
    assert again.stdout == "pod/applied unchanged\n"
    assert sorted(p.name for p in folder.iterdir()) == [f"{kubeletlite.namespace}_applied.yaml"]
    serve.terminate()
    await kubeletlite.wait_exit(serve)


PULLED = """
apiVersion: v1
kind: Pod
metadata:
  name: pulled
  namespace: __NAMESPACE__
spec:
  hostNetwork: true
  restartPolicy: Never
  containers:
  - name: app
    image: __IMAGE__
    imagePullPolicy: Always
    command: ["sh", "-c", "echo pulled"]
"""


async def test_run_shows_image_pulls_as_plain_lines_off_a_terminal(
    kubeletlite: KubeletLite,
) -> None:
    agent = await run(kubeletlite, kubeletlite.manifest(PULLED), log_name="pull.log")
    assert await kubeletlite.wait_exit(agent) == 0
    ns = kubeletlite.namespace
    lines = kubeletlite.agent_log("pull.log").splitlines()
    image = next(line for line in lines if line.startswith("Pulling ")).split()[1]
    assert f"Pulling {image} for {ns}/pulled/app" in lines
    done = [line for line in lines if line.startswith("done ")]
    assert len(done) == 1
    assert done[0].startswith(f"done    {image} ({ns}/pulled/app)")
    assert not any("\x1b" in line for line in lines)  # no terminal control off a terminal
