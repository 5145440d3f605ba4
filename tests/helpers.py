"""Helpers shared by the tests: the pure image core run the way the function runs it."""

from __future__ import annotations

import io
import math

import pyvips

from app.image import imaging, jpegdata


def decode(
    data: bytes, specs: tuple[imaging.SizeSpec, ...], max_pixels: int = 100_000_000
) -> pyvips.Image:
    """The one decode of the pure image core, through a streaming source as in the function."""
    scans = jpegdata.Stream(io.BytesIO(data).read)
    source = imaging.stream_source(scans.read)
    header = imaging.read_header(source, max_pixels, "test.img")
    image = imaging.decode(source, header, specs, "test.img", flatten=True)
    jpegdata.check(scans, "test.img")
    return image


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
    scans = jpegdata.Stream(io.BytesIO(data).read)
    source = imaging.stream_source(scans.read)
    header = imaging.read_header(source, max_pixels, "test.img")
    out = imaging.output_format(header, fmt)
    image = imaging.decode(
        source, header, specs, "test.img", flatten=not imaging.FORMATS[out].alpha
    )
    jpegdata.check(scans, "test.img")
    return [imaging.render(image, header, spec, out, quality, crop) for spec in specs]


def decode_thumbhash(hash_: bytes) -> tuple[float, tuple[float, float, float], list[list[float]]]:
    """The reference decoder (thumbHashToRGBA, evanw/thumbhash): aspect ratio, average
    colour (0..1) and the 32-pixel placeholder as rows of luminance."""
    header24 = hash_[0] | hash_[1] << 8 | hash_[2] << 16
    header16 = hash_[3] | hash_[4] << 8
    l_dc = (header24 & 63) / 63
    p_dc = ((header24 >> 6) & 63) / 31.5 - 1
    q_dc = ((header24 >> 12) & 63) / 31.5 - 1
    l_scale = ((header24 >> 18) & 31) / 31
    has_alpha = header24 >> 23
    landscape = header16 >> 15
    lx = max(3, (5 if has_alpha else 7) if landscape else header16 & 7)
    ly = max(3, header16 & 7 if landscape else (5 if has_alpha else 7))
    ratio_x = (5 if has_alpha else 7) if landscape else header16 & 7
    ratio_y = header16 & 7 if landscape else (5 if has_alpha else 7)
    start, index = (6 if has_alpha else 5), 0
    l_ac = []
    for cy in range(ly):
        cx = 0 if cy else 1
        while cx * ly < lx * (ly - cy):
            nibble = (hash_[start + (index >> 1)] >> ((index & 1) << 2)) & 15
            l_ac.append((nibble / 7.5 - 1) * l_scale)
            index += 1
            cx += 1
    ratio = ratio_x / ratio_y
    w = round(32 if ratio > 1 else 32 * ratio)
    h = round(32 / ratio if ratio > 1 else 32)
    rows = []
    for y in range(h):
        row = []
        for x in range(w):
            lum, j = l_dc, 0
            for cy in range(ly):
                cx = 0 if cy else 1
                fy2 = math.cos(math.pi / h * (y + 0.5) * cy) * 2
                while cx * ly < lx * (ly - cy):
                    lum += l_ac[j] * math.cos(math.pi / w * (x + 0.5) * cx) * fy2
                    cx, j = cx + 1, j + 1
            row.append(lum)
        rows.append(row)
    b = l_dc - 2 / 3 * p_dc
    r = (3 * l_dc - b + q_dc) / 2
    return ratio, (r, r - q_dc, b), rows
