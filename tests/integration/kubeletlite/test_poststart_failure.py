"""A failed postStart: FailedPostStartHook, the container killed (its preStop included),
PostStartHookError in the status, then the restart policy decides."""

from __future__ import annotations

from tests.integration.kubeletlite.helpers import (
    container_doc,
    events,
    marks,
    run,
    seconds,
    until,
    wait_file,
    wait_marks,
    wait_started,
)
from tests.support.kubeletlite import KubeletLite

# preStop leaves a marker, then holds until the test lets it go.
PRE_STOP = (
    "touch /data/prestop-$POD; i=0; "
    "while [ ! -e /data/release ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done"
)

NEVER = """
apiVersion: v1
kind: Pod
metadata:
  name: POD_NAME
  namespace: __NAMESPACE__
spec:
  hostNetwork: true
  restartPolicy: Never
  terminationGracePeriodSeconds: 5
  volumes:
  - name: data
    hostPath: {path: __DATA__, type: DirectoryOrCreate}
  containers:
  - name: app
    image: __IMAGE__
    env: [{name: POD, value: POD_NAME}]
    volumeMounts: [{name: data, mountPath: /data}]
    command: ["sh", "-c", "trap 'exit EXIT' TERM; sleep 3600 & wait"]
    lifecycle:
      postStart:
        exec:
          command: ["sh", "-c", "echo hook output; exit 3"]
      preStop:
        exec:
          command: ["sh", "-c", "PRE_STOP"]
"""


def never_pod(name: str, exit_code: int) -> str:
    text = NEVER.replace("POD_NAME", name).replace("EXIT", str(exit_code))
    return text.replace("PRE_STOP", PRE_STOP)


async def test_failed_poststart_kills_the_container_and_never_restarts(
    kubeletlite: KubeletLite,
) -> None:
    """Two pods whose postStart fails: one container exits 0 on SIGTERM, one exits 1.
    restartPolicy Never: each ends per its exit code, and `run` reports the failure."""
    pods = {"ends-zero": 0, "ends-one": 1}
    text = "---".join(never_pod(name, code) for name, code in pods.items())
    agent = await run(kubeletlite, kubeletlite.manifest(text))

    # While the kill's preStop holds, the status says why the container is not started.
    for name in pods:
        await wait_file(kubeletlite.data_dir / f"prestop-{name}")

        def hook_error_reported(name: str = name) -> bool:
            return container_doc(kubeletlite, name, "app").get("reason") == "PostStartHookError"

        await until(hook_error_reported)
        doc = container_doc(kubeletlite, name, "app")
        assert (doc["state"], doc["started"]) == ("waiting", False)
        assert "Exec lifecycle hook" in doc["message"]
        assert "exited with 3" in doc["message"]
        assert "hook output" in doc["message"]
    (kubeletlite.data_dir / "release").touch()
    assert await kubeletlite.wait_exit(agent) != 0
    output = kubeletlite.agent_log()
    assert f"pod/{kubeletlite.namespace}/ends-zero Succeeded" in output
    assert f"pod/{kubeletlite.namespace}/ends-one Failed" in output

    for name, code in pods.items():
        reasons = [(e["reason"], e["message"]) for e in events(kubeletlite, name)]
        assert [r for r, _ in reasons] == [
            "Pulled",
            "Created",
            "Started",
            "FailedPostStartHook",
            "Killing",
        ]
        assert reasons[3][1] == "PostStartHook failed"
        assert reasons[4][1] == "FailedPostStartHook"
        (failed,) = events(kubeletlite, name, "FailedPostStartHook")
        assert failed["details"]["exitCode"] == 3
        assert failed["details"]["output"] == "hook output\n"

        timeline = [(m["what"], m["ok"]) for m in marks(kubeletlite, name)]
        assert timeline == [
            ("created", None),
            ("started", None),
            ("postStart.begin", None),
            ("postStart.end", False),
            ("preStop.begin", None),
            ("preStop.end", True),
            ("stop.begin", None),
            ("stop.end", None),
            ("exited", code == 0),
        ]
        status = kubeletlite.status(name)
        assert status["phase"] == ("Succeeded" if code == 0 else "Failed")
        doc = status["containers"]["app"]
        assert (doc["state"], doc["exitCode"], doc["restartCount"]) == ("terminated", code, 0)
        assert "hook output" in doc["hookError"]
        assert len(await kubeletlite.containers(name)) == 1, "restartPolicy Never restarted"

    table = await kubeletlite.cli("get", "pods", "-n", kubeletlite.namespace)
    rows = {line.split()[0]: line.split()[1:4] for line in table.stdout.splitlines()[1:]}
    assert rows == {"ends-one": ["0/1", "Error", "0"], "ends-zero": ["0/1", "Completed", "0"]}
    described = await kubeletlite.cli("describe", "pod", "ends-one", "-n", kubeletlite.namespace)
    assert "Hook Error:     PostStartHookError: Exec lifecycle hook" in described.stdout


ALWAYS = """
apiVersion: v1
kind: Pod
metadata:
  name: retried
  namespace: __NAMESPACE__
spec:
  hostNetwork: true
  restartPolicy: Always
  terminationGracePeriodSeconds: 3
  volumes:
  - name: data
    hostPath: {path: __DATA__, type: DirectoryOrCreate}
  containers:
  - name: app
    image: __IMAGE__
    volumeMounts: [{name: data, mountPath: /data}]
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    lifecycle:
      postStart:
        exec:
          command:
          - sh
          - -c
          - "[ -e /data/failed-once ] && exit 0; touch /data/failed-once; echo first try; exit 1"
      preStop:
        exec:
          command: ["sh", "-c", "echo $HOSTNAME >> /data/prestop"]
"""


async def test_failed_poststart_restarts_with_always(kubeletlite: KubeletLite) -> None:
    """The killed container is replaced (restart count 1), and postStart runs again on the
    new one, where it succeeds."""
    await run(kubeletlite, kubeletlite.manifest(ALWAYS))
    begins = await wait_marks(kubeletlite, "retried", "postStart.begin", count=2)
    await wait_started(kubeletlite, "retried", "app")

    first, second = (b["container_id"] for b in begins)
    assert first != second
    ends = {m["container_id"]: m["ok"] for m in marks(kubeletlite, "retried", "postStart.end")}
    assert ends == {first: False, second: True}
    # The first container's preStop ran before it was stopped; the new one is untouched.
    assert (kubeletlite.data_dir / "prestop").read_text().count("\n") == 1
    pre_stop = marks(kubeletlite, "retried", "preStop.begin")
    assert [m["container_id"] for m in pre_stop] == [first]
    (stop,) = marks(kubeletlite, "retried", "stop.begin")
    assert seconds(pre_stop[0]) < seconds(stop)

    (failed,) = events(kubeletlite, "retried", "FailedPostStartHook")
    assert failed["details"]["output"] == "first try\n"
    assert [e["message"] for e in events(kubeletlite, "retried", "Killing")] == [
        "FailedPostStartHook"
    ]
    doc = container_doc(kubeletlite, "retried", "app")
    assert (doc["containerId"], doc["restartCount"]) == (second, 1)
    containers = sorted(await kubeletlite.containers("retried"), key=lambda c: c.metadata.attempt)
    assert [(c.id, c.metadata.attempt) for c in containers] == [(first, 0), (second, 1)]
