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

import math

import pyvips

from app import fit, imaging
from app.errors import BadImage, InputTooLarge
from app.formats import FORMATS
from app.imaging import Header, SizeSpec
from app.loaders import why

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


def decode_bytes(header: Header) -> int:
    """What decoding every frame may hold at most: all of them, full size, RGBA."""
    return header.pages * header.width * header.height * FRAME_BANDS


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
        page_height = stack.get("page-height")
        pages = stack.height // page_height
        frames = [
            imaging.to_srgb(stack.crop(0, i * page_height, stack.width, page_height))
            for i in range(pages)
        ]
        timing = _timing(stack, pages)
        return _stacked(_resized(frames, width, height), timing)
    except pyvips.Error as error:
        raise BadImage(f"{name} could not be decoded ({why(error)})") from None


def sized(stack: pyvips.Image, header: Header, spec: SizeSpec, crop: str) -> pyvips.Image:
    """The decoded animation made to `spec`: every frame resized, then cut in one place."""
    page_height = stack.get("page-height")
    frames = [
        stack.crop(0, i * page_height, stack.width, page_height)
        for i in range(stack.height // page_height)
    ]
    frames = _resized(frames, *spec.scaled(header.width, header.height))
    width, height = spec.fit(header.width, header.height)
    if (width, height) != (frames[0].width, frames[0].height):
        left, top = fit.crop_offset(frames[0].copy_memory(), width, height, crop)
        frames = [frame.crop(left, top, width, height) for frame in frames]
    return _stacked(frames, _timing(stack, len(frames)))


def first_frame(stack: pyvips.Image) -> pyvips.Image:
    """The first frame of an animation, as a still image."""
    frame = stack.crop(0, 0, stack.width, stack.get("page-height")).copy_memory()
    frame.remove("page-height")
    return frame


def _mp(pixels: int) -> str:
    return f"{math.floor(pixels / 1e5) / 10:,g} MP"  # rounded down, as imaging says it


def _resized(frames: list[pyvips.Image], width: int, height: int) -> list[pyvips.Image]:
    if (frames[0].width, frames[0].height) == (width, height):
        return frames
    return [imaging.resize(frame, width, height) for frame in frames]


def _timing(stack: pyvips.Image, pages: int) -> tuple[list[int], int]:
    """The frame delays (ms) and the loop count (0: forever) that the stack records."""
    delay = list(stack.get("delay")) if stack.get_typeof("delay") else []
    delay = (delay + [100] * pages)[:pages]  # libvips' own default for a missing delay
    loop = int(stack.get("loop")) if stack.get_typeof("loop") else 0
    return delay, loop


def _stacked(frames: list[pyvips.Image], timing: tuple[list[int], int]) -> pyvips.Image:
    """Frames joined top to bottom, in memory, with the metadata of an animation."""
    stack = pyvips.Image.arrayjoin([f.cast("uchar") for f in frames], across=1).copy_memory()
    stack.set_type(pyvips.GValue.gint_type, "page-height", frames[0].height)
    stack.set_type(pyvips.GValue.array_int_type, "delay", timing[0])
    stack.set_type(pyvips.GValue.gint_type, "loop", timing[1])
    return stack
