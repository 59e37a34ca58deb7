"""The command line as users meet it: run's exit status, get, describe, logs (-c, -f),
delete, and errors as one `error:` line."""

from __future__ import annotations

import asyncio
import subprocess

from tests.integration.kubeletlite.helpers import (
    kill9,
    one_error_line,
    run,
    wait_started,
)
from tests.support.kubeletlite import KubeletLite

COMPLETING = """
apiVersion: v1
kind: Pod
metadata:
  name: first
  namespace: __NAMESPACE__
spec:
  hostNetwork: true
  restartPolicy: Never
  containers:
  - name: app
    image: __IMAGE__
    # Ends once its postStart has run (an exec hook needs the container running).
    command:
    - sh
    - -c
    - |
      i=0
      while [ ! -e /tmp/hooked ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
      echo first done
    lifecycle:
      postStart:
        exec: {command: ["touch", "/tmp/hooked"]}
---
apiVersion: v1
kind: Pod
metadata:
  name: second
  namespace: __NAMESPACE__
spec:
  hostNetwork: true
  restartPolicy: Never
  containers:
  - name: app
    image: __IMAGE__
    command: ["sh", "-c", "echo second done"]
"""

FAILING = """
apiVersion: v1
kind: Pod
metadata:
  name: broken
  namespace: __NAMESPACE__
spec:
  hostNetwork: true
  restartPolicy: Never
  containers:
  - name: app
    image: __IMAGE__
    command: ["sh", "-c", "echo broken; exit 4"]
"""


async def test_run_exit_status_and_records_that_outlive_it(kubeletlite: KubeletLite) -> None:
    """A two-document file runs two pods; `run` exits 0 when every pod Succeeded, non-zero
    otherwise; what happened stays readable by `describe` and `logs` afterwards."""
    succeeding, failing = await asyncio.gather(
        run(kubeletlite, kubeletlite.manifest(COMPLETING, "two.yaml"), log_name="ok.log"),
        run(kubeletlite, kubeletlite.manifest(FAILING, "broken.yaml"), log_name="broken.log"),
    )
    assert await kubeletlite.wait_exit(succeeding) == 0
    assert await kubeletlite.wait_exit(failing) == 1
    ns = kubeletlite.namespace
    ok_lines = kubeletlite.agent_log("ok.log").splitlines()
    assert f"pod/{ns}/first Succeeded" in ok_lines
    assert f"pod/{ns}/second Succeeded" in ok_lines
    assert f"pod/{ns}/broken Failed" in kubeletlite.agent_log("broken.log").splitlines()

    described, logs, broken_logs, listed = await asyncio.gather(
        kubeletlite.cli("describe", "pod", "first", "-n", ns),
        kubeletlite.cli("logs", "second", "-n", ns),
        kubeletlite.cli("logs", "broken", "-n", ns),
        kubeletlite.cli("get", "pods", "-n", ns),
    )
    text = described.stdout
    assert described.returncode == 0, described
    assert "Name:         first" in text
    assert "Status:       Succeeded" in text
    assert "Supervised:   no" in text
    assert "Restart Count:  0" in text
    assert "Reason:       Completed" in text
    timeline = text[text.index("Timeline:") : text.index("Events:")]
    assert "postStart begins: exec touch /tmp/hooked" in timeline
    assert "postStart ends ok" in timeline
    events = text[text.index("Events:") :]
    for message in ("already present on machine", "Created container: app", "Started container"):
        assert message in events
    assert logs.stdout == "second done\n"
    assert broken_logs.stdout == "broken\n"
    rows = {line.split()[0]: line.split()[1:4] for line in listed.stdout.splitlines()[1:]}
    assert rows == {
        "broken": ["0/1", "Error", "0"],
        "first": ["0/1", "Completed", "0"],
        "second": ["0/1", "Completed", "0"],
    }


TWO_CONTAINERS = """
apiVersion: v1
kind: Pod
metadata:
  name: cli-pod
  namespace: __NAMESPACE__
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 2
  volumes:
  - name: data
    hostPath: {path: __DATA__, type: DirectoryOrCreate}
  containers:
  - name: one
    image: __IMAGE__
    volumeMounts: [{name: data, mountPath: /data}]
    command:
    - sh
    - -c
    - |
      trap 'exit 0' TERM
      echo line one
      i=0
      while [ ! -e /data/finish ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
      echo after gate
      sleep 3600 & wait
    lifecycle:
      postStart:
        exec: {command: ["sh", "-c", "echo hook"]}
  - name: two
    image: __IMAGE__
    command: ["sh", "-c", "trap 'exit 0' TERM; echo from two; sleep 3600 & wait"]
"""


async def test_get_describe_logs_and_delete(kubeletlite: KubeletLite) -> None:
    ns = kubeletlite.namespace
    agent = await run(kubeletlite, kubeletlite.manifest(TWO_CONTAINERS))
    await wait_started(kubeletlite, "cli-pod", "one", "two")

    listed, ambiguous, two, described = await asyncio.gather(
        kubeletlite.cli("get", "pods", "-n", ns),
        kubeletlite.cli("logs", "cli-pod", "-n", ns),
        kubeletlite.cli("logs", "cli-pod", "-c", "two", "-n", ns),
        kubeletlite.cli("describe", "pod", "cli-pod", "-n", ns),
    )
    header, row = listed.stdout.splitlines()
    assert header.split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert row.split()[:4] == ["cli-pod", "2/2", "Running", "0"]
    assert row.split()[4].endswith("s")
    assert one_error_line(ambiguous) == (
        "error: a container name must be specified for pod cli-pod, choose one of: [one two]"
    )
    assert (two.returncode, two.stdout) == (0, "from two\n")
    text = described.stdout
    assert "Status:       Running" in text
    assert "Supervised:   yes" in text
    containers = text[text.index("Containers:") : text.index("Timeline:")]
    assert "  one:" in containers
    assert "  two:" in containers
    assert containers.count("State:          Running") == 2
    assert containers.count("Restart Count:  0") == 2
    assert "postStart ends ok" in text
    assert "Started container two" in text

    # logs -f: what is there, then what comes, until the container exits.
    follower = await asyncio.create_subprocess_exec(
        *kubeletlite.base_args(),
        *("logs", "-f", "cli-pod", "-c", "one", "-n", ns),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    kubeletlite.processes.append(follower)
    assert follower.stdout is not None
    async with asyncio.timeout(20):
        assert await follower.stdout.readline() == b"line one\n"
    (kubeletlite.data_dir / "finish").touch()
    async with asyncio.timeout(20):
        assert await follower.stdout.readline() == b"after gate\n"
    # Still following: the container runs. It ends when the container is stopped.
    assert follower.returncode is None

    deleted = await kubeletlite.cli("delete", "pod", "cli-pod", "-n", ns)
    assert (deleted.returncode, deleted.stdout) == (0, 'pod "cli-pod" deleted\n')
    async with asyncio.timeout(20):
        rest, _ = await follower.communicate()
    assert rest == b""
    assert await follower.wait() == 0
    assert await kubeletlite.wait_exit(agent) != 0

    listed, gone = await asyncio.gather(
        kubeletlite.cli("get", "pods", "-n", ns),
        kubeletlite.cli("describe", "pod", "cli-pod", "-n", ns),
    )
    assert (listed.stdout, listed.stderr) == ("", f"No resources found in {ns} namespace.\n")
    assert "Status:       Deleted" in gone.stdout
    assert "Killing" in gone.stdout


async def test_errors_are_one_line(kubeletlite: KubeletLite) -> None:
    ns = kubeletlite.namespace
    valid = kubeletlite.manifest(FAILING, "valid.yaml")
    unreachable = ("--runtime-endpoint", "unix:///tmp/nonexistent.sock")
    invalid = kubeletlite.manifest(FAILING.replace("restartPolicy", "restartPolcy"), "bad.yaml")
    results = await asyncio.gather(
        kubeletlite.cli("describe", "pod", "missing", "-n", ns),
        kubeletlite.cli("logs", "missing", "-n", ns),
        kubeletlite.cli("delete", "pod", "missing", "-n", ns),
        kubeletlite.cli(*unreachable, "get", "pods"),
        kubeletlite.cli(*unreachable, "run", "-f", str(valid)),
        kubeletlite.cli(*unreachable, "delete", "pod", "broken", "-n", ns),
        kubeletlite.cli("run", "-f", str(invalid)),
        kubeletlite.cli("run", "-f", str(kubeletlite.root / "absent.yaml")),
        kubeletlite.cli("logs", "missing", "--no-such-flag"),
    )
    lines = [one_error_line(r) for r in results[:8]]
    not_found = f'error: pods "missing" not found in namespace "{ns}"'
    assert lines[:3] == [not_found] * 3
    for line in lines[3:6]:
        assert line.startswith("error: no CRI runtime answers at unix:///tmp/nonexistent.sock (")
        assert line.endswith(
            "start one with 'cri-shim --listen /tmp/nonexistent.sock', or point "
            "--runtime-endpoint (or CONTAINER_RUNTIME_ENDPOINT) at a running one"
        )
    assert lines[6] == f'error: {invalid}: unknown field "spec.restartPolcy"'
    assert lines[7] == f"error: {kubeletlite.root / 'absent.yaml'}: No such file or directory"
    usage = results[8]
    assert usage.returncode == 2
    assert "Traceback" not in usage.stderr
    assert "unrecognized arguments: --no-such-flag" in usage.stderr
    assert await kubeletlite.sandboxes() == []


async def test_help_of_every_command(kubeletlite: KubeletLite) -> None:
    commands = [
        (),
        *[
            (c,)
            for c in (
                "run", "serve", "apply", "get", "describe", "logs", "delete", "timeline",
                "completion",
            )
        ],
    ]  # fmt: skip
    results = await asyncio.gather(*(kubeletlite.cli(*c, "--help") for c in commands))
    for command, result in zip(commands, results, strict=True):
        assert (result.returncode, result.stderr) == (0, ""), command
        assert result.stdout.startswith(" ".join(["usage: kubeletlite", *command])), command


async def test_a_second_supervisor_is_refused(kubeletlite: KubeletLite) -> None:
    """One process supervises a pod: a second `run` of the same manifest is refused with
    one error line while the first one lives."""
    manifest = kubeletlite.manifest(TWO_CONTAINERS)
    agent = await run(kubeletlite, manifest)
    await wait_started(kubeletlite, "cli-pod", "one", "two")
    duplicate = await kubeletlite.cli("run", "-f", str(manifest), "--relist-period", "0.2")
    assert "is supervised by another kubelet-lite process" in one_error_line(duplicate)
    await kill9(kubeletlite, agent)
