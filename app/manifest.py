"""The manifest of one source: its copies for `<picture>` and `srcset`, a placeholder, a colour.

Pure: what the pipeline knows once the copies are written (the source, the copies as
written, the decoded image) in, JSON bytes out. Written after the copies, with the
copies' metadata, so that the recursion guard skips it like any copy.

    {"source": {"bucket", "key", "etag", "versionId"?, "width", "height"},
     "renditions": [{"key", "format", "width", "height", "bytes", "contentType"}, ...],
     "thumbhash": "<base64>", "dominantColor": "#rrggbb" | null}
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from typing import Any

import pyvips

from app import thumbhash
from app.imaging import FORMATS
from app.model import ObjectRef, Output

CONTENT_TYPE = "application/json"
_FORMAT_OF = {fmt.content_type: name for name, fmt in FORMATS.items()}

# The dominant colour: the most common colour once each channel is cut to 16 levels
# (4,096 bins), reported as the mean of that bin's pixels; pixels more than half
# transparent do not count. A photo's sky or wall, a logo's background.
QUANTUM = 16
OPAQUE = 128


def build(
    ref: ObjectRef,
    etag: str,
    size: tuple[int, int],
    outputs: tuple[Output, ...],
    image: pyvips.Image,
) -> bytes:
    """The manifest of `ref` (its upright `size`) and its copies, from its decoded `image`."""
    width, height, rgba = small_rgba(image)
    source: dict[str, Any] = {"bucket": ref.bucket, "key": ref.key, "etag": etag.strip('"')}
    if ref.version is not None:
        source["versionId"] = ref.version
    source.update(width=size[0], height=size[1])
    document = {
        "source": source,
        "renditions": [
            {
                "key": o.key,
                "format": _FORMAT_OF.get(o.content_type, o.content_type),
                "width": o.width,
                "height": o.height,
                "bytes": o.bytes,
                "contentType": o.content_type,
            }
            for o in outputs
        ],
        "thumbhash": base64.b64encode(thumbhash.encode(width, height, rgba)).decode(),
        "dominantColor": dominant_colour(rgba),
    }
    return json.dumps(document, ensure_ascii=False, indent=1).encode()


def small_rgba(image: pyvips.Image) -> tuple[int, int, bytes]:
    """`image` (sRGB, 8-bit) fitted inside 100x100, as RGBA bytes: the placeholder's input."""
    side = thumbhash.MAX_SIDE
    if image.width > side or image.height > side:
        image = image.thumbnail_image(side, height=side, size="down")
    if image.bands == 3:
        image = image.bandjoin_const([255])
    return image.width, image.height, bytes(image.cast("uchar").write_to_memory())


def dominant_colour(rgba: bytes) -> str | None:
    """`#rrggbb`: the mean of the most common quantised colour; None if nothing is opaque."""
    pixels = [
        (r, g, b)
        for r, g, b, a in zip(rgba[0::4], rgba[1::4], rgba[2::4], rgba[3::4], strict=True)
        if a >= OPAQUE
    ]
    if not pixels:
        return None
    bins = Counter((r // QUANTUM, g // QUANTUM, b // QUANTUM) for r, g, b in pixels)
    top = bins.most_common(1)[0][0]  # ties: the bin met first, in reading order
    chosen = [p for p in pixels if (p[0] // QUANTUM, p[1] // QUANTUM, p[2] // QUANTUM) == top]
    mean = [round(sum(p[i] for p in chosen) / len(chosen)) for i in range(3)]
    return "#" + "".join(f"{v:02x}" for v in mean)
