"""A HEIC photo from an iPhone, through the handler against a real S3 API (moto's server)."""

from __future__ import annotations

import json

import images
import pytest
from faults import fault_proxy
from harness import LambdaContext, s3_event


@pytest.fixture
def proxied(s3_endpoint, load_handler, monkeypatch):
    """The handler, cold-started against S3 through the proxy; yields (handler, proxy)."""
    with fault_proxy(s3_endpoint) as (endpoint, proxy):
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        yield load_handler(), proxy


def test_a_heic_photo_becomes_upright_jpeg_copies_and_a_manifest(s3, bucket, proxied):
    handler, proxy = proxied
    key = "images/2024/IMG_0001.HEIC"
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=images.heic(images.upright(1600, 1200), orientation=6),
        ContentType="image/heic",
    )

    result = handler.handler(s3_event(bucket, [key]), LambdaContext())

    assert result["processed"] == 1, result["results"][0].get("reason")
    for width in (300, 600, 900):
        copy_key = f"copy/2024/IMG_0001-{width}.jpg"
        head = s3.head_object(Bucket=bucket, Key=copy_key)
        assert head["ContentType"] == "image/jpeg"
        assert head["Metadata"]["source-format"] == "jpeg"
        copy = images.load(s3.get_object(Bucket=bucket, Key=copy_key)["Body"].read())
        assert (copy.width, copy.height) == (width, width * 3 // 4)
        assert images.top_left_is_red(copy)
    manifest = json.loads(
        s3.get_object(Bucket=bucket, Key="copy/2024/IMG_0001.json")["Body"].read()
    )
    assert (manifest["source"]["width"], manifest["source"]["height"]) == (1600, 1200)
    assert {r["format"] for r in manifest["renditions"]} == {"jpeg"}

    # Re-delivered: the .HEIC extension tells JPEG copies before any GET.
    proxy.requests.clear()
    again = handler.handler(s3_event(bucket, [key]), LambdaContext())
    assert again["results"][0]["reason"].startswith("up to date: every copy already exists")
    assert proxy.seen("GET", f"/{bucket}/{key}") == 0
