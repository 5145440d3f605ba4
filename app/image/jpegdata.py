"""A JPEG's structure, read as its bytes stream to the decoder: untidy bytes dropped, scans checked.

libjpeg says two different things with one kind of message, a warning:

- *untidy*: "N extraneous bytes before marker" (bytes between two segments, where a
  marker was due). Photoshop and older cameras write them; every browser shows the file,
  and the pixels are all there. The bytes are dropped here, where libjpeg would skip
  them, so the decoder never warns of them.
- *damaged*: "premature end of data segment" (a scan cut by a marker), "premature end of
  JPEG file", a bad Huffman code. Data is missing; the decoder's warning still fails it
  (imaging.FAIL_ON).

One kind of damage makes no warning at all: a progressive (or multi-scan) JPEG whose
scans stop early, with an end marker after them, decodes into a blurred or colourless
picture. So every scan's header (SOS: its components, spectral range Ss..Se and
successive approximation Ah/Al) is read on the way past, and `incomplete` says which
component's coefficients were never sent, or never refined to their last bit. libjpeg's
own encoder refuses to write such a file (jcmaster.c: JERR_MISSING_DATA), so a complete
photo passes. The check reads headers only: it costs no second decode, and the search
for markers in the scans' data is a C regex search (about 6 ms for a 4 MB photo, within
the noise of its ~250 ms decode at 900 wide on the corpus photos).

Anything after the end-of-image marker (a trailer, an MPF gain map) passes untouched.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from app.errors import BadImage

_SOI = b"\xff\xd8"
_EOI = 0xD9
_SOS = 0xDA
# Frame headers: sequential (baseline, extended, arithmetic), progressive, lossless.
_SEQUENTIAL = {0xC0, 0xC1, 0xC9}
_PROGRESSIVE = {0xC2, 0xCA}
_LOSSLESS = {0xC3, 0xCB}
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM, RST0-7: no length follows
# In entropy-coded data a marker is 0xFF then a code other than a stuffed zero or a
# restart marker (or a fill 0xFF before the code). A pattern that starts with a literal
# byte is searched for at memchr speed (a 4 MB photo's scans: about 6 ms, against
# 80 with a leading `\xff+`).
_MARKER_IN_DATA = re.compile(rb"\xff[^\x00\xd0-\xd7]")
_COEFFICIENTS = 64
_CHUNK = 64 * 1024


def check(stream: Stream, name: str) -> None:
    """Refuse `name` if the scans its decoder read leave part of the picture out."""
    if reason := stream.incomplete():
        raise BadImage(
            f"{name} is damaged: its JPEG scans end before the picture is complete ({reason})"
        )


class Stream:
    """`read(n)` over another `read(n)`, dropping the bytes between a JPEG's segments that
    libjpeg would skip with a warning, and noting every scan's header on the way.

    A stream that does not start as a JPEG passes untouched. libvips calls `read` from C,
    where a Python exception cannot pass: what this does not understand is passed on as
    it is, for the decoder to judge.
    """

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._read = read
        self._buffer = bytearray()  # read, not yet judged
        self._ready = bytearray()  # judged, not yet handed to the decoder
        self._state = "start"  # start, marker, segment, entropy, through
        self._left = 0  # bytes of the current segment still to pass
        self._ended = False
        self.jpeg = False
        self.dropped = 0  # extraneous bytes removed between segments
        self._frame: int | None = None  # the SOF marker's code
        self._components: list[int] = []
        # component id -> for each coefficient, the lowest bit sent so far (None: not sent)
        self._bits: dict[int, list[int | None]] = {}

    def read(self, size: int) -> bytes:
        """Up to `size` bytes for the decoder; b"" only at the end of the stream."""
        while not self._ready and not (self._ended and not self._buffer):
            if not self._ended:
                chunk = self._read(max(size, _CHUNK))
                if chunk:
                    self._buffer += chunk
                else:
                    self._ended = True
            self._judge()
        out = bytes(self._ready[:size])
        del self._ready[:size]
        return out

    def incomplete(self) -> str | None:
        """What the scans read so far leave out of the picture, or None if nothing (or
        if this is not a JPEG, or its frame is of a kind not checked here)."""
        if self._frame is None:
            return None
        count = len(self._components)
        for number, component in enumerate(self._components, 1):
            bits = self._bits[component]
            which = f"component {number} of {count}" if count > 1 else "the image"
            unsent = [k for k, bit in enumerate(bits) if bit is None]
            if len(unsent) == _COEFFICIENTS:
                return f"no scan carries {which}"
            if unsent:
                return f"{which} lacks coefficients {_spans(unsent)}"
            coarse = [k for k, bit in enumerate(bits) if bit]
            if coarse:
                return f"{which} has coefficients {_spans(coarse)} not refined to their last bit"
        return None

    def _judge(self) -> None:
        """Move what the buffer holds to `_ready` (or drop it), as far as it can be judged."""
        buf, ready, final = self._buffer, self._ready, self._ended
        i = 0
        while i < len(buf):
            if self._state == "through":
                ready += buf[i:]
                i = len(buf)
            elif self._state == "start":
                if len(buf) < 2 and not final:
                    break
                self.jpeg = buf[:2] == _SOI
                self._state = "marker" if self.jpeg else "through"
                if self.jpeg:
                    ready += buf[:2]
                    i = 2
            elif self._state == "segment":
                n = min(self._left, len(buf) - i)
                ready += buf[i : i + n]
                i += n
                self._left -= n
                if not self._left:
                    self._state = "marker"
            elif self._state == "entropy":
                found = _MARKER_IN_DATA.search(buf, i)
                if found is None:
                    end = len(buf)
                    while not final and end > i and buf[end - 1] == 0xFF:
                        end -= 1  # a marker may begin here: its code is in the next chunk
                    ready += buf[i:end]
                    i = end
                    break
                ready += buf[i : found.start()]
                i = found.start()
                self._state = "marker"
            else:
                moved = self._marker(buf, i, final)
                if moved == i:
                    break
                i = moved
        del buf[:i]

    def _marker(self, buf: bytearray, i: int, final: bool) -> int:
        """Where a marker is due at `i`: skip what libjpeg's next_marker() skips (bytes
        that are not 0xFF, a stuffed 0xFF00), pass the marker and its segment's header;
        return how far it got (`i` if it needs more bytes)."""
        start = buf.find(0xFF, i)
        if start < 0:
            self.dropped += len(buf) - i
            return len(buf)
        self.dropped += start - i
        code_at = start
        while code_at < len(buf) and buf[code_at] == 0xFF:
            code_at += 1  # fill bytes: legal before any marker
        if code_at == len(buf):
            return self._through(buf, start) if final else start
        code = buf[code_at]
        if code == 0x00:
            self.dropped += code_at + 1 - start
            return code_at + 1
        if code in _STANDALONE or code == _SOI[1]:
            self._ready += buf[start : code_at + 1]
            return code_at + 1
        if code == _EOI:
            self._ready += buf[start : code_at + 1]
            self._state = "through"
            return code_at + 1
        if len(buf) < code_at + 3:
            return self._through(buf, start) if final else start
        length = buf[code_at + 1] << 8 | buf[code_at + 2]
        if length < 2:
            return self._through(buf, start)
        end = code_at + 1 + length
        if code in (_SOS, *_SEQUENTIAL, *_PROGRESSIVE, *_LOSSLESS):
            if len(buf) < end:  # read the whole header before judging it
                return self._through(buf, start) if final else start
            self._header(code, bytes(buf[code_at + 3 : end]))
            self._ready += buf[start:end]
            self._state = "entropy" if code == _SOS else "marker"
            return end
        self._ready += buf[start : code_at + 3]
        self._left = length - 2
        self._state = "segment" if self._left else "marker"
        return code_at + 3

    def _through(self, buf: bytearray, i: int) -> int:
        """Pass the rest on as it is: the decoder judges what is not understood here."""
        self._ready += buf[i:]
        self._state = "through"
        return len(buf)

    def _header(self, code: int, payload: bytes) -> None:
        """Note a frame's components, or what a scan sends of them."""
        if code != _SOS:
            if self._frame is None and len(payload) >= 6:
                count = payload[5]
                offsets = range(6, min(6 + 3 * count, len(payload)), 3)
                self._components = [payload[at] for at in offsets]
                self._bits = {c: [None] * _COEFFICIENTS for c in self._components}
                self._frame = code
            return
        if self._frame is None or not payload:
            return
        count = payload[0]
        if len(payload) < 1 + 2 * count + 3:
            return
        ids = [payload[1 + 2 * n] for n in range(count)]
        start, end, approximation = payload[1 + 2 * count : 4 + 2 * count]
        high, low = approximation >> 4, approximation & 0x0F
        for component in ids:
            bits = self._bits.get(component)
            if bits is None:
                continue  # a scan of a component the frame lacks: libjpeg refuses it
            if self._frame not in _PROGRESSIVE:
                bits[:] = [0] * _COEFFICIENTS  # a sequential (or lossless) scan sends all
                continue
            for k in range(start, min(end, _COEFFICIENTS - 1) + 1):
                if high == 0 and bits[k] is None:
                    bits[k] = low  # the first scan of these coefficients
                elif high and bits[k] == high:
                    bits[k] = low  # a refinement, one bit further


def _spans(indexes: list[int]) -> str:
    """`[1, 2, 3, 7]` -> `1-3, 7`."""
    spans: list[list[int]] = []
    for k in indexes:
        if spans and spans[-1][1] == k - 1:
            spans[-1][1] = k
        else:
            spans.append([k, k])
    return ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in spans)
