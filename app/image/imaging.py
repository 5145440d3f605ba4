"""Pure image work with pyvips: a byte stream and size specs in, encoded renditions out.

Nothing here touches S3 or the environment. The pipeline is, in order:

1. `stream_source`   wrap a `read(n)` callable as a libvips source (no buffering)
2. `read_header`     parse the header only, check the pixel limit
3. `decode`          one shrink-on-load decode to the largest target size,
                     upright (EXIF), 8-bit, sRGB or kept wide (COLOUR), held in memory
4. `sized`           resize (and crop, see fit.py) the decoded image to one spec;
                     called once per spec, safe to call from several threads
5. `encode`          one output format of a sized image (formats.py); `render` is both
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pyvips

from app.errors import BadImage, InputTooLarge
from app.image import carry, colour, density, fit, formats, gainmap, loaders
from app.image.fit import SizeSpec
from app.image.formats import FORMATS, Format
from app.image.loaders import why as _why
from app.record import Record

__all__ = ["FORMATS", "Format", "SizeSpec"]  # where naming, config and tests find them

# Loaders whose very sniffers must never see untrusted bytes, whatever libvips marks
# untrusted. Every other loader outside the accepted formats is refused by name before
# it runs (see loaders.py).
_BLOCKED_LOADERS = ("VipsForeignLoadSvg", "VipsForeignLoadPdf", "VipsForeignLoadMagick")


# libvips loader name prefix -> the output format `source` keeps it as.
_SOURCE_FORMATS = {"jpeg": "jpeg", "png": "png", "webp": "webp", "gif": "gif"}

# A DCT-scaled JPEG decode up to this size is held in memory before its reduce (a
# typical photo for 900 wide is 1507x847, 3.8 MB); beyond, it streams (see memory.py).
HOLD_DECODED_BYTES = 16 * 1024 * 1024

# A full decode (PNG) is reduced after a box shrink by the integer part of factor / 3:
# libvips' fixed-point Lanczos loses precision over long kernels, and that box shrink
# is exact. A 20 MP PNG to 900 wide: 54.5 dB PSNR against a float reference, against
# 52.0 with no box shrink and 48.9 with libvips' default (factor / 2).
FULL_DECODE_GAP = 3.0

# Any warning of the decoder fails the image: that is how libjpeg and libtiff say they
# padded missing or damaged data (`truncated` misses half a JPEG followed by an
# end-of-image marker, a JPEG scan cut by another marker, a TIFF strip cut short). No
# valid photo of ../shared/corpus warns; metadata problems (bad EXIF, a bad CRC on a
# PNG text chunk, stray bytes after the image) still decode. The one JPEG warning that
# is untidiness, not damage (bytes between segments), is never raised: app/image/jpegdata.py
# drops those bytes before libjpeg sees them, and checks the scans that libjpeg does
# not (a progressive JPEG cut between two scans).
FAIL_ON = "warning"


def configure_libvips() -> None:
    """Settings for a long-lived server process; call once at cold start."""
    pyvips.cache_set_max(0)  # every object is new: the operation cache only costs memory
    pyvips.block_untrusted_set(True)
    for name in _BLOCKED_LOADERS:
        pyvips.operation_block_set(name, True)


class Header(Record):
    """What the header tells before any pixel is decoded (dimensions upright)."""

    width: int
    height: int
    loader: str
    pages: int
    bands: int = 3
    sample_bytes: int = 1
    interlaced: bool = False  # progressive JPEG, interlaced PNG
    subsampled: bool = False  # a JPEG's chroma is subsampled (libvips: not 4:4:4)

    @property
    def kind(self) -> str:
        """The loader's format: `jpegload_source` -> `jpeg`."""
        return self.loader.removesuffix("load_source").removesuffix("load")

    @property
    def source_format(self) -> str | None:
        """The output format that keeps the input's format, if it is one we write."""
        if self.kind == "heif":
            return "avif"
        return _SOURCE_FORMATS.get(self.kind)


class Rendition(Record):
    """One encoded copy."""

    spec: SizeSpec
    width: int
    height: int
    format: str
    data: bytes
    colour_space: str = "sRGB"  # what its colours are: sRGB, or its profile's name
    hdr: bool = False  # it carries a gain map (Ultra HDR)

    @property
    def content_type(self) -> str:
        return FORMATS[self.format].content_type


def stream_source(read: Callable[[int], bytes]) -> pyvips.Source:
    """A libvips source that pulls bytes from `read(n)` as the decoder needs them."""
    source = pyvips.SourceCustom()
    source.on_read(read)
    return source


def read_header(
    source: pyvips.Source, max_pixels: int, name: str, size: int | None = None
) -> Header:
    """Parse the header of `source` with an accepted loader; refuse it, before decoding,
    if it is too large or promises more pixels than its `size` bytes can hold."""
    image = loaders.open_header(source, name)
    width, height = image.width, image.height
    if image.get_typeof("orientation") and image.get("orientation") in (5, 6, 7, 8):
        width, height = height, width
    pages = image.get("n-pages") if image.get_typeof("n-pages") else 1
    if width * height > max_pixels:
        raise InputTooLarge(
            f"{name} is {width}x{height} ({megapixels(width * height)}); "
            f"limit is {megapixels(max_pixels)} (MAX_INPUT_PIXELS)"
        )
    bits = image.get("bits-per-sample") if image.get_typeof("bits-per-sample") else 1
    kind = str(image.get("vips-loader")).removesuffix("load_source")
    if reason := density.implausible(kind, width, height, bits, size):
        raise BadImage(f"{name} is damaged: its header {reason}")
    interlaced = bool(image.get_typeof("interlaced") and image.get("interlaced"))
    sample_bytes = 2 if image.format in ("ushort", "short") else 1
    subsampled = bool(
        image.get_typeof("jpeg-chroma-subsample") and image.get("jpeg-chroma-subsample") != "4:4:4"
    )
    return Header(
        width,
        height,
        image.get("vips-loader"),
        pages,
        image.bands,
        sample_bytes,
        interlaced,
        subsampled,
    )


def output_format(header: Header, wanted: str) -> str:
    """Resolve one output format for this input: `source` keeps known formats, else JPEG."""
    return formats.resolve((wanted,), header.source_format)[0]


def output_formats(header: Header, wanted: tuple[str, ...]) -> tuple[str, ...]:
    """Resolve OUTPUT_FORMATS for this input, each format once, in the order listed."""
    return formats.resolve(wanted, header.source_format)


def decode(
    source: pyvips.Source,
    header: Header,
    specs: tuple[SizeSpec, ...],
    name: str,
    *,
    flatten: bool,
    colour_mode: str = "srgb",
) -> pyvips.Image:
    """Decode once, shrinking on load to the largest size any spec needs.

    The result is upright, 8-bit, in memory, and flattened onto white when `flatten`
    (no output format has alpha); sRGB, or wide as its source with `colour_mode` keep.
    Animated inputs give their first frame (animation.py decodes every frame). Each
    spec's largest need counts: a cover box needs the image at least as large as the
    box in both directions.
    """
    width, height = _largest(header, specs)
    try:
        image = _shrunk_on_load(source, header, width, height)
        return _finished(image, flatten, colour_mode)
    except pyvips.Error as error:
        raise BadImage(f"{name} could not be decoded ({_why(error, header.loader)})") from None


def decode_memory(
    image: pyvips.Image,
    header: Header,
    specs: tuple[SizeSpec, ...],
    name: str,
    *,
    flatten: bool,
    colour_mode: str = "srgb",
) -> pyvips.Image:
    """`decode` for a picture another decoder holds in memory, whole and upright (HEIC)."""
    width, height = _largest(header, specs)
    try:
        if (width, height) != (image.width, image.height):
            image = _resize(image, width, height, gap=FULL_DECODE_GAP)
        return _finished(image, flatten, colour_mode)
    except pyvips.Error as error:
        raise BadImage(f"{name} could not be decoded ({_why(error)})") from None


def _largest(header: Header, specs: tuple[SizeSpec, ...]) -> tuple[int, int]:
    """The largest size any spec needs of the (upright) source (a cover box: enough to
    cover it)."""
    return max((s.scaled(header.width, header.height) for s in specs), key=lambda wh: wh[0])


def _finished(image: pyvips.Image, flatten: bool, colour_mode: str = "srgb") -> pyvips.Image:
    """8-bit, sRGB or kept wide (`colour_mode`), at most an alpha besides, flattened onto
    white if `flatten`, in memory."""
    image = rgb_and_alpha(to_output(image, colour_mode))
    if image.hasalpha() and flatten:
        image = image.flatten(background=[255, 255, 255])
    return image.cast("uchar").copy_memory()


def rgb_and_alpha(image: pyvips.Image) -> pyvips.Image:
    """An sRGB image's three colour bands and its alpha, if any: the bands past those (a
    TIFF's extra channels: a second alpha, spot colours) are dropped, as every output
    format and the placeholder hold at most four. The first extra band is the alpha,
    as TIFF writers list it first (ExtraSamples)."""
    if image.bands <= 4:
        return image
    colour = image.extract_band(0, n=3)
    return colour.bandjoin(image[3]) if image.hasalpha() else colour


def jpeg_shrink(header: Header, width: int, height: int) -> int:
    """The DCT scale (1/8, 1/4, 1/2) to decode a JPEG at for a `width`x`height` result:
    the smallest that still decodes at least that many pixels (libvips rounds the
    decoded size down, dropping a last, partial block, so do we), as Pillow's `draft()`.

    The next, finer scale was taken when this one left less than a (scale + 1) / scale
    reduce. Measured on the benchmark's `tune` half (bench/dctscale.py: photos 3640-4032
    wide, which all left 1.01-1.12x at 1/4), it cost 12-33% more CPU for +0.16 to
    +0.71 dB at 900 wide and nothing at 300 and 600, and the gain did not grow as the
    reduce left shrank; so no threshold was worth keeping.
    """
    shrink = 8
    while shrink > 1 and (header.width // shrink < width or header.height // shrink < height):
        shrink //= 2
    return shrink


def _shrunk_on_load(source: pyvips.Source, header: Header, width: int, height: int) -> pyvips.Image:
    """`width`x`height`, upright, through the cheapest decode that keeps enough pixels.

    JPEG decodes at its DCT scale and PNG in full (it has no scaled decode), each then
    reduced by Lanczos-3 over the rest of the factor. Other formats go through libvips'
    thumbnail, which knows their own shrink-on-load (WebP, HEIF, TIFF pyramids).
    """
    options = {"fail_on": FAIL_ON, "access": "sequential"}
    if header.kind in ("jpeg", "uhdr"):  # uhdr: a JPEG with a gain map (app/image/gainmap.py)
        shrink = jpeg_shrink(header, width, height)
        load = (
            pyvips.Image.uhdrload_source if header.kind == "uhdr" else pyvips.Image.jpegload_source
        )
        image = load(source, shrink=shrink, **options)
    elif header.kind == "png":
        shrink = 1
        image = pyvips.Image.pngload_source(source, **options)
    else:
        return pyvips.Image.thumbnail_source(
            source, width, height=height, size="force", option_string=f"fail_on={FAIL_ON}"
        )
    return _reduced(image, header, shrink, width, height)


def _reduced(
    image: pyvips.Image, header: Header, shrink: int, width: int, height: int
) -> pyvips.Image:
    """A decode (at 1/`shrink`) reduced to `width`x`height` (upright), then turned upright.

    A DCT-scaled JPEG takes one Lanczos-3 reduce on the source's grid; the DCT scale is
    itself a good box filter, so take all of it (as Pillow's draft() and sharp do;
    libvips' thumbnail keeps a factor of 2 for its resize and so decodes 4x the pixels).
    A full decode takes a resize with `FULL_DECODE_GAP`.
    """
    gain = gainmap.stored(image) if header.kind == "uhdr" else None
    sample = 2 if image.format in ("ushort", "short") else 1
    if image.width * image.height * image.bands * sample <= HOLD_DECODED_BYTES:
        # Reducing from memory is faster than pulling the reduce through the streaming
        # decode (94 against 100 ms for a 20 MP photo); large decodes still stream.
        image = image.copy_memory()
    # Resize as stored, where there are the most pixels, then turn the smaller result.
    orientation = image.get("orientation") if image.get_typeof("orientation") else 1
    turned = orientation in (5, 6, 7, 8)
    if turned:
        width, height = height, width
    source_width, source_height = (
        (header.height, header.width) if turned else (header.width, header.height)
    )
    if shrink > 1:  # a DCT-scaled JPEG, which has no alpha
        image = _reduce_on_grid(image, shrink, source_width, source_height, width, height)
    elif (width, height) != (image.width, image.height):
        image = resize(image, width, height, gap=FULL_DECODE_GAP)
    if orientation != 1:
        # Turning reads out of order, which a sequential decode cannot: hold the result first.
        image = image.copy_memory().autorot()
    return image if gain is None else gainmap.fitted(image, gain, orientation)


def _reduce_on_grid(
    image: pyvips.Image, shrink: int, source_width: int, source_height: int, width: int, height: int
) -> pyvips.Image:
    """Reduce a DCT-scaled decode to `width`x`height` on the source's own pixel grid.

    Decoded pixel `i` covers source pixels `[shrink*i, shrink*(i+1))`, and libvips drops
    a last, partial one. So scale from the source's size, not the decoded one (else rows
    drift by up to a pixel towards the far edge); and as libvips centres the reduced grid
    on the image it is given, repeat the edge pixel when that brings the image closer to
    the source's extent. The grid is then within a quarter of a decoded pixel of ideal
    (e.g. +3.9 dB PSNR at 900 wide for a 6028x3391 photo).
    """
    pad_x = 1 if 2 * (source_width % shrink) > shrink else 0
    pad_y = 1 if 2 * (source_height % shrink) > shrink else 0
    if pad_x or pad_y:
        image = image.embed(0, 0, image.width + pad_x, image.height + pad_y, extend="copy")
    image = image.reduce(
        source_width / (width * shrink), source_height / (height * shrink), kernel="lanczos3"
    )
    # Rounding can leave the result one pixel off the size asked for: fix the far edge.
    return image.embed(0, 0, width, height, extend="copy")


def to_output(image: pyvips.Image, colour_mode: str) -> pyvips.Image:
    """The decode's colours as its copies keep them: wide where the source is wider
    than sRGB and `colour_mode` is keep (COLOUR), else sRGB as `to_srgb` makes it.

    A wide source keeps its pixels and its own profile where that profile is compact
    (colour.is_compact: no transform at all); any other wide one becomes Display P3.
    An sRGB source or one with no profile costs nothing more: `is_srgb` decides first.
    """
    if colour_mode == "keep" and image.get_typeof("icc-profile-data"):
        profile = image.get("icc-profile-data")
        rgb = image.interpretation in ("srgb", "rgb16") and image.bands in (3, 4)
        if rgb and not colour.is_srgb(profile) and colour.is_wide(profile):
            if not colour.is_compact(profile):
                image = image.icc_transform("p3", embedded=True)
            return image.colourspace("srgb") if image.format != "uchar" else image
    image = to_srgb(image)
    if image.get_typeof("icc-profile-data"):  # sRGB's, or sRGB in all but name
        image = image.copy()
        image.remove("icc-profile-data")  # a copy carries a profile only when it is wide
    return image


def to_srgb(image: pyvips.Image) -> pyvips.Image:
    """Convert to sRGB after the resize, where there are fewest pixels to convert.

    Only a real conversion is paid for: an image with no profile is taken as sRGB, and
    so is an RGB image whose profile is sRGB in all but name (colour.is_srgb).
    """
    if image.get_typeof("icc-profile-data"):
        rgb = image.interpretation in ("srgb", "rgb16") and image.bands in (3, 4)
        if not (rgb and colour.is_srgb(image.get("icc-profile-data"))):
            image = image.icc_transform("srgb", embedded=True)
    elif image.interpretation == "cmyk":
        image = image.icc_transform("srgb", input_profile="cmyk")
    if image.interpretation != "srgb" or image.format != "uchar":
        image = image.colourspace("srgb")  # grey, 16-bit and what the profile left
    return image


def render(
    image: pyvips.Image,
    header: Header,
    spec: SizeSpec,
    fmt: str,
    quality: int,
    crop: str = "attention",
) -> Rendition:
    """Resize (and crop) the decoded image to `spec` and encode it as `fmt`."""
    return encode(sized(image, header, spec, crop), spec, fmt, quality)


def sized(image: pyvips.Image, header: Header, spec: SizeSpec, crop: str) -> pyvips.Image:
    """The decoded image made to `spec` (sizes computed from the original), in memory.

    A cover box is cut where `crop` (fit.CROPS) says, from the image resized to cover it;
    a gain map, if the decode carries one, is made to follow (app/image/gainmap.py).
    """
    width, height = spec.scaled(header.width, header.height)
    resized = image
    if (width, height) != (image.width, image.height):
        resized = resize(image, width, height)
    cut = fit.crop(resized, *spec.fit(header.width, header.height), crop)
    if gainmap.carried(image):
        cut = gainmap.follow(cut, image, resized)
    return cut.copy_memory()


def encode(image: pyvips.Image, spec: SizeSpec, fmt: str, quality: int) -> Rendition:
    """One rendition of a sized image; alpha flattened onto white for a format without it,
    and with what `fmt` can carry of the decode's profile, gain map and rights (carry.py)."""
    if image.hasalpha() and not FORMATS[fmt].alpha:
        image = image.flatten(background=[255, 255, 255]).cast("uchar")
    page_height = image.get("page-height") if image.get_typeof("page-height") else image.height
    out = carry.outgoing(image, fmt)
    data = formats.encode(out.image, fmt, quality, keep=out.keep)
    return Rendition(spec, image.width, page_height, fmt, data, out.colour_space, out.hdr)


def resize(image: pyvips.Image, width: int, height: int, gap: float = 2.0) -> pyvips.Image:
    """Lanczos-3 to `width`x`height`, after a box shrink by the integer part of factor / `gap`."""
    hscale, vscale = width / image.width, height / image.height
    if not image.hasalpha():
        return image.resize(hscale, vscale=vscale, kernel="lanczos3", gap=gap)
    # Premultiply so that transparent pixels do not bleed their colour into edges.
    resized = image.premultiply().resize(hscale, vscale=vscale, kernel="lanczos3", gap=gap)
    return resized.unpremultiply().cast(image.format)


def _encode(image: pyvips.Image, fmt: str, quality: int) -> bytes:
    return formats.encode(image, fmt, quality)


_resize = resize  # the name bench/stages.py knows


def megapixels(pixels: int) -> str:
    """`12.1 MP`, rounded down, as the limits' messages say it."""
    return f"{math.floor(pixels / 1e6 * 10) / 10:g} MP"
