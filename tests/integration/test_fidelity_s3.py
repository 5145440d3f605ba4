"""A wide-gamut Ultra HDR photo with its rights recorded, through the handler against a real
S3 API (moto's server): what each copy carries, and what the manifest says of it."""

from __future__ import annotations

import json

import pyvips
from fidelity_images import ARTIST, COPYRIGHT, ultra_hdr, with_rights
from harness import LambdaContext, s3_event

from app.image import colour, rights


def signed_ultra_hdr() -> bytes:
    """An Ultra HDR JPEG (Display P3, as libultrahdr writes it) with a camera's EXIF:
    creator and copyright beside GPS, a serial number and a make."""
    image = pyvips.Image.new_from_buffer(ultra_hdr(800, 600), "").copy()
    camera = pyvips.Image.new_from_buffer(with_rights(), "")
    image.set_type(pyvips.GValue.blob_type, "exif-data", bytes(camera.get("exif-data")))
    return bytes(image.jpegsave_buffer(Q=90, keep="all"))


def test_an_ultra_hdr_p3_photo_keeps_its_gain_map_colours_and_rights(s3, bucket, load_handler):
    data = signed_ultra_hdr()
    source = pyvips.Image.new_from_buffer(data, "")
    assert source.get("vips-loader") == "uhdrload_buffer"
    assert colour.is_wide(source.get("icc-profile-data"))
    assert source.get_typeof("exif-ifd3-GPSLatitude")
    s3.put_object(Bucket=bucket, Key="images/hdr.jpg", Body=data)
    handler = load_handler(RESIZE_WIDTHS="400", OUTPUT_FORMATS="jpeg,webp")

    result = handler.handler(s3_event(bucket, ["images/hdr.jpg"]), LambdaContext())

    assert result["processed"] == 1, result
    copies = {
        fmt: pyvips.Image.new_from_buffer(
            s3.get_object(Bucket=bucket, Key=f"copy/hdr-400.{ext}")["Body"].read(), ""
        )
        for fmt, ext in (("jpeg", "jpg"), ("webp", "webp"))
    }
    assert copies["jpeg"].get("vips-loader") == "uhdrload_buffer"
    gain = copies["jpeg"].get_gainmap()
    assert (gain.width, gain.height) == (200, 150)
    assert not copies["webp"].get_typeof("gainmap-data")
    for fmt, copy in copies.items():
        assert bytes(copy.get("icc-profile-data")) == bytes(source.get("icc-profile-data")), fmt
        found = rights._exif_tags(bytes(copy.get("exif-data")))
        assert found[rights.ARTIST][1].decode() == ARTIST, fmt
        assert found[rights.COPYRIGHT][1].decode() == COPYRIGHT, fmt
        assert not [f for f in copy.get_fields() if "GPS" in f or "Serial" in f], fmt
    manifest = json.loads(s3.get_object(Bucket=bucket, Key="copy/hdr.json")["Body"].read())
    assert [(r["format"], r["colourSpace"], r["hdr"]) for r in manifest["renditions"]] == [
        ("jpeg", "Display P3 Gamut with sRGB Transfer", True),
        ("webp", "Display P3 Gamut with sRGB Transfer", False),
    ]
