"""Is an upload a HEIC photo (HEIF holding HEVC)? Told from its first bytes, before any decoder.

libvips' wheel reads HEIF holding AV1 (AVIF) but has no HEVC decoder, so a HEIC goes to
`app/image/heic.py` (pillow-heif, in the HEIC image variant) instead. A HEIF file starts with
an `ftyp` box whose brands name the codec: heic, heix, heim, heis (images) and hevc,
hevx, hevm, hevs (sequences) for HEVC; avif, avis for AV1. Files that name only the
generic mif1/msf1 brands tell by their item properties: an `hvcC` (HEVC) or `av1C` (AV1)
configuration in `meta/iprp/ipco`, which encoders write near the start.

`Peeked` reads those first bytes ahead of the decoder and gives them again, so a
stream is still read once, in order.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

HEVC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
AV1_BRANDS = frozenset({b"avif", b"avis"})
# Enough for the ftyp box and, in the files seen, the meta box that follows it.
PEEK_BYTES = 16 * 1024


class Peeked:
    """`read(n)` over another `read(n)` whose first `size` bytes were read ahead (`head`)."""

    def __init__(self, read: Callable[[int], bytes], size: int = PEEK_BYTES) -> None:
        chunks, got = [], 0
        while got < size:
            chunk = read(size - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        self.head = b"".join(chunks)
        self._pending = memoryview(self.head)
        self._read = read

    def read(self, size: int) -> bytes:
        """Up to `size` bytes: the head first, then the rest of the stream."""
        if self._pending:
            chunk, self._pending = self._pending[:size], self._pending[size:]
            return bytes(chunk)
        return self._read(size)

    def rest(self, chunk: int = 1024 * 1024) -> bytes:
        """Every byte not yet read, to the end of the stream."""
        parts = [bytes(self._pending)]
        self._pending = memoryview(b"")
        while data := self._read(chunk):
            parts.append(data)
        return b"".join(parts)


def is_hevc(head: bytes) -> bool:
    """True if `head`, the first bytes of a file, is HEIF whose image is HEVC-coded."""
    if head[4:8] != b"ftyp":
        return False
    size = struct.unpack(">I", head[:4])[0]
    if size < 16 or size > len(head):
        return False
    major = head[8:12]
    brands = {major} | {head[i : i + 4] for i in range(16, size - 3, 4)}
    if major in HEVC_BRANDS:
        return True
    if major in AV1_BRANDS or brands & AV1_BRANDS:
        return False
    if brands & HEVC_BRANDS:
        return True
    # mif1/msf1 only: the codec's configuration among the item properties.
    configs = {kind for kind, _, _ in _boxes(head, size, len(head), ("meta", "iprp", "ipco"))}
    return b"hvcC" in configs and b"av1C" not in configs


def _boxes(
    data: bytes, start: int, end: int, path: tuple[str, ...]
) -> Iterator[tuple[bytes, int, int]]:
    """The boxes inside the box at `path` (from the top level between start and end)."""
    for kind, body, stop in _children(data, start, end):
        if not path:
            yield kind, body, stop
        elif kind == path[0].encode():
            # meta is a full box: a version and flags come before its children.
            yield from _boxes(data, body + (4 if kind == b"meta" else 0), stop, path[1:])


def _children(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, body start, body end) of each whole box between `start` and `end`."""
    at = start
    while at + 8 <= end:
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        header = 8
        if size == 1 and at + 16 <= end:  # a 64-bit size follows the type
            size, header = struct.unpack(">Q", data[at + 8 : at + 16])[0], 16
        elif size == 0:  # to the end of the file
            size = end - at
        if size < header or at + size > end:
            return  # cut off by the peek, or damaged: what follows is unknown
        yield kind, at + header, at + size
        at += size
