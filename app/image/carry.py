"""What a copy carries beside its pixels: a wide colour profile, an HDR gain map, its rights.

Two steps, where the data flows:

1. `kept` (once, on the decode): every metadata block the copies could write is taken
   off, and only what COLOUR, HDR and RIGHTS keep is put back: the profile (present
   only when the colours are wide, see imaging.to_output), the gain map, and the creator
   and copyright rebuilt alone (app/image/rights.py). GPS, serial numbers, maker notes,
   embedded thumbnails and the rest of EXIF, XMP and IPTC never reach a copy.
2. `outgoing` (per copy): what the copy's format can hold of it, as libvips' keep flags.
   JPEG holds all of it; PNG, WebP and AVIF the profile, EXIF and XMP; GIF none of it
   (its colours are made sRGB). Only JPEG holds a gain map (Ultra HDR), and an Ultra
   HDR JPEG only the profile and EXIF: libultrahdr writes no IPTC, and its XMP is the
   gain map's own.

An sRGB photo with no creator or copyright keeps nothing: its copies are encoded with
keep="none", byte for byte as before.
"""

from __future__ import annotations

import pyvips

from app.image import colour, gainmap, rights
from app.record import Record

COLOURS = ("keep", "srgb")  # COLOUR
HDRS = ("keep", "drop")  # HDR
RIGHTS = ("keep", "none")  # RIGHTS

# libvips' keep flag -> the metadata field it writes.
_FIELDS = {"icc": "icc-profile-data", "exif": "exif-data", "xmp": "xmp-data", "iptc": "iptc-data"}
# What each format's encoder writes of them (libvips 8.18).
_HOLDS = {
    "jpeg": ("icc", "exif", "xmp", "iptc"),
    "png": ("icc", "exif", "xmp"),
    "webp": ("icc", "exif", "xmp"),
    "avif": ("icc", "exif", "xmp"),
    "gif": (),
}
# Set by `kept`: only a decode it has been through has its EXIF, XMP and IPTC written
# (a decode that has not, as the benchmark's, still holds the source's whole blocks).
KEPT = "carry-kept"
# Fields that would write EXIF, XMP or IPTC: libvips writes the `exif-ifd*` ones into
# the EXIF block it saves, so they go with the block.
_RIGHTS_PREFIXES = ("exif-", "xmp-", "iptc-")


def kept(image: pyvips.Image, *, hdr: str, rights_mode: str) -> pyvips.Image:
    """The decode with only what its copies may carry (HDR, RIGHTS: keep, or
    drop/none)."""
    fields = image.get_fields()
    blocks = [f for f in fields if f.startswith(_RIGHTS_PREFIXES)]
    if not blocks and (hdr == "keep" or not gainmap.carried(image)):
        return image  # nothing to take off (most photos from the web): not even a copy
    found = rights.Rights()
    if rights_mode == "keep":
        found = rights.read(*(_blob(image, _FIELDS[key]) for key in ("exif", "xmp", "iptc")))
    image = gainmap.removed(image) if hdr == "drop" else image.copy()
    for field in blocks:
        image.remove(field)
    if found:
        for key, block in (("exif", found.exif), ("xmp", found.xmp), ("iptc", found.iptc)):
            if block is not None:
                image.set_type(pyvips.GValue.blob_type, _FIELDS[key], block)
        image.set_type(pyvips.GValue.gint_type, KEPT, 1)
    return image


def _blob(image: pyvips.Image, field: str) -> bytes | None:
    return bytes(image.get(field)) if image.get_typeof(field) else None


class Outgoing(Record):
    """A copy's image as its format is written, the keep flags, and what it carries."""

    image: pyvips.Image
    keep: str  # libvips' keep flags: "none", or e.g. "icc,exif,xmp"
    colour_space: str  # colour.name of what it carries: sRGB, Display P3, ...
    hdr: bool


def outgoing(image: pyvips.Image, fmt: str) -> Outgoing:
    """What a copy of `image` (a `kept` decode, sized) carries as `fmt`."""
    hdr = fmt == "jpeg" and gainmap.carried(image)
    holds = ("icc", "exif") if hdr else _HOLDS.get(fmt, ())
    if image.get_typeof("icc-profile-data") and "icc" not in holds:
        image = image.icc_transform("srgb", embedded=True)  # GIF: no profile, so sRGB
        image = image.copy()
        image.remove("icc-profile-data")
    rights_too = bool(image.get_typeof(KEPT))
    flags = [
        key for key in holds if image.get_typeof(_FIELDS[key]) and (key == "icc" or rights_too)
    ]
    if hdr:
        flags.append("gainmap")
    profile = _blob(image, "icc-profile-data")
    return Outgoing(image, ",".join(flags) or "none", colour.name(profile), hdr)
