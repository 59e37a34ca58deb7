"""The shim's error vocabulary and its single mapping onto gRPC status codes.

Every failure that can reach a client is one of the exceptions below. The
Docker adapter (``shim.engine.docker``) turns aiodocker's errors into
:class:`DockerAPIError`; handlers raise the semantic classes directly
(``InvalidArgument("config.metadata: ...")``). :func:`to_status` is the one
place that decides which gRPC code a failure gets; ``shim.edge.rpc`` applies it at
the edge of every RPC.

    ShimError
    ├── InvalidArgument        bad request: names the offending field
    ├── NotFound               unknown sandbox, container or image id
    ├── FailedPrecondition     right request, wrong state (exec into a stopped container)
    ├── AlreadyExists
    ├── Unauthenticated        registry refused the credentials
    ├── Unavailable            dockerd cannot be reached
    ├── ResourceExhausted      a client fell too far behind a stream
    ├── DeadlineExceeded       a deadline (the client's or the shim's own) passed
    ├── Unimplemented          an RPC this shim does not serve
    └── DockerAPIError         an engine reply; its code follows the HTTP status

Any other exception is a bug and becomes INTERNAL.
"""

from __future__ import annotations

import grpc


class ShimError(Exception):
    """A failure with a definite gRPC status code and a client-facing message."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(ShimError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(ShimError):
    code = grpc.StatusCode.NOT_FOUND


class FailedPrecondition(ShimError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class AlreadyExists(ShimError):
    code = grpc.StatusCode.ALREADY_EXISTS


class Unauthenticated(ShimError):
    code = grpc.StatusCode.UNAUTHENTICATED


class Unavailable(ShimError):
    code = grpc.StatusCode.UNAVAILABLE


class ResourceExhausted(ShimError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class DeadlineExceeded(ShimError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Unimplemented(ShimError):
    code = grpc.StatusCode.UNIMPLEMENTED


# aiodocker reports "could not connect to the engine" as this pseudo status.
DOCKER_UNREACHABLE = 900


class DockerAPIError(ShimError):
    """A non-success reply from the Docker Engine API.

    ``status`` is the HTTP status (or ``DOCKER_UNREACHABLE``); the gRPC code
    is derived from it so that callers can still catch :class:`NotFound`-like
    conditions by status without parsing messages.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = _code_for_http_status(status)

    @property
    def is_not_found(self) -> bool:
        return self.status == 404

    @property
    def is_conflict(self) -> bool:
        return self.status == 409


def _code_for_http_status(status: int) -> grpc.StatusCode:
    match status:
        case 400:
            return grpc.StatusCode.INVALID_ARGUMENT
        case 401:
            return grpc.StatusCode.UNAUTHENTICATED
        case 403:
            return grpc.StatusCode.PERMISSION_DENIED
        case 404:
            return grpc.StatusCode.NOT_FOUND
        case 409:
            return grpc.StatusCode.FAILED_PRECONDITION
        case 304:
            # "already started" / "already stopped": a state the caller did not expect.
            return grpc.StatusCode.FAILED_PRECONDITION
        case _ if status == DOCKER_UNREACHABLE:
            return grpc.StatusCode.UNAVAILABLE
        case _:
            return grpc.StatusCode.INTERNAL


def refused_request(exc: DockerAPIError, field: str) -> ShimError:
    """A create or update body dockerd refused, as the client's error when it is one.

    dockerd 20.10 answers many invalid values (a cgroup parent, a sysctl, a
    device) with a bare 500; the body came from the request, so its refusal
    is an INVALID_ARGUMENT naming the request's field, not INTERNAL.
    """
    if exc.status in (400, 500):
        return InvalidArgument(f"{field}: dockerd refused it: {exc.message}")
    return exc


# A failed pull, as dockerd reports it (measured on dockerd 20-27): a missing
# manifest has its HTTP status (404); a registry's refusal and an unreachable
# registry both come as 500, and failures in the progress stream as status 0
# with an ``errorDetail`` whose ``code`` dockerd seldom fills. The status (or
# that code) decides first; a 500 is then read against the two vocabularies
# dockerd's message is made of: the registry's error codes (OCI distribution
# spec: UNAUTHORIZED, DENIED, MANIFEST_UNKNOWN, NAME_UNKNOWN) with dockerd's
# credential messages, and Go's network errors.
_PULL_VOCABULARY: tuple[tuple[type[ShimError], tuple[str, ...]], ...] = (
    (Unauthenticated, ("unauthorized", "authentication required", "no basic auth credentials")),
    (Unauthenticated, ("denied",)),
    (NotFound, ("manifest unknown", "name unknown", "not found", "does not exist")),
    (Unavailable, ("connection refused", "no such host", "i/o timeout", "network is unreachable")),
    # A registry that answers but not as one (Go's net/http and distribution's
    # client words): the fault is at the address the request named, not the shim's.
    (
        Unavailable,
        (
            "unexpected http status",
            "content-type header",
            ": eof",
            "unexpected eof",
            "stopped after",
            "server gave http response",
            "malformed http",
            "connection reset",
            "tls: ",
            "x509: ",
            "server misbehaving",
            "client.timeout",
        ),
    ),
)
_PULL_CODES: dict[grpc.StatusCode, type[ShimError]] = {
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: Unauthenticated,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
}


def pull_failure(exc: DockerAPIError, context: str) -> ShimError:
    """The client-facing failure of a pull that dockerd refused."""
    message = f"{context}: {exc.message}"
    text = exc.message.lower()
    # A refusal outranks "not found": registries answer "denied" for a private image.
    for kind, words in _PULL_VOCABULARY[:2]:
        if any(word in text for word in words):
            return kind(message)
    by_status = _PULL_CODES.get(_code_for_http_status(exc.status)) if exc.status else None
    if by_status is not None:
        return by_status(message)
    for kind, words in _PULL_VOCABULARY[2:]:
        if any(word in text for word in words):
            return kind(message)
    return DockerAPIError(exc.status or 500, message)


def to_status(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """Map any exception raised while serving an RPC to (code, message)."""
    if isinstance(exc, ShimError):
        return exc.code, bounded(exc.message)
    if isinstance(exc, TimeoutError):
        return grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded while waiting for dockerd"
    return grpc.StatusCode.INTERNAL, bounded(f"internal error: {type(exc).__name__}: {exc}")


# The message travels percent-encoded in a trailer; clients drop trailers over
# 8 KiB and report RESOURCE_EXHAUSTED instead, which a message echoing a huge
# request field (an id, an image name) would otherwise trigger.
MAX_MESSAGE_BYTES = 4096


def bounded(message: str) -> str:
    """``message``, cut so that its encoded form stays within MAX_MESSAGE_BYTES."""
    size = 0
    for index, char in enumerate(message):
        size += 1 if " " <= char <= "~" and char != "%" else 3 * len(char.encode(errors="replace"))
        if size > MAX_MESSAGE_BYTES - 64:
            return f"{message[:index]}... [{len(message) - index} more characters]"
    return message
