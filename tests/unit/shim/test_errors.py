"""The error vocabulary and its gRPC status mapping (shim.errors)."""

from __future__ import annotations

import grpc
import pytest

from shim import errors


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (errors.ShimError, grpc.StatusCode.UNKNOWN),
        (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
        (errors.NotFound, grpc.StatusCode.NOT_FOUND),
        (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
        (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
        (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
        (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
        (errors.DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
        (errors.Unimplemented, grpc.StatusCode.UNIMPLEMENTED),
    ],
)
def test_to_status_of_each_class(cls, code):
    exc = cls("config.metadata: required")
    assert errors.to_status(exc) == (code, "config.metadata: required")


def test_shim_error_keeps_its_message():
    exc = errors.NotFound("no such container")
    assert exc.message == "no such container"
    assert str(exc) == "no such container"


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, grpc.StatusCode.INVALID_ARGUMENT),
        (401, grpc.StatusCode.UNAUTHENTICATED),
        (403, grpc.StatusCode.PERMISSION_DENIED),
        (404, grpc.StatusCode.NOT_FOUND),
        (409, grpc.StatusCode.FAILED_PRECONDITION),
        (304, grpc.StatusCode.FAILED_PRECONDITION),
        (errors.DOCKER_UNREACHABLE, grpc.StatusCode.UNAVAILABLE),
        (900, grpc.StatusCode.UNAVAILABLE),
        (500, grpc.StatusCode.INTERNAL),
        (502, grpc.StatusCode.INTERNAL),
        (418, grpc.StatusCode.INTERNAL),
        (200, grpc.StatusCode.INTERNAL),
    ],
)
def test_docker_api_error_code_follows_http_status(status, code):
    exc = errors.DockerAPIError(status, "engine said no")
    assert exc.status == status
    assert exc.code == code
    assert errors.to_status(exc) == (code, "engine said no")


def test_docker_api_error_code_is_per_instance():
    errors.DockerAPIError(404, "x")
    assert errors.DockerAPIError(500, "y").code == grpc.StatusCode.INTERNAL
    assert errors.ShimError.code == grpc.StatusCode.UNKNOWN


@pytest.mark.parametrize(
    ("status", "not_found", "conflict"),
    [(404, True, False), (409, False, True), (400, False, False), (500, False, False)],
)
def test_docker_api_error_predicates(status, not_found, conflict):
    exc = errors.DockerAPIError(status, "m")
    assert exc.is_not_found is not_found
    assert exc.is_conflict is conflict


def test_docker_api_error_is_a_shim_error():
    assert isinstance(errors.DockerAPIError(404, "m"), errors.ShimError)


class SlowDockerd(TimeoutError):
    pass


@pytest.mark.parametrize("exc", [TimeoutError(), SlowDockerd("slow")])
def test_timeout_is_deadline_exceeded(exc):
    code, message = errors.to_status(exc)
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "deadline exceeded" in message


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (ValueError("boom"), "internal error: ValueError: boom"),
        (KeyError("Id"), "internal error: KeyError: 'Id'"),
        (RuntimeError(), "internal error: RuntimeError: "),
    ],
)
def test_unknown_exception_is_internal(exc, message):
    assert errors.to_status(exc) == (grpc.StatusCode.INTERNAL, message)
