"""Kubernetes resource quantities: the grammar, exactness, and rounding up."""

from decimal import Decimal

import pytest

from kubeletlite.quantity import (
    FORMAT_ERROR,
    QuantityError,
    cpu_to_millicores,
    parse_quantity,
    to_bytes,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500m", "0.5"),
        ("100n", "0.0000001"),
        ("2M", "2000000"),
        ("1E", "1000000000000000000"),
        ("1.5Gi", "1610612736"),
        ("1Ei", str(2**60)),
        ("12E6", "12000000"),
        ("5e-3", "0.005"),
        (".5", "0.5"),
        ("+1k", "1000"),
        (" 64Mi ", "67108864"),
        (2, "2"),
        (0.1, "0.1"),
    ],
)
def test_parses_valid_quantities_exactly(text: str | int | float, expected: str) -> None:
    assert parse_quantity(text) == Decimal(expected)


@pytest.mark.parametrize(
    "text",
    ["", "1KB", "1K", "1.2.3", "1 Mi", "1e", "\u0661"],  # the last: an Arabic-Indic 1
)
def test_rejects_malformed_quantities(text: str) -> None:
    with pytest.raises(QuantityError) as info:
        parse_quantity(text)
    assert info.value.reason == FORMAT_ERROR


@pytest.mark.parametrize("value", [True, None, float("nan")])
def test_rejects_values_that_are_not_quantities(value: object) -> None:
    with pytest.raises(ValueError, match="invalid quantity"):
        parse_quantity(value)  # type: ignore[arg-type]


def test_error_message_names_the_input_and_kubernetes_regex() -> None:
    with pytest.raises(ValueError, match=r"invalid quantity '1KB': quantities must match") as info:
        parse_quantity("1KB")
    assert "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'" in str(info.value)


@pytest.mark.parametrize("text", ["1e1000", "1e99999999999"])
def test_rejects_absurd_magnitudes(text: str) -> None:
    with pytest.raises(QuantityError, match="is out of range"):
        parse_quantity(text)


@pytest.mark.parametrize(
    ("text", "millicores"),
    [("1", 1000), ("500m", 500), ("0.0001", 1), ("2.0011", 2002)],
)
def test_cpu_to_millicores_rounds_up(text: str, millicores: int) -> None:
    assert cpu_to_millicores(parse_quantity(text)) == millicores


@pytest.mark.parametrize(
    ("text", "size"),
    [("0.5Ki", 512), ("1.5", 2), ("1m", 1)],
)
def test_to_bytes_rounds_up(text: str, size: int) -> None:
    assert to_bytes(parse_quantity(text)) == size


def test_long_mantissas_stay_exact() -> None:
    # 27 significant digits times 2**60 needs more than Decimal's default 28 digits.
    mantissa = 123456789123456789123456789
    assert to_bytes(parse_quantity(f"{mantissa}Ei")) == mantissa * 2**60
