import struct

import pytest

from shim.engine.stdcopy import STDERR, STDOUT, Demuxer


def frame(stream: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(payload)) + payload


def collect(demuxer: Demuxer, pieces: list[bytes]) -> list[tuple[int, bytes]]:
    """Feed pieces; merge consecutive slices of one stream to compare content, not cuts."""
    merged: list[tuple[int, bytes]] = []
    for piece in pieces:
        for stream, view in demuxer.feed(piece):
            if merged and merged[-1][0] == stream:
                merged[-1] = (stream, merged[-1][1] + bytes(view))
            else:
                merged.append((stream, bytes(view)))
    return merged


WIRE = frame(STDOUT, b"hello ") + frame(STDERR, b"oops") + frame(STDOUT, b"") + frame(1, b"end")


def test_whole_frames_become_slices_of_the_input() -> None:
    slices = Demuxer(tty=False).feed(WIRE)
    assert [(s, bytes(v)) for s, v in slices] == [
        (STDOUT, b"hello "),
        (STDERR, b"oops"),
        (STDOUT, b"end"),
    ]
    assert all(v.obj is slices[0][1].obj for _, v in slices)  # views, not copies


@pytest.mark.parametrize("cut", [1, 3, 7, 8, 9, 13])
def test_any_cut_of_the_wire_gives_the_same_output(cut: int) -> None:
    pieces = [WIRE[i : i + cut] for i in range(0, len(WIRE), cut)]
    assert collect(Demuxer(tty=False), pieces) == [
        (STDOUT, b"hello "),
        (STDERR, b"oops"),
        (STDOUT, b"end"),
    ]


def test_a_tty_stream_is_unframed_stdout() -> None:
    demuxer = Demuxer(tty=True)
    assert [(s, bytes(v)) for s, v in demuxer.feed(b"\x02raw")] == [(STDOUT, b"\x02raw")]
    assert demuxer.feed(b"") == []
