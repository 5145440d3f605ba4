"""Several formats per size, cover crops and kept animations, through the handler and S3."""

from __future__ import annotations

from typing import Any

import images
import pytest
import pyvips
from faults import fault_proxy
from harness import LambdaContext, s3_event

TYPES = {"jpg": "image/jpeg", "webp": "image/webp", "avif": "image/avif", "gif": "image/gif"}


def copies(s3: Any, bucket: str) -> list[str]:
    listing = s3.list_objects_v2(Bucket=bucket, Prefix="copy/")
    return sorted(o["Key"] for o in listing.get("Contents", []))


def test_one_upload_becomes_every_size_in_every_format_with_a_cover_crop(s3, bucket, load_handler):
    s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=images.with_orientation(6, 1600, 1200))
    handler = load_handler(
        MANIFEST="off", OUTPUT_FORMATS="jpeg,webp,avif", RESIZE_WIDTHS="300,900,200x200:cover"
    )

    result = handler.handler(s3_event(bucket, ["images/cat.jpg"]), LambdaContext())

    assert result["processed"] == 1, result
    sizes = {"300": (300, 225), "900": (900, 675), "200x200-cover": (200, 200)}
    expected = {f"copy/cat-{label}.{ext}" for label in sizes for ext in ("jpg", "webp", "avif")}
    assert set(copies(s3, bucket)) == expected
    outputs = {o["key"]: o for o in result["results"][0]["outputs"]}
    assert set(outputs) == expected
    for key in expected:
        label, ext = key.removeprefix("copy/cat-").rsplit(".", 1)
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ContentType"] == TYPES[ext] == outputs[key]["contentType"]
        assert head["Metadata"]["source-format"] == "jpeg"
        copy = images.load(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        assert copy.get("vips-loader").startswith({"jpg": "jpeg", "avif": "heif"}.get(ext, ext))
        assert (copy.width, copy.height) == sizes[label]
        assert (outputs[key]["width"], outputs[key]["height"]) == sizes[label]
        assert images.top_left_is_red(copy) or label == "200x200-cover"


def test_alpha_is_kept_for_webp_and_flattened_for_jpeg_from_one_decode(s3, bucket, load_handler):
    s3.put_object(Bucket=bucket, Key="images/logo.png", Body=images.alpha_png(alpha=0))
    handler = load_handler(MANIFEST="off", OUTPUT_FORMATS="jpeg,webp,source", RESIZE_WIDTHS="100")

    result = handler.handler(s3_event(bucket, ["images/logo.png"]), LambdaContext())

    assert result["processed"] == 1, result
    assert copies(s3, bucket) == ["copy/logo-100.jpg", "copy/logo-100.png", "copy/logo-100.webp"]

    def load(key: str) -> pyvips.Image:
        return images.load(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    jpeg, png, webp = (load(f"copy/logo-100.{ext}") for ext in ("jpg", "png", "webp"))
    assert jpeg.bands == 3 and min(jpeg(50, 50)) >= 250  # transparent became white
    assert png.bands == 4 and png(50, 50)[3] == 0
    assert webp.bands == 4 and webp(50, 50)[3] == 0


def test_a_redelivered_event_is_up_to_date_only_when_every_format_is(
    s3, bucket, s3_endpoint, load_handler, monkeypatch
):
    s3.put_object(Bucket=bucket, Key="images/cat.png", Body=images.png(800, 600))
    with fault_proxy(s3_endpoint) as (endpoint, proxy):
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        handler = load_handler(
            MANIFEST="off", OUTPUT_FORMATS="source,webp", RESIZE_WIDTHS="300,600"
        )
        event = s3_event(bucket, ["images/cat.png"])
        assert handler.handler(event, LambdaContext())["processed"] == 1
        assert len(copies(s3, bucket)) == 4

        again = handler.handler(event, LambdaContext())
        assert again["results"][0]["reason"].startswith("up to date: every copy already exists")

        # One copy of one format gone: the source is read and every copy made again.
        s3.delete_object(Bucket=bucket, Key="copy/cat-600.webp")
        proxy.requests.clear()
        third = handler.handler(event, LambdaContext())

    assert third["processed"] == 1
    assert proxy.seen("GET", f"/{bucket}/images/cat.png") == 1
    assert copies(s3, bucket) == [
        "copy/cat-300.png",
        "copy/cat-300.webp",
        "copy/cat-600.png",
        "copy/cat-600.webp",
    ]


@pytest.mark.parametrize("animation", ["keep", "first-frame"])
def test_an_animated_gif_stays_animated_with_animation_keep(
    s3, bucket, load_handler, animation: str
):
    data = images.animation("gif", 320, 240, delays=(80, 160, 240), loop=0)
    s3.put_object(Bucket=bucket, Key="images/spin.gif", Body=data)
    handler = load_handler(
        ANIMATION=animation,
        MANIFEST="off",
        OUTPUT_FORMATS="source,webp,jpeg",
        RESIZE_WIDTHS="160,64x64:cover",
    )

    result = handler.handler(s3_event(bucket, ["images/spin.gif"]), LambdaContext())

    assert result["processed"] == 1, result
    frames = 3 if animation == "keep" else 1
    for label, size in (("160", (160, 120)), ("64x64-cover", (64, 64))):
        for ext in ("gif", "webp", "jpg"):
            key = f"copy/spin-{label}.{ext}"
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            assert s3.head_object(Bucket=bucket, Key=key)["ContentType"] == TYPES[ext]
            made = images.frames_of(body)
            assert [(f.width, f.height) for f in made] == [size] * (1 if ext == "jpg" else frames)
            if ext != "jpg" and frames > 1:
                image = pyvips.Image.new_from_buffer(body, "", n=-1)
                assert list(image.get("delay")) == [80, 160, 240]
