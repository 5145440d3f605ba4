"""The manifest of one source: its copies for `<picture>` and `srcset`, a placeholder, a colour.

Pure: what the pipeline knows once the copies are written (the source, the copies as
written, the decoded image) in, JSON bytes out. Written after the copies, with the
copies' metadata, so that the recursion guard skips it like any copy.

    {"source": {"bucket", "key", "etag", "versionId"?, "width", "height"}, "profile",
     "renditions": [{"key", "format", "width", "height", "bytes", "contentType",
                     "colourSpace": "sRGB" | "Display P3" | <the profile's name>,
                     "hdr": true | false}, ...],
     "thumbhash": "<base64>", "dominantColor": "#rrggbb" | null}
"""

from __future__ import annotations

import json
import math
from array import array
from binascii import b2a_base64

import pyvips

from app.image import thumbhash
from app.image.imaging import FORMATS
from app.model import ObjectRef, Output

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/development.md)
if TYPE_CHECKING:
    from typing import Any

CONTENT_TYPE = "application/json"
_FORMAT_OF = {fmt.content_type: name for name, fmt in FORMATS.items()}

# The dominant colour: the most common colour once each channel is cut to 16 levels
# (4,096 bins), reported as the mean of that bin's pixels; pixels more than half
# transparent do not count. A photo's sky or wall, a logo's background.
QUANTUM = 16
OPAQUE = 128
_LEVELS = 256 // QUANTUM
_SHIFT = QUANTUM.bit_length() - 1  # v >> _SHIFT == v // QUANTUM
_BINS = _LEVELS**3  # the colours' bins; the clear pixels are counted after them
_OPAQUE_SHIFT = OPAQUE.bit_length() - 1  # alpha >> _OPAQUE_SHIFT is 1 when opaque


def build(
    ref: ObjectRef,
    etag: str,
    size: tuple[int, int],
    outputs: tuple[Output, ...],
    image: pyvips.Image,
    profile: str = "default",
) -> bytes:
    """The manifest of `ref` (its upright `size`) and its copies, from its decoded `image`;
    `profile` names the profile (app/config/profiles.py) they were made with."""
    placeholder = small(image)
    source: dict[str, Any] = {"bucket": ref.bucket, "key": ref.key, "etag": etag.strip('"')}
    if ref.version is not None:
        source["versionId"] = ref.version
    source.update(width=size[0], height=size[1])
    document = {
        "source": source,
        "profile": profile,
        "renditions": [
            {
                "key": o.key,
                "format": _FORMAT_OF.get(o.content_type, o.content_type),
                "width": o.width,
                "height": o.height,
                "bytes": o.bytes,
                "contentType": o.content_type,
                "colourSpace": o.colour_space,  # a wide source's copies keep its colours
                "hdr": o.hdr,  # carries a gain map: HDR screens show it brighter
            }
            for o in outputs
        ],
        # base64.b64encode's text; the base64 module itself costs 1.5 M instructions at start-up
        "thumbhash": b2a_base64(thumbhash.encode(placeholder), newline=False).decode(),
        "dominantColor": dominant_colour(placeholder),
    }
    return json.dumps(document, ensure_ascii=False, indent=1).encode()


def small(image: pyvips.Image) -> pyvips.Image:
    """`image` (sRGB, 8-bit) box-averaged by a whole factor to fit in 100x100, in memory:
    the placeholder's and the dominant colour's input. A wide-gamut decode is made
    sRGB here (100x100 pixels at most): placeholders and CSS colours are sRGB.

    The image given is the decode, already reduced to the largest copy's size: a box
    average of it costs a fraction of a millisecond where a Lanczos thumbnail costs
    several, and a placeholder of at most 7 cosines along a side cannot tell them apart.
    """
    factor = math.ceil(max(image.width, image.height) / thumbhash.MAX_SIDE)
    if factor > 1:
        # Never below one pixel along a side (a 1x5000 strip becomes 1x100).
        across, down = min(factor, image.width), min(factor, image.height)
        if image.hasalpha():  # weighted by alpha: no colour bleeds from clear pixels
            image = image.premultiply().shrink(across, down).unpremultiply()
        else:
            image = image.shrink(across, down)
    if image.get_typeof("icc-profile-data"):
        image = image.icc_transform("srgb", embedded=True)
    return image.cast("uchar").copy_memory()


def dominant_colour(image: pyvips.Image) -> str | None:
    """`#rrggbb`: the mean of the most common quantised colour of `image` (sRGB, 8-bit,
    RGB or RGBA); None if nothing is opaque. Ties: the lowest bin (red, then green, then
    blue) wins.

    libvips counts the bins and sums their pixels in one pass (`hist_find_indexed`):
    each pixel's bin number indexes a histogram of its bands and a 1."""
    bands = image.bands
    if image.hasalpha():  # a clear pixel (alpha >> 7 is 0) is counted past the colours
        quantised = (image >> ([_SHIFT] * 3 + [_OPAQUE_SHIFT])) ^ [0, 0, 0, 1]
        weights = [_LEVELS * _LEVELS, _LEVELS, 1, _BINS]
    else:
        quantised, weights = image >> _SHIFT, [_LEVELS * _LEVELS, _LEVELS, 1]
    index = quantised.recomb([weights]).cast("ushort")
    histogram = array("d")
    histogram.frombytes(image.bandjoin_const([1]).hist_find_indexed(index).write_to_memory())
    counts = histogram[bands : (bands + 1) * _BINS : bands + 1]  # the clear bins left out
    most = max(counts)
    if not most:
        return None
    top = (bands + 1) * counts.index(most)
    mean = [round(total / most) for total in histogram[top : top + 3]]
    return "#" + "".join(f"{v:02x}" for v in mean)
