"""Typed reads of stored records: absent or mistyped fields read as their defaults."""

from __future__ import annotations

from cricommon import jsonfields


def test_present_fields_of_the_right_type_read_as_they_are() -> None:
    doc = {"s": "x", "i": 7, "b": True, "m": {"k": 1}}
    assert jsonfields.text(doc, "s") == "x"
    assert jsonfields.integer(doc, "i") == 7
    assert jsonfields.flag(doc, "b") is True
    assert jsonfields.mapping(doc, "m") == {"k": 1}


def test_absent_or_mistyped_fields_read_as_defaults() -> None:
    doc = {"s": 3, "i": "seven", "b": "true", "m": [1], "t": True, "n": None}
    assert jsonfields.text(doc, "s") == ""
    assert jsonfields.text(doc, "missing", "dflt") == "dflt"
    assert jsonfields.integer(doc, "i") == 0
    assert jsonfields.integer(doc, "t", 5) == 5  # a JSON true is not the number 1
    assert jsonfields.integer(doc, "n", -1) == -1
    assert jsonfields.flag(doc, "b") is False
    assert jsonfields.mapping(doc, "m") == {}
    assert jsonfields.as_mapping("text") == {}


def test_numbers_written_as_digits_or_with_a_fraction_read_as_ints() -> None:
    assert jsonfields.integer({"v": "42"}, "v") == 42
    assert jsonfields.integer({"v": 3.0}, "v") == 3
    assert jsonfields.integer({"v": "-4"}, "v") == 0  # not decimal digits
    assert jsonfields.integer({"v": "٣"}, "v") == 0  # digits, but not ASCII ones
