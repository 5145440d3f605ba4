"""The handler against a real S3 API over HTTP: uploads in, copies out."""

from __future__ import annotations

from typing import Any

import images
import pytest
from faults import fault_proxy
from harness import LambdaContext, s3_event, sample_event

from app.config import settings as config
from app.errors import TransientError
from app.renditions import recipe

JPEG = images.jpeg(1600, 1200)


def put(s3: Any, bucket: str, key: str, data: bytes, **extra: Any) -> str:
    return s3.put_object(Bucket=bucket, Key=key, Body=data, **extra)["ETag"].strip('"')


def keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def test_put_event_makes_three_copies_with_headers_and_metadata(s3, bucket, load_handler):
    etag = put(s3, bucket, "images/2024/my photoé.jpg", images.with_orientation(6, 1600, 1200))
    handler = load_handler()

    result = handler.handler(sample_event("s3-put.json", bucket), LambdaContext())

    expected = [f"copy/2024/my photoé-{w}.jpg" for w in (300, 600, 900)]
    assert keys(s3, bucket, "copy/") == sorted([*expected, "copy/2024/my photoé.json"])
    assert result["processed"] == 1 and result["failed"] == 0
    assert [o["key"] for o in result["results"][0]["outputs"]] == expected
    for key, width in zip(expected, (300, 600, 900), strict=True):
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ContentType"] == "image/jpeg"
        assert head["CacheControl"] == "public, max-age=31536000, immutable"
        assert head["Metadata"] == {
            "rendition-of": "images/2024/my%20photo%C3%A9.jpg",
            "source-etag": etag,
            "source-format": "jpeg",
            "source-sequencer": "0065F1A2B3C4D5E6F7",  # events/s3-put.json's: its order
            "recipe": recipe.tag(config.load({})),  # the default settings'
            "source-bucket": bucket,  # beside the key: the source's whole identity
        }
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        copy = images.load(body)
        assert (copy.width, copy.height) == (width, width * 3 // 4)
        assert images.top_left_is_red(copy)


def test_every_record_of_an_event_is_processed(s3, bucket, load_handler):
    put(s3, bucket, "images/batch/one.jpg", JPEG)
    put(s3, bucket, "images/batch/two+plus.png", images.png())
    put(s3, bucket, "images/batch/three.webp", images.webp())
    handler = load_handler()

    result = handler.handler(sample_event("s3-multi.json", bucket), LambdaContext())

    assert result["processed"] == 3
    made = [k for k in keys(s3, bucket, "copy/") if not k.endswith(".json")]  # and 3 manifests
    assert len(made) == 9
    types = {s3.head_object(Bucket=bucket, Key=k)["ContentType"] for k in made}
    assert types == {"image/jpeg", "image/png", "image/webp"}
    assert "copy/batch/two+plus-600.png" in made


def test_a_copy_never_triggers_another_round(s3, bucket, load_handler):
    put(s3, bucket, "images/2024/cat.jpg", JPEG)
    handler = load_handler()
    handler.handler(sample_event("s3-put-plain.json", bucket), LambdaContext())
    before = keys(s3, bucket)

    # S3 notifies the function of its own upload of a copy:
    event = sample_event("s3-put-plain.json", bucket)
    event["Records"][0]["s3"]["object"]["key"] = "copy/2024/cat-300.jpg"
    result = handler.handler(event, LambdaContext())

    assert result["results"][0]["status"] == "skipped"
    assert "recursion guard" in result["results"][0]["reason"]
    assert keys(s3, bucket) == before


def test_an_object_marked_as_a_copy_is_skipped_even_under_the_source_prefix(
    s3, bucket, load_handler
):
    put(s3, bucket, "images/2024/cat.jpg", JPEG, Metadata={"rendition-of": "images/x.jpg"})
    handler = load_handler()

    result = handler.handler(sample_event("s3-put-plain.json", bucket), LambdaContext())

    assert result["results"][0] == {
        "bucket": bucket,
        "key": "images/2024/cat.jpg",
        "status": "skipped",
        "outputs": [],
        "reason": "object carries the 'rendition-of' metadata of a copy made by this "
        "function (recursion guard)",
    }
    assert keys(s3, bucket, "copy/") == []


def test_permanent_failure_is_reported_not_raised_and_others_proceed(s3, bucket, load_handler):
    put(s3, bucket, "images/batch/one.jpg", b"this is not an image\n")
    put(s3, bucket, "images/batch/two+plus.png", images.png())
    put(s3, bucket, "images/batch/three.webp", images.truncated(images.webp(), 0.4))
    handler = load_handler()

    result = handler.handler(sample_event("s3-multi.json", bucket), LambdaContext())

    statuses = {r["key"]: (r["status"], r.get("reason", "")) for r in result["results"]}
    assert statuses["images/batch/two+plus.png"][0] == "processed"
    assert statuses["images/batch/one.jpg"] == (
        "failed",
        f"s3://{bucket}/images/batch/one.jpg is not an image in a supported format "
        "(JPEG, PNG, WebP, GIF, TIFF or HEIF/AVIF)",
    )
    assert statuses["images/batch/three.webp"][0] == "failed"
    assert keys(s3, bucket, "copy/") == [
        *(f"copy/batch/two+plus-{w}.png" for w in (300, 600, 900)),
        "copy/batch/two+plus.json",
    ]


def test_deleted_object_is_skipped(s3, bucket, load_handler):
    handler = load_handler()

    result = handler.handler(sample_event("s3-put-plain.json", bucket), LambdaContext())

    assert result["results"][0]["status"] == "skipped"
    assert result["results"][0]["reason"] == f"s3://{bucket}/images/2024/cat.jpg no longer exists"


def test_transient_failure_is_raised_after_the_other_records_are_done(
    s3, bucket, s3_endpoint, load_handler, monkeypatch
):
    put(s3, bucket, "images/batch/one.jpg", JPEG)
    put(s3, bucket, "images/batch/two+plus.png", images.png())
    put(s3, bucket, "images/batch/three.webp", images.webp())
    with fault_proxy(s3_endpoint) as (endpoint, proxy):
        proxy.rules["batch/two+plus.png"] = "SlowDown"
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        handler = load_handler()

        with pytest.raises(TransientError) as raised:
            handler.handler(sample_event("s3-multi.json", bucket), LambdaContext())

    assert str(raised.value).startswith("1 of 3 objects failed transiently and will be retried")
    # The source's HEAD met the throttle: a HEAD's error has no body, so no S3 error code.
    assert str(raised.value).endswith(
        f"s3:GetObject on s3://{bucket}/images/batch/two+plus.png failed after retries: "
        "503 Service Unavailable"
    )
    assert proxy.hits["batch/two+plus.png"] == 4  # botocore's standard mode: 4 attempts
    made = keys(s3, bucket, "copy/")
    assert len(made) == 6 + 2 and not any("two+plus" in k for k in made)  # and 2 manifests


def test_access_denied_names_the_permission_and_resource(
    s3, bucket, s3_endpoint, load_handler, monkeypatch
):
    put(s3, bucket, "images/2024/cat.jpg", JPEG)
    with fault_proxy(s3_endpoint) as (endpoint, proxy):
        proxy.rules["copy/2024/cat-600"] = "AccessDenied"
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        handler = load_handler()
        result = handler.handler(sample_event("s3-put-plain.json", bucket), LambdaContext())

    outcome = result["results"][0]
    assert outcome["status"] == "failed" and "retryable" not in outcome
    assert outcome["reason"].startswith(
        f"s3:PutObject was denied on arn:aws:s3:::{bucket}/copy/2024/cat-600.jpg: the function's "
        "role needs s3:PutObject on that resource"
    )


def test_output_bucket_and_format_settings(s3, bucket, load_handler):
    other = f"{bucket}-out"
    s3.create_bucket(Bucket=other)
    put(s3, bucket, "images/2024/cat.jpg", JPEG)
    handler = load_handler(OUTPUT_BUCKET=other, OUTPUT_FORMAT="webp", RESIZE_WIDTHS="64x64,200")

    handler.handler(sample_event("s3-put-plain.json", bucket), LambdaContext())

    assert keys(s3, bucket, "copy/") == []
    assert keys(s3, other) == [
        "copy/2024/cat-200.webp",
        "copy/2024/cat-64x64.webp",
        "copy/2024/cat.json",
    ]
    head = s3.head_object(Bucket=other, Key="copy/2024/cat-64x64.webp")
    assert head["ContentType"] == "image/webp"


def test_too_large_is_refused_by_its_head_not_by_the_events_size(s3, bucket, load_handler):
    # The event's size may be of a version replaced since (issue 25: the current-version
    # check comes first); the HEAD's is the object's, and no GET is made.
    put(s3, bucket, "images/2024/cat.jpg", JPEG)
    handler = load_handler(MAX_INPUT_BYTES="1000")
    event = sample_event("s3-put-plain.json", bucket)
    event["Records"][0]["s3"]["object"]["size"] = 5000

    result = handler.handler(event, LambdaContext())

    assert result["results"][0]["reason"] == (
        f"s3://{bucket}/images/2024/cat.jpg is {len(JPEG):,} bytes; limit is 1,000 bytes "
        "(MAX_INPUT_BYTES)"
    )


def test_a_decode_that_cannot_fit_the_memory_size_fails_and_a_streaming_one_proceeds(
    s3, bucket, load_handler
):
    # 300 MB leaves 44 MB for decodes: a 12 MP progressive JPEG is estimated at 85 MB
    # (its coefficients: see app/image/memory.py); the same picture as a baseline JPEG streams
    # (34 MB at any size).
    put(s3, bucket, "images/progressive.jpg", images.progressive_jpeg(4000, 3000))
    put(s3, bucket, "images/baseline.jpg", images.jpeg(4000, 3000))
    handler = load_handler(AWS_LAMBDA_FUNCTION_MEMORY_SIZE="300")

    result = handler.handler(
        s3_event(bucket, ["images/progressive.jpg", "images/baseline.jpg"]), LambdaContext()
    )

    progressive, baseline = result["results"]
    assert progressive["status"] == "failed" and "retryable" not in progressive
    assert progressive["reason"] == (
        f"s3://{bucket}/images/progressive.jpg needs about 85 MB to decode; the function can "
        "give 44 MB (its memory size less 256 MB): raise the memory size or lower "
        "MAX_INPUT_PIXELS"
    )
    assert baseline["status"] == "processed"
