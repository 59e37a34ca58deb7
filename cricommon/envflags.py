"""Flags that an environment variable can also set: the one rule both programs follow.

A flag given on the command line wins; else its environment variable, when set
and not empty; else the built-in default. An environment value is checked as
strictly as the flag would be (its type, its choices), and a bad one is a
one-line error naming the variable and what it takes, never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

_KIND_NAMES: dict[object, str] = {int: "an integer", float: "a number", str: "text"}


class EnvValueError(ValueError):
    """A bad environment value; ``str()`` is the one-line message."""


def from_env(
    env: str | None,
    environ: Mapping[str, str],
    kind: Callable[[str], Any] = str,
    choices: tuple[str, ...] | None = None,
) -> Any | None:
    """The value ``env`` sets, checked; None when it is unset or empty."""
    raw = environ.get(env, "") if env else ""
    if not raw:
        return None
    try:
        value = kind(raw)
    except ValueError:
        expected = _KIND_NAMES.get(kind) or getattr(kind, "__name__", "another value")
        raise EnvValueError(f"{env}={raw!r} is not valid: expected {expected}") from None
    if choices is not None and value not in choices:
        raise EnvValueError(f"{env}={raw!r} is not valid: use one of {', '.join(choices)}")
    return value


def help_suffix(env: str | None) -> str:
    """What a flag's help says of its variable."""
    return f" [env {env}]" if env else ""
