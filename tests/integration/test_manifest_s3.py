"""The manifest per source, through the handler against a real S3 API (moto's server)."""

from __future__ import annotations

import base64
import json
from typing import Any

import images
import pyvips
from harness import LambdaContext, s3_event
from helpers import decode_thumbhash


def keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def read_manifest(s3: Any, bucket: str, key: str) -> dict[str, Any]:
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def test_the_manifest_lists_exactly_the_copies_written(s3, bucket, load_handler):
    source = "images/2024/my photoé.jpg"
    etag = s3.put_object(Bucket=bucket, Key=source, Body=images.with_orientation(6, 1600, 1200))[
        "ETag"
    ].strip('"')
    handler = load_handler(RESIZE_WIDTHS="300,600,128x128")

    result = handler.handler(s3_event(bucket, [source]), LambdaContext())

    assert result["processed"] == 1
    manifest_key = "copy/2024/my photoé.json"
    copies = [k for k in keys(s3, bucket, "copy/") if k != manifest_key]
    assert len(copies) == 3
    head = s3.head_object(Bucket=bucket, Key=manifest_key)
    assert head["ContentType"] == "application/json"
    # The copies' own metadata: the recursion guard's marker, the source's ETag, ...
    assert head["Metadata"] == s3.head_object(Bucket=bucket, Key=copies[0])["Metadata"]
    assert head["Metadata"]["rendition-of"] == "images/2024/my%20photo%C3%A9.jpg"
    assert (head["Metadata"]["source-etag"], head["Metadata"]["source-format"]) == (etag, "jpeg")
    manifest = read_manifest(s3, bucket, manifest_key)
    # Upright: the stored 1200x1600 turned by its EXIF orientation.
    assert manifest["source"] == {
        "bucket": bucket,
        "key": source,
        "etag": etag,
        "width": 1600,
        "height": 1200,
    }
    listed = sorted(manifest["renditions"], key=lambda r: r["key"])
    assert [r["key"] for r in listed] == copies
    for rendition in listed:
        head = s3.head_object(Bucket=bucket, Key=rendition["key"])
        copy = images.load(s3.get_object(Bucket=bucket, Key=rendition["key"])["Body"].read())
        assert rendition == {
            "key": rendition["key"],
            "format": "jpeg",
            "width": copy.width,
            "height": copy.height,
            "bytes": head["ContentLength"],
            "contentType": head["ContentType"],
            "colourSpace": "sRGB",  # an sRGB photo's copies carry no profile
            "hdr": False,
        }
    assert {(r["width"], r["height"]) for r in listed} == {(300, 225), (600, 450), (128, 96)}
    ratio, _, _ = decode_thumbhash(base64.b64decode(manifest["thumbhash"]))
    assert ratio == 7 / 5  # landscape 4:3, as the upright source
    # The grey texture: mostly grey, not the red corner.
    red, green, blue = (int(manifest["dominantColor"][i : i + 2], 16) for i in (1, 3, 5))
    assert max(red, green, blue) - min(red, green, blue) < 10


def test_the_dominant_colour_of_a_solid_upload_is_that_colour(s3, bucket, load_handler):
    solid = pyvips.Image.black(800, 600).new_from_image([200, 30, 90]).cast("uchar")
    png = bytes(solid.copy(interpretation="srgb").pngsave_buffer())
    s3.put_object(Bucket=bucket, Key="images/swatch.png", Body=png)
    handler = load_handler()

    handler.handler(s3_event(bucket, ["images/swatch.png"]), LambdaContext())

    assert read_manifest(s3, bucket, "copy/swatch.json")["dominantColor"] == "#c81e5a"


def test_manifest_off_writes_none(s3, bucket, load_handler):
    s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=images.jpeg(800, 600))
    handler = load_handler(MANIFEST="off")

    result = handler.handler(s3_event(bucket, ["images/cat.jpg"]), LambdaContext())

    assert result["processed"] == 1
    assert keys(s3, bucket, "copy/") == [f"copy/cat-{w}.jpg" for w in (300, 600, 900)]


def test_the_manifest_key_template(s3, bucket, load_handler):
    s3.put_object(Bucket=bucket, Key="images/a/cat.jpg", Body=images.jpeg(800, 600))
    handler = load_handler(MANIFEST_KEY_TEMPLATE="{prefix}manifests/{dir}{stem}.{ext}")

    handler.handler(s3_event(bucket, ["images/a/cat.jpg"]), LambdaContext())

    assert "copy/manifests/a/cat.json" in keys(s3, bucket, "copy/")


def test_a_manifest_under_a_source_prefix_is_never_processed(s3, bucket, load_handler):
    s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=images.jpeg(800, 600))
    handler = load_handler()
    handler.handler(s3_event(bucket, ["images/cat.jpg"]), LambdaContext())
    # Brought back under the source prefix (a sync, another bucket's function): its
    # metadata, the copies' own, stops it there.
    s3.copy_object(Bucket=bucket, Key="images/cat.json", CopySource=f"{bucket}/copy/cat.json")

    again = handler.handler(s3_event(bucket, ["images/cat.json"]), LambdaContext())

    assert again["results"][0]["status"] == "skipped"
    assert again["results"][0]["reason"] == (
        "object carries the 'rendition-of' metadata of a copy made by this function "
        "(recursion guard)"
    )


def test_a_missing_manifest_makes_the_source_out_of_date(s3, bucket, load_handler):
    s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=images.jpeg(800, 600))
    handler = load_handler()
    event = s3_event(bucket, ["images/cat.jpg"])
    handler.handler(event, LambdaContext())

    skipped = handler.handler(event, LambdaContext())["results"][0]
    s3.delete_object(Bucket=bucket, Key="copy/cat.json")
    made = handler.handler(event, LambdaContext())["results"][0]

    assert skipped["status"] == "skipped"
    assert skipped["reason"].endswith(", and the manifest")
    assert made["status"] == "processed"
    assert "copy/cat.json" in keys(s3, bucket, "copy/")
