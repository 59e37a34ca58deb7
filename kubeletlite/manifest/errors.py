"""Field errors and :class:`ManifestError`, rendered like Kubernetes' ``field.Error``,
and the Go-style quoting and value rendering they use."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

# ---------------------------------------------------------------------------
# Errors, rendered like k8s.io/apimachinery/pkg/util/validation/field.Error.
# ---------------------------------------------------------------------------


class ErrorType(StrEnum):
    NOT_FOUND = "Not found"
    REQUIRED = "Required value"
    DUPLICATE = "Duplicate value"
    INVALID = "Invalid value"
    UNSUPPORTED = "Unsupported value"
    FORBIDDEN = "Forbidden"
    TOO_LONG = "Too long"
    UNKNOWN_FIELD = "Unknown field"  # strict decoding: rendered as `unknown field "<path>"`
    YAML = "invalid YAML"  # the text does not parse; path is "line L, column C"


class _Omitted:
    __slots__ = ()

    def __repr__(self) -> str:
        return "OMITTED"


# FieldError.value when the error has no value to show.
OMITTED: Final = _Omitted()

# Kubernetes never prints the value of these.
_VALUELESS: Final = frozenset(
    {ErrorType.REQUIRED, ErrorType.FORBIDDEN, ErrorType.TOO_LONG, ErrorType.YAML}
)

NOT_SUPPORTED: Final = "not supported by kubelet-lite"
IGNORED: Final = "ignored by kubelet-lite"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field; ``str()`` gives Kubernetes' wording."""

    path: str
    type: str
    detail: str = ""
    value: object = OMITTED
    document: int | None = None  # index in a multi-document stream, else None

    def __str__(self) -> str:
        if self.type == ErrorType.UNKNOWN_FIELD:
            return f"unknown field {go_quote(self.path)}"
        body = str(self.type)
        if self.type not in _VALUELESS and self.value is not OMITTED:
            body += f": {_go_value(self.value)}"
        if self.detail:
            body += f": {self.detail}"
        return f"{self.path}: {body}" if self.path else body


class ManifestError(ValueError):
    """Every error found in one manifest text, one per line, prefixed by the source."""

    def __init__(self, errors: Iterable[FieldError], source: str = "<stdin>") -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(f"{self._prefix(e)}: {e}" for e in self.errors)

    def _prefix(self, error: FieldError) -> str:
        return self.source if error.document is None else f"{self.source}[{error.document}]"


def go_quote(text: str) -> str:
    """``text`` quoted as Go's ``%q`` (strconv.Quote) would."""
    out = ['"']
    for char in text:
        if char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append('"')
    return "".join(out)


_GO_ESCAPES: Final = {
    '"': '\\"',
    "\\": "\\\\",
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def _go_value(value: object) -> str:
    """A bad value as field.Error prints it: %v for numbers, %q for strings, else JSON."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return go_quote(value)
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _go_float(value: float) -> str:
    # Go's %v: shortest digits, e-notation when the exponent is < -4 or >= 6.
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    shortest = Decimal(repr(value))
    exponent = shortest.adjusted()
    if -4 <= exponent < 6:
        text = format(shortest, "f")
        return text.removesuffix(".0") if "." in text else text
    digits = "".join(map(str, shortest.as_tuple().digits)).rstrip("0") or "0"
    mantissa = digits[0] + (f".{digits[1:]}" if len(digits) > 1 else "")
    sign = "-" if value < 0 else ""
    return f"{sign}{mantissa}e{exponent:+03d}"


def _plain(value: object) -> Any:
    """``value`` as JSON-compatible data: YAML's extra types and model dataclasses included."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Mapping):
        return {_key_text(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_plain(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # The class name keeps union members apart (an ExecAction vs a SleepAction).
        fields = {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"@type": type(value).__name__, **fields}
    return str(value)


def _key_text(key: object) -> str:
    """A YAML mapping key as the JSON key Kubernetes' YAML-to-JSON step makes of it."""
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool):
        return _go_value(key)
    return str(key)
