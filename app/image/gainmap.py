"""HDR gain maps (Ultra HDR JPEG, ISO 21496-1): kept beside the SDR picture, made to follow it.

An Ultra HDR JPEG is an ordinary JPEG (the SDR base every screen shows) with a second,
smaller JPEG inside it: the gain map, which HDR screens apply to brighten the base. libvips
(8.18, `uhdrload`) loads such a file as its base, with the gain map as metadata
(`gainmap-data`, and the `gainmap-*` numbers that say how to apply it). The decode
(a DCT-scaled JPEG decode, like any JPEG's) and each copy's resize and crop are done to
the gain map too, at its own scale (a quarter of the picture's size in Google's files,
half in libvips' own): `fitted` on the decode, `follow` where a copy is made. (libvips'
thumbnail also resizes it, but with the operation cache off, as this function runs, the
gain map it attaches reads freed memory: libvips 8.18.)

Only a JPEG copy carries it (libvips writes Ultra HDR JPEG only); the other formats get the
base as before. A photo without a gain map pays for one `get_typeof`.
"""

from __future__ import annotations

import pyvips

# The metadata that makes a gain map: its image, its compressed bytes, how to apply it.
PREFIX = "gainmap"


def carried(image: pyvips.Image) -> bool:
    """True when `image` carries a gain map."""
    return bool(image.get_typeof("gainmap-data") or image.get_typeof("gainmap"))


def stored(image: pyvips.Image) -> tuple[pyvips.Image, float, float] | None:
    """The gain map of a decode as stored (not yet upright), and its width and height
    against the decode's; None if there is none."""
    gain = image.get_gainmap()
    if gain is None:
        return None
    return gain, gain.width / image.width, gain.height / image.height


def fitted(
    image: pyvips.Image, gain: tuple[pyvips.Image, float, float], orientation: int
) -> pyvips.Image:
    """`image` (the decode, reduced and upright) with the gain map `stored` gave made to
    match it: resized to its size at the gain map's own scale, turned as the EXIF
    `orientation` turned the picture, and held in memory."""
    source, x_scale, y_scale = gain
    turned = orientation in (5, 6, 7, 8)
    width, height = (image.height, image.width) if turned else (image.width, image.height)
    width, height = max(1, round(width * x_scale)), max(1, round(height * y_scale))
    if (width, height) != (source.width, source.height):
        source = source.resize(width / source.width, vscale=height / source.height)
    if orientation != 1:
        source = source.copy_memory().copy()
        source.set_type(pyvips.GValue.gint_type, "orientation", orientation)
        source = source.autorot()
    image = image.copy()
    image.set_type(pyvips.GValue.image_type, "gainmap", source.copy_memory())
    return image


def follow(cut: pyvips.Image, decoded: pyvips.Image, resized: pyvips.Image) -> pyvips.Image:
    """`cut` (`decoded` resized to `resized`, then cropped) with the decode's gain map
    resized and cropped alike, at the gain map's own scale against the picture."""
    source = decoded.get_gainmap()
    if source is None:
        return cut
    x_scale, y_scale = source.width / decoded.width, source.height / decoded.height
    width = max(1, round(resized.width * x_scale))
    height = max(1, round(resized.height * y_scale))
    gain = source
    if (width, height) != (source.width, source.height):
        gain = source.resize(width / source.width, vscale=height / source.height)
    if (cut.width, cut.height) != (resized.width, resized.height):
        # fit.crop ends in an extract_area, which records the cut as a negative offset.
        left, top = round(-cut.xoffset * x_scale), round(-cut.yoffset * y_scale)
        across = max(1, min(gain.width - left, round(cut.width * x_scale)))
        down = max(1, min(gain.height - top, round(cut.height * y_scale)))
        gain = gain.crop(left, top, across, down)
    followed = cut.copy()
    # The image below takes the place of the source's `gainmap-data`, which stays: its
    # presence is what has libvips' JPEG save write Ultra HDR.
    followed.set_type(pyvips.GValue.image_type, "gainmap", gain.copy_memory())
    return followed


def removed(image: pyvips.Image) -> pyvips.Image:
    """`image` without its gain map (HDR=drop): its copies are the SDR base alone."""
    fields = [f for f in image.get_fields() if f.startswith(PREFIX)]
    if not fields:
        return image
    image = image.copy()
    for field in fields:
        image.remove(field)
    return image
