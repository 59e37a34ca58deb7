"""Exact parsing of Kubernetes resource quantities such as ``500m``, ``1.5Gi`` or ``12E6``.

Kubernetes' own parser (``resource.ParseQuantity``) is Go; its Python counterpart ships
inside the heavy ``kubernetes`` client package, far too much to pull in for one small
grammar. This module implements that grammar with :class:`decimal.Decimal`, so ``0.1``
CPU stays exactly a tenth instead of drifting through binary floats::

    quantity ::= sign? number suffix?
    number   ::= digits | digits "." digits? | "." digits
    suffix   ::= binarySI | decimalSI | ("e" | "E") sign? digits
    binarySI ::= "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei"
    decimalSI::= "n" | "u" | "m" | "k" | "M" | "G" | "T" | "P" | "E"

``E`` followed by digits is an exponent (``12E6``); a bare ``E`` is exa (``1E``).
"""

from __future__ import annotations

import decimal
import math
import re
from decimal import Decimal
from fractions import Fraction
from typing import Final

__all__ = ["QuantityError", "cpu_to_millicores", "parse_quantity", "to_bytes"]

# Kubernetes' ErrFormatWrong text, so manifest errors read like the API server's.
FORMAT_ERROR: Final = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)

# [0-9] rather than \d: \d would also accept non-ASCII digits such as "٣".
_QUANTITY: Final = re.compile(
    r"(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?:(?P<exponent>[eE][+-]?[0-9]+)|(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?"
)

_MULTIPLIERS: Final[dict[str, Decimal]] = {
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}

# Far beyond any real CPU or memory amount, yet small enough that converting a
# quantity to an integer stays cheap whatever the input says.
_MAX_MAGNITUDE: Final = 100


class QuantityError(ValueError):
    """A text that is not a Kubernetes quantity; ``reason`` omits the offending text."""

    def __init__(self, text: object, reason: str) -> None:
        super().__init__(f"invalid quantity {text!r}: {reason}")
        self.reason = reason


def parse_quantity(text: str | int | float) -> Decimal:
    """The exact value of a quantity; YAML numbers (``cpu: 2``, ``cpu: 0.5``) are accepted.

    Surrounding whitespace is ignored, as Kubernetes' JSON decoding does.
    Raises :class:`QuantityError` (a ``ValueError``) for anything else.
    """
    raw = _as_text(text)
    match = _QUANTITY.fullmatch(raw.strip())
    if match is None:
        raise QuantityError(text, FORMAT_ERROR)
    number = Decimal(match["number"])
    digits = len(number.as_tuple().digits)
    # Enough precision for any product below, and Inexact trapped: if a result ever
    # needed rounding we fail loudly instead of returning an approximation.
    context = decimal.Context(
        prec=digits + 40,
        Emax=decimal.MAX_EMAX,
        Emin=decimal.MIN_EMIN,
        traps=[decimal.Inexact, decimal.InvalidOperation, decimal.Overflow, decimal.Underflow],
    )
    try:
        value = _scale(number, match["exponent"], match["suffix"], context)
    except decimal.DecimalException:
        raise QuantityError(text, "is out of range") from None
    if value and abs(value.adjusted()) > _MAX_MAGNITUDE:
        raise QuantityError(text, "is out of range")
    return value


def cpu_to_millicores(q: Decimal) -> int:
    """CPU cores as millicores, rounded up as Kubernetes does (0.0001 cpu is 1m)."""
    return _ceil(Fraction(q) * 1000)


def to_bytes(q: Decimal) -> int:
    """A memory quantity as whole bytes, rounded up (``1m`` byte is 1 byte)."""
    return _ceil(Fraction(q))


def _as_text(text: object) -> str:
    # bool is an int subclass, but `cpu: true` is a mistake, not the quantity 1.
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise QuantityError(text, "must be a string or a number")
    if isinstance(text, float):
        if not math.isfinite(text):
            raise QuantityError(text, FORMAT_ERROR)
        return repr(text)  # the shortest form that round-trips: 0.1 -> "0.1"
    return str(text)


def _scale(
    number: Decimal, exponent: str | None, suffix: str | None, context: decimal.Context
) -> Decimal:
    if exponent is not None:
        # Bound the digits first: int() itself refuses texts of thousands of digits.
        if len(exponent) > 6 or abs(power := int(exponent[1:])) > _MAX_MAGNITUDE * 2:
            raise decimal.Overflow
        return number.scaleb(power, context)
    if suffix is not None:
        return context.multiply(number, _MULTIPLIERS[suffix])
    return number


def _ceil(value: Fraction) -> int:
    # Fractions are exact, so this never rounds the way float or a short Decimal
    # context could.
    return math.ceil(value)
