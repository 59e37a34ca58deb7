"""Docker's multiplexed stdio stream (``stdcopy``), decoded incrementally without copying.

A non-TTY exec or attach connection carries frames of an 8-byte header
(stream: 1 stdout, 2 stderr; three zero bytes; big-endian u32 length) and
the payload. :class:`Demuxer` turns whatever bytes arrive into
``(stream, memoryview)`` slices of those same bytes, so the output path
copies each byte once (when it is framed for the client), not per layer.
A header split across reads is kept until it is whole. With a TTY there is
no framing: everything is stdout.

Pure code, no I/O.
"""

from __future__ import annotations

import struct

STDOUT = 1
STDERR = 2

_HEADER = struct.Struct(">BxxxL")
HEADER_SIZE = _HEADER.size


class Demuxer:
    def __init__(self, tty: bool) -> None:
        self._tty = tty
        self._header = bytearray()  # a header split across reads
        self._stream = STDOUT
        self._left = 0  # payload bytes of the current frame still to come

    def feed(self, data: bytes) -> list[tuple[int, memoryview]]:
        """The payload slices in ``data``, in order (views into ``data``)."""
        view = memoryview(data)
        if self._tty:
            return [(STDOUT, view)] if data else []
        slices: list[tuple[int, memoryview]] = []
        pos, end = 0, len(view)
        while pos < end:
            if self._left:
                take = min(self._left, end - pos)
                slices.append((self._stream, view[pos : pos + take]))
                pos += take
                self._left -= take
            elif not self._header and end - pos >= HEADER_SIZE:
                self._stream, self._left = _HEADER.unpack_from(view, pos)
                pos += HEADER_SIZE
            else:
                take = min(HEADER_SIZE - len(self._header), end - pos)
                self._header += view[pos : pos + take]
                pos += take
                if len(self._header) == HEADER_SIZE:
                    self._stream, self._left = _HEADER.unpack(self._header)
                    self._header.clear()
        return slices
