"""Helpers shared by the tests: the pure image core run the way the function runs it."""

from __future__ import annotations

import io
import math

import pyvips

from app import imaging


def decode(
    data: bytes, specs: tuple[imaging.SizeSpec, ...], max_pixels: int = 100_000_000
) -> pyvips.Image:
    """The one decode of the pure image core, through a streaming source as in the function."""
    source = imaging.stream_source(io.BytesIO(data).read)
    header = imaging.read_header(source, max_pixels, "test.img")
    return imaging.decode(source, header, specs, "test.img", flatten=True)


def psnr(image: pyvips.Image, ideal: pyvips.Image) -> float:
    """Peak signal-to-noise ratio of `image` against `ideal`, in dB (8-bit scale)."""
    mse = ((image.cast("float") - ideal) ** 2).avg()
    return 99.0 if mse == 0 else 10 * math.log10(255**2 / mse)


def render(
    data: bytes,
    specs: tuple[imaging.SizeSpec, ...] = (),
    fmt: str = "source",
    quality: int = 80,
    max_pixels: int = 100_000_000,
    crop: str = "attention",
) -> list[imaging.Rendition]:
    """The pure image core on bytes, through a streaming source as in the function."""
    specs = specs or tuple(imaging.SizeSpec(w) for w in (300, 600, 900))
    source = imaging.stream_source(io.BytesIO(data).read)
    header = imaging.read_header(source, max_pixels, "test.img")
    out = imaging.output_format(header, fmt)
    image = imaging.decode(
        source, header, specs, "test.img", flatten=not imaging.FORMATS[out].alpha
    )
    return [imaging.render(image, header, spec, out, quality, crop) for spec in specs]
