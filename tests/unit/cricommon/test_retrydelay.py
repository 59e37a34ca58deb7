"""Reconnect delays: doubled each time, capped, started over by a success."""

from __future__ import annotations

from cricommon.retrydelay import RetryDelay


def test_delays_double_up_to_the_maximum_and_a_success_starts_over() -> None:
    retry = RetryDelay(0.5, 3.0)
    assert [retry.take() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    retry.reset()
    assert retry.take() == 0.5


def test_a_longer_delay_asked_for_holds_until_a_success() -> None:
    retry = RetryDelay(0.5, 10.0)
    assert retry.take(at_least=300.0) == 300.0
    assert retry.take() == 300.0  # another failure does not retry sooner
    retry.reset()
    assert retry.take() == 0.5
