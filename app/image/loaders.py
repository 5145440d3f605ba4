"""Which libvips loaders may see an upload: an allow-list, checked before any loader runs.

libvips picks a loader by sniffing the first bytes, whatever the key's extension,
and its build carries loaders for formats no one uploads as a photo: `matrix` turns
a 31-byte text file ("4 3\\n1 2 3 4 ...") into an image, `vips` reads libvips' own
format, `csv` and `raw` read anything. So the sniffed loader is compared with the
accepted input formats, and refused by name, before it reads a byte of the header;
then exactly that loader runs.

A block-list (what the project knew to be dangerous) would let through whatever a
newer libvips adds; the allow-list refuses it until someone accepts it here.
"""

from __future__ import annotations

import re

import pyvips

from app.errors import BadImage

# The decoders' own prefixes in libvips' error buffer (libjpeg's, libtiff's, ...), as
# libvips 8.18 writes them too (`webp: unable to parse image`, `heif: Invalid input`,
# `gifload_source: Unexpected end of GIF source data`); a loader's `load error` is a
# caller's line, not the decoder's. A pattern that re compiles (and keeps) with the first
# error: an image that decodes never needs it.
_DECODER = (
    r"(?i)^(\w+2vips|Vips(Jpeg|Png|Gif|Webp|Tiff|Heif)\w*|vipspng|webp|heif"
    r"|\w+load(_source|_buffer)?(?!: load error$)):"
)

# libvips loader (its source variant, as in `vips-loader`) -> the format messages name.
ACCEPTED: dict[str, str] = {
    "jpegload_source": "JPEG",
    "uhdrload_source": "JPEG",  # Ultra HDR: a JPEG that carries a gain map
    "pngload_source": "PNG",
    "webpload_source": "WebP",
    "gifload_source": "GIF",
    "tiffload_source": "TIFF",
    "heifload_source": "HEIF/AVIF",
}

ACCEPTED_NAMES = "JPEG, PNG, WebP, GIF, TIFF or HEIF/AVIF"


def sniff(source: pyvips.Source) -> str | None:
    """The loader libvips would pick for `source` (`matrixload_source`), or None.

    Only the first bytes are read, and libvips keeps them for the loader that follows.
    Loaders blocked at cold start (untrusted, SVG, PDF, ImageMagick) are never picked.
    """
    found = pyvips.vips_lib.vips_foreign_find_load_source(source.pointer)
    if found == pyvips.ffi.NULL:
        # libvips wrote "source is not in a known format" to its one error buffer, where
        # it would stay and come out with the next object's error: take it out now.
        pyvips.vips_lib.vips_error_clear()
        return None
    return str(pyvips.nickname_find(pyvips.type_from_name(pyvips.ffi.string(found).decode())))


def open_header(source: pyvips.Source, name: str) -> pyvips.Image:
    """Open `source` with its own loader if that loader is accepted; else refuse it.

    The image is opened for sequential access: only its header has been read.
    """
    loader = sniff(source)
    if loader is None:
        raise BadImage(f"{name} is not an image in a supported format ({ACCEPTED_NAMES})")
    if loader not in ACCEPTED:
        detected = loader.removesuffix("_source").removesuffix("load")
        raise BadImage(
            f"{name} is not an image in a supported format ({ACCEPTED_NAMES}): "
            f"libvips reads it as {detected} ({loader})"
        )
    try:
        return pyvips.Operation.call(loader, source, access="sequential")
    except pyvips.Error as error:
        raise BadImage(
            f"{name} is not an image in a supported format "
            f"({ACCEPTED[loader]} header unreadable: {why(error, loader)})"
        ) from None


def why(error: pyvips.Error, loader: str | None = None) -> str:
    """The decoder's own words for a libvips error, else its last line.

    libvips appends to one error buffer: the decoder's line (`VipsJpeg: Corrupt JPEG
    data ...`, `tiff2vips: read error`) comes first, then what each caller added on the
    way out (`unable to copy to memory`, `load error`), in an order that depends on
    where the stream stopped. The decoder's last line is the stable, telling one.

    The buffer is one for the whole process, and objects decode at once on other
    threads: with `loader` (what read this object's header), another format's decoder
    lines are someone else's and are left out, with the callers' lines that came with
    them; if none of this one's is left, that is said rather than another object's
    reason given. (Two objects of one format failing at once can still swap theirs.)
    """
    lines = [line.strip() for line in str(error.detail or error.message).splitlines()]
    lines = [line for line in lines if line]
    family = _family_of(loader)
    if family is not None and any(_family(line) not in (family, None) for line in lines):
        # Another format's decoder wrote here too: keep only this one's own lines.
        lines = [line for line in lines if _family(line) == family]
        if not lines:
            return (
                f"the {ACCEPTED[loader or '']} decoder's message was lost: another "
                "object's error took libvips' one error buffer"
            )
    decoder = [line for line in lines if re.match(_DECODER, line)]
    return (decoder or lines or ["unknown libvips error"])[-1]


# A decoder's line names its format in its prefix (`VipsJpeg:`, `tiff2vips:`, `vipspng:`):
# the first word of the format's name in ACCEPTED, in lower case (jpeg, png, ..., heif).
def _family_of(loader: str | None) -> str | None:
    name = ACCEPTED.get(loader or "")
    return name.split("/")[0].lower() if name else None


_FAMILIES = tuple(dict.fromkeys(_family_of(loader) or "" for loader in ACCEPTED))


def _family(line: str) -> str | None:
    """The format whose decoder wrote `line`, if its prefix names one."""
    if not re.match(_DECODER, line):
        return None
    prefix = line.split(":", 1)[0].lower()
    return next((name for name in _FAMILIES if name in prefix), None)
