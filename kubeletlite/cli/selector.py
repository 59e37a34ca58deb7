"""Label selectors as kubectl's ``-l`` takes them. Pure.

Equality (``app=web``, ``app==web``, ``tier!=db``), existence (``app``,
``!app``) and sets (``env in (a,b)``, ``env notin (c)``), comma-separated,
all of which must hold.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

Requirement = Callable[[Mapping[str, str]], bool]
_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_SET = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQUAL = re.compile(rf"^\s*({_KEY})\s*(==|=|!=)\s*([-A-Za-z0-9_.]*)\s*$")
_EXISTS = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")


class SelectorError(ValueError):
    pass


def parse(text: str) -> Requirement:
    requirements = [_requirement(part) for part in _split(text)]
    return lambda labels: all(requirement(labels) for requirement in requirements)


def _split(text: str) -> list[str]:
    """Commas separate requirements, except inside a set's parentheses."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    if any(not part.strip() for part in parts):
        raise SelectorError(f"invalid selector {text!r}: empty requirement")
    return parts


def _requirement(part: str) -> Requirement:
    if found := _SET.match(part):
        key, operator = found.group(1), found.group(3)
        values = {v.strip() for v in found.group(4).split(",") if v.strip()}
        if operator == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if found := _EQUAL.match(part):
        key, operator, value = found.group(1), found.group(3), found.group(4)
        if operator == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if found := _EXISTS.match(part):
        negated, key = found.group(1) == "!", found.group(2)
        return lambda labels: (key in labels) != negated
    raise SelectorError(f"invalid selector requirement {part.strip()!r}")
