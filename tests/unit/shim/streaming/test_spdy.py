"""SPDY/3.1 framing: every frame type both ways, header compression, bounds."""

from __future__ import annotations

import hashlib
import zlib

import pytest

from shim.streaming import spdy

# sha256 of the dictionary in moby/spdystream's spdy/dictionary.go (1423 bytes).
GO_DICTIONARY_SHA256 = "51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02"

FRAMES: list[spdy.Frame] = [
    spdy.SynStream(1, {"streamtype": ["error"]}, associated_id=0, priority=2, flags=0),
    spdy.SynStream(3, {"streamtype": ["data"], "port": ["80"], "requestid": ["0"]}, flags=1),
    spdy.SynReply(1, {}),
    spdy.SynReply(5, {"x": ["a", "b"]}, flags=spdy.FLAG_FIN),
    spdy.HeadersFrame(7, {"k": ["v"]}),
    spdy.RstStream(9, spdy.RstStatus.CANCEL),
    spdy.Settings(((0, 7, 65536), (1, 4, 100))),
    spdy.Ping(11),
    spdy.GoAway(13, spdy.GoAwayStatus.OK),
    spdy.WindowUpdate(15, 4096),
    spdy.Data(17, b"hello"),
    spdy.Data(19, b"", spdy.FLAG_FIN),
]


def test_dictionary_is_the_spdy3_one():
    assert len(spdy.DICTIONARY) == 1423
    assert hashlib.sha256(spdy.DICTIONARY).hexdigest() == GO_DICTIONARY_SHA256


def test_every_frame_round_trips_in_one_session():
    encoder, parser = spdy.FrameEncoder(), spdy.FrameParser()
    wire = b"".join(encoder.encode(frame) for frame in FRAMES)
    assert parser.feed(wire) == FRAMES


def test_frames_split_at_every_byte_still_parse():
    encoder, parser = spdy.FrameEncoder(), spdy.FrameParser()
    wire = b"".join(encoder.encode(frame) for frame in FRAMES)
    parsed: list[spdy.Frame] = []
    for index in range(len(wire)):
        parsed += parser.feed(wire[index : index + 1])
    assert parsed == FRAMES


def test_header_blocks_share_one_compression_context():
    encoder = spdy.FrameEncoder()
    first = encoder.encode(spdy.SynStream(1, {"streamtype": ["stdout"]}))
    second = encoder.encode(spdy.SynStream(3, {"streamtype": ["stdout"]}))
    assert len(second) < len(first)  # the repeat compresses against the first
    with pytest.raises(spdy.ProtocolError):
        spdy.FrameParser().feed(second)  # alone, it lacks the context


def test_control_frame_wire_layout():
    wire = spdy.FrameEncoder().encode(spdy.Ping(7))
    assert wire == bytes.fromhex("800300060000000400000007")
    data = spdy.FrameEncoder().encode(spdy.Data(3, b"ab", spdy.FLAG_FIN))
    assert data == bytes.fromhex("0000000301000002") + b"ab"


def test_header_block_uses_the_dictionary():
    wire = spdy.FrameEncoder().encode(spdy.SynReply(1, {}))
    block = wire[12:]
    plain = zlib.decompressobj(zdict=spdy.DICTIONARY).decompress(block)
    assert plain == b"\0\0\0\0"


def test_header_values_are_nul_separated():
    block = spdy.encode_header_block({"a": ["1", "2"]})
    assert block == b"\0\0\0\1" + b"\0\0\0\1a" + b"\0\0\0\x031\x002"
    assert spdy.decode_header_block(block) == {"a": ["1", "2"]}


@pytest.mark.parametrize(
    "block",
    [
        spdy.encode_header_block({"a": ["1"]})[:-1],  # truncated
        b"\0\0\0\1" + b"\0\0\0\1A" + b"\0\0\0\0",  # not lowercase
        b"\0\0\0\2" + (b"\0\0\0\1a" + b"\0\0\0\0") * 2,  # duplicate
        b"\0\0\0\0extra",  # trailing bytes
        b"\xff\xff\xff\xff",  # absurd count
    ],
)
def test_malformed_header_blocks_are_protocol_errors(block):
    with pytest.raises(spdy.ProtocolError):
        spdy.decode_header_block(block)


def test_oversized_frame_is_refused_before_it_is_buffered():
    parser = spdy.FrameParser(max_frame_length=1024)
    with pytest.raises(spdy.ProtocolError, match="1025"):
        parser.feed(bytes.fromhex("0000000100000401"))


def test_header_bomb_is_refused():
    compressor = zlib.compressobj(zdict=spdy.DICTIONARY)
    huge = spdy.encode_header_block({"a": ["x" * (spdy.MAX_HEADER_BLOCK + 10)]})
    block = compressor.compress(huge) + compressor.flush(zlib.Z_SYNC_FLUSH)
    body = (1).to_bytes(4, "big") + block
    wire = bytes.fromhex("80030002") + len(body).to_bytes(4, "big") + body
    with pytest.raises(spdy.ProtocolError, match="over"):
        spdy.FrameParser().feed(wire)


@pytest.mark.parametrize(
    "wire",
    [
        bytes.fromhex("800200060000000400000001"),  # SPDY/2
        bytes.fromhex("0000000000000000"),  # data on stream 0
        bytes.fromhex("80030003000000080000000000000001"),  # RST on stream 0
        bytes.fromhex("80030006000000020000"),  # short PING
    ],
)
def test_bad_frames_are_protocol_errors(wire):
    with pytest.raises(spdy.ProtocolError):
        spdy.FrameParser().feed(wire)


def test_unknown_control_frames_are_skipped():
    unknown = bytes.fromhex("8003000a00000002abcd")
    ping = spdy.FrameEncoder().encode(spdy.Ping(1))
    assert spdy.FrameParser().feed(unknown + ping) == [spdy.Ping(1)]


def test_encode_data_splits_into_bounded_frames_with_fin_on_the_last():
    payload = bytes(range(256)) * 10  # 2560 bytes
    wire = spdy.encode_data(5, payload, 1000, spdy.FLAG_FIN)
    frames = spdy.FrameParser().feed(wire)
    assert [len(f.data) for f in frames] == [1000, 1000, 560]
    assert [f.flags for f in frames] == [0, 0, spdy.FLAG_FIN]
    assert all(f.stream_id == 5 for f in frames)
    assert b"".join(f.data for f in frames) == payload


def test_encode_data_of_one_frame_matches_the_encoder():
    assert spdy.encode_data(3, b"abc", 1000) == spdy.FrameEncoder().encode(spdy.Data(3, b"abc"))
