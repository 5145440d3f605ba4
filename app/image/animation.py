"""Animated GIF and WebP kept animated (ANIMATION=keep): every frame decoded, resized, cropped.

An animation is held as libvips holds one: its frames stacked top to bottom in one
image whose `page-height` is a frame's height, with `delay` (ms per frame) and `loop`
(0: forever). Each frame is resized on its own (a resize of the whole stack would blend
the edges of neighbouring frames), and a cover crop cuts every frame at the place
chosen on the first, so the picture does not jump between frames.

Limits, from the header before any frame is decoded: at most MAX_FRAMES frames, and
all frames together at most MAX_INPUT_PIXELS, the limit of one still image, as the
decode holds them all (a 500x500 GIF may have 400 frames; a 1920x1080 one, 48).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator

import pyvips

from app.errors import BadImage, InputTooLarge
from app.image import fit, imaging
from app.image.formats import FORMATS
from app.image.imaging import Header, SizeSpec
from app.image.loaders import why

# Input formats whose animations are kept (libvips reads every frame of these).
KINDS = ("gif", "webp")
# What a decoded frame holds per pixel: libvips decodes GIF and animated WebP as RGBA.
FRAME_BANDS = 4


def kept(header: Header, how: str, fmts: tuple[str, ...]) -> bool:
    """True if this image's frames are all decoded: ANIMATION=keep, an animated GIF or
    WebP, and at least one output format that can hold an animation."""
    return (
        how == "keep"
        and header.pages > 1
        and header.kind in KINDS
        and any(FORMATS[fmt].animated for fmt in fmts)
    )


def check(header: Header, max_frames: int, max_pixels: int, name: str) -> None:
    """Refuse, from the header, an animation with too many frames or pixels in all."""
    if header.pages > max_frames:
        raise InputTooLarge(
            f"{name} is an animation of {header.pages:,} frames; limit is {max_frames:,} "
            "(MAX_FRAMES) with ANIMATION=keep"
        )
    pixels = header.pages * header.width * header.height
    if pixels > max_pixels:
        raise InputTooLarge(
            f"{name} is an animation of {header.pages:,} frames of "
            f"{header.width}x{header.height} ({_mp(pixels)} in all); limit is "
            f"{_mp(max_pixels)} for all frames together (MAX_INPUT_PIXELS) "
            "with ANIMATION=keep"
        )


def decode_bytes(header: Header, specs: tuple[SizeSpec, ...]) -> int:
    """What the frames may hold at most: every frame at the source's size (as a GIF
    decoder may) and at each spec's size, RGBA. Measured: a 60-frame 1280x720 GIF made
    to 300, 600 and 900 wide peaked 211 MB above the runtime; this says 391 MB."""
    sizes = [spec.fit(header.width, header.height) for spec in specs]
    pixels = header.width * header.height + sum(w * h for w, h in sizes)
    return header.pages * pixels * FRAME_BANDS


def decode(
    source: pyvips.Source, header: Header, specs: tuple[SizeSpec, ...], name: str
) -> pyvips.Image:
    """Every frame, each reduced to the largest size any spec needs, sRGB, 8-bit, in memory."""
    width, height = max(
        (s.scaled(header.width, header.height) for s in specs), key=lambda wh: wh[0]
    )
    try:
        stack = pyvips.Operation.call(
            header.loader, source, n=-1, access="sequential", fail_on=imaging.FAIL_ON
        )
        frames = (imaging.to_srgb(frame) for frame in _frames(stack))
        return _stacked(_resized(frames, width, height), _timing(stack))
    except pyvips.Error as error:
        raise BadImage(f"{name} could not be decoded ({why(error, header.loader)})") from None


def sized(stack: pyvips.Image, header: Header, spec: SizeSpec, crop: str) -> pyvips.Image:
    """The decoded animation made to `spec`: every frame resized, then cut in one place."""
    scaled = spec.scaled(header.width, header.height)
    width, height = spec.fit(header.width, header.height)
    if (width, height) == (stack.width, stack.get("page-height")):
        return stack  # already this size: nothing to copy
    frames = _resized(_frames(stack), *scaled)
    if (width, height) != scaled:
        first = next(frames)
        left, top = fit.crop_offset(first, width, height, crop)
        frames = (f.crop(left, top, width, height) for f in itertools.chain([first], frames))
    return _stacked(frames, _timing(stack))


def first_frame(stack: pyvips.Image) -> pyvips.Image:
    """The first frame of an animation, as a still image."""
    frame = stack.crop(0, 0, stack.width, stack.get("page-height")).copy_memory()
    frame.remove("page-height")
    return frame


def _mp(pixels: int) -> str:
    return f"{math.floor(pixels / 1e5) / 10:,g} MP"  # rounded down, as imaging says it


def _frames(stack: pyvips.Image) -> Iterator[pyvips.Image]:
    page_height = stack.get("page-height")
    for top in range(0, stack.height - page_height + 1, page_height):
        yield stack.crop(0, top, stack.width, page_height)


def _resized(frames: Iterable[pyvips.Image], width: int, height: int) -> Iterator[pyvips.Image]:
    """Each frame resized on its own and held, one after the other (in the order a
    sequential decoder reads them, and so that only one frame's work is in flight)."""
    for frame in frames:
        if (frame.width, frame.height) != (width, height):
            frame = imaging.resize(frame, width, height)
        yield frame.copy_memory()


def _timing(stack: pyvips.Image) -> tuple[list[int], int]:
    """The frame delays (ms) and the loop count (0: forever) that the stack records."""
    pages = stack.height // stack.get("page-height")
    delay = list(stack.get("delay")) if stack.get_typeof("delay") else []
    delay = (delay + [100] * pages)[:pages]  # libvips' own default for a missing delay
    loop = int(stack.get("loop")) if stack.get_typeof("loop") else 0
    return delay, loop


def _stacked(frames: Iterable[pyvips.Image], timing: tuple[list[int], int]) -> pyvips.Image:
    """Frames joined top to bottom, in memory, with the metadata of an animation.

    Joined as bytes, each frame dropped once copied: an arrayjoin of every frame's
    pipeline would run them all at once (3x the memory of the frames, measured).
    """
    pixels = bytearray()
    first: pyvips.Image | None = None
    for frame in frames:
        frame = frame.cast("uchar")
        first = first or frame
        pixels += frame.write_to_memory()
    assert first is not None  # an animation has frames
    height = len(pixels) // (first.width * first.bands)
    stack = pyvips.Image.new_from_memory(pixels, first.width, height, first.bands, "uchar").copy(
        interpretation=first.interpretation
    )
    stack.set_type(pyvips.GValue.gint_type, "page-height", first.height)
    stack.set_type(pyvips.GValue.array_int_type, "delay", timing[0])
    stack.set_type(pyvips.GValue.gint_type, "loop", timing[1])
    return stack
