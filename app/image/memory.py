"""What one object costs in memory, and the budget that the objects of one environment share.

Every object takes its estimate from the budget before it decodes and gives it back
after its last encode, so that objects processed at once never add up past the
function's memory; one that could never fit fails at once, with both numbers named.

The estimate is a model fitted to measurements (`python -m bench.memory`), not to
what a decoder ought to hold: per loader class, `fixed + per_pixel * pixels` (the
pixels of the upright image; of the canvas for an animation, of which only the first
frame is decoded), plus the input's bytes where the loader reads the whole object into
memory first, plus what encoding outputs larger than the measured ones adds, with a
margin. A baseline JPEG streams (about 10 MB at any size); an AVIF holds about 15
bytes a pixel (1.45 GB at 100 MP): a flat per-object figure would be wrong both ways.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from app.errors import InputTooLarge, TransientError
from app.image.imaging import Header, SizeSpec
from app.record import Record

MB = 1024 * 1024
# What the runtime, the libraries and their thread pools take beside the objects: the
# handler process holds 68 MB fresh and 120-150 MB warm after hundreds of objects; the
# worst four objects at once then peaked at 729 MB at 1024 MB (bench/memory.py).
RESERVED_BYTES = 256 * MB
# Over the fitted line: the measured peaks vary by a few percent from run to run.
MARGIN = 1.1


class Cost(Record):
    """What one object adds to a warm process's peak RSS: `fixed + per_pixel * pixels`."""

    fixed: int
    per_pixel: float
    reads_whole: bool = False  # the loader maps the whole object: its bytes count too


# Fitted by bench/memory.py (2026-11-22; docs/performance.md shows the table): the peak RSS that
# one `pipeline.process` adds to a warm process (VmHWM after, less VmRSS before), default
# settings (300,600,900 wide, OUTPUT_FORMAT source), 2 cores, MALLOC_ARENA_MAX=2,
# libvips 8.18 (pyvips-binary), at 1, 4, 16, 48 and 100 MP (4:3). per_pixel is the
# least-squares slope, rounded up; fixed puts every measured peak at or under the line.
# Each comment gives the peaks measured at 1 / 16 / 100 MP, in MB, and what is held.
COSTS: dict[str, Cost] = {
    # 6-15 MB at any size: libjpeg streams, the DCT-scaled rows are reduced as they come.
    "jpeg": Cost(24 * MB, 0.0),
    # Ultra HDR (a gain map inside): 9 / 10 (4 MP) / 0.1 MB measured on 2026-12-06 at 1 / 4
    # / 16 MP (bench/memory.py's "jpeg ultra hdr", default widths): the base streams as
    # any baseline JPEG; the gain map (a quarter the size, one band) is decoded whole at
    # the same DCT scale, and libultrahdr reads the file whole. Counted as its bitmap
    # at full scale with 2.5x margin (0.5 bytes a pixel), and the file's bytes.
    "jpeg gain map": Cost(24 * MB, 0.5, reads_whole=True),
    # 10 / 95 / 578 (4:4:4): every DCT coefficient, 2 bytes a sample.
    "jpeg progressive": Cost(16 * MB, 6.0),
    # 8 / 54 / 292 at 4:2:0 (2.95 bytes a pixel); libvips calls every subsampled
    # JPEG 4:2:0, and a 4:2:2 one holds 4/3 as much: 4 bytes a pixel.
    "jpeg progressive subsampled": Cost(24 * MB, 4.0),
    # 6 / 31 / 80 (8-bit RGB): streams; what grows is the resize's line buffers.
    "png": Cost(24 * MB, 0.8),
    # 9 / 77 / 370: the whole bitmap, then the resize.
    "png interlaced": Cost(24 * MB, 3.8),
    # 28 / 141 / 372 (16-bit RGBA): streams, but premultiplied alpha is resized in float.
    "png deep or alpha": Cost(96 * MB, 3.5),
    # 33 / 248 / 1130 (16-bit RGBA): the 16-bit bitmap and the float resize.
    "png interlaced deep or alpha": Cost(80 * MB, 11.5),
    # Lossy 6 / 6 / 7 (libwebp decodes scaled), lossless 10 / 64 / 385 (the whole
    # ARGB bitmap); the header does not tell them apart. With alpha, lossless 23 / 64 /
    # 383, lossy 27 / 53 / 275 (its 85 MB file in memory).
    "webp": Cost(24 * MB, 4.0, reads_whole=True),
    # 3 small frames on the canvas 24 / 102 / 476, 2 full frames 16 / 63 / 384: the
    # canvas, composited in RGBA. Only the first frame is decoded, whatever the count.
    "webp animated": Cost(40 * MB, 4.6, reads_whole=True),
    # 34 / 238 / 1432 (689 at 48 MP): libheif's YUV planes, the decoder's frame
    # buffers and the RGB bitmap. Four 48 MP AVIFs at once need 2.8 GB.
    "heif": Cost(16 * MB, 15.0, reads_whole=True),
    # 10-bit RGBA: 55 / 331 (905 at 48 MP): 16-bit planes.
    "heif deep or alpha": Cost(24 * MB, 20.5, reads_whole=True),
    # 27 / 86 / 458: libnsgif's RGBA frame and libvips' copy of it.
    "gif": Cost(24 * MB, 4.6, reads_whole=True),
    # 2 frames 44 / 101 (266 at 48 MP): as a still, and the previous frame for disposal.
    "gif animated": Cost(40 * MB, 5.1, reads_whole=True),
    # Strips 9 / 38 / 78, tiles 12 / 26 / 64. But a TIFF may hold its whole image in
    # one strip or tile, which libtiff decodes at once, and the header does not say:
    # count the bitmap. The file is read whole: a 48 MB 16 MP TIFF of noise peaked at
    # 80 MB, 42 above a smooth one.
    "tiff": Cost(24 * MB, 3.0, reads_whole=True),
    # Not measured (any other loader libvips lets through): as if it held the image
    # as a float RGBA bitmap, and its input.
    "other": Cost(64 * MB, 16.0, reads_whole=True),
}

# Bytes per output pixel that a copy holds (the decode at its size, the resize and the
# encoder), counted for every copy, as they are encoded at once: what a wide
# RESIZE_WIDTHS adds. Measured by bench/memory.py, a 16 MP input to one 4000x3000 copy
# against the default widths: JPEG 7.9, PNG 1.9, WebP 6.6, AVIF 23.5, GIF 6.8.
ENCODE_PER_PIXEL: dict[str, float] = {
    "jpeg": 8.0,
    "png": 3.0,
    "webp": 7.0,
    "avif": 24.0,
    "gif": 8.0,
}


def cost_class(header: Header) -> str:
    """The measured class `header`'s decode falls in (the dearer one where the header
    cannot tell: a WebP may be lossless, a JPEG's 4:2:0 may be 4:2:2)."""
    deep_or_alpha = header.sample_bytes > 1 or header.bands in (2, 4)
    if header.kind == "uhdr":  # a progressive base holds its coefficients, as any JPEG's
        return "jpeg progressive" if header.interlaced else "jpeg gain map"
    if header.kind == "jpeg":
        if not header.interlaced:
            return "jpeg"
        return "jpeg progressive subsampled" if header.subsampled else "jpeg progressive"
    if header.kind == "png":
        name = "png interlaced" if header.interlaced else "png"
        return f"{name} deep or alpha" if deep_or_alpha else name
    if header.kind == "webp":
        return "webp animated" if header.pages > 1 else "webp"
    if header.kind == "heif":
        return "heif deep or alpha" if deep_or_alpha else "heif"
    if header.kind == "gif":
        return "gif animated" if header.pages > 1 else "gif"
    if header.kind == "tiff":
        return "tiff"
    return "other"


def estimate(
    header: Header, input_bytes: int | None, specs: tuple[SizeSpec, ...], fmts: tuple[str, ...]
) -> int:
    """The bytes that decoding `header`'s image and encoding it to `specs` in each of
    `fmts` add to the process's peak (`input_bytes`: the object's size, where known).
    Every copy (size and format) is encoded in a thread of its own, so all at once."""
    cost = COSTS[cost_class(header)]
    pixels = header.width * header.height
    if header.kind == "jpeg" and header.interlaced:
        pixels = pixels * max(header.bands, 3) // 3  # one coefficient plane per component
    total = cost.fixed + cost.per_pixel * pixels
    if cost.reads_whole and input_bytes:
        total += 2 * input_bytes  # a buffer grown by doubling: up to twice the object
    out = sum(w * h for w, h in (spec.fit(header.width, header.height) for spec in specs))
    worst = max(ENCODE_PER_PIXEL.values())
    total += sum(ENCODE_PER_PIXEL.get(fmt, worst) for fmt in fmts) * out
    return int(total * MARGIN)


class MemoryBudget:
    """`total` bytes that objects may hold at once (None: no limit, as on a laptop)."""

    def __init__(self, total: int | None) -> None:
        self.total = total
        self._free = total or 0
        self._cond = threading.Condition()
        if total is not None:
            # Found now, at cold start: a limited budget trims after every object. An
            # unlimited one (the command's) never does, and never loads ctypes.
            _malloc_trim()

    @classmethod
    def for_lambda(cls, memory_size_mb: str | None) -> MemoryBudget:
        """The budget of a function of `memory_size_mb` (AWS_LAMBDA_FUNCTION_MEMORY_SIZE)."""
        if not memory_size_mb or not memory_size_mb.isdigit():
            return cls(None)
        return cls(max(0, int(memory_size_mb) * MB - RESERVED_BYTES))

    @contextmanager
    def hold(self, needed: int, name: str, until: float | None = None) -> Iterator[None]:
        """Hold `needed` bytes while the block runs; wait while others hold too much, but
        never past `until` (a `time.monotonic()` value: the work's deadline)."""
        if self.total is None or needed == 0:
            yield
            return
        if needed > self.total:
            raise InputTooLarge(
                f"{name} needs about {needed / MB:,.0f} MB to decode; the function can give "
                f"{self.total / MB:,.0f} MB (its memory size less {RESERVED_BYTES // MB} MB): "
                "raise the memory size or lower MAX_INPUT_PIXELS"
            )
        with self._cond:
            wait = None if until is None else max(0.0, until - time.monotonic())
            if not self._cond.wait_for(lambda: self._free >= needed, timeout=wait):
                # Its download is still open: the caller closes it on the way out.
                raise TransientError(
                    f"{name} waited for {needed / MB:,.0f} MB of memory until the Lambda "
                    f"deadline: other objects held {(self.total - self._free) / MB:,.0f} of "
                    f"{self.total / MB:,.0f} MB; left for a retry"
                )
            self._free -= needed
        try:
            yield
        finally:
            release_freed()  # before the next object starts on what this one held
            with self._cond:
                self._free += needed
                self._cond.notify_all()


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, where the C library has one (not musl, not macOS)."""
    import ctypes  # here: only a process that trims needs it (see MemoryBudget)

    try:
        # The symbols the process has loaded, libc's among them: no search for the
        # library (ctypes.util.find_library runs ldconfig, ~4 ms of every cold start).
        libc = ctypes.CDLL(None)
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    return trim


def release_freed() -> None:
    """Give the memory freed inside malloc's arenas back to the system.

    glibc keeps what an object freed for reuse, and the next, larger object cannot
    always use it: a warm process's RSS rose from 136 to 266 MB over 300 invocations of
    small objects and stayed there; trimmed as each object gives its budget back, 400
    objects keep it within 122-151 MB, and four 100 MP interlaced PNGs taken in turn
    peaked at 1384 MB instead of 1508. It walks the arenas: 0.2 ms in a fresh process.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
