"""`kubeletlite exec`, `attach` and `port-forward`, as a kubectl user would type them."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess

from tests.integration.kubeletlite.helpers import wait_started
from tests.support.cri import eventually
from tests.support.kubeletlite import KubeletLite

WEB = """
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: __NAMESPACE__}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: __IMAGE__
    command: ["sh", "-c", "__WEB__"]
  - name: echo
    image: __IMAGE__
    stdin: true
    command: ["sh", "-c", "while read l; do echo got:$l; done"]
"""


# A web server on the pod's loopback only.
WEB_COMMAND = (
    "mkdir -p /www && echo served > /www/index.html && exec httpd -f -p 127.0.0.1:80 -h /www"
)


async def serve_web(lite: KubeletLite) -> None:
    directory = lite.root / "manifests"
    directory.mkdir()
    await lite.start("serve", "--manifest-dir", str(directory))
    lite.manifest(WEB.replace("__WEB__", WEB_COMMAND), "manifests/web.yaml")
    await wait_started(lite, "web", "web", "echo")

    async def serving() -> bool:
        probe = await lite.exec("web", "web", "wget", "-q", "-O", "-", "http://127.0.0.1/")
        return probe.exit_code == 0

    await eventually(serving)  # httpd listens a moment after the container starts


async def test_exec_exit_code_stdin_and_errors(kubeletlite: KubeletLite) -> None:
    await serve_web(kubeletlite)
    ns = kubeletlite.namespace

    result = await kubeletlite.cli(
        "exec", "web", "-n", ns, "-c", "web", "--", "sh", "-c", "echo o; exit 7"
    )
    assert result.returncode == 7
    assert result.stdout == "o\n"

    process = await asyncio.create_subprocess_exec(
        *kubeletlite.base_args(),
        "exec",
        "-i",
        "web",
        "-n",
        ns,
        "-c",
        "web",
        "--",
        "wc",
        "-c",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(process.communicate(b"12345"), 60)
    assert (process.returncode, out.strip()) == (0, b"5")

    missing = await kubeletlite.cli("exec", "nope", "-n", ns, "--", "true")
    assert missing.returncode == 1
    assert 'pods "nope" not found' in missing.stderr
    ambiguous = await kubeletlite.cli("exec", "web", "-n", ns, "--", "true")
    assert ambiguous.returncode == 1
    assert "choose one of: [web echo]" in ambiguous.stderr


async def test_attach(kubeletlite: KubeletLite) -> None:
    await serve_web(kubeletlite)
    process = await asyncio.create_subprocess_exec(
        *kubeletlite.base_args(),
        "attach",
        "web",
        "-n",
        kubeletlite.namespace,
        "-c",
        "echo",
        "-i",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(b"x\n")
        await process.stdin.drain()
        assert await asyncio.wait_for(process.stdout.readline(), 30) == b"got:x\n"
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


async def test_port_forward(kubeletlite: KubeletLite) -> None:
    await serve_web(kubeletlite)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        local = probe.getsockname()[1]
    process = await asyncio.create_subprocess_exec(
        *kubeletlite.base_args(),
        "port-forward",
        "web",
        "-n",
        kubeletlite.namespace,
        f"{local}:80",
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        assert line == f"Forwarding from 127.0.0.1:{local} -> 80\n".encode()
        for _ in range(2):
            reader, writer = await asyncio.open_connection("127.0.0.1", local)
            writer.write(b"GET / HTTP/1.0\r\n\r\n")
            response = await asyncio.wait_for(reader.read(), 30)
            writer.close()
            assert response.endswith(b"served\n")
    finally:
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 30) == 0
