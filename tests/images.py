"""Test fixtures made with pyvips: every image kind the function must handle, no files.

The upright picture has a red block in its top-left corner and is grey
elsewhere, so orientation (rotation and mirroring) can be checked by
sampling two corners.
"""

from __future__ import annotations

import io
import random
import struct
import tempfile
import zlib
from functools import cache
from pathlib import Path

import pyvips

RED = (220, 20, 20)
GREY = (128, 128, 128)

# The transform that turns an upright picture into what a camera stores for
# EXIF orientation N (the inverse of what a viewer applies on display).
_STORE = {
    1: lambda im: im,
    2: lambda im: im.fliphor(),
    3: lambda im: im.rot180(),
    4: lambda im: im.flipver(),
    5: lambda im: im.rot90().fliphor(),  # transpose, its own inverse
    6: lambda im: im.rot270(),
    7: lambda im: im.rot270().fliphor(),  # transverse, its own inverse
    8: lambda im: im.rot90(),
}


def upright(width: int = 800, height: int = 600) -> pyvips.Image:
    """An sRGB picture with a red top-left block; the rest is grey with a soft gradient."""
    x = pyvips.Image.xyz(width, height)[0]
    texture = (x * (40 / width)).cast("uchar")  # fine detail for the codecs to chew on
    grey = (texture + GREY[0] - 20).bandjoin([texture + GREY[1] - 20, texture + GREY[2] - 20])
    block = pyvips.Image.black(width // 4, height // 4).new_from_image(list(RED))
    return grey.cast("uchar").insert(block.cast("uchar"), 0, 0).copy(interpretation="srgb")


def with_orientation(
    orientation: int, width: int = 800, height: int = 600, fmt: str = "jpeg"
) -> bytes:
    """A JPEG (or PNG, in an eXIf chunk) whose pixels are stored for EXIF `orientation`
    and whose tag says so."""
    stored = _STORE[orientation](upright(width, height)).copy()
    stored.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    if fmt == "png":
        return bytes(stored.pngsave_buffer())
    return bytes(stored.jpegsave_buffer(Q=90))


def with_private_metadata() -> bytes:
    """A JPEG carrying GPS, an author, XMP and an ICC profile: none may leak into copies."""
    image = upright(640, 480).copy()
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd3-GPSLatitude", "51/1 30/1 0/1")
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd3-GPSLatitudeRef", "N")
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Artist", "A. Person")
    image.set_type(pyvips.GValue.blob_type, "xmp-data", b'<x:xmpmeta xmlns:x="adobe:ns:meta/"/>')
    return bytes(image.icc_transform("srgb", embedded=False).jpegsave_buffer(keep="all"))


def cmyk(*, profile: bool = True) -> bytes:
    """A CMYK JPEG, with or without its ICC profile."""
    image = upright(500, 400).icc_export(output_profile="cmyk")
    if not profile:
        image = image.copy()
        image.remove("icc-profile-data")
    return bytes(image.jpegsave_buffer(Q=90))


def sixteen_bit_png() -> bytes:
    """A 16-bit RGB PNG."""
    return bytes(
        (upright(500, 400).cast("ushort") * 257)
        .copy(interpretation="rgb16")
        .cast("ushort")
        .pngsave_buffer()
    )


def alpha_png(alpha: int = 0) -> bytes:
    """An RGBA PNG whose alpha is `alpha` everywhere (0: fully transparent)."""
    image = upright(500, 400)
    return bytes(image.bandjoin(alpha).copy(interpretation="srgb").pngsave_buffer())


def grey_jpeg() -> bytes:
    return bytes(upright(500, 400).colourspace("b-w").jpegsave_buffer())


def progressive_jpeg(width: int = 1600, height: int = 1200) -> bytes:
    return bytes(upright(width, height).jpegsave_buffer(interlace=True))


def jpeg(width: int = 1600, height: int = 1200) -> bytes:
    return bytes(upright(width, height).jpegsave_buffer(Q=85))


def png(width: int = 800, height: int = 600) -> bytes:
    return bytes(upright(width, height).pngsave_buffer())


def webp(width: int = 800, height: int = 600) -> bytes:
    return bytes(upright(width, height).webpsave_buffer())


def avif(width: int = 640, height: int = 480) -> bytes:
    return bytes(upright(width, height).heifsave_buffer(compression="av1", effort=0))


def gif(width: int = 640, height: int = 480) -> bytes:
    return bytes(upright(width, height).gifsave_buffer())


def animated_gif(width: int = 320, height: int = 240) -> bytes:
    """Three different frames, the first upright; stacked with page-height, as libvips does."""
    first = upright(width, height)
    frames = [first, first.invert(), first.flipver()]
    strip = pyvips.Image.arrayjoin(frames, across=1).copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", height)
    return bytes(strip.gifsave_buffer())


def forged_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header (IHDR, CRC fixed) claims `width` x `height` pixels."""
    data = bytearray(pyvips.Image.black(8, 8).cast("uchar").pngsave_buffer())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    return data[: int(len(data) * keep)]


def load(data: bytes) -> pyvips.Image:
    """Decode bytes as a reader would (no autorotation)."""
    return pyvips.Image.new_from_buffer(data, "")


def is_red(pixel: list[float]) -> bool:
    return pixel[0] > 150 and pixel[1] < 90 and pixel[2] < 90


def top_left_is_red(image: pyvips.Image) -> bool:
    """True if the picture shows upright: red top-left, not red at the other corners."""
    w, h = image.width, image.height
    corners = [
        image(int(w * x), int(h * y))
        for x, y in ((0.05, 0.05), (0.95, 0.05), (0.05, 0.95), (0.95, 0.95))
    ]
    return is_red(corners[0]) and not any(is_red(c) for c in corners[1:])


def tiff(width: int = 640, height: int = 480, *, deflate: bool = False, trailer: int = 0) -> bytes:
    """An RGB TIFF laid out as scanners and cameras write it: the directory first, then
    strips of 16 rows (deflated or not), then `trailer` bytes no tag points at.

    libvips' own tiffsave puts the directory last, so a cut copy of it has no header
    at all; this layout is the one a cut leaves decodable-looking.
    """
    rows = 16
    pixels = upright(width, height).write_to_memory()
    stride = width * 3
    strips = [pixels[y * stride : (y + rows) * stride] for y in range(0, height, rows)]
    if deflate:
        strips = [zlib.compress(strip) for strip in strips]
    tags = [  # (tag, type, count, value or None for an offset filled below)
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 3, None),  # BitsPerSample 8,8,8
        (259, 3, 1, 8 if deflate else 1),
        (262, 3, 1, 2),  # RGB
        (273, 4, len(strips), None),  # StripOffsets
        (277, 3, 1, 3),
        (278, 4, 1, rows),
        (279, 4, len(strips), None),  # StripByteCounts
        (284, 3, 1, 1),  # chunky
    ]
    ifd_size = 2 + 12 * len(tags) + 4
    bits_at = 8 + ifd_size
    offsets_at = bits_at + 6
    counts_at = offsets_at + 4 * len(strips)
    data_at = counts_at + 4 * len(strips)
    offsets, position = [], data_at
    for strip in strips:
        offsets.append(position)
        position += len(strip)
    extra = {258: bits_at, 273: offsets_at, 279: counts_at}
    out = bytearray(b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(tags)))
    for tag, kind, count, value in tags:
        if value is None:
            value = extra[tag] if count > 1 or tag == 258 else offsets[0]
        packed = struct.pack("<H", value) + b"\0\0" if kind == 3 else struct.pack("<I", value)
        out += struct.pack("<HHI", tag, kind, count) + packed
    out += struct.pack("<I", 0)
    out += struct.pack("<3H", 8, 8, 8)
    out += struct.pack(f"<{len(strips)}I", *offsets)
    out += struct.pack(f"<{len(strips)}I", *(len(s) for s in strips))
    assert len(out) == data_at
    for strip in strips:
        out += strip
    return bytes(out) + bytes(trailer)


# What a format puts at its end: appended to a cut file, it hides the cut from a
# decoder that stops at the marker (JPEG's EOI, PNG's IEND chunk, GIF's trailer).
END_MARKERS = {
    "jpeg": b"\xff\xd9",
    "png": bytes.fromhex("0000000049454e44ae426082"),
    "gif": b"\x3b",
}


def damage_sources() -> dict[str, tuple[bytes, bytes]]:
    """One file of every accepted kind, with the end marker its format knows (or b"")."""
    image = upright(640, 480)
    return {
        "jpeg-baseline": (bytes(image.jpegsave_buffer(Q=85)), END_MARKERS["jpeg"]),
        "jpeg-progressive": (bytes(image.jpegsave_buffer(interlace=True)), END_MARKERS["jpeg"]),
        "png": (bytes(image.pngsave_buffer()), END_MARKERS["png"]),
        "png-interlaced": (bytes(image.pngsave_buffer(interlace=True)), END_MARKERS["png"]),
        "webp": (bytes(image.webpsave_buffer()), b""),
        "gif": (bytes(image.gifsave_buffer()), END_MARKERS["gif"]),
        "tiff": (tiff(640, 480), b""),
        "tiff-deflate": (tiff(640, 480, deflate=True), b""),
        "tiff-jpeg": (bytes(image.tiffsave_buffer(compression="jpeg", tile=True)), b""),
        "avif": (bytes(image.heifsave_buffer(compression="av1", effort=0)), b""),
        "avif-lossless": (bytes(image.heifsave_buffer(compression="av1", lossless=True)), b""),
    }


def forged_jpeg(width: int, height: int) -> bytes:
    """A tiny JPEG (a few hundred bytes) whose frame header claims `width` x `height`."""
    data = bytearray(pyvips.Image.black(16, 16).cast("uchar").jpegsave_buffer())
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def flat(width: int, height: int, bands: int = 3) -> pyvips.Image:
    """One colour everywhere: what compresses best, in every format."""
    image = (pyvips.Image.black(width, height, bands=bands) + 128).cast("uchar")
    return image.copy(interpretation="srgb" if bands == 3 else "b-w")


# Text that libvips' matrix loader reads as a 4x3 image (31 bytes).
MATRIX_TEXT = b"4 3\n1 2 3 4\n5 6 7 8\n9 10 11 12\n"


def vips_native(width: int = 64, height: int = 48) -> bytes:
    """An image in libvips' own .v format."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "image.v"  # libvips writes .v files only to a named file
        upright(width, height).vipssave(str(path))
        return path.read_bytes()


def solid_jpeg(colour: tuple[int, int, int], width: int = 640, height: int = 480) -> bytes:
    """One colour all over: tells which of two uploads a copy was made from."""
    image = pyvips.Image.black(width, height).new_from_image(list(colour)).cast("uchar")
    return bytes(image.copy(interpretation="srgb").jpegsave_buffer(Q=90))


def mean_colour(image: pyvips.Image) -> tuple[float, ...]:
    """The average of each band."""
    return tuple(image.extract_band(band).avg() for band in range(3))


def animation(
    fmt: str = "gif",
    width: int = 320,
    height: int = 240,
    delays: tuple[int, ...] = (80, 160, 240),
    loop: int = 3,
    frames: list[pyvips.Image] | None = None,
) -> bytes:
    """An animated GIF or WebP with these frame `delays` (ms) and `loop` count.

    Unless `frames` are given: the upright picture, its negative, and it upside down.
    """
    first = upright(width, height)
    frames = frames or [first, first.invert(), first.flipver()][: len(delays)]
    strip = pyvips.Image.arrayjoin(frames, across=1).copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", frames[0].height)
    strip.set_type(pyvips.GValue.array_int_type, "delay", list(delays))
    strip.set_type(pyvips.GValue.gint_type, "loop", loop)
    if fmt == "webp":
        return bytes(strip.webpsave_buffer(Q=90))
    return bytes(strip.gifsave_buffer())


def frames_of(data: bytes) -> list[pyvips.Image]:
    """Every frame of an animation (one for a still image)."""
    image = pyvips.Image.new_from_buffer(data, "")
    if str(image.get("vips-loader")).startswith(("gif", "webp")):  # the loaders with n
        image = pyvips.Image.new_from_buffer(data, "", n=-1)
    page = image.get("page-height") if image.get_typeof("page-height") else image.height
    return [image.crop(0, y, image.width, page) for y in range(0, image.height, page)]


def salient(width: int = 1200, height: int = 600, x: int = 950, y: int = 250) -> pyvips.Image:
    """A flat grey picture with one red-and-white checked square (120 px) at `x`, `y`,
    and a thin blue cross at its very centre."""
    image = pyvips.Image.black(width, height).new_from_image([110, 110, 110]).cast("uchar")
    checks = pyvips.Image.xyz(120, 120) // 15
    board = ((checks[0] + checks[1]) % 2 == 0).ifthenelse([255, 255, 255], [230, 0, 0])
    image = image.insert(board.cast("uchar"), x, y)
    blue = pyvips.Image.black(4, 40).new_from_image([0, 0, 255]).cast("uchar")
    image = image.insert(blue, width // 2 - 2, height // 2 - 20)
    image = image.insert(blue.rot90(), width // 2 - 20, height // 2 - 2)
    return image.copy(interpretation="srgb")


def is_blue(pixel: list[float]) -> bool:
    return pixel[2] > 150 and pixel[0] < 90 and pixel[1] < 90


def heic(
    image: pyvips.Image | None = None,
    *,
    orientation: int = 1,
    icc: bytes | None = None,
    quality: int = 90,
) -> bytes:
    """A HEIC (HEVC) photo, encoded by pillow-heif's x265 as an iPhone stores one.

    `image` (default `upright()`) is what a viewer shows: for `orientation` the pixels
    are stored turned, and the file carries both the HEIF transform (irot/imir, which
    pillow-heif's encoder writes from the EXIF tag) and the EXIF tag itself.
    """
    import pillow_heif  # the dev environment's; the image has it in its HEIC variant only
    from PIL import Image

    shown = upright() if image is None else image
    stored = _STORE[orientation](shown).copy_memory()
    mode = {3: "RGB", 4: "RGBA"}[stored.bands]
    pil = Image.frombytes(mode, (stored.width, stored.height), stored.write_to_memory())
    exif = Image.Exif()
    exif[0x0112] = orientation
    pillow_heif.register_heif_opener()
    out = io.BytesIO()
    extra = {"icc_profile": icc} if icc else {}
    pil.save(out, format="HEIF", quality=quality, exif=exif.tobytes(), **extra)
    return out.getvalue()


def jpeg_segments(data: bytes) -> list[tuple[int, int]]:
    """(offset, marker code) of every marker of a JPEG's main image, SOI excluded, EOI
    included: each is a boundary where a cut leaves whole segments (and scans) before it."""
    found, i = [], 2
    while i < len(data):
        code = data[i + 1]
        found.append((i, code))
        if code == 0xD9:
            return found
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        i += 2 + length
        if code == 0xDA:  # entropy-coded data runs to the next marker
            while not (data[i] == 0xFF and data[i + 1] not in (0x00, *range(0xD0, 0xD8))):
                i += 1
    raise AssertionError("no end-of-image marker")


def untidy_jpeg(data: bytes, junk: bytes) -> bytes:
    """`data` with `junk` before every marker that follows a segment (not a scan's data),
    where libjpeg warns 'N extraneous bytes before marker'."""
    out, last = bytearray(), 0
    marks = jpeg_segments(data)
    for (at, code), (_, previous) in zip(marks[1:], marks, strict=False):
        if previous != 0xDA and code != 0xD9:
            out += data[last:at] + junk
            last = at
    return bytes(out + data[last:])


@cache  # (made in Python: 30 ms for 10,000 pixels)
def photo(width: int = 100, height: int = 100, *, alpha: bool = False) -> pyvips.Image:
    """A photograph's kind of pixels, the same bytes every time (a seeded random): a sky
    that darkens downwards, six soft blobs of random colours over it, grain on every
    pixel; with `alpha`, a soft-edged oval cut-out with clear corners. No term of its
    ThumbHash is 0 or on a rounding edge by symmetry."""
    rnd = random.Random(15)
    blobs = []
    for _ in range(6):
        centre = (rnd.uniform(0, width), rnd.uniform(0, height))
        radius = rnd.uniform(0.15, 0.5) * max(width, height)
        blobs.append((*centre, radius, *(rnd.randrange(256) for _ in range(3))))
    data = bytearray()
    for y in range(height):
        for x in range(width):
            down = y / height
            pixel = [60 + 120 * down, 110 + 90 * down, 230 - 100 * down]
            for bx, by, radius, *colour in blobs:
                weight = max(0.0, 1 - ((x - bx) ** 2 + (y - by) ** 2) / radius**2)
                pixel = [p + (c - p) * weight for p, c in zip(pixel, colour, strict=True)]
            grain = rnd.randint(-8, 8)
            data += bytes(min(255, max(0, round(p) + grain)) for p in pixel)
            if alpha:  # 1 inside an oval, 0 in the corners, a soft edge between
                edge = ((2 * x / width - 1) ** 2 + (2 * y / height - 1) ** 2) ** 0.5
                data.append(min(255, max(0, round(255 * (1.25 - edge) * 3))))
    bands = 4 if alpha else 3
    image = pyvips.Image.new_from_memory(bytes(data), width, height, bands, "uchar")
    return image.copy(interpretation="srgb")


def gradient(width: int = 100, height: int = 100) -> pyvips.Image:
    """A gradient across, from clear red to opaque blue-green, every row the same."""
    data = b"".join(
        bytes((round(255 * (1 - t)), round(255 * t * t), 90 + round(120 * t), 40 + round(215 * t)))
        for _ in range(height)
        for t in (x / (width - 1) for x in range(width))
    )
    return pyvips.Image.new_from_memory(data, width, height, 4, "uchar").copy(interpretation="srgb")
