"""Output formats: what S3 and naming need of each, OUTPUT_FORMATS for one image, the encoders.

Every encoder's settings live in `encode`, in one place. AV1 (AVIF) is the costly
one: libvips hands libheif's aom encoder `VIPS_CONCURRENCY` threads (all cores when
unset) and it holds about 32 bytes per output pixel on top of ~5 MB while it runs
(900x506 at effort 2: 14 MB peak, 0.3-0.5 s of one core; effort 1, the default, holds
the same for 0.63x the CPU; effort 4: 21 MB, ~4 s).
"""

from __future__ import annotations

import itertools
import os
import threading

import pyvips

from app.record import Record


class Format(Record):
    """What naming and S3 need to know of an output format."""

    extension: str
    content_type: str
    alpha: bool  # False: transparency is flattened onto white
    animated: bool = False  # can hold every frame of an animation


FORMATS: dict[str, Format] = {
    "jpeg": Format("jpg", "image/jpeg", alpha=False),
    "png": Format("png", "image/png", alpha=True),
    "webp": Format("webp", "image/webp", alpha=True, animated=True),
    "avif": Format("avif", "image/avif", alpha=True),
    "gif": Format("gif", "image/gif", alpha=True, animated=True),
}

# What OUTPUT_FORMATS may list: `source` keeps the input's format (GIF included,
# which is never forced: its 256 colours only suit what was a GIF already).
CHOICES = ("source", *(f for f in FORMATS if f != "gif"))

# Encoder effort: libwebp's method and libheif/aom's effort (0-9, speed 9 - effort),
# each the cheapest whose bytes at equal SSIMULACRA2 score are within 3% of the next
# effort's (bench/formats.py, 2026-11-22, 5 corpus photos x 300/600/900, a quiet run;
# docs/performance.md has the table): WebP 3 is 7.5% smaller than 2 for 2x its
# CPU, and 4 no smaller than 3 (5: 3% smaller for 1.15x); AVIF 2 is 2.6% smaller than
# 1 for 1.53x its CPU (0: 15% larger for 0.27x; 4: 15% smaller for 10x).
WEBP_EFFORT = 3
AVIF_EFFORT = 1

# QUALITY is JPEG's quality; WebP and AVIF get the quality whose SSIMULACRA2 score equals
# JPEG's there, linear between rows. Measured by bench/formats.py (`scripts/bench.sh
# --formats`; metric: the ssimulacra2 package, a port of libjxl's) on 2026-11-22: medians
# over the 5 corpus photos x 300/600/900 wide, at the efforts above. At 300 wide the
# same score comes at lower qualities (JPEG 80: WebP 70, AVIF 60; at 600 and 900: 85-86
# and 68). Neither reaches JPEG 95's score (WebP 100 scores 89, AVIF 90 about 90):
# there both get 100. The ends (1 and 100) are anchored, not measured.
EQUAL_QUALITY: tuple[tuple[int, int, int], ...] = (
    # JPEG, WebP, AVIF
    (1, 1, 1),
    (30, 37, 36),
    (50, 55, 47),
    (65, 73, 55),
    (80, 83, 65),
    (90, 98, 87),
    (95, 100, 100),
    (100, 100, 100),
)


class Quality(Record):
    """Each lossy encoder's own quality setting (1-100), for copies that look alike."""

    jpeg: int
    webp: int
    avif: int

    @classmethod
    def matching(cls, jpeg: int, webp: int | None = None, avif: int | None = None) -> Quality:
        """JPEG at `jpeg`; WebP and AVIF as given, else at JPEG's score (EQUAL_QUALITY)."""
        return cls(
            jpeg,
            webp if webp is not None else equal_quality("webp", jpeg),
            avif if avif is not None else equal_quality("avif", jpeg),
        )

    def of(self, fmt: str) -> int:
        """The quality to encode `fmt` at (JPEG's for a format that takes none: PNG, GIF)."""
        return {"webp": self.webp, "avif": self.avif}.get(fmt, self.jpeg)


def equal_quality(fmt: str, jpeg: int) -> int:
    """The quality of `fmt` (webp, avif) that looks like JPEG at `jpeg` (1-100): linear
    between EQUAL_QUALITY's rows."""
    column = ("jpeg", "webp", "avif").index(fmt)
    for low, high in itertools.pairwise(EQUAL_QUALITY):
        if low[0] <= jpeg <= high[0]:
            share = (jpeg - low[0]) / (high[0] - low[0])
            return round(low[column] + share * (high[column] - low[column]))
    raise ValueError(f"JPEG quality {jpeg} is outside 1..100")


# The longest side each encoder writes, as libvips 8.18 found it: webpsave refuses
# 16,384 (WebP stores 14 bits), heifsave 16,385 (libheif's AV1 limit), jpegsave 65,501
# (libjpeg-turbo's 65,500), gifsave 65,536 (16 bits); PNG holds 2^31 - 1. Checked per
# copy before the decode (copies.check_sides), so none is half made.
MAX_SIDE = {"jpeg": 65_500, "png": 2**31 - 1, "webp": 16_383, "avif": 16_384, "gif": 65_535}
NAMES = {"jpeg": "JPEG", "png": "PNG", "webp": "WebP", "avif": "AVIF", "gif": "GIF"}


# AV1 encodes at once in this process, whatever the number of objects and copies in
# flight: each already runs VIPS_CONCURRENCY threads, so more only add memory (~15 MB
# each at 900 wide) and no speed.
_AV1_SLOTS = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))


def resolve(wanted: tuple[str, ...], source_format: str | None) -> tuple[str, ...]:
    """OUTPUT_FORMATS for one image: `source` is its own format (else JPEG); each once."""
    resolved = (source_format or "jpeg" if fmt == "source" else fmt for fmt in wanted)
    return tuple(dict.fromkeys(resolved))


def encode(image: pyvips.Image, fmt: str, quality: int, keep: str = "none") -> bytes:
    """`image` (8-bit; several frames stacked with `page-height`) encoded as `fmt`,
    with the metadata `keep` names (libvips' keep flags: `none`, `icc,exif`, ...)."""
    # The image carries only what copies may keep (app/image/carry.py decides, per format):
    # its profile, its gain map, its creator and copyright. keep="none" (an sRGB photo
    # with no rights recorded) writes no EXIF, XMP, IPTC or ICC at all. An animation's
    # frame delays and loop count are written whatever `keep` says.
    if fmt == "jpeg":
        data = image.jpegsave_buffer(Q=quality, keep=keep, optimize_coding=True)
    elif fmt == "png":
        data = image.pngsave_buffer(keep=keep, compression=6)
    elif fmt == "webp":
        data = image.webpsave_buffer(Q=quality, keep=keep, effort=WEBP_EFFORT)
    elif fmt == "avif":
        with _AV1_SLOTS:  # at most as many at once as cores: more add memory, not speed
            data = image.heifsave_buffer(
                Q=quality, keep=keep, compression="av1", effort=AVIF_EFFORT
            )
    elif fmt == "gif":
        data = image.gifsave_buffer(keep=keep)
    else:  # guarded by config validation; a bug if reached
        raise ValueError(f"unknown output format {fmt!r}")
    return bytes(data)
