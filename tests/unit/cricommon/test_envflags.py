"""The one rule for environment variables behind flags, in both programs."""

from __future__ import annotations

import pytest

from cricommon.envflags import EnvValueError, from_env


def test_unset_or_empty_variables_leave_the_default() -> None:
    assert from_env("X", {}) is None
    assert from_env("X", {"X": ""}) is None
    assert from_env(None, {"X": "1"}) is None  # a flag without a variable


def test_values_are_checked_as_strictly_as_the_flag() -> None:
    assert from_env("N", {"N": "12"}, int) == 12
    assert from_env("L", {"L": "info"}, choices=("info", "debug")) == "info"
    with pytest.raises(EnvValueError, match=r"^N='many' is not valid: expected an integer$"):
        from_env("N", {"N": "many"}, int)
    with pytest.raises(EnvValueError, match=r"^L='loud' is not valid: use one of info, debug$"):
        from_env("L", {"L": "loud"}, choices=("info", "debug"))
