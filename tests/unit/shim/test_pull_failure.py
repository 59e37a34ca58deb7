"""Pull failures through the one error map, with the replies dockerd really gives."""

from __future__ import annotations

import grpc
import pytest
from aiodocker.exceptions import DockerError, DockerStreamError

from shim.engine import docker
from shim.errors import DOCKER_UNREACHABLE, DockerAPIError, pull_failure, to_status

# Recorded from dockerd 20.10 against the test registries (127.0.0.1:5000 open, :5001 htpasswd).
DOCKERD_REPLIES = [
    (
        404,
        "manifest for 127.0.0.1:5000/nope:1 not found: manifest unknown: manifest unknown",
        grpc.StatusCode.NOT_FOUND,
    ),
    (
        500,
        'Head "http://127.0.0.1:5001/v2/busybox/manifests/1.35": no basic auth credentials',
        grpc.StatusCode.UNAUTHENTICATED,
    ),
    (
        500,
        'Get "http://127.0.0.1:5999/v2/": dial tcp 127.0.0.1:5999: connect: connection refused',
        grpc.StatusCode.UNAVAILABLE,
    ),
    (
        500,
        'Get "https://x.invalid:5000/v2/": dial tcp: lookup x.invalid: no such host',
        grpc.StatusCode.UNAVAILABLE,
    ),
    (
        404,
        "pull access denied for nope, repository does not exist or may require 'docker login'",
        grpc.StatusCode.UNAUTHENTICATED,
    ),
    (0, "unauthorized: authentication required", grpc.StatusCode.UNAUTHENTICATED),
    (DOCKER_UNREACHABLE, "pull image: Cannot connect to host", grpc.StatusCode.UNAVAILABLE),
    (500, "write /var/lib/docker/tmp: no space left on device", grpc.StatusCode.INTERNAL),
    # A registry that misbehaves (dockerd 20.10 against a hostile server on loopback).
    (500, "missing or empty Content-Type header", grpc.StatusCode.UNAVAILABLE),
    (500, "received unexpected HTTP status: 500 Oops", grpc.StatusCode.UNAVAILABLE),
    (500, 'Get "http://127.0.0.1:43425/v2/": EOF', grpc.StatusCode.UNAVAILABLE),
    (500, 'Get "/v2/": stopped after 10 redirects', grpc.StatusCode.UNAVAILABLE),
    (
        500,
        'Get "https://127.0.0.1:5000/v2/": http: server gave HTTP response to HTTPS client',
        grpc.StatusCode.UNAVAILABLE,
    ),
]


@pytest.mark.parametrize(("status", "message", "code"), DOCKERD_REPLIES)
def test_pull_failures_get_their_code_from_the_one_map(
    status: int, message: str, code: grpc.StatusCode
) -> None:
    failure = pull_failure(DockerAPIError(status, message), "pulling x")
    assert to_status(failure) == (code, f"pulling x: {message}")


def test_a_stream_errors_detail_code_is_its_status() -> None:
    with pytest.raises(DockerAPIError) as caught, docker._translated("pull image"):
        raise DockerStreamError("toomanyrequests: slow down", error_detail={"code": 429})
    assert caught.value.status == 429
    with pytest.raises(DockerAPIError) as caught, docker._translated("pull image"):
        raise DockerStreamError("denied: no", error_detail={"message": "denied: no"})
    assert caught.value.status == 0
    assert to_status(pull_failure(caught.value, "pulling x"))[0] == grpc.StatusCode.UNAUTHENTICATED


def test_an_http_error_keeps_its_status() -> None:
    with pytest.raises(DockerAPIError) as caught, docker._translated("pull image"):
        raise DockerError(404, "manifest unknown")
    assert caught.value.status == 404
