"""Typed reads of a stored JSON document's fields, for versioned records.

A record written by an older (or newer) version, torn, or edited by hand must
still read: a field that is absent or of another type reads as its default,
never as an exception. Both programs' records (the shim's in Docker labels,
kubelet-lite's in its state directory) read their fields through these.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def mapping(document: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """The object at ``key``, or an empty one."""
    return as_mapping(document.get(key))


def as_mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def text(document: Mapping[str, Any], key: str, default: str = "") -> str:
    value = document.get(key, default)
    return value if isinstance(value, str) else default


def integer(document: Mapping[str, Any], key: str, default: int = 0) -> int:
    """An int; also one written as a JSON number with a fraction or as decimal digits."""
    value = document.get(key, default)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return int(value)


def flag(document: Mapping[str, Any], key: str) -> bool:
    """True only when the field is the JSON ``true``."""
    return document.get(key) is True
