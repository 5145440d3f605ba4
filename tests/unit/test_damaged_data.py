"""Damaged data is never decoded into copies: cut files, forged headers, foreign loaders."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import images
import pytest
import pyvips
from helpers import render

from app.aws.objects import Download
from app.errors import BadImage, InputTooLarge, TransientError
from app.image import density, imaging, loaders
from app.model import ObjectRef

SOURCES = images.damage_sources()
# Cuts from near the start to near the end (2% before the end is still pixel data).
FRACTIONS = (0.05, 0.15, 0.25, 0.35, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98)


@pytest.mark.parametrize("kind", SOURCES)
def test_a_cut_file_never_decodes_with_or_without_its_end_marker(kind: str) -> None:
    data, end = SOURCES[kind]
    assert render(data)  # whole, it decodes
    decoded = []
    for fraction in FRACTIONS:
        for marker in {b"", end}:
            cut = data[: int(len(data) * fraction)] + marker
            try:
                render(cut)
            except (BadImage, InputTooLarge):
                continue
            decoded.append(f"{fraction:.0%}{' + end marker' if marker else ''}")
    assert not decoded, f"{kind} cut at {decoded} was decoded (padded) into copies"


def test_half_a_jpeg_and_an_end_of_image_marker_names_the_damage() -> None:
    data, end = SOURCES["jpeg-baseline"]

    with pytest.raises(BadImage) as caught:
        render(data[: len(data) // 2] + end)

    assert str(caught.value) == (
        "test.img could not be decoded (VipsJpeg: Corrupt JPEG data: premature end of data segment)"
    )


def header(data: bytes, max_pixels: int = 100_000_000) -> imaging.Header:
    """Read the header as the pipeline does: knowing the object's size."""
    source = imaging.stream_source(io.BytesIO(data).read)
    return imaging.read_header(source, max_pixels, "s3://b/k.jpg", size=len(data))


def test_a_header_that_promises_more_pixels_than_the_bytes_hold_is_refused_before_decoding():
    forged = images.forged_jpeg(10000, 9999)

    with pytest.raises(BadImage) as caught:
        header(forged)

    assert str(caught.value) == (
        f"s3://b/k.jpg is damaged: its header claims 10000x9999 in {len(forged):,} bytes; "
        "an undamaged JPEG of that size takes at least 97,647 bytes"
    )
    with pytest.raises(BadImage, match=r"claims 10000x10000 in \d+ bytes; an undamaged PNG"):
        header(images.forged_png(10000, 10000))


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("flat grey jpeg", images.flat(10000, 10000, 1).jpegsave_buffer(optimize_coding=True)),
        ("flat colour jpeg", images.flat(4000, 3000).jpegsave_buffer(optimize_coding=True)),
        ("flat progressive", images.flat(4000, 3000).jpegsave_buffer(interlace=True, Q=1)),
        ("flat grey png", images.flat(10000, 10000, 1).pngsave_buffer(compression=9)),
        ("flat 1-bit png", images.flat(10000, 10000, 1).pngsave_buffer(bitdepth=1)),
        ("flat webp", images.flat(4000, 3000).webpsave_buffer(lossless=True)),
        ("flat gif", images.flat(4000, 3000).gifsave_buffer()),
    ],
)
def test_highly_compressed_real_images_pass_the_bytes_per_pixel_floor(name: str, data) -> None:
    assert header(bytes(data)).width in (4000, 10000), name


@pytest.mark.corpus
def test_every_corpus_image_is_above_its_format_floor(corpus: Path) -> None:
    files = [*(corpus / "fixtures").iterdir(), *(corpus / "photos").glob("*.jpg")]
    checked = 0
    for path in files:
        try:
            image = pyvips.Image.new_from_file(str(path))
        except pyvips.Error:
            continue  # not an image libvips reads: the loader tests cover these
        kind = image.get("vips-loader").removesuffix("load")
        bits = image.get("bits-per-sample") if image.get_typeof("bits-per-sample") else 1
        needed = density.min_bytes(kind, image.width * image.height, bits)
        # The PNG bomb too: 65536x65536 in 521,990 bytes is at the deflate limit, so the
        # pixel limit, not this floor, refuses it (test_corpus pins its message).
        assert path.stat().st_size >= needed, (path.name, needed)
        checked += 1
    assert checked > 40


def libvips_loaders() -> set[str]:
    """Every loader this libvips has, by its source variant's nickname (or its own)."""
    names: set[str] = set()

    def add(gtype: int, a: object, b: object) -> object:
        nickname = pyvips.nickname_find(gtype)
        names.add(nickname.removesuffix("_base"))
        pyvips.type_map(gtype, add)
        return pyvips.ffi.NULL

    pyvips.type_map(pyvips.type_from_name("VipsForeignLoad"), add)
    families = {n.removesuffix("_source").removesuffix("_buffer") for n in names}
    return {f.removesuffix("load") for f in families}


# A file for each loader outside the accepted formats; (bytes, what the refusal names).
FOREIGN = {
    "matrix": (images.MATRIX_TEXT, "libvips reads it as matrix (matrixload_source)"),
    "vips": (images.vips_native(), "(JPEG, PNG, WebP, GIF, TIFF or HEIF/AVIF)"),  # untrusted
    "csv": (b"1,2,3\n4,5,6\n", "(JPEG, PNG, WebP, GIF, TIFF or HEIF/AVIF)"),
    "raw": (bytes(range(256)) * 16, "(JPEG, PNG, WebP, GIF, TIFF or HEIF/AVIF)"),
    "svg": (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>',
        "(JPEG, PNG, WebP, GIF, TIFF or HEIF/AVIF)",
    ),
}
ACCEPTED = {"jpeg", "uhdr", "png", "webp", "gif", "tiff", "heif"}


def test_every_libvips_loader_is_either_accepted_or_has_a_refused_sample() -> None:
    found = libvips_loaders()

    assert {n.removesuffix("load_source") for n in loaders.ACCEPTED} == ACCEPTED
    assert found >= ACCEPTED
    unknown = found - ACCEPTED - set(FOREIGN)
    assert not unknown, f"libvips has new loaders {sorted(unknown)}: add a sample to FOREIGN"


@pytest.mark.parametrize("loader", FOREIGN)
def test_a_file_for_any_other_loader_is_refused_with_what_libvips_saw(loader: str) -> None:
    data, named = FOREIGN[loader]

    with pytest.raises(BadImage) as caught:
        render(data)

    assert str(caught.value).startswith(
        "test.img is not an image in a supported format (JPEG, PNG, WebP, GIF, TIFF or HEIF/AVIF)"
    )
    assert named in str(caught.value)


def test_a_body_that_ends_before_its_content_length_is_a_transient_failure() -> None:
    data = images.jpeg(640, 480)
    ref = ObjectRef("b", "images/k.jpg")
    download = Download(ref, len(data), "etag", "image/jpeg", {}, io.BytesIO(data[:4000]))

    while download.read(4096):
        pass

    assert isinstance(download.failure, TransientError)
    assert str(download.failure) == (
        f"the download of s3://b/images/k.jpg ended after 4,000 of {len(data):,} bytes; "
        "left for a retry"
    )


def test_a_body_whose_read_raises_anything_is_a_transient_failure() -> None:
    class Broken(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            if self.tell() >= 100:
                raise ValueError("connection reset by peer")
            return super().read(min(size or 100, 100))

    ref = ObjectRef("b", "images/k.jpg")
    download = Download(ref, 1000, "etag", "image/jpeg", {}, Broken(bytes(1000)))

    assert download.read(4096) and not download.read(4096)

    assert str(download.failure) == (
        "reading s3://b/images/k.jpg failed after 100 of 1,000 bytes: connection reset by peer"
    )


def _png_chunk(kind: bytes, data: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(kind + data) if crc is None else crc
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


JPEG = images.jpeg(640, 480)
PNG = images.png(640, 480)


@pytest.mark.parametrize(
    "data",
    [
        JPEG + b"bytes after the end of the image" * 10,
        PNG + b"bytes after the end of the image" * 10,
        # An APP1 Exif block whose TIFF structure is garbage.
        JPEG[:2] + _jpeg_segment(0xE1, b"Exif\x00\x00II*\x00\xff\xff\xff\xffgarbage") + JPEG[2:],
        # A text chunk with a wrong CRC, after IHDR.
        PNG[:33] + _png_chunk(b"tEXt", b"Comment\x00hello", crc=12345) + PNG[33:],
    ],
    ids=["jpeg-trailing-bytes", "png-trailing-bytes", "jpeg-bad-exif", "png-bad-text-crc"],
)
def test_damage_outside_the_pixels_still_decodes(data: bytes) -> None:
    assert images.top_left_is_red(images.load(render(data)[-1].data))


def _failed_decode(data: bytes) -> pyvips.Error:
    """The error libvips raises on decoding `data` in full, as the pipeline asks it to."""
    with pytest.raises(pyvips.Error) as raised:
        pyvips.Image.new_from_buffer(data, "", fail_on="warning").copy_memory()
    return raised.value


def test_a_reason_names_this_objects_decoder_not_one_that_failed_beside_it() -> None:
    # libvips keeps one error buffer per process: an object decoded on another thread
    # may add its decoder's lines to this one's, before or after them.
    jpeg = images.jpeg(640, 480)
    own = _failed_decode(jpeg[: len(jpeg) // 2] + b"\xff\xd9")
    jpeg_line = loaders.why(own)
    assert jpeg_line.startswith("VipsJpeg:"), jpeg_line
    other = "tiff2vips: read error\nunable to copy to memory"

    for detail in (f"{own.detail}\n{other}", f"{other}\n{own.detail}"):
        mixed = pyvips.Error("unable to call jpegload_source", detail)
        assert loaders.why(mixed, "jpegload_source") == jpeg_line
        assert loaders.why(mixed, "tiffload_source") == "tiff2vips: read error"

    lost = pyvips.Error("unable to call jpegload_source", other)
    assert loaders.why(lost, "jpegload_source") == (
        "the JPEG decoder's message was lost: another object's error took libvips' one error buffer"
    )
    # Alone in the buffer, a decoder's lines are what they were.
    assert loaders.why(own, "jpegload_source") == jpeg_line


@pytest.mark.parametrize(
    ("kind", "loader", "line"),
    [
        ("webp", "webpload_source", "webp: unable to parse image"),
        ("gif", "gifload_source", "gifload_source: Unexpected end of GIF source data"),
    ],
)
def test_libvips_8_18s_own_decoder_lines_are_known_and_kept_apart(kind, loader, line) -> None:
    data, _ = SOURCES[kind]
    with pytest.raises(pyvips.Error) as raised:  # from a source, as the function reads
        source = pyvips.Source.new_from_memory(data[: len(data) // 2])
        pyvips.Image.new_from_source(source, "", fail_on="warning").copy_memory()
    own = raised.value
    assert loaders.why(own, loader) == line
    other = "tiff2vips: read error\nunable to copy to memory"

    for detail in (f"{own.detail}\n{other}", f"{other}\n{own.detail}"):
        mixed = pyvips.Error(f"unable to call {loader}", detail)
        assert loaders.why(mixed, loader) == line
        assert loaders.why(mixed, "tiffload_source") == "tiff2vips: read error"


def test_a_failed_sniff_leaves_nothing_in_libvips_error_buffer() -> None:
    pyvips.vips_lib.vips_error_clear()

    assert loaders.sniff(pyvips.Source.new_from_memory(b"not an image at all")) is None

    # Else its line would come out with the next object's error, as its reason.
    assert pyvips.ffi.string(pyvips.vips_lib.vips_error_buffer()) == b""


def _png_chunks(data: bytes) -> list[tuple[int, bytes]]:
    """(offset, type) of every chunk after the signature."""
    found, i = [], 8
    while i < len(data):
        length = struct.unpack(">I", data[i : i + 4])[0]
        found.append((i, data[i + 4 : i + 8]))
        i += 12 + length
    return found


@pytest.mark.parametrize("interlace", [False, True], ids=["png", "png-interlaced"])
def test_a_png_cut_at_any_chunk_boundary_before_its_end_is_refused_even_with_iend(interlace):
    # What libvips guarantees for PNG on its own: libpng checks that the image data's
    # compressed stream ends (and every chunk's CRC), so a whole IDAT chunk missing is
    # refused like a cut inside one. Only a cut just before IEND loses nothing.
    data = bytes(images.upright(1600, 1200).pngsave_buffer(interlace=interlace))
    chunks = _png_chunks(data)
    cuts = [at for at, kind in chunks[1:] if kind != b"IEND"]
    assert [kind for _, kind in chunks].count(b"IDAT") > 3

    decoded = []
    for at in cuts:
        try:
            render(data[:at] + images.END_MARKERS["png"])
        except BadImage:
            continue
        decoded.append(at)

    assert decoded == []
    [(iend, _)] = [c for c in chunks if c[1] == b"IEND"]
    assert render(data[:iend] + images.END_MARKERS["png"])  # nothing of the image was cut
