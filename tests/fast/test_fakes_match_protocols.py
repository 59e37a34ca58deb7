"""The fast tests' fakes stand where the real clients stand: same protocol, same methods.

The assignments below are checked by ``mypy --strict`` (scripts/check runs it on
this file): a fake whose method is missing or has another signature than its
protocol fails the check. The tests repeat the method-name comparison at run
time, so ``pytest`` alone catches a protocol method the fake lacks. (The real
clients are checked by mypy where the daemons hand them to protocol-typed code.)
"""

from __future__ import annotations

import inspect

import pytest

from kubeletlite.runtime.api import RuntimeAPI
from shim.engine.docker import HijackedStream
from shim.engine.dockerapi import DockerAPI, Hijacked
from tests.support.fakedocker import FakeDocker, FakeSession
from tests.support.fakeruntime import FakeRuntime


async def _nothing() -> None:
    return None


_docker: DockerAPI = FakeDocker()
_session: Hijacked = FakeSession([], _nothing)
_runtime: RuntimeAPI = FakeRuntime()


def _public(cls: type) -> set[str]:
    """Methods, properties and declared attributes (an ``endpoint`` set in __init__)."""
    declared = {name for klass in cls.__mro__ for name in getattr(klass, "__annotations__", {})}
    names = {name for name, _ in inspect.getmembers(cls)} | declared
    return {name for name in names if not name.startswith("_")}


def _protocol_members(protocol: type) -> set[str]:
    return _public(protocol) - _public(object)


@pytest.mark.parametrize(
    ("protocol", "implementations"),
    [
        (DockerAPI, [FakeDocker]),
        (Hijacked, [FakeSession, HijackedStream]),
        (RuntimeAPI, [FakeRuntime]),
    ],
    ids=["DockerAPI", "Hijacked", "RuntimeAPI"],
)
def test_every_protocol_method_is_implemented(protocol: type, implementations: list[type]) -> None:
    wanted = _protocol_members(protocol)
    assert wanted, f"{protocol.__name__} declares nothing"
    for implementation in implementations:
        missing = wanted - _public(implementation)
        assert not missing, f"{implementation.__name__} lacks {sorted(missing)}"


@pytest.mark.parametrize(
    ("protocol", "fake"),
    [(DockerAPI, FakeDocker), (Hijacked, FakeSession), (RuntimeAPI, FakeRuntime)],
    ids=["DockerAPI", "Hijacked", "RuntimeAPI"],
)
def test_fake_methods_are_coroutines_where_the_protocol_awaits(protocol: type, fake: type) -> None:
    for name in _protocol_members(protocol):
        declared = inspect.getattr_static(protocol, name)
        if isinstance(declared, property):
            continue
        implemented = getattr(fake, name)
        declared_async = inspect.iscoroutinefunction(declared)
        implemented_async = inspect.iscoroutinefunction(implemented)
        if inspect.isasyncgenfunction(implemented):
            # An async generator is what a protocol's "def ... -> AsyncIterator" returns.
            assert not declared_async, f"{fake.__name__}.{name}: a generator, not a coroutine"
            continue
        assert declared_async == implemented_async, f"{fake.__name__}.{name}: async differs"
