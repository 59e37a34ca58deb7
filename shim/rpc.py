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

from shim import metrics
from shim.backend import Backend
from shim.deadline import rpc_deadline
from shim.errors import ShimError, Unimplemented, to_status

log = logging.getLogger(__name__)

Req = TypeVar("Req")
Resp = TypeVar("Resp")

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
# ``shim.services`` overrides a generated base-class method whose exact
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


def unimplemented(name: str) -> ServicerMethod:
    """A servicer method for an RPC this shim does not serve (through the same edge)."""

    async def refuse(_backend: Backend, _request: object) -> NoReturn:
        raise Unimplemented(f"{name} is not implemented by cri-shim")

    return method(name, refuse)


def _subjects(request: object) -> dict[str, str]:
    """The sandbox and container a request is about, as structured log fields."""
    fields = {"rpc_sandbox": "pod_sandbox_id", "rpc_container": "container_id"}
    return {key: value for key, attr in fields.items() if (value := getattr(request, attr, ""))}


def _log_failure(
    name: str, code: grpc.StatusCode, message: str, exc: Exception, subjects: dict[str, str]
) -> None:
    if not isinstance(exc, ShimError | TimeoutError):
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
