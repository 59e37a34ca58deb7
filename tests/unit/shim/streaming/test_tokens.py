"""Streaming tokens: single use, expiry (fake clock), bounds, URLs."""

from __future__ import annotations

import pytest

from criapi.runtime.v1 import api_pb2 as cri
from shim.cri.streamtokens import StreamIssuer, TokenCache
from shim.errors import Unavailable


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


REQUEST = cri.ExecRequest(container_id="c1", cmd=["true"], stdout=True)


def test_a_token_is_good_once():
    cache = TokenCache(clock=FakeClock())
    token = cache.insert("exec", REQUEST)
    assert cache.consume(token, "exec") == REQUEST
    assert cache.consume(token, "exec") is None


def test_a_token_expires_after_one_minute_by_default():
    clock = FakeClock()
    cache = TokenCache(clock=clock)
    early, late = cache.insert("exec", REQUEST), cache.insert("exec", REQUEST)
    clock.now += 59.9
    assert cache.consume(early, "exec") == REQUEST
    clock.now += 0.1
    assert cache.consume(late, "exec") is None


def test_a_token_is_bound_to_its_kind():
    cache = TokenCache(clock=FakeClock())
    token = cache.insert("exec", REQUEST)
    assert cache.consume(token, "attach") is None
    assert cache.consume(token, "exec") is None  # the wrong try spent it


def test_unknown_tokens_find_nothing():
    cache = TokenCache(clock=FakeClock())
    cache.insert("exec", REQUEST)
    assert cache.consume("guess", "exec") is None
    assert cache.consume("", "exec") is None


def test_tokens_are_long_and_distinct():
    cache = TokenCache(clock=FakeClock())
    tokens = {cache.insert("exec", REQUEST) for _ in range(200)}
    assert len(tokens) == 200
    assert all(len(token) >= 32 for token in tokens)


def test_the_cache_is_bounded_and_expired_entries_make_room():
    clock = FakeClock()
    cache = TokenCache(max_in_flight=2, clock=clock)
    cache.insert("exec", REQUEST)
    cache.insert("exec", REQUEST)
    with pytest.raises(Unavailable):
        cache.insert("exec", REQUEST)
    clock.now += 61
    cache.insert("exec", REQUEST)
    assert len(cache) == 1


def test_issuer_builds_urls_and_refuses_without_a_server():
    issuer = StreamIssuer(TokenCache(clock=FakeClock()))
    with pytest.raises(Unavailable):
        issuer.issue("exec", REQUEST)
    issuer.base_url = "http://127.0.0.1:1234/"
    url = issuer.issue("portforward", cri.PortForwardRequest(pod_sandbox_id="p"))
    prefix = "http://127.0.0.1:1234/portforward/"
    assert url.startswith(prefix)
    token = url.removeprefix(prefix)
    assert issuer.tokens.consume(token, "portforward") is not None
