"""Does the header promise more pixels than the bytes could hold? Refuse it before decoding.

A decoder fills in what the data lacks, so a 600-byte JPEG whose header claims
10000x9999 would cost a full 100 MP decode (600 MB of coefficients, were it
progressive) to produce grey. Where a format has a hard floor on what a pixel
costs, the object's size must reach it:

- JPEG (Huffman-coded, what cameras and browsers use): every 8x8 block of every
  component codes at least one Huffman symbol, at least 1 bit, so no JPEG holds
  more than 512 pixels a byte. A flat grey 10000x10000 JPEG with optimised tables
  is 256 pixels a byte, flat colour 170. The bound allows 1,024: twice the
  theoretical floor. Arithmetic-coded JPEGs (which browsers do not display) could
  go below it, and are refused when they do.
- PNG: deflate cannot compress more than 1,032 to 1 (a 258-byte match costs at
  least 2 bits), and a pixel is at least its bit depth (1 bit for a bilevel or a
  2-colour palette image). A 10000x10000 bilevel PNG needs 12 KB.

WebP, GIF, TIFF and HEIF/AVIF have no such floor (a GIF's canvas may be far larger
than its frame, CCITT fax and AV1 code a blank page in almost nothing): for them
the pixel limit and the decoder's own checks (`fail_on`) stand guard.
"""

from __future__ import annotations

import math

JPEG_PIXELS_PER_BYTE = 1024
DEFLATE_MAX_RATIO = 1032


def min_bytes(kind: str, pixels: int, bits_per_sample: int) -> int:
    """The fewest bytes an undamaged `kind` image of `pixels` pixels can take (0: no floor)."""
    if kind in ("jpeg", "uhdr"):
        return math.ceil(pixels / JPEG_PIXELS_PER_BYTE)
    if kind == "png":
        return math.ceil(pixels * max(1, bits_per_sample) / 8 / DEFLATE_MAX_RATIO)
    return 0


def implausible(
    kind: str, width: int, height: int, bits_per_sample: int, size: int | None
) -> str | None:
    """Why `size` bytes cannot hold this header's pixels, or None if they can."""
    if size is None:
        return None
    needed = min_bytes(kind, width * height, bits_per_sample)
    if size >= needed:
        return None
    fmt = "PNG" if kind == "png" else "JPEG"
    return (
        f"claims {width}x{height} in {size:,} bytes; an undamaged {fmt} of that "
        f"size takes at least {needed:,} bytes"
    )
