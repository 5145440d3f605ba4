"""Nothing escapes classification: every error of one object's work is that object's outcome.

An error that left the handler would fail a whole SQS batch, good messages included,
with no metric, log line or application event for the object that caused it.
"""

from __future__ import annotations

import json
from typing import Any

import images
import pytest
import pyvips
from harness import LambdaContext, s3_event, sample_event
from test_observability import emf, objects, runtime, values


def sqs_batch(bucket: str, keys: list[str]) -> dict[str, Any]:
    """One SQS message (an S3 notification) for each key."""
    event = sample_event("sqs-s3.json", bucket)
    template = event["Records"][0]
    event["Records"] = [
        {**template, "messageId": key, "body": json.dumps(s3_event(bucket, [key]))} for key in keys
    ]
    return event


def listed(s3: Any, bucket: str, prefix: str) -> list[str]:
    found = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return sorted(item["Key"] for item in found)


def tall_screenshot() -> bytes:
    """A 1080x24000 scrolling screenshot: its 900-wide copy is 900x20000."""
    return bytes(images.flat(1080, 24000).pngsave_buffer(compression=9))


def test_a_copy_over_webps_limit_fails_its_object_alone_in_the_batch(s3, bucket):
    s3.put_object(Bucket=bucket, Key="images/tall.png", Body=tall_screenshot())
    s3.put_object(Bucket=bucket, Key="images/good.jpg", Body=images.jpeg(1600, 1200))
    event = sqs_batch(bucket, ["images/tall.png", "images/good.jpg"])

    # The real runtime: its reply, its log lines and its metrics.
    with runtime(OUTPUT_FORMATS="jpeg,webp") as (emulator, output):
        start = output.seek(0, 2)
        body, is_error = emulator.invoke(json.dumps(event).encode())
        output.seek(start)
        documents = [
            json.loads(line) for line in output.read().decode().splitlines() if line[:1] == "{"
        ]

    assert not is_error, body
    reply = json.loads(body)
    assert reply["batchItemFailures"] == []  # permanent: a retry cannot help
    logged = objects(documents)
    assert logged["images/good.jpg"]["status"] == "processed"
    tall = logged["images/tall.png"]
    assert (tall["status"], tall["level"], "retryable" in tall) == ("failed", "WARNING", False)
    assert tall["reason"] == (
        f"s3://{bucket}/images/tall.png is 1080x24000: its copy at 900 would be 900x20000, "
        "over WebP's limit of 16,383 px a side; nothing written (a size with a height, "
        "such as 900x16383, keeps every copy within it)"
    )
    [metrics] = emf(documents)
    assert values(metrics, "ObjectsFailed") == [1]
    assert values(metrics, "ObjectsProcessed") == [1]
    assert listed(s3, bucket, "copy/tall") == []
    assert listed(s3, bucket, "copy/good") == [
        "copy/good-300.jpg",
        "copy/good-300.webp",
        "copy/good-600.jpg",
        "copy/good-600.webp",
        "copy/good-900.jpg",
        "copy/good-900.webp",
        "copy/good.json",
    ]


def test_avif_is_refused_over_its_own_limit_and_jpeg_is_not(s3, bucket, load_handler):
    # 16,384 fits AVIF, not WebP; 65,500 fits JPEG.
    s3.put_object(Bucket=bucket, Key="images/tall.png", Body=tall_screenshot())
    handler = load_handler(OUTPUT_FORMATS="jpeg,avif", RESIZE_WIDTHS="300,600")

    [outcome] = handler.handler(s3_event(bucket, ["images/tall.png"]), LambdaContext())["results"]
    assert outcome["status"] == "processed"  # 600x13333 fits both

    handler = load_handler(OUTPUT_FORMATS="jpeg,avif", RESIZE_WIDTHS="300,900")
    s3.put_object(Bucket=bucket, Key="images/taller.png", Body=tall_screenshot())
    [outcome] = handler.handler(s3_event(bucket, ["images/taller.png"]), LambdaContext())["results"]
    assert outcome["reason"] == (
        f"s3://{bucket}/images/taller.png is 1080x24000: its copy at 900 would be 900x20000, "
        "over AVIF's limit of 16,384 px a side; nothing written (a size with a height, "
        "such as 900x16384, keeps every copy within it)"
    )
    assert listed(s3, bucket, "copy/taller") == []


def five_band_tiff() -> bytes:
    """RGB, an alpha and a spot channel: 5 bands, as Photoshop's TIFFs can carry."""
    picture = images.upright(640, 480)
    alpha = (picture[0] * 0 + 255).cast("uchar")
    return bytes(
        picture.bandjoin([alpha, picture[1]]).copy(interpretation="srgb").tiffsave_buffer()
    )


def test_a_five_band_tiff_gives_copies_and_a_placeholder(s3, bucket, load_handler):
    data = five_band_tiff()
    assert pyvips.Image.new_from_buffer(data, "").bands == 5
    s3.put_object(Bucket=bucket, Key="images/spot.tif", Body=data)
    handler = load_handler(OUTPUT_FORMATS="jpeg,png")

    [outcome] = handler.handler(s3_event(bucket, ["images/spot.tif"]), LambdaContext())["results"]

    assert outcome["status"] == "processed", outcome.get("reason")
    for key in ("copy/spot-900.jpg", "copy/spot-900.png"):
        copy = images.load(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        assert copy.bands == (3 if key.endswith(".jpg") else 4)  # RGB, and its alpha
        assert images.top_left_is_red(copy)
    manifest = json.loads(s3.get_object(Bucket=bucket, Key="copy/spot.json")["Body"].read())
    assert manifest["thumbhash"] and manifest["dominantColor"]


@pytest.mark.parametrize(
    ("fault", "reason", "retried"),
    [
        (
            pyvips.Error("unable to call webpsave_buffer", "webpsave: image too large\n"),
            "failed unexpectedly (Error: webpsave: image too large); not retried",
            [],
        ),
        (
            ValueError("encoder says no"),
            "failed unexpectedly (ValueError: encoder says no); not retried",
            [],
        ),
        (
            RuntimeError("can't start new thread"),
            "failed unexpectedly (RuntimeError: can't start new thread); not retried",
            [],
        ),
        (
            ConnectionResetError("connection reset by peer"),
            "failed unexpectedly (ConnectionResetError: connection reset by peer); "
            "left for a retry",
            ["images/bad.jpg"],
        ),
    ],
    ids=["pyvips", "value", "thread", "network"],
)
def test_an_error_no_step_knows_is_its_objects_outcome(
    fault, reason, retried, s3, bucket, load_handler, monkeypatch
):
    s3.put_object(Bucket=bucket, Key="images/bad.jpg", Body=images.jpeg(640, 480))
    s3.put_object(Bucket=bucket, Key="images/good.png", Body=images.png(640, 480))
    handler = load_handler(OUTPUT_FORMATS="source")
    encode = handler.imaging.formats.encode

    def failing(image: pyvips.Image, fmt: str, quality: int, **options: Any) -> bytes:
        if fmt == "jpeg":  # the fault: only the JPEG's copies meet it
            raise fault
        return encode(image, fmt, quality, **options)

    monkeypatch.setattr(handler.imaging.formats, "encode", failing)

    reply = handler.handler(
        sqs_batch(bucket, ["images/bad.jpg", "images/good.png"]), LambdaContext()
    )

    outcomes = {r["key"]: r for r in reply["results"]}
    assert outcomes["images/good.png"]["status"] == "processed"
    bad = outcomes["images/bad.jpg"]
    assert (bad["status"], bad["reason"]) == ("failed", f"s3://{bucket}/images/bad.jpg {reason}")
    assert [f["itemIdentifier"] for f in reply["batchItemFailures"]] == retried
    assert listed(s3, bucket, "copy/bad.json") == []  # no manifest beside a failed set


def test_an_error_no_step_knows_in_a_removal_is_its_objects_outcome(
    s3, bucket, load_handler, monkeypatch
):
    # The removal's own steps (app/renditions/removal.py) run inside the same classification.
    event = sample_event("s3-delete.json", bucket)
    handler = load_handler()
    from app.renditions import removal

    def broken(*args: Any, **options: Any) -> Any:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(removal.sweep, "sweep", broken)  # the search for its copies
    reply = handler.handler(event, LambdaContext())

    [outcome] = reply["results"]
    assert (outcome["status"], "retryable" in outcome) == ("failed", False)
    assert outcome["reason"] == (
        f"s3://{bucket}/{outcome['key']} failed unexpectedly "
        "(RuntimeError: can't start new thread); not retried"
    )
