"""Is an embedded ICC profile sRGB in all but name? Decided from what it does, not what
it is called.

Most photos that carry a profile carry sRGB's (phones, cameras set to sRGB, editors'
exports), and a colour transform through it changes no pixel by more than lcms' own
rounding. So the profile's tag table is read (a few lines of pure Python, no lcms):
an RGB matrix/TRC profile (colorants and tone curves, no lookup tables, which a
transform would take instead) is sRGB when its tone curves, at every level, and the
colours it gives, on a grid of 9 levels a channel (729 colours), stay within a level of
what libvips' own sRGB profile gives. Anything else (Display P3, Adobe RGB, ProPhoto, a
LUT profile, a grey or CMYK one, an sRGB profile with unadapted D65 colorants, which
lcms reads as D50) is transformed as before. Decided once per distinct profile: about
6 ms for an sRGB one (the transform of a 900x506 copy costs as much), nothing for a
far-off one.
"""

from __future__ import annotations

import bisect
import functools
import struct
import threading
from collections.abc import Callable

import pyvips

from app.digest import sha256_digest

Curve = Callable[[float], float]
Matrix = tuple[tuple[float, float, float], ...]  # rows X, Y, Z; columns r, g, b

# Within a level of 255, before rounding: the 8-bit result is the transform's or next to
# it. sRGB profiles differ in their last digits (Google's "sRGB Gamut with sRGB Transfer"
# against libvips' own: 0.8 of a level, in pure green's red, where the curve is steepest).
TOLERANCE = 1 / 255
GRID = [i / 8 for i in range(9)]
_LUT_TAGS = (b"A2B0", b"A2B1", b"A2B2", b"D2B0", b"D2B1", b"D2B2")


def is_srgb(profile: bytes) -> bool:
    """True when a transform from `profile` to sRGB would leave every colour as it is."""
    data = bytes(profile)
    # Keyed on a digest: a profile can be megabytes (LUT profiles up to ~16 MB), and the
    # cache holds only the answers, not 32 such profiles.
    digest = sha256_digest(data)
    with _SEEN_LOCK:
        known = _SEEN.get(digest)
    if known is None:
        known = _is_srgb(data)
        with _SEEN_LOCK:
            _SEEN[digest] = known
            while len(_SEEN) > _SEEN_MAX:
                del _SEEN[next(iter(_SEEN))]  # the oldest answer first
    return known


_SEEN: dict[bytes, bool] = {}
_SEEN_LOCK = threading.Lock()
_SEEN_MAX = 32


def _is_srgb(profile: bytes) -> bool:
    shaper = _matrix_trc(profile)
    reference = _reference()
    if shaper is None or reference is None:
        return False
    (matrix, curves), (ref_matrix, to_rgb, inverses) = shaper, reference
    # Far-off colorants (P3, Adobe RGB, ...) need no more than a glance.
    pairs = zip(sum(matrix, ()), sum(ref_matrix, ()), strict=True)
    if any(abs(a - b) > 0.01 for a, b in pairs):
        return False
    try:
        # Each tone curve at every level, then the colorants on a grid of colours.
        for curve, inverse in zip(curves, inverses, strict=True):
            if any(abs(inverse(curve(i / 255)) - i / 255) > TOLERANCE for i in range(256)):
                return False
        levels = [[curve(x) for x in GRID] for curve in curves]
    except (ValueError, OverflowError, ZeroDivisionError, TypeError):
        return False
    for ri, r in enumerate(GRID):
        for gi, g in enumerate(GRID):
            for bi, b in enumerate(GRID):
                linear = (levels[0][ri], levels[1][gi], levels[2][bi])
                xyz = [sum(row[k] * linear[k] for k in range(3)) for row in matrix]
                rgb = [sum(row[k] * xyz[k] for k in range(3)) for row in to_rgb]
                for value, expected, inverse in zip(rgb, (r, g, b), inverses, strict=True):
                    # Compare in the encoded space, where a level is a level.
                    if abs(inverse(value) - expected) > TOLERANCE:
                        return False
    return True


@functools.lru_cache(maxsize=1)
def _reference() -> tuple[Matrix, Matrix, tuple[Curve, Curve, Curve]] | None:
    """libvips' built-in sRGB profile, read the same way: its colorants, their inverse,
    and its tone curves' inverses."""
    pixel = pyvips.Image.black(1, 1, bands=3).copy(interpretation="srgb")
    profile = pixel.icc_export(output_profile="srgb").get("icc-profile-data")
    shaper = _matrix_trc(bytes(profile))
    if shaper is None:
        return None
    matrix, curves = shaper
    inverses = (_inverse_curve(curves[0]), _inverse_curve(curves[1]), _inverse_curve(curves[2]))
    return matrix, _inverse(matrix), inverses


def _matrix_trc(profile: bytes) -> tuple[Matrix, tuple[Curve, Curve, Curve]] | None:
    """The colorant matrix and tone curves of an RGB matrix/TRC profile, else None."""
    if len(profile) < 132 or profile[36:40] != b"acsp" or profile[16:24] != b"RGB XYZ ":
        return None
    (count,) = struct.unpack_from(">I", profile, 128)
    tags: dict[bytes, bytes] = {}
    for i in range(min(count, 200)):
        if 132 + 12 * (i + 1) > len(profile):
            return None
        signature, offset, size = struct.unpack_from(">4sII", profile, 132 + 12 * i)
        tags[signature] = profile[offset : offset + size]
    if any(tag in tags for tag in _LUT_TAGS):
        return None
    try:
        columns = [_xyz(tags[name]) for name in (b"rXYZ", b"gXYZ", b"bXYZ")]
        curves = [_curve(tags[name]) for name in (b"rTRC", b"gTRC", b"bTRC")]
    except (KeyError, struct.error):
        return None
    if any(curve is None for curve in curves):
        return None
    matrix = tuple(tuple(column[row] for column in columns) for row in range(3))
    return matrix, (curves[0], curves[1], curves[2])  # type: ignore[return-value]


def _xyz(tag: bytes) -> tuple[float, float, float]:
    if tag[:4] != b"XYZ ":
        raise struct.error("not an XYZ tag")
    x, y, z = struct.unpack_from(">iii", tag, 8)
    return x / 65536, y / 65536, z / 65536


def _curve(tag: bytes) -> Curve | None:
    """A `curv` (identity, gamma or table) or `para` (ICC types 0-4) tone curve."""
    kind = tag[:4]
    if kind == b"curv":
        (count,) = struct.unpack_from(">I", tag, 8)
        if count == 0:
            return lambda x: x
        if count == 1:
            gamma = struct.unpack_from(">H", tag, 12)[0] / 256
            return lambda x: x**gamma
        table = [v / 65535 for v in struct.unpack_from(f">{count}H", tag, 12)]
        return lambda x: _interpolate(table, x)
    if kind == b"para":
        (function,) = struct.unpack_from(">H", tag, 8)
        needed = {0: 1, 1: 3, 2: 4, 3: 5, 4: 7}.get(function)
        if needed is None:
            return None
        p = [v / 65536 for v in struct.unpack_from(f">{needed}i", tag, 12)]
        g, a, b, c, d, e, f = p + [0.0] * (7 - len(p))
        if function == 0:
            return lambda x: x**g
        if function == 1:
            return lambda x: (a * x + b) ** g if x >= -b / a else 0.0
        if function == 2:
            return lambda x: (a * x + b) ** g + c if x >= -b / a else c
        if function == 3:
            return lambda x: (a * x + b) ** g if x >= d else c * x
        return lambda x: (a * x + b) ** g + e if x >= d else c * x + f
    return None


def _interpolate(table: list[float], x: float) -> float:
    position = min(max(x, 0.0), 1.0) * (len(table) - 1)
    low = int(position)
    high = min(low + 1, len(table) - 1)
    return table[low] + (table[high] - table[low]) * (position - low)


def _inverse_curve(curve: Curve) -> Curve:
    """The inverse of a rising tone curve, from a table of 4,097 steps, clipped to [0, 1]."""
    steps = 4096
    table = [curve(i / steps) for i in range(steps + 1)]

    def inverse(value: float) -> float:
        high = bisect.bisect_left(table, value)
        if high == 0:
            return 0.0
        if high > steps:
            return 1.0
        low_value, high_value = table[high - 1], table[high]
        share = (value - low_value) / (high_value - low_value) if high_value > low_value else 0
        return (high - 1 + share) / steps

    return inverse


def _inverse(m: Matrix) -> Matrix:
    (a, b, c), (d, e, f), (g, h, i) = m
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    return (
        ((e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det),
        ((f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det),
        ((d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det),
    )


# Wide gamut: a colour the profile makes lies outside sRGB's gamut when it needs a
# negative amount of an sRGB primary. Display P3's green needs -0.22 of sRGB's red,
# Adobe RGB's -0.34; sRGB profiles written another way stay within a few thousandths.
# Apple's "Generic RGB Profile" (gamma 1.8, old Macs' default) reaches -0.026: clipped
# to sRGB its green moves by 2.6 (CIE76), which its 2 KB profile in every copy
# is not worth; it is converted to sRGB as before.
WIDE_MARGIN = 0.05
# A wide profile up to this size, with colorants and tone curves only (no lookup
# tables), travels with the copies as it is (Display P3, Adobe RGB, ProPhoto: 0.5-1 KB);
# a larger one, or one with tables, has its copies made Display P3.
COMPACT_BYTES = 4096
# Red, green, blue, cyan, magenta, yellow: the corners of an RGB profile's gamut.
_CORNERS = bytes([255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 255, 255, 255, 0, 255, 255, 255, 0])


def is_wide(profile: bytes) -> bool:
    """True when `profile` is an RGB profile that reaches colours outside sRGB.

    Decided from the colours it makes (its gamut's corners, through lcms), not from its
    name; once per distinct profile. An unreadable profile is not wide (it is then
    transformed to sRGB as before, which says what is wrong with it).
    """
    return _is_wide(bytes(profile))


def is_compact(profile: bytes) -> bool:
    """True when `profile` can travel with every copy as it is: small, colorants and curves."""
    return len(profile) <= COMPACT_BYTES and _matrix_trc(bytes(profile)) is not None


@functools.lru_cache(maxsize=32)
def _is_wide(profile: bytes) -> bool:
    if len(profile) < 132 or profile[36:40] != b"acsp" or profile[16:20] != b"RGB ":
        return False
    try:
        corners = _corners_xyz(profile)
    except pyvips.Error:
        return False
    to_srgb = _inverse(_srgb_columns())
    for xyz in corners:
        linear = [sum(row[k] * xyz[k] for k in range(3)) for row in to_srgb]
        if min(linear) < -WIDE_MARGIN:
            return True
    return False


@functools.lru_cache(maxsize=1)
def _srgb_columns() -> Matrix:
    """sRGB's primaries in libvips' XYZ, as columns: the basis that wide colours leave."""
    red, green, blue = _corners_xyz(_builtin("srgb"))[:3]
    return tuple((red[row], green[row], blue[row]) for row in range(3))


def _corners_xyz(profile: bytes) -> list[tuple[float, float, float]]:
    """The XYZ (libvips' scale) of the profile's six corner colours."""
    corners = pyvips.Image.new_from_memory(_CORNERS, 6, 1, 3, "uchar").copy(interpretation="srgb")
    corners.set_type(pyvips.GValue.blob_type, "icc-profile-data", profile)
    xyz = corners.icc_import(embedded=True, intent="relative", pcs="xyz")
    return [(xyz(i, 0)[0], xyz(i, 0)[1], xyz(i, 0)[2]) for i in range(6)]


def name(profile: bytes | None) -> str:
    """What a copy's colours are: `sRGB` with no profile, else the profile's own
    description (`Display P3`, `Adobe RGB (1998)`), at most 64 characters."""
    if profile is None:
        return "sRGB"
    profile = bytes(profile)
    if profile == _builtin("p3"):
        return "Display P3"  # libvips' own, which calls itself `sP3C`
    return _description(profile) or "ICC profile"


@functools.lru_cache(maxsize=2)
def _builtin(name: str) -> bytes:
    """libvips' built-in profile `name` (srgb, p3)."""
    pixel = pyvips.Image.black(1, 1, bands=3).copy(interpretation="srgb")
    return bytes(pixel.icc_export(output_profile=name).get("icc-profile-data"))


@functools.lru_cache(maxsize=32)
def _description(profile: bytes) -> str | None:
    """The `desc` tag: ICC v2's `desc` (ASCII) or v4's `mluc` (its first record)."""
    try:
        (count,) = struct.unpack_from(">I", profile, 128)
        for i in range(min(count, 200)):
            signature, offset, size = struct.unpack_from(">4sII", profile, 132 + 12 * i)
            if signature != b"desc":
                continue
            tag = profile[offset : offset + size]
            if tag[:4] == b"desc":
                (length,) = struct.unpack_from(">I", tag, 8)
                text = tag[12 : 12 + length].split(b"\0")[0].decode("latin-1")
            elif tag[:4] == b"mluc":
                length, start = struct.unpack_from(">II", tag, 20)
                text = tag[start : start + length].decode("utf-16-be", "replace")
            else:
                return None
            text = "".join(c for c in text if c.isprintable()).strip()
            return text[:64] or None
    except (struct.error, UnicodeDecodeError):
        return None
    return None
