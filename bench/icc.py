"""ICC profiles for test and benchmark images: libvips' own sRGB and Display P3, and
others rewritten from them tag by tag (Adobe RGB (1998), sRGB written another way).

A profile is a 128-byte header, a tag table and the tags; `rewritten` keeps the header
and every tag of its base but the ones it is given.
"""

from __future__ import annotations

import struct

import pyvips

# Adobe RGB (1998): its colorants adapted to D50 (as the PCS wants) and gamma 563/256.
ADOBE_RGB_COLORANTS = (
    (0.60974, 0.31111, 0.01947),
    (0.20528, 0.62567, 0.06087),
    (0.14919, 0.06322, 0.74457),
)
ADOBE_RGB_GAMMA = 563 / 256
# sRGB's colorants as IEC 61966-2-1 gives them, for D65: lcms reads colorants as D50,
# so a profile holding these is not sRGB, whatever it is called.
SRGB_D65_COLORANTS = (
    (0.4124, 0.2126, 0.0193),
    (0.3576, 0.7152, 0.1192),
    (0.1805, 0.0722, 0.9505),
)


def builtin(name: str) -> bytes:
    """libvips' built-in profile `srgb`, `p3` or `cmyk`."""
    pixel = pyvips.Image.black(1, 1, bands=3).copy(interpretation="srgb")
    return bytes(pixel.icc_export(output_profile=name).get("icc-profile-data"))


def adobe_rgb() -> bytes:
    return rewritten(
        builtin("srgb"), colorants=ADOBE_RGB_COLORANTS, trc=gamma_curve(ADOBE_RGB_GAMMA)
    )


def srgb_as_table(entries: int = 1024) -> bytes:
    """sRGB with its tone curve as a table (`curv`), as many cameras write it."""
    return rewritten(builtin("srgb"), trc=table_curve(_srgb_decode, entries))


def srgb_d65() -> bytes:
    return rewritten(builtin("srgb"), colorants=SRGB_D65_COLORANTS)


def rewritten(
    base: bytes,
    colorants: tuple[tuple[float, float, float], ...] | None = None,
    trc: bytes | None = None,
) -> bytes:
    """`base` with other colorants (rXYZ, gXYZ, bXYZ) and tone curve (r/g/bTRC)."""
    (count,) = struct.unpack_from(">I", base, 128)
    tags: dict[bytes, bytes] = {}
    for i in range(count):
        signature, offset, size = struct.unpack_from(">4sII", base, 132 + 12 * i)
        tags[signature] = base[offset : offset + size]
    if colorants:
        for name, xyz in zip((b"rXYZ", b"gXYZ", b"bXYZ"), colorants, strict=True):
            tags[name] = b"XYZ \0\0\0\0" + struct.pack(">3i", *(round(v * 65536) for v in xyz))
    if trc:
        for name in (b"rTRC", b"gTRC", b"bTRC"):
            tags[name] = trc
    table, body = b"", b""
    start = 128 + 4 + 12 * len(tags)
    for signature, data in tags.items():
        table += struct.pack(">4sII", signature, start + len(body), len(data))
        body += data + b"\0" * (-len(data) % 4)
    profile = bytearray(base[:128] + struct.pack(">I", len(tags)) + table + body)
    struct.pack_into(">I", profile, 0, len(profile))
    profile[84:100] = bytes(16)  # the profile ID (an MD5) no longer holds: none
    return bytes(profile)


def gamma_curve(gamma: float) -> bytes:
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"


def table_curve(decode: object, entries: int) -> bytes:
    values = [round(decode(i / (entries - 1)) * 65535) for i in range(entries)]  # type: ignore[operator]
    return b"curv\0\0\0\0" + struct.pack(f">I{entries}H", entries, *values)


def _srgb_decode(x: float) -> float:
    return x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4
