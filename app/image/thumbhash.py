"""ThumbHash: a placeholder of an image in about 25 bytes, with its colours and aspect ratio.

Evan Wallace's encoder (github.com/evanw/thumbhash, MIT), `rgbaToThumbHash`, with its
pixel arithmetic done by libvips. The image is taken to luminance (L), yellow-blue (P),
red-green (Q) and alpha, composited over its average colour; each channel's lowest DCT
frequencies are kept, L with up to 7 along the longer side, so the hash also tells the
aspect ratio. Pages decode it with the reference decoders (JavaScript, Swift, Rust...).

The DCT is separable: every channel's rows are multiplied by the horizontal cosines in
one libvips matrix product, and only the few sums that leaves are taken in Python. The
same numbers as the reference up to floating-point rounding (tests/unit/test_thumbhash.py
checks the bytes against the reference's own output), in 1-2 ms of CPU, not 7-10.

The same pixels give the same bytes on every run, whatever libvips' thread count: every
sum of fractions is taken in one fixed order (the matrix product is one loop; the rest is
Python's), and the alpha-weighted average is a sum of integers, exact in any order. A
term that exact arithmetic makes zero (every term of a flat channel, the vertical terms
of a picture that varies only across) comes out as float noise; it counts as zero, so a
flat channel has scale 0 and AC terms 0, where the noise would otherwise be scaled up to
full-range nibbles (the reference port keeps it: its flat hashes carry noise the decoder
ignores, as their scale rounds to 0).
"""

from __future__ import annotations

import math
from array import array
from functools import lru_cache
from operator import mul

import pyvips

MAX_SIDE = 100  # the reference refuses larger images: they take longer for the same hash

# RGB (0..1) to L, P, Q, as the reference: (r+g+b)/3, (r+g)/2-b, r-g.
_LPQ = [[1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, -1.0], [1.0, -1.0, 0.0]]

# A term at most this far from zero is zero. A term is a mean of at most 100x100 products
# of a channel's values (within -1..1) and two cosines: its double arithmetic errs by less
# than about (width + height) ulps, under 3e-14 (2.4e-16 measured on flat images). One
# 8-bit level of one pixel moves a term by far more (the least real term measured on
# random images: 9e-7). Below this, only a rounding of noise could decide a nibble: which
# side of 7.5 (a zero's nibble, 0.5 of the scale) a zero falls, or, for a flat channel, the
# scale itself, by which the noise would be divided into full-range nibbles.
NOISE = 1e-12


def encode(image: pyvips.Image) -> bytes:
    """The ThumbHash of an 8-bit sRGB `image` (RGB, or RGBA not premultiplied) that fits
    in 100x100."""
    width, height = image.width, image.height
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise ValueError(f"{width}x{height} does not fit in {MAX_SIDE}x{MAX_SIDE}")
    if image.bands not in (3, 4) or image.format != "uchar":
        raise ValueError(f"expected 8-bit RGB or RGBA, got {image.bands} band(s) of {image.format}")
    pixels = image.cast("double")  # double all through: the reference's precision
    has_alpha = False
    if image.bands == 4:
        # The average colour, weighted by alpha, from sums of 8-bit integers (alpha * red
        # ..., and alpha): exact, whatever order libvips' threads add them in. Sums of the
        # same values as fractions varied in their last bits from run to run, and so did
        # the hash. Each band's sum is the stats' column 2 (row 0 is all bands together).
        colour, alpha8 = image.extract_band(0, n=3), image.extract_band(3)
        stats = array("d")
        stats.frombytes((colour * alpha8).bandjoin(alpha8).stats().write_to_memory())
        sums = stats[10 + 2 :: 10]
        total_a = sums[3]  # 255 an opaque pixel
        has_alpha = total_a < 255 * width * height
    if has_alpha:  # composited over the average colour
        rgb, alpha = pixels.extract_band(0, n=3) / 255, pixels.extract_band(3) / 255
        average = [s / (255 * total_a) if total_a else 0.0 for s in sums[:3]]
        over = rgb * alpha + (1 - alpha) * average
        channels = over.recomb(_lpq(3, 1.0)).bandjoin(alpha)
    else:  # as it is, any alpha band ignored (all 255)
        channels = pixels.recomb(_lpq(image.bands, 255.0))

    l_limit = 5 if has_alpha else 7  # fewer luminance terms when alpha takes some room
    longest = max(width, height)
    lx = max(1, _round(l_limit * width / longest))
    ly = max(1, _round(l_limit * height / longest))
    # Which (nx, ny) terms each channel keeps: L, P, Q and, with alpha, A.
    shapes = [(max(3, lx), max(3, ly)), (3, 3), (3, 3)] + ([(5, 5)] if has_alpha else [])
    columns = max(nx for nx, _ in shapes)
    rows = _row_sums(channels, width, columns)
    coefficients = [
        _channel(rows[c :: len(shapes)], width, height, columns, *shape)
        for c, shape in enumerate(shapes)
    ]
    (l_dc, l_ac, l_scale), (p_dc, p_ac, p_scale), (q_dc, q_ac, q_scale) = coefficients[:3]

    landscape = width > height
    header24 = (
        _round(63 * l_dc)
        | _round(31.5 + 31.5 * p_dc) << 6
        | _round(31.5 + 31.5 * q_dc) << 12
        | _round(31 * l_scale) << 18
        | int(has_alpha) << 23
    )
    header16 = (
        (ly if landscape else lx)
        | _round(63 * p_scale) << 3
        | _round(63 * q_scale) << 9
        | int(landscape) << 15
    )
    head = [header24 & 255, (header24 >> 8) & 255, header24 >> 16, header16 & 255, header16 >> 8]
    factors = [l_ac, p_ac, q_ac]
    if has_alpha:
        a_dc, a_ac, a_scale = coefficients[3]
        head.append(_round(15 * a_dc) | _round(15 * a_scale) << 4)
        factors.append(a_ac)
    nibbles = [_round(15 * f) for ac in factors for f in ac]
    nibbles += [0] * (len(nibbles) % 2)
    return bytes(head + [lo | hi << 4 for lo, hi in zip(nibbles[0::2], nibbles[1::2], strict=True)])


def _row_sums(channels: pyvips.Image, width: int, columns: int) -> array[float]:
    """Every row of every channel (band) against the first `columns` horizontal cosines,
    in one libvips matrix product: the bands laid side by side along each row (x * bands
    + band) times a block matrix of cosines. Row y, column cx * bands + band of the
    result, row by row."""
    product = channels.bandunfold().matrixmultiply(_cosines(width, channels.bands, columns))
    sums = array("d")
    sums.frombytes(product.write_to_memory())
    return sums


def _channel(
    rows: array[float], width: int, height: int, columns: int, nx: int, ny: int
) -> tuple[float, list[float], float]:
    """The DC term, the AC terms (normalised to 0..1) and their scale, of one channel,
    from its row sums (`height` rows of `columns`: row y, column cx is the sum over x of
    the row against the horizontal cosine cx)."""
    dc, ac = 0.0, []
    for cy in range(ny):
        fy = _vertical(height, cy)
        for cx in range(nx):
            if cx * ny >= nx * (ny - cy):  # the triangle the reference keeps
                break
            f = sum(map(mul, fy, rows[cx::columns])) / (width * height)
            if abs(f) <= NOISE:
                f = 0.0
            if cx or cy:
                ac.append(f)
            else:
                dc = f
    scale = max((abs(f) for f in ac), default=0.0)
    if scale:
        ac = [0.5 + 0.5 / scale * f for f in ac]
    return dc, ac, scale


def _lpq(bands: int, unit: float) -> list[list[float]]:
    """The recombination of `bands` bands (an alpha band ignored) of pixels in 0..`unit`
    into L, P, Q in 0..1."""
    return [[v / unit for v in row] + [0.0] * (bands - 3) for row in _LPQ]


@lru_cache(maxsize=16)
def _cosines(width: int, bands: int, columns: int) -> pyvips.Image:
    """The block matrix taking a row of `bands` interleaved channels to each channel's
    sums against cos(pi / width * cx * (x + 0.5)), cx < `columns`: (x * bands + b) rows
    by (cx * bands + b) columns, zero where the bands differ."""
    cos = [
        [math.cos(math.pi / width * cx * (x + 0.5)) for cx in range(columns)] for x in range(width)
    ]
    return pyvips.Image.new_from_array(
        [
            [cos[x][cx] if b == c else 0.0 for cx in range(columns) for c in range(bands)]
            for x in range(width)
            for b in range(bands)
        ]
    )


@lru_cache(maxsize=64)
def _vertical(height: int, cy: int) -> tuple[float, ...]:
    """cos(pi / height * cy * (y + 0.5)) for every row y."""
    return tuple(math.cos(math.pi / height * cy * (y + 0.5)) for y in range(height))


def _round(value: float) -> int:
    """JavaScript's Math.round (halves go up), which the reference uses."""
    return math.floor(value + 0.5)
