"""Damaged versus untidy JPEG: missing data is refused, bytes between segments are not damage."""

from __future__ import annotations

import io
import random
import struct

import images
import pytest
import pyvips
from helpers import render

from app.config import settings as config
from app.config.settings import Settings
from app.errors import BadImage
from app.image import jpegdata
from app.renditions import decoded

EOI = b"\xff\xd9"


def process(data: bytes, settings: Settings) -> decoded.Decoded:
    """The function's own decode path: header, then the one decode, as pipeline does."""
    opened = decoded.opened(io.BytesIO(data).read, len(data), "s3://b/k.jpg", 100_000_000)
    return decoded.decode(opened, ("jpeg",), settings, "s3://b/k.jpg")


@pytest.fixture
def settings() -> Settings:
    return config.load({})


PROGRESSIVE = bytes(images.upright(640, 480).jpegsave_buffer(interlace=True))
BASELINE = bytes(images.upright(640, 480).jpegsave_buffer(Q=85))


def test_a_progressive_jpeg_cut_at_each_scan_boundary_is_refused_whatever_follows(settings):
    scans = [at for at, code in images.jpeg_segments(PROGRESSIVE) if code == 0xDA]
    assert len(scans) == 10  # libjpeg's default progression: 10 scans for YCbCr
    assert process(PROGRESSIVE, settings).image.width == 640  # whole, it decodes

    # libjpeg itself decodes every one of these without a warning.
    for at in scans[1:]:
        pyvips.Image.jpegload_buffer(PROGRESSIVE[:at] + EOI, fail_on="warning").copy_memory()
    # Cut before scan `at`, then the end marker; or then a restart marker and the end;
    # or then the rest of the file's headers (a DHT segment) and the end.
    at_dht = PROGRESSIVE.index(b"\xff\xc4")
    dht = PROGRESSIVE[
        at_dht : at_dht + 2 + struct.unpack(">H", PROGRESSIVE[at_dht + 2 : at_dht + 4])[0]
    ]
    refused = {}
    for at in scans[1:]:
        for tail in (EOI, b"\xff\xd0" + EOI, dht + EOI):
            with pytest.raises(BadImage) as caught:
                process(PROGRESSIVE[:at] + tail, settings)
            refused[at, tail] = str(caught.value)
    assert len(refused) == 27
    assert refused[scans[1], EOI] == (
        "s3://b/k.jpg is damaged: its JPEG scans end before the picture is complete "
        "(component 1 of 3 lacks coefficients 1-63)"
    )
    assert refused[scans[-1], EOI] == (
        "s3://b/k.jpg is damaged: its JPEG scans end before the picture is complete "
        "(component 1 of 3 has coefficients 1-63 not refined to their last bit)"
    )


@pytest.mark.parametrize("data", [BASELINE, PROGRESSIVE], ids=["baseline", "progressive"])
def test_a_jpeg_cut_at_any_segment_boundary_with_an_end_marker_is_refused(data, settings):
    # Every boundary before the end marker: after the last scan nothing is missing.
    cuts = [at for at, _ in images.jpeg_segments(data)[:-1]]

    decoded_at = []
    for at in cuts:
        try:
            process(data[:at] + EOI, settings)
        except BadImage:
            continue
        decoded_at.append(at)

    assert len(cuts) > 8
    assert decoded_at == []


@pytest.mark.parametrize("data", [BASELINE, PROGRESSIVE], ids=["baseline", "progressive"])
@pytest.mark.parametrize("junk", [b"\x00", b"\x00\x00\x00\x00", b"\xff\x00", b"junk\r\n"])
def test_bytes_between_segments_are_untidy_not_damaged(data, junk, settings):
    messy = images.untidy_jpeg(data, junk)
    with pytest.raises(pyvips.Error, match="extraneous bytes before marker"):
        pyvips.Image.jpegload_buffer(messy, fail_on="warning").copy_memory()

    tidy = process(data, settings).image
    image = process(messy, settings).image

    assert (image.width, image.height) == (tidy.width, tidy.height)
    assert (image - tidy).abs().max() == 0  # the same pixels as the file without them
    assert images.top_left_is_red(images.load(render(messy)[-1].data))


@pytest.mark.parametrize("read_size", [1, 2, 3, 7, 4096])
@pytest.mark.parametrize("data", [BASELINE, PROGRESSIVE, images.png()], ids=["jpeg", "prog", "png"])
def test_a_tidy_stream_passes_byte_for_byte_whatever_the_chunking(data, read_size):
    source = io.BytesIO(data)
    stream = jpegdata.Stream(lambda n: source.read(min(n, read_size)))

    out = b"".join(iter(lambda: stream.read(5), b""))

    assert out == data
    assert stream.dropped == 0
    assert stream.incomplete() is None


def test_untidy_bytes_are_counted_and_dropped_across_chunk_boundaries():
    messy = images.untidy_jpeg(PROGRESSIVE, b"\x00\x00\x00")
    added = len(messy) - len(PROGRESSIVE)
    source = io.BytesIO(messy)
    stream = jpegdata.Stream(lambda n: source.read(min(n, 2)))

    out = b"".join(iter(lambda: stream.read(3), b""))

    assert out == PROGRESSIVE
    assert stream.dropped == added > 0


def test_any_bytes_at_all_pass_through_without_an_exception():
    # libvips calls `read` from C, where an exception cannot pass: flipped bytes, cuts
    # and garbage end in bytes for the decoder to judge, never in a raise or a hang.
    rng = random.Random(25)
    for n in range(300):
        data = bytearray(rng.choice([BASELINE, PROGRESSIVE])[: rng.randrange(2, 9000)])
        for _ in range(rng.randrange(0, 20)):
            data[rng.randrange(len(data))] = rng.choice(
                [0x00, 0xFF, 0xDA, 0xD9, 0xC2, rng.randrange(256)]
            )
        source, size = io.BytesIO(bytes(data)), rng.choice([1, 3, 64, 4096])
        stream = jpegdata.Stream(lambda n, s=source, k=size: s.read(min(n, k)))

        out = b"".join(iter(lambda st=stream: st.read(rng.choice([1, 7, 4096])), b""))

        assert len(out) + stream.dropped == len(data), n
        stream.incomplete()  # answers, whatever the headers said
