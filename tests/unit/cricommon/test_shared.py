"""What both programs share: one CRI log-line parser, one metrics-address check."""

from __future__ import annotations

import pytest

from cricommon import criolog, metrics
from kubeletlite.state import podlogs
from shim.logs import resume

GOOD = b"2024-01-02T03:04:05.123456789Z stdout F hello"
MALFORMED = [
    b"2024-01-02T03:04:05Z stdin F wrong stream",
    b"2024-01-02T03:04:05Z stdout X wrong tag",
    b"yesterday stdout F no timestamp",
    b"0001-01-01T00:00:00Z stdout F go zero time",
    b"2024-01-02T03:04:05Z stdout",
    b"plain text someone appended",
]


def test_the_shim_and_kubelet_lite_parse_with_the_same_parser() -> None:
    assert resume.parse is criolog.parse
    assert resume.LogLine is criolog.LogLine


@pytest.mark.parametrize("raw", MALFORMED)
def test_both_programs_refuse_the_same_malformed_lines(raw: bytes) -> None:
    assert criolog.parse(raw) is None
    # kubelet-lite's reader skips it instead of showing a made-up stream.
    assert podlogs.decode([raw + b"\n", GOOD + b"\n"]) == [
        podlogs.LogLine("stdout", b"hello", "2024-01-02T03:04:05.123456789Z")
    ]


def test_fragments_join_per_stream_with_the_first_timestamp() -> None:
    lines = [
        b"2024-01-02T03:04:05Z stdout P abc\n",
        b"2024-01-02T03:04:06Z stderr F oops\n",
        b"2024-01-02T03:04:07Z stdout F def\n",
    ]
    assert podlogs.decode(lines) == [
        podlogs.LogLine("stderr", b"oops", "2024-01-02T03:04:06Z"),
        podlogs.LogLine("stdout", b"abcdef", "2024-01-02T03:04:05Z"),
    ]


def test_what_the_shim_writes_kubelet_lite_reads_back() -> None:
    written = criolog.LogLine("2024-01-02T03:04:05.5Z", "stderr", False, b"a b  c").encode()
    assert podlogs.decode([written]) == [
        podlogs.LogLine("stderr", b"a b  c", "2024-01-02T03:04:05.5Z")
    ]


@pytest.mark.parametrize(
    ("address", "expected"),
    [("127.0.0.1:9090", ("127.0.0.1", 9090)), ("[::1]:9091", ("::1", 9091))],
)
def test_a_loopback_metrics_address_is_accepted(address: str, expected: tuple[str, int]) -> None:
    assert metrics.check_address(address) == expected


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("9090", "expected HOST:PORT"),
        ("127.0.0.1:", "expected HOST:PORT"),
        ("127.0.0.1:99999", "expected HOST:PORT"),
        ("127.0.0.1:http", "expected HOST:PORT"),
        ("0.0.0.0:9090", "loopback"),
        ("localhost:9090", "loopback"),
    ],
)
def test_other_metrics_addresses_are_refused_alike(address: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        metrics.check_address(address)
