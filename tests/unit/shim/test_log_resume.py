"""The CRI container log format and resuming a copy (shim.logs.resume)."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shim.logs import resume
from shim.logs.resume import LogCursor, LogLine, RecentLines, ResumePoint

SECOND = 1_000_000_000
BASE_S = calendar.timegm((2024, 1, 2, 3, 4, 5))  # 2024-01-02T03:04:05Z
WINDOW = resume.RESUME_WINDOW_NS


def stamp(offset_ns: int) -> str:
    """An RFC 3339 timestamp with nanoseconds, ``offset_ns`` after BASE_S."""
    total = BASE_S * SECOND + offset_ns
    seconds = datetime.fromtimestamp(total // SECOND, UTC)
    return f"{seconds:%Y-%m-%dT%H:%M:%S}.{total % SECOND:09d}Z"


def line(offset_ns: int, text: bytes = b"x", stream: str = "stdout", partial: bool = False):
    return LogLine(timestamp=stamp(offset_ns), stream=stream, partial=partial, text=text)


def test_stamp_helper():
    assert stamp(0) == "2024-01-02T03:04:05.000000000Z"
    assert stamp(SECOND + 5) == "2024-01-02T03:04:06.000000005Z"


# -- encode / parse ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("log_line", "encoded"),
    [
        (
            LogLine("2024-01-02T03:04:05.123456789Z", "stdout", False, b"hello"),
            b"2024-01-02T03:04:05.123456789Z stdout F hello\n",
        ),
        (
            LogLine("2024-01-02T03:04:05.123456789Z", "stderr", True, b"part"),
            b"2024-01-02T03:04:05.123456789Z stderr P part\n",
        ),
        (
            LogLine("2024-01-02T03:04:05Z", "stdout", False, b""),
            b"2024-01-02T03:04:05Z stdout F \n",
        ),
    ],
)
def test_encode(log_line, encoded):
    assert log_line.encode() == encoded


@pytest.mark.parametrize(
    "log_line",
    [
        line(0, b"hello world"),
        line(1, b"  leading and trailing spaces  "),
        line(2, b"", stream="stderr"),
        line(3, b"fragment", partial=True),
        line(4, b"\xff\xfe not utf-8 \x00"),
        line(5, b"2024-01-02T03:04:05Z stderr P looks like a line"),
        LogLine("2024-01-02T03:04:05+02:00", "stdout", False, b"offset zone"),
    ],
)
def test_encode_parse_round_trip(log_line):
    encoded = log_line.encode()
    assert encoded.endswith(b"\n")
    assert resume.parse(encoded[:-1]) == log_line


def test_parse_line_without_text():
    assert resume.parse(b"2024-01-02T03:04:05Z stdout F") == LogLine(
        "2024-01-02T03:04:05Z", "stdout", False, b""
    )


@pytest.mark.parametrize(("tag", "partial"), [(b"F", False), (b"P", True)])
def test_parse_tag(tag, partial):
    parsed = resume.parse(b"2024-01-02T03:04:05Z stdout " + tag + b" x")
    assert parsed is not None
    assert parsed.partial is partial


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"garbage",
        b"2024-01-02T03:04:05Z stdout",
        b"2024-01-02T03:04:05Z stdin F x",
        b"2024-01-02T03:04:05Z STDOUT F x",
        b"2024-01-02T03:04:05Z stdout X x",
        b"2024-01-02T03:04:05Z stdout f x",
        b"2024-01-02T03:04:05Z stdout FP x",
        b"2024-01-02T03:04:05Z  stdout F x",
        b"not-a-time stdout F x",
        b"2024-01-02 stdout F x",
        b"0001-01-01T00:00:00Z stdout F x",
        b"2024-01-02T03:04:05\xffZ stdout F x",
        b"stdout F 2024-01-02T03:04:05Z x",
    ],
)
def test_parse_rejects_malformed_lines(raw):
    assert resume.parse(raw) is None


# -- resume point -----------------------------------------------------------------------


def test_resume_point_of_nothing():
    assert resume.resume_point([]) is None


def test_resume_point_window():
    lines = [
        line(0, b"old"),
        line(3 * SECOND - WINDOW - 1, b"just outside"),
        line(3 * SECOND - WINDOW, b"on the edge"),
        line(2 * SECOND, b"inside"),
        line(3 * SECOND, b"newest"),
    ]
    point = resume.resume_point(lines)
    assert point is not None
    assert point.since_ns == (BASE_S + 3) * SECOND - WINDOW
    assert point.seen == tuple(lines[2:])


def test_resume_point_is_order_independent():
    lines = [line(3 * SECOND, b"a"), line(0, b"b"), line(2 * SECOND, b"c"), line(SECOND, b"d")]
    assert resume.resume_point(lines) == resume.resume_point(reversed(lines))
    assert resume.resume_point(lines) == resume.resume_point(sorted(lines, key=str))


@pytest.mark.parametrize(
    ("newest", "since"),
    [
        ("2024-01-02T03:04:05.123456789Z", f"{BASE_S - 2}.123456789"),
        ("2024-01-02T03:04:05Z", f"{BASE_S - 2}.000000000"),
        ("2024-01-02T03:04:05.000000005Z", f"{BASE_S - 2}.000000005"),
        ("2024-01-02T03:04:06.5Z", f"{BASE_S - 1}.500000000"),
    ],
)
def test_since_is_two_seconds_before_the_newest(newest, since):
    point = resume.resume_point([LogLine(newest, "stdout", False, b"x")])
    assert point is not None
    assert point.since == since


def test_since_format():
    assert ResumePoint(since_ns=12 * SECOND + 34, seen=()).since == "12.000000034"


def test_already_written():
    written = line(SECOND, b"written")
    cursor = LogCursor(resume.resume_point([line(0, b"first"), written]))
    assert cursor.next_read() == f"{BASE_S - 1}.000000000"
    assert not cursor.admit(line(SECOND, b"written"))  # an equal line read back
    assert not cursor.admit(line(0, b"first"))
    assert cursor.admit(line(SECOND, b"other text"))
    assert cursor.admit(line(SECOND, b"written", stream="stderr"))
    assert cursor.admit(line(SECOND, b"written", partial=True))
    assert cursor.admit(line(SECOND + 1, b"written"))


# -- recent lines -----------------------------------------------------------------------


def test_recent_lines_empty():
    assert RecentLines().resume_point() is None


def test_recent_lines_resume_point_matches_the_full_log():
    recent = RecentLines()
    lines = [line(i * SECOND // 4, str(i).encode()) for i in range(40)]
    for log_line in lines:
        recent.add(log_line)
    assert recent.resume_point() == resume.resume_point(lines)


def test_recent_lines_keep_late_lines_inside_the_window():
    recent = RecentLines()
    late = line(2 * SECOND, b"late stderr", stream="stderr")
    for log_line in (line(3 * SECOND), late, line(4 * SECOND - 1)):
        recent.add(log_line)
    point = recent.resume_point()
    assert point is not None
    assert late in point.seen


def test_recent_lines_are_pruned():
    recent = RecentLines()
    for i in range(1000):
        recent.add(line(i * SECOND // 100, str(i).encode()))  # ten seconds of lines
    # Only about twice the window (4 s of the 10 s) is kept.
    kept = len(recent._lines)
    assert 390 <= kept <= 410
    point = recent.resume_point()
    assert point is not None
    assert len(point.seen) == 201


def test_recent_lines_hold_a_bounded_number_of_bytes_however_fast_the_output():
    recent = RecentLines()
    chunk = b"a" * 16 * 1024  # dockerd's partial messages
    for i in range(10_000):  # 160 MiB within one millisecond
        recent.add(line(i * 100, chunk, partial=True))
    assert sum(len(kept.text) for _, kept in recent._lines) <= resume.RECENT_BYTES


def test_lines_dropped_for_room_are_not_asked_for_again():
    recent = RecentLines(max_bytes=3)
    lines = [line(i, bytes([65 + i])) for i in range(6)]
    for log_line in lines:
        recent.add(log_line)
    point = recent.resume_point()
    assert point is not None
    # dockerd resends from ``since`` on: exactly the kept lines, which are skipped.
    resent = [x for x in lines if resume.docker_time_ns(x.timestamp) >= point.since_ns]
    assert resent == lines[3:]
    assert sorted(point.seen, key=lambda x: x.text) == resent


_offsets = st.lists(st.integers(min_value=0, max_value=10 * SECOND), min_size=1, max_size=40)


@settings(max_examples=100, deadline=None)
@given(offsets=_offsets)
def test_recent_lines_agree_with_resume_point_for_any_order(offsets):
    recent = RecentLines()
    lines = [line(offset, str(i).encode()) for i, offset in enumerate(offsets)]
    for log_line in lines:
        recent.add(log_line)
    assert recent.resume_point() == resume.resume_point(lines)


# -- parse_tail ---------------------------------------------------------------------------


def encode_all(lines):
    return b"".join(log_line.encode() for log_line in lines)


def test_parse_tail_of_a_whole_file():
    lines = [line(0, b"a"), line(1, b"b", partial=True), line(2, b"c", stream="stderr")]
    assert resume.parse_tail(encode_all(lines)) == lines


def test_parse_tail_ignores_a_cut_first_line():
    lines = [line(0, b"first line"), line(1, b"second"), line(2, b"third")]
    data = encode_all(lines)
    for cut in (5, 20, len(lines[0].encode()) - 3):
        assert resume.parse_tail(data[cut:]) == lines[1:], cut


def test_parse_tail_skips_blank_and_foreign_lines():
    lines = [line(0, b"a"), line(1, b"b")]
    data = b"\n" + lines[0].encode() + b"plain text\n\n" + lines[1].encode()
    assert resume.parse_tail(data) == lines


@pytest.mark.parametrize("data", [b"", b"\n", b"no newline at all"])
def test_parse_tail_without_lines(data):
    assert resume.parse_tail(data) == []


def test_resume_point_from_a_tail():
    lines = [line(0, b"a"), line(5 * SECOND, b"b"), line(6 * SECOND, b"c")]
    point = resume.resume_point(resume.parse_tail(encode_all(lines)[3:]))
    assert point is not None
    assert point.since_ns == (BASE_S + 4) * SECOND
    assert point.seen == tuple(lines[1:])


def test_resume_point_of_a_cut_tail_starts_at_its_oldest_line():
    """Lines before the cut are written but unknown: a window reaching them copies them twice."""
    lines = [line(SECOND, b"a"), line(SECOND + 5, b"b"), line(2 * SECOND, b"c")]
    point = resume.resume_point(lines, whole=False)
    assert point is not None
    assert point.since_ns == (BASE_S + 1) * SECOND
    assert point.seen == tuple(lines)
    # A tail spanning more than the window is cut by the window as usual.
    assert resume.resume_point([line(0), *lines[1:]], whole=False) == resume.resume_point(
        [line(0), *lines[1:]]
    )


# -- exactly once across reads (LogCursor) -------------------------------------------------


def replay(log, since):
    """dockerd's answer to a read from ``since`` (inclusive): its log, in order, from then."""
    since_ns = 0 if since is None else int(since.replace(".", ""))
    return [entry for entry in log if resume.docker_time_ns(entry.timestamp) >= since_ns]


def copy(cursor, log):
    """One read as the copier does it: what it writes."""
    return [entry for entry in replay(log, cursor.next_read()) if cursor.admit(entry)]


def test_a_fresh_cursor_reads_everything():
    log = [line(i * SECOND // 10, str(i).encode()) for i in range(5)]
    cursor = LogCursor()
    assert cursor.next_read() is None
    assert copy(LogCursor(), log) == log


def test_a_read_after_a_resume_skips_what_the_previous_shim_wrote():
    log = [line(i * SECOND // 10, b"out-%d" % i) for i in range(30)]
    cursor = LogCursor(resume.resume_point(log[:12]))
    assert copy(cursor, log[:20]) == log[12:20]


def test_every_later_read_skips_the_lines_the_file_had_too():
    """Issue #8: the output ends within the window of the restart, and the copier reads again.

    The second read's window reaches back into the previous shim's lines:
    they are skipped like the lines this copy wrote (a resume point made only
    from the lines copied since the restart wrote them twice).
    """
    log = [line(i * SECOND // 10, b"out-%d" % i) for i in range(30)]
    cursor = LogCursor(resume.resume_point(log[:12]))
    written = log[:12] + copy(cursor, log[:20])
    written += copy(cursor, log)  # a re-attach
    written += copy(cursor, log)  # the final read after the exit
    assert written == log


def test_identical_fragments_with_one_timestamp_are_each_written_once():
    """dockerd stamps each fragment of a split line with the line's time: ``yes | tr -d '\\n'``."""
    piece = b"y" * 16384
    log = [line(SECOND, piece, partial=True)] * 3 + [line(SECOND, b"y", partial=False)]
    for written_before in range(len(log) + 1):
        cursor = LogCursor(resume.resume_point(log[:written_before]))
        assert log[:written_before] + copy(cursor, log) == log, written_before


def test_repeated_lines_are_all_written():
    """``yes``: the same text, line after line, must arrive as often as it was printed."""
    log = [line(i * SECOND // 1000, b"y", stream=("stdout", "stderr")[i % 2]) for i in range(3000)]
    for written_before in (0, 1, 1500, 2999, 3000):
        cursor = LogCursor(resume.resume_point(log[:written_before]))
        written = log[:written_before] + copy(cursor, log[:2000]) + copy(cursor, log)
        assert len(written) == len(log), written_before
        assert written == log, written_before


_events = st.lists(
    st.tuples(st.integers(min_value=0, max_value=3), st.sampled_from([b"a", b"b"])),
    min_size=1,
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(events=_events, kill_at=st.integers(min_value=0, max_value=60), reads=st.integers(1, 4))
def test_exactly_once_for_any_log_and_any_kill(events, kill_at, reads):
    """Roughly ordered stamps (stderr lags stdout), equal lines, any kill point, any reads."""
    log, now = [], 0
    for step, text in events:
        now += step * SECOND // 4
        stream = "stderr" if step % 2 else "stdout"
        # dockerd's stderr goroutine may stamp a line a little before the stdout before it.
        log.append(line(now - (SECOND // 8 if stream == "stderr" else 0), text, stream=stream))
    kill_at = min(kill_at, len(log))
    cursor = LogCursor(resume.resume_point(log[:kill_at]))
    written = list(log[:kill_at])
    for n in range(reads):
        written += copy(cursor, log[: kill_at + (len(log) - kill_at) * (n + 1) // reads])
    assert written == log
