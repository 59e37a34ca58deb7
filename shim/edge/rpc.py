"""The edge of every RPC: deadline, error mapping, logging and metrics.

:func:`method` turns a service function ``(backend, request) -> response``
into a grpc.aio servicer method. Errors are mapped once, by
``shim.errors.to_status``; anything unexpected is logged with its traceback
and reported as INTERNAL, and never takes the daemon down. Cancellation (the
client went away or its deadline passed) propagates untouched.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn, Protocol, TypeVar

import grpc

from shim.cri.backend import Backend
from shim.deadline import rpc_deadline
from shim.edge import metrics
from shim.errors import InvalidArgument, ShimError, Unimplemented, to_status

log = logging.getLogger(__name__)

Req = TypeVar("Req")
Resp = TypeVar("Resp")

# No Docker id is longer; a longer client value is cut in logs.
ID_LOG_CHARS = 64

# Codes that describe the client's request rather than a fault of the shim.
_CLIENT_CODES = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)


class HasBackend(Protocol):
    backend: Backend


# What the factories return. Typed as Any because each assignment in
# ``shim.edge.services`` overrides a generated base-class method whose exact
# request/response types a generic factory cannot spell.
ServicerMethod = Any


def method(name: str, handler: Callable[[Backend, Req], Awaitable[Resp]]) -> ServicerMethod:
    """A servicer method serving RPC ``name`` with ``handler``."""

    async def serve(
        servicer: HasBackend, request: Req, context: grpc.aio.ServicerContext[Req, Resp]
    ) -> Resp:
        started = time.monotonic()
        code = grpc.StatusCode.OK
        try:
            if isinstance(request, UndecodableRequest):
                raise _Undecodable(f"request: not a valid {name} request message: {request}")
            with rpc_deadline(context.time_remaining()):
                return await handler(servicer.backend, request)
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        except Exception as exc:
            code, message = to_status(exc)
            _log_failure(name, code, message, exc, _subjects(request))
            await context.abort(code, message)
        finally:
            _observe(name, code, time.monotonic() - started, _subjects(request))

    serve.__name__ = name
    return serve


def stream_method(
    name: str, handler: Callable[[Backend, Req], Awaitable[AsyncIterator[Resp]]]
) -> ServicerMethod:
    """A servicer method for a server-streaming RPC.

    ``handler`` sets the stream up (and may refuse it) and returns the
    iterator of its items; the response headers go out as soon as it is set
    up, so the client knows its stream is live before the first item. No RPC
    deadline is imposed on the stream: it lasts until the client leaves or
    the items end with an error.
    """

    async def serve(
        servicer: HasBackend, request: Req, context: grpc.aio.ServicerContext[Req, Resp]
    ) -> None:
        started = time.monotonic()
        code = grpc.StatusCode.OK
        try:
            items = await handler(servicer.backend, request)
            await context.send_initial_metadata(())
            async for item in items:
                await context.write(item)
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        except Exception as exc:
            code, message = to_status(exc)
            _log_failure(name, code, message, exc, {})
            await context.abort(code, message)
        finally:
            _observe(name, code, time.monotonic() - started)

    serve.__name__ = name
    return serve


class UndecodableRequest:
    """Stands for a request body that is no valid protobuf message.

    grpc answers a deserializer's exception with UNKNOWN and a traceback; a
    client's garbage deserves INVALID_ARGUMENT and one log line, so the
    deserializer returns this instead and :func:`method` refuses it.
    """

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __str__(self) -> str:
        return f"{type(self.error).__name__}: {self.error}"[:200]


class _Undecodable(InvalidArgument):
    pass


class TolerantDecoding(grpc.aio.ServerInterceptor):
    """Let the CRI services, not grpc, answer a request that does not decode."""

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        method_name = str(getattr(handler_call_details, "method", ""))
        decode = getattr(handler, "request_deserializer", None)
        if handler is None or decode is None or not method_name.startswith(CRI_PACKAGE_PATH):
            return handler
        replaced: grpc.RpcMethodHandler[Any, Any] = handler._replace(  # type: ignore[attr-defined]
            request_deserializer=_tolerant(decode)
        )
        return replaced


CRI_PACKAGE_PATH = "/runtime.v1."


def _tolerant(decode: Callable[[bytes], object]) -> Callable[[bytes], object]:
    def tolerant(raw: bytes) -> object:
        try:
            return decode(raw)
        except Exception as exc:
            return UndecodableRequest(exc)

    return tolerant


def unimplemented(name: str) -> ServicerMethod:
    """A servicer method for an RPC this shim does not serve (through the same edge)."""

    async def refuse(_backend: Backend, _request: object) -> NoReturn:
        raise Unimplemented(f"{name} is not implemented by cri-shim")

    return method(name, refuse)


def _subjects(request: object) -> dict[str, str]:
    """The sandbox and container a request is about, as structured log fields."""
    fields = {"rpc_sandbox": "pod_sandbox_id", "rpc_container": "container_id"}
    # Bounded: an id is the client's value, and a log line must stay a line.
    return {
        key: str(value)[:ID_LOG_CHARS]
        for key, attr in fields.items()
        if (value := getattr(request, attr, ""))
    }


def _log_failure(
    name: str, code: grpc.StatusCode, message: str, exc: Exception, subjects: dict[str, str]
) -> None:
    if isinstance(exc, _Undecodable):
        # One line, no traceback: a broken client, not a fault of the shim.
        log.warning("%s: %s: %s", name, code.name, message, extra=subjects)
    elif not isinstance(exc, ShimError | TimeoutError):
        log.error("%s failed unexpectedly: %s", name, message, exc_info=exc, extra=subjects)
    elif code in _CLIENT_CODES:
        log.info("%s: %s: %s", name, code.name, message, extra=subjects)
    else:
        log.warning("%s: %s: %s", name, code.name, message, extra=subjects)


def _observe(
    name: str, code: grpc.StatusCode, seconds: float, subjects: dict[str, str] | None = None
) -> None:
    metrics.observe_rpc(name, code.name, seconds)
    log.debug("%s -> %s in %.1f ms", name, code.name, seconds * 1000, extra=subjects or {})
