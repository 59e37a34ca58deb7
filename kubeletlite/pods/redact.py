"""Keeping secrets out of events: env var values and HTTP header values are masked.

Hook output and error messages are kept for the user (the kubelet stopped
putting them in events because of this risk, kubernetes/kubernetes#119541);
kubelet-lite keeps them, with every value that came from the container's
environment or a hook's headers replaced by a marker.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubeletlite import manifest as m

MASK = "[redacted]"
# Shorter values ("1", "on") would mask ordinary words all over the output.
MIN_SECRET_LENGTH = 4


class Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        unique = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted(unique, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self._secrets:
            value = value.replace(secret, MASK)
        return value

    def value(self, value: Any) -> Any:
        """Mask strings anywhere inside a JSON-like value."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value


def for_container(container: m.Container) -> Redactor:
    secrets = [env.value for env in container.env]
    for handler in (container.lifecycle.post_start, container.lifecycle.pre_stop):
        if isinstance(handler, m.HTTPGetAction):
            secrets.extend(header.value for header in handler.headers)
    return Redactor(secrets)
