"""Crash-loop back-off: immediate first restart, then 10 s doubling to 300 s, from FinishedAt."""

import pytest

from kubeletlite.pods.backoff import CrashLoopBackOff

KEY = "uid_app_0123456789abcdef"


def crash_loop(backoff: CrashLoopBackOff, crashes: int, runs_for: float = 1.0) -> list[float]:
    """Restart ``key`` after each of ``crashes`` crashes as soon as allowed; the waits seen.

    Each container runs ``runs_for`` seconds, then exits; the next restart happens the
    moment ``remaining`` reaches 0.
    """
    now = 1_000.0
    waits = []
    for _ in range(crashes):
        finished = now + runs_for
        wait = backoff.remaining(KEY, finished, now=finished)
        waits.append(wait)
        # Nothing is allowed a moment before the wait is over.
        if wait > 0:
            assert backoff.remaining(KEY, finished, now=finished + wait - 0.5) == pytest.approx(0.5)
        now = finished + wait
        assert backoff.remaining(KEY, finished, now=now) == 0.0
        backoff.record_restart(KEY, finished, now)
    return waits


def test_first_restart_is_immediate() -> None:
    backoff = CrashLoopBackOff()
    assert backoff.remaining(KEY, finished_at=50.0, now=50.0) == 0.0


def test_waits_double_from_ten_seconds_up_to_five_minutes() -> None:
    waits = crash_loop(CrashLoopBackOff(), crashes=9)
    assert waits == [0.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0, 300.0]


def test_record_restart_returns_the_delay_guarding_the_next_restart() -> None:
    backoff = CrashLoopBackOff()
    delays = [backoff.record_restart(KEY, finished_at=t, now=t) for t in (0.0, 1.0, 2.0, 3.0)]
    assert delays == [10.0, 20.0, 40.0, 80.0]


def test_wait_is_measured_from_the_finish_time_not_from_now() -> None:
    backoff = CrashLoopBackOff()
    backoff.record_restart(KEY, finished_at=0.0, now=0.0)
    # The container ran 100 s and exited at 100; seen only 4 s later, 6 s remain.
    assert backoff.remaining(KEY, finished_at=100.0, now=104.0) == 6.0
    # Seen long after it exited: no wait left at all.
    assert backoff.remaining(KEY, finished_at=100.0, now=500.0) == 0.0


def test_a_container_that_ran_over_ten_minutes_starts_over() -> None:
    backoff = CrashLoopBackOff()
    for t in (0.0, 1.0, 2.0, 3.0):
        backoff.record_restart(KEY, finished_at=t, now=t)  # the delay is now 80 s
    restarted_at = 3.0
    # Finished exactly 600 s after the last restart: not expired yet.
    assert backoff.remaining(KEY, restarted_at + 600.0, now=restarted_at + 600.0) == 80.0
    # Ran a moment longer: the entry expired, restart at once, and the delay starts over.
    finished = restarted_at + 600.5
    assert backoff.remaining(KEY, finished, now=finished) == 0.0
    assert backoff.record_restart(KEY, finished, now=finished) == 10.0


def test_keys_are_independent() -> None:
    backoff = CrashLoopBackOff()
    for t in (0.0, 1.0, 2.0):
        backoff.record_restart("pod_a", finished_at=t, now=t)
    assert backoff.remaining("pod_a", finished_at=5.0, now=5.0) == 40.0
    assert backoff.remaining("pod_b", finished_at=5.0, now=5.0) == 0.0
    assert backoff.record_restart("pod_b", finished_at=5.0, now=5.0) == 10.0
    assert backoff.remaining("pod_a", finished_at=5.0, now=5.0) == 40.0


def test_forget_drops_the_entry() -> None:
    backoff = CrashLoopBackOff()
    backoff.record_restart(KEY, finished_at=0.0, now=0.0)
    backoff.forget(KEY)
    backoff.forget("never-seen")  # no error
    assert backoff.remaining(KEY, finished_at=1.0, now=1.0) == 0.0


def test_limits_are_configurable() -> None:
    backoff = CrashLoopBackOff(initial=1.0, maximum=3.0, reset_after=5.0)
    delays = [backoff.record_restart(KEY, finished_at=t, now=t) for t in (0.0, 1.0, 2.0, 3.0)]
    assert delays == [1.0, 2.0, 3.0, 3.0]
    assert backoff.record_restart(KEY, finished_at=9.0, now=9.0) == 1.0
