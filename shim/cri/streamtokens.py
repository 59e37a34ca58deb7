"""Single-use, unguessable, expiring tokens for streaming URLs.

Exec, Attach and PortForward only validate a request and return a URL on
the streaming server holding a token; the session itself starts when the
client opens that URL. As in the kubelet's streaming package, a token is
good once, for one minute by default, and the cache holds a bounded number
of them. Tokens carry 192 random bits (the kubelet's carry 64).
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from criapi.runtime.v1 import api_pb2 as cri
from shim.errors import Unavailable

Kind = Literal["exec", "attach", "portforward"]
StreamRequest = cri.ExecRequest | cri.AttachRequest | cri.PortForwardRequest

DEFAULT_TTL = 60.0
MAX_IN_FLIGHT = 1000
TOKEN_BYTES = 24


@dataclass(frozen=True, slots=True)
class Pending:
    kind: Kind
    request: StreamRequest
    expires: float


class TokenCache:
    def __init__(
        self,
        ttl: float = DEFAULT_TTL,
        max_in_flight: int = MAX_IN_FLIGHT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._max = max_in_flight
        self._clock = clock
        self._pending: OrderedDict[str, Pending] = OrderedDict()

    def insert(self, kind: Kind, request: StreamRequest) -> str:
        self._evict_expired()
        if len(self._pending) >= self._max:
            raise Unavailable(f"too many pending streaming requests (at most {self._max})")
        token = secrets.token_urlsafe(TOKEN_BYTES)
        self._pending[token] = Pending(kind, request, self._clock() + self._ttl)
        return token

    def consume(self, token: str, kind: Kind) -> StreamRequest | None:
        """The request behind ``token`` if it is known, unexpired and of ``kind``; once."""
        pending = self._pending.pop(token, None)
        if pending is None or pending.kind != kind or self._clock() >= pending.expires:
            return None
        return pending.request

    def __len__(self) -> int:
        return len(self._pending)

    def _evict_expired(self) -> None:
        now = self._clock()
        # Insertion order is expiry order: the TTL is the same for all.
        while self._pending:
            token, oldest = next(iter(self._pending.items()))
            if oldest.expires > now:
                break
            del self._pending[token]


class StreamIssuer:
    """What the CRI handlers see: turn a validated request into a streaming URL."""

    def __init__(self, tokens: TokenCache) -> None:
        self.tokens = tokens
        self.base_url = ""  # set by the streaming server once it listens

    def issue(self, kind: Kind, request: StreamRequest) -> str:
        if not self.base_url:
            raise Unavailable("the streaming server is not running")
        token = self.tokens.insert(kind, request)
        return f"{self.base_url.rstrip('/')}/{kind}/{token}"
