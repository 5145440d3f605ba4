"""ThumbHash: a placeholder of an image in about 25 bytes, with its colours and aspect ratio.

Evan Wallace's encoder (github.com/evanw/thumbhash, MIT), `rgbaToThumbHash`, with its
pixel arithmetic done by libvips. The image is taken to luminance (L), yellow-blue (P),
red-green (Q) and alpha, composited over its average colour; each channel's lowest DCT
frequencies are kept, L with up to 7 along the longer side, so the hash also tells the
aspect ratio. Pages decode it with the reference decoders (JavaScript, Swift, Rust...).

The DCT is separable: every channel's rows are multiplied by the horizontal cosines in
one libvips matrix product, and only the few sums that leaves are taken in Python. The
same numbers as the reference up to floating-point rounding (tests/unit/test_thumbhash.py
checks the bytes against the reference's own output), in 1-2 ms of CPU for an opaque
100x100 (4-7 ms with alpha), not 7-10.

The same pixels give the same bytes on every run, whatever libvips' thread count: every
sum of fractions is taken in one fixed order (the matrix product is one loop, the rest is
Python's), and the sums behind the header's colours (each channel's mean, the average
colour weighted by alpha) are of whole numbers, exact in any order, and rounded exactly.
A term that exact arithmetic makes zero (every term of a flat channel, the vertical ones
of a picture that varies only across) comes out of the sums as float noise; it counts as
zero, so a flat channel has scale 0 and AC terms 0. The reference keeps the noise: its
hash of a flat picture has AC nibbles all over the range, which its decoders ignore (the
scale rounds to 0) and which differ between its ports (JavaScript's cosines and C's).
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
# The same of 8-bit RGB in whole numbers, exact: 765 L, 510 P and 255 Q.
_LPQ8 = [[1.0, 1.0, 1.0], [1.0, 1.0, -2.0], [1.0, -1.0, 0.0]]
_UNITS8: tuple[int, ...] = (765, 510, 255)  # (an opaque image has no alpha channel)
_UNITS: tuple[int, ...] = (1, 1, 1, 1)  # L, P, Q and alpha in 0..1

# A term at most this far from zero is zero. A term is a mean of at most 100x100 products
# of a channel's values (within -1..1) and two cosines: its double arithmetic errs by less
# than about (width + height) ulps, under 3e-14 (4.7e-16 measured on flat pictures and
# on pictures that vary one way only). Below this, only a rounding of noise could decide
# a nibble: which side of 7.5 (a zero's nibble, 0.5 of the scale) a zero falls, or, for a
# flat channel, the scale itself, by which the noise would be divided into full-range
# nibbles. Real terms are far larger: one 8-bit level of one opaque pixel moves a term by
# about 1e-6, and a pixel one level short of opaque, blended over the average colour, by
# about 1.5e-7; a real term smaller than this would round as 0 too.
NOISE = 4e-14


def encode(image: pyvips.Image) -> bytes:
    """The ThumbHash of an 8-bit sRGB `image` (RGB, or RGBA not premultiplied) that fits
    in 100x100."""
    width, height = image.width, image.height
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise ValueError(f"{width}x{height} does not fit in {MAX_SIDE}x{MAX_SIDE}")
    if image.bands not in (3, 4) or image.format != "uchar":
        raise ValueError(f"expected 8-bit RGB or RGBA, got {image.bands} band(s) of {image.format}")
    pixels = image.cast("double")  # double all through: the reference's precision
    count = width * height
    sums = [0, 0, 0, 255 * count]
    if image.bands == 4:
        # The sums of alpha * red, ..., and alpha, in 8-bit whole numbers: exact, whatever
        # order libvips' threads add them in (sums of fractions varied in their last bits
        # from run to run, and so did the hash). Column 2 of the stats (row 0: all bands).
        colour, alpha8 = image.extract_band(0, n=3), image.extract_band(3)
        stats = array("d")
        stats.frombytes((colour * alpha8).bandjoin(alpha8).stats().write_to_memory())
        sums = [int(s) for s in stats[10 + 2 :: 10]]
    has_alpha = sums[3] < 255 * count
    if has_alpha:  # composited over the average colour, weighted by alpha
        average = [s / (255 * sums[3]) if sums[3] else 0.0 for s in sums[:3]]
        rgb, alpha = pixels.extract_band(0, n=3) / 255, pixels.extract_band(3) / 255
        over = rgb * alpha + (1 - alpha) * average
        channels, units = over.recomb(_lpq(_LPQ, 3)).bandjoin(alpha), _UNITS
    else:  # as it is, any alpha band ignored (all 255)
        channels, units = pixels.recomb(_lpq(_LPQ8, image.bands)), _UNITS8

    l_limit = 5 if has_alpha else 7  # fewer luminance terms when alpha takes some room
    longest = max(width, height)
    lx = max(1, _round(l_limit * width / longest))
    ly = max(1, _round(l_limit * height / longest))
    # Which (nx, ny) terms each channel keeps: L, P, Q and, with alpha, A.
    shapes = [(max(3, lx), max(3, ly)), (3, 3), (3, 3)] + ([(5, 5)] if has_alpha else [])
    columns = max(nx for nx, _ in shapes)
    rows = _row_sums(channels, width, columns)
    per_channel = [rows[c :: len(shapes)] for c in range(len(shapes))]
    (l_ac, l_scale), (p_ac, p_scale), (q_ac, q_scale), *alpha_terms = (
        _terms(values, width, height, columns, *shape, unit)
        for values, shape, unit in zip(per_channel, shapes, units, strict=True)
    )

    # The DCs (each channel's mean) as exact fractions, rounded exactly: a colour's DC may
    # sit on a rounding edge (r - g = 170: Q's 31.5 + 31.5 * 2/3 = 52.5), where a sum's
    # last bit would decide. The mean of a colour composited over the alpha-weighted
    # average is that average: (sum of alpha * red) / (255 * sum of alpha).
    if has_alpha:
        red, green, blue, weight = sums
        l_sum, p_sum, q_sum = red + green + blue, red + green - 2 * blue, red - green
        weight = weight or 1  # all clear: every sum is 0
    else:  # the whole-number channels' sums (cx = 0: cosines of 1.0): exact
        l_sum, p_sum, q_sum = (int(sum(values[::columns])) for values in per_channel)
        weight = count
    landscape = width > height
    header24 = (
        _half_up(63 * l_sum, 765 * weight)
        | _half_up(63 * (510 * weight + p_sum), 1020 * weight) << 6
        | _half_up(63 * (255 * weight + q_sum), 510 * weight) << 12
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
        ((a_ac, a_scale),) = alpha_terms
        head.append(_half_up(15 * sums[3], 255 * count) | _round(15 * a_scale) << 4)
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


def _terms(
    rows: array[float], width: int, height: int, columns: int, nx: int, ny: int, unit: int
) -> tuple[list[float], float]:
    """The AC terms (normalised to 0..1) and their scale of one channel in 0..`unit`,
    from its row sums (`height` rows of `columns`: row y, column cx is the sum over x of
    the row against the horizontal cosine cx)."""
    ac = []
    total = width * height * unit
    for cy in range(ny):
        fy = _vertical(height, cy)
        for cx in range(1 if cy == 0 else 0, nx):
            if cx * ny >= nx * (ny - cy):  # the triangle the reference keeps
                break
            f = sum(map(mul, fy, rows[cx::columns])) / total
            ac.append(0.0 if abs(f) <= NOISE else f)
    scale = max(map(abs, ac), default=0.0)
    if scale:
        ac = [0.5 + 0.5 / scale * f for f in ac]
    return ac, scale


def _lpq(matrix: list[list[float]], bands: int) -> list[list[float]]:
    """`matrix` (RGB to L, P, Q) for `bands` bands: an alpha band ignored."""
    return [row + [0.0] * (bands - 3) for row in matrix]


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


def _half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator (> 0) rounded as Math.round rounds, exactly."""
    return (2 * numerator + denominator) // (2 * denominator)
