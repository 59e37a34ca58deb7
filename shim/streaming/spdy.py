"""SPDY/3.1 framing, as Kubernetes' streaming clients speak it (moby/spdystream).

Pure code, no I/O: :class:`FrameParser` turns bytes into frames and
:class:`FrameEncoder` frames into bytes. Header blocks are zlib-compressed
with the SPDY/3 dictionary, one compression context per direction for the
whole session, flushed with Z_SYNC_FLUSH after each block.

Every size here comes from the peer, so each is bounded: a frame's length
(24 bits on the wire, capped lower here), a header block's decompressed size
and its number of pairs.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from enum import IntEnum

VERSION = 3

FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02

# Bounds on what a peer may send.
MAX_FRAME_LENGTH = 1 << 20  # spdystream sends data frames of at most 32 KiB
MAX_HEADER_BLOCK = 64 * 1024  # decompressed
MAX_HEADER_PAIRS = 256


class FrameType(IntEnum):
    SYN_STREAM = 1
    SYN_REPLY = 2
    RST_STREAM = 3
    SETTINGS = 4
    PING = 6
    GOAWAY = 7
    HEADERS = 8
    WINDOW_UPDATE = 9


class RstStatus(IntEnum):
    PROTOCOL_ERROR = 1
    INVALID_STREAM = 2
    REFUSED_STREAM = 3
    UNSUPPORTED_VERSION = 4
    CANCEL = 5
    INTERNAL_ERROR = 6
    FLOW_CONTROL_ERROR = 7
    STREAM_IN_USE = 8
    STREAM_ALREADY_CLOSED = 9


class GoAwayStatus(IntEnum):
    OK = 0
    PROTOCOL_ERROR = 1
    INTERNAL_ERROR = 2


class ProtocolError(Exception):
    """The peer broke the framing; the session cannot go on."""


Headers = dict[str, list[str]]


@dataclass(frozen=True, slots=True)
class SynStream:
    stream_id: int
    headers: Headers
    associated_id: int = 0
    priority: int = 0
    flags: int = 0


@dataclass(frozen=True, slots=True)
class SynReply:
    stream_id: int
    headers: Headers = field(default_factory=dict)
    flags: int = 0


@dataclass(frozen=True, slots=True)
class RstStream:
    stream_id: int
    status: int


@dataclass(frozen=True, slots=True)
class Settings:
    entries: tuple[tuple[int, int, int], ...]  # (flags, id, value)
    flags: int = 0


@dataclass(frozen=True, slots=True)
class Ping:
    ping_id: int


@dataclass(frozen=True, slots=True)
class GoAway:
    last_good_stream_id: int
    status: int = GoAwayStatus.OK


@dataclass(frozen=True, slots=True)
class HeadersFrame:
    stream_id: int
    headers: Headers
    flags: int = 0


@dataclass(frozen=True, slots=True)
class WindowUpdate:
    stream_id: int
    delta: int


@dataclass(frozen=True, slots=True)
class Data:
    stream_id: int
    data: bytes
    flags: int = 0

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


Frame = (
    SynStream | SynReply | RstStream | Settings | Ping | GoAway | HeadersFrame | WindowUpdate | Data
)


def _dictionary() -> bytes:
    """The SPDY/3 header compression dictionary (draft 3, section 2.6.10.1)."""
    words = [
        "options",
        "head",
        "post",
        "put",
        "delete",
        "trace",
        "accept",
        "accept-charset",
        "accept-encoding",
        "accept-language",
        "accept-ranges",
        "age",
        "allow",
        "authorization",
        "cache-control",
        "connection",
        "content-base",
        "content-encoding",
        "content-language",
        "content-length",
        "content-location",
        "content-md5",
        "content-range",
        "content-type",
        "date",
        "etag",
        "expect",
        "expires",
        "from",
        "host",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "if-range",
        "if-unmodified-since",
        "last-modified",
        "location",
        "max-forwards",
        "pragma",
        "proxy-authenticate",
        "proxy-authorization",
        "range",
        "referer",
        "retry-after",
        "server",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "vary",
        "via",
        "warning",
        "www-authenticate",
        "method",
        "get",
        "status",
    ]
    words += ["200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive"]
    words += ["origin"]
    prefix = b"".join(len(w).to_bytes(4, "big") + w.encode() for w in words)
    tail = (
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417"
        "502504505203 Non-Authoritative Information204 No Content301 Moved Permanently"
        "400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error"
        "501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct "
        "Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,"
        "image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
        "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8"
        "charset=iso-8859-1,utf-,*,enq=0."
    )
    return prefix + tail.encode()


DICTIONARY = _dictionary()

_CONTROL = struct.Struct(">HHB3s")  # version|0x8000, type, flags, length
_DATA = struct.Struct(">LB3s")  # stream id, flags, length
_U32 = struct.Struct(">L")
_TWO_U32 = struct.Struct(">LL")


def encode_header_block(headers: Headers) -> bytes:
    """Uncompressed name/value block: names lowercase, several values NUL-separated."""
    parts = [_U32.pack(len(headers))]
    for name, values in headers.items():
        raw_name = name.lower().encode()
        raw_value = "\0".join(values).encode()
        parts += [_U32.pack(len(raw_name)), raw_name, _U32.pack(len(raw_value)), raw_value]
    return b"".join(parts)


def decode_header_block(block: bytes) -> Headers:
    try:
        (count,) = _U32.unpack_from(block, 0)
        if count > MAX_HEADER_PAIRS:
            raise ProtocolError(f"header block has {count} pairs (at most {MAX_HEADER_PAIRS})")
        offset = 4
        headers: Headers = {}
        for _ in range(count):
            name, offset = _length_prefixed(block, offset)
            value, offset = _length_prefixed(block, offset)
            text = name.decode()
            if not text or text != text.lower():
                raise ProtocolError(f"header name {text!r} is empty or not lowercase")
            if text in headers:
                raise ProtocolError(f"header {text!r} appears twice")
            headers[text] = value.decode().split("\0")
    except (struct.error, UnicodeDecodeError) as exc:
        raise ProtocolError(f"malformed header block: {exc}") from exc
    if offset != len(block):
        raise ProtocolError("trailing bytes after the header block")
    return headers


def _length_prefixed(block: bytes, offset: int) -> tuple[bytes, int]:
    (length,) = _U32.unpack_from(block, offset)
    start = offset + 4
    if start + length > len(block):
        raise ProtocolError("header block is truncated")
    return block[start : start + length], start + length


def encode_data(stream_id: int, data: bytes, max_payload: int, flags: int = 0) -> bytes:
    """DATA frames carrying ``data`` in payloads of at most ``max_payload`` bytes, as one
    buffer (one copy of the payload, one write); ``flags`` go on the last frame.

    DATA frames have no header block, so this needs no compression context.
    """
    stream_id &= 0x7FFFFFFF
    if len(data) <= max_payload:
        return b"".join((_DATA.pack(stream_id, flags, _u24(len(data))), data))
    view = memoryview(data)
    parts: list[bytes | memoryview] = []
    for start in range(0, len(view), max_payload):
        piece = view[start : start + max_payload]
        last = start + max_payload >= len(view)
        parts += [_DATA.pack(stream_id, flags if last else 0, _u24(len(piece))), piece]
    return b"".join(parts)


class FrameEncoder:
    """Serialises frames; owns the outbound header compression context."""

    def __init__(self) -> None:
        self._compressor = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zdict=DICTIONARY)

    def _headers(self, headers: Headers) -> bytes:
        block = self._compressor.compress(encode_header_block(headers))
        return block + self._compressor.flush(zlib.Z_SYNC_FLUSH)

    def encode(self, frame: Frame) -> bytes:
        match frame:
            case Data(stream_id, data, flags):
                return _DATA.pack(stream_id & 0x7FFFFFFF, flags, _u24(len(data))) + data
            case SynStream(stream_id, headers, associated_id, priority, flags):
                body = (
                    _TWO_U32.pack(stream_id, associated_id)
                    + bytes([(priority & 7) << 5, 0])
                    + self._headers(headers)
                )
                return _control(FrameType.SYN_STREAM, flags, body)
            case SynReply(stream_id, headers, flags):
                return _control(
                    FrameType.SYN_REPLY, flags, _U32.pack(stream_id) + self._headers(headers)
                )
            case HeadersFrame(stream_id, headers, flags):
                return _control(
                    FrameType.HEADERS, flags, _U32.pack(stream_id) + self._headers(headers)
                )
            case RstStream(stream_id, status):
                return _control(FrameType.RST_STREAM, 0, _TWO_U32.pack(stream_id, status))
            case Settings(entries, flags):
                body = _U32.pack(len(entries)) + b"".join(
                    bytes([f]) + i.to_bytes(3, "big") + _U32.pack(v) for f, i, v in entries
                )
                return _control(FrameType.SETTINGS, flags, body)
            case Ping(ping_id):
                return _control(FrameType.PING, 0, _U32.pack(ping_id))
            case GoAway(last_good, status):
                return _control(FrameType.GOAWAY, 0, _TWO_U32.pack(last_good, status))
            case WindowUpdate(stream_id, delta):
                return _control(FrameType.WINDOW_UPDATE, 0, _TWO_U32.pack(stream_id, delta))
        raise TypeError(f"not a SPDY frame: {frame!r}")


def _u24(value: int) -> bytes:
    if value >= 1 << 24:
        raise ValueError("frame payload over 16 MiB")
    return value.to_bytes(3, "big")


def _control(kind: FrameType, flags: int, body: bytes) -> bytes:
    return _CONTROL.pack(0x8000 | VERSION, kind, flags, _u24(len(body))) + body


class FrameParser:
    """Incremental decoder: feed bytes, get whole frames; owns the inbound header context."""

    def __init__(self, max_frame_length: int = MAX_FRAME_LENGTH) -> None:
        self._buffer = bytearray()
        self._max = max_frame_length
        self._decompressor = zlib.decompressobj(zdict=DICTIONARY)

    def feed(self, data: bytes) -> list[Frame]:
        # Whole frames are cut straight out of ``data`` (one copy of each
        # payload); only an incomplete tail is kept in the buffer.
        source: bytes | bytearray = data
        if self._buffer:
            self._buffer += data
            source = self._buffer
        frames: list[Frame] = []
        pos, end = 0, len(source)
        with memoryview(source) as view:
            while end - pos >= 8:
                length = int.from_bytes(view[pos + 5 : pos + 8], "big")
                if length > self._max:
                    raise ProtocolError(f"frame of {length} bytes (at most {self._max})")
                if end - pos < 8 + length:
                    break
                head = bytes(view[pos : pos + 8])
                body = bytes(view[pos + 8 : pos + 8 + length])
                pos += 8 + length
                frame = self._frame(head, body)
                if frame is not None:
                    frames.append(frame)
        if source is self._buffer:
            del self._buffer[:pos]
        else:
            self._buffer += data[pos:]
        return frames

    def _frame(self, head: bytes, body: bytes) -> Frame | None:
        if not head[0] & 0x80:
            stream_id, flags, _ = _DATA.unpack(head)
            if stream_id == 0:
                raise ProtocolError("data frame on stream 0")
            return Data(stream_id, body, flags)
        version, kind, flags, _ = _CONTROL.unpack(head)
        if version & 0x7FFF != VERSION:
            raise ProtocolError(f"SPDY version {version & 0x7FFF} (only {VERSION} is spoken)")
        try:
            return self._control_frame(kind, flags, body)
        except struct.error as exc:
            raise ProtocolError(f"control frame {kind} too short") from exc

    def _control_frame(self, kind: int, flags: int, body: bytes) -> Frame | None:
        match kind:
            case FrameType.SYN_STREAM:
                stream_id, associated = _TWO_U32.unpack_from(body)
                return SynStream(
                    _stream_id(stream_id),
                    self._headers(body[10:]),
                    associated & 0x7FFFFFFF,
                    body[8] >> 5,
                    flags,
                )
            case FrameType.SYN_REPLY:
                (stream_id,) = _U32.unpack_from(body)
                return SynReply(_stream_id(stream_id), self._headers(body[4:]), flags)
            case FrameType.HEADERS:
                (stream_id,) = _U32.unpack_from(body)
                return HeadersFrame(_stream_id(stream_id), self._headers(body[4:]), flags)
            case FrameType.RST_STREAM:
                stream_id, status = _TWO_U32.unpack_from(body)
                return RstStream(_stream_id(stream_id), status)
            case FrameType.SETTINGS:
                (count,) = _U32.unpack_from(body)
                if len(body) != 4 + 8 * count:
                    raise ProtocolError("SETTINGS length does not match its entry count")
                entries = tuple(
                    (
                        body[o],
                        int.from_bytes(body[o + 1 : o + 4], "big"),
                        _U32.unpack_from(body, o + 4)[0],
                    )
                    for o in range(4, len(body), 8)
                )
                return Settings(entries, flags)
            case FrameType.PING:
                return Ping(_U32.unpack_from(body)[0])
            case FrameType.GOAWAY:
                last, status = _U32.unpack_from(body)[0], 0
                if len(body) >= 8:
                    status = _U32.unpack_from(body, 4)[0]
                return GoAway(last & 0x7FFFFFFF, status)
            case FrameType.WINDOW_UPDATE:
                stream_id, delta = _TWO_U32.unpack_from(body)
                return WindowUpdate(stream_id & 0x7FFFFFFF, delta & 0x7FFFFFFF)
        return None  # unknown control frames are ignored, as the draft asks

    def _headers(self, compressed: bytes) -> Headers:
        try:
            block = self._decompressor.decompress(compressed, MAX_HEADER_BLOCK + 1)
        except zlib.error as exc:
            raise ProtocolError(f"header block does not decompress: {exc}") from exc
        if len(block) > MAX_HEADER_BLOCK or self._decompressor.unconsumed_tail:
            raise ProtocolError(f"header block over {MAX_HEADER_BLOCK} bytes")
        return decode_header_block(block)


def _stream_id(raw: int) -> int:
    stream_id = raw & 0x7FFFFFFF
    if stream_id == 0:
        raise ProtocolError("stream id 0")
    return stream_id
