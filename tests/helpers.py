"""Helpers shared by the tests: the pure image core run the way the function runs it."""

from __future__ import annotations

import io
import math
from collections.abc import Callable

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


def _js_round(value: float) -> int:
    """JavaScript's Math.round: the nearest integer, halves up."""
    whole = math.floor(value)
    return whole + (value - whole >= 0.5)


def encode_thumbhash(
    width: int, height: int, rgba: bytes, zero: Callable[[int, int], bool] | None = None
) -> bytes:
    """The reference encoder (rgbaToThumbHash, evanw/thumbhash js/thumbhash.js at a652ce6)
    line for line, in Python's doubles, on `rgba` (8-bit, not premultiplied, row by row).

    `zero(cx, cy)` names the terms that are 0 in exact arithmetic for the picture at hand
    (every one of a flat picture, the vertical ones of a picture that varies only across):
    they are taken as 0, where the reference keeps the float noise its sums leave."""
    n = width * height
    avg_r = avg_g = avg_b = avg_a = 0.0
    for j in range(0, 4 * n, 4):
        alpha = rgba[j + 3] / 255
        avg_r += alpha / 255 * rgba[j]
        avg_g += alpha / 255 * rgba[j + 1]
        avg_b += alpha / 255 * rgba[j + 2]
        avg_a += alpha
    if avg_a:
        avg_r, avg_g, avg_b = avg_r / avg_a, avg_g / avg_a, avg_b / avg_a
    has_alpha = avg_a < n
    l_limit = 5 if has_alpha else 7
    lx = max(1, _js_round(l_limit * width / max(width, height)))
    ly = max(1, _js_round(l_limit * height / max(width, height)))
    lum, p, q, a = [], [], [], []  # luminance, yellow - blue, red - green, alpha
    for j in range(0, 4 * n, 4):
        alpha = rgba[j + 3] / 255
        r = avg_r * (1 - alpha) + alpha / 255 * rgba[j]
        g = avg_g * (1 - alpha) + alpha / 255 * rgba[j + 1]
        b = avg_b * (1 - alpha) + alpha / 255 * rgba[j + 2]
        lum.append((r + g + b) / 3)
        p.append((r + g) / 2 - b)
        q.append(r - g)
        a.append(alpha)

    def encode_channel(values: list[float], nx: int, ny: int) -> tuple[float, list[float], float]:
        dc, ac, scale = 0.0, [], 0.0
        for cy in range(ny):
            cx = 0
            while cx * ny < nx * (ny - cy):
                fx = [math.cos(math.pi / width * cx * (x + 0.5)) for x in range(width)]
                f = 0.0
                for y in range(height):
                    fy = math.cos(math.pi / height * cy * (y + 0.5))
                    for x in range(width):
                        f += values[x + y * width] * fx[x] * fy
                f /= n
                if (cx or cy) and zero is not None and zero(cx, cy):
                    f = 0.0
                if cx or cy:
                    ac.append(f)
                    scale = max(scale, abs(f))
                else:
                    dc = f
                cx += 1
        if scale:
            ac = [0.5 + 0.5 / scale * f for f in ac]
        return dc, ac, scale

    l_dc, l_ac, l_scale = encode_channel(lum, max(3, lx), max(3, ly))
    p_dc, p_ac, p_scale = encode_channel(p, 3, 3)
    q_dc, q_ac, q_scale = encode_channel(q, 3, 3)
    landscape = width > height
    header24 = (
        _js_round(63 * l_dc)
        | _js_round(31.5 + 31.5 * p_dc) << 6
        | _js_round(31.5 + 31.5 * q_dc) << 12
        | _js_round(31 * l_scale) << 18
        | has_alpha << 23
    )
    header16 = (
        (ly if landscape else lx)
        | _js_round(63 * p_scale) << 3
        | _js_round(63 * q_scale) << 9
        | landscape << 15
    )
    hash_ = [header24 & 255, (header24 >> 8) & 255, header24 >> 16, header16 & 255, header16 >> 8]
    factors = [l_ac, p_ac, q_ac]
    if has_alpha:
        a_dc, a_ac, a_scale = encode_channel(a, 5, 5)
        hash_.append(_js_round(15 * a_dc) | _js_round(15 * a_scale) << 4)
        factors.append(a_ac)
    start, index = len(hash_), 0
    for ac in factors:
        for f in ac:
            if start + (index >> 1) == len(hash_):
                hash_.append(0)
            hash_[start + (index >> 1)] |= _js_round(15 * f) << ((index & 1) << 2)
            index += 1
    return bytes(hash_)
