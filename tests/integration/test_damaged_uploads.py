"""Damaged uploads end to end: refused for good, or left for a retry when the network cut them.

No copy is ever written from damaged data: copies are stored `immutable`, so one
made from a padded decode would be served grey for a year.
"""

from __future__ import annotations

import json
from typing import Any

import images
import pytest
from faults import fault_proxy
from harness import LambdaContext, s3_event, sample_event

SOURCES = images.damage_sources()
ACCEPTED = "(JPEG, PNG, WebP, GIF, TIFF or HEIF/AVIF)"


def copies(s3: Any, bucket: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="copy/")
    return [item["Key"] for item in listed.get("Contents", [])]


def run(handler: Any, bucket: str, files: dict[str, bytes], s3: Any) -> dict[str, dict[str, Any]]:
    """Upload `files`, deliver them through SQS (which replies rather than raising when
    some are to be retried), and return each one's outcome by name."""
    for name, data in files.items():
        s3.put_object(Bucket=bucket, Key=f"images/damaged/{name}", Body=data)
    event = sample_event("sqs-s3.json", bucket)
    template = event["Records"][0]
    event["Records"] = [
        {
            **template,
            "messageId": name,
            "body": json.dumps(s3_event(bucket, [f"images/damaged/{name}"])),
        }
        for name in files
    ]
    result = handler.handler(event, LambdaContext())
    outcomes = {r["key"].rsplit("/", 1)[-1]: r for r in result["results"]}
    retried = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    assert retried == {n for n, o in outcomes.items() if o.get("retryable")}
    return outcomes


def test_damaged_uploads_fail_for_good_and_write_nothing(s3, bucket, load_handler):
    jpeg, eoi = SOURCES["jpeg-baseline"]
    progressive, _ = SOURCES["jpeg-progressive"]
    tiff, _ = SOURCES["tiff"]
    forged = images.forged_jpeg(10000, 9999)
    # Cut before its second scan: libjpeg decodes the first (DC only) without a warning.
    second_scan = [at for at, code in images.jpeg_segments(progressive) if code == 0xDA][1]
    files = {
        "half-and-eoi.jpg": jpeg[: len(jpeg) // 2] + eoi,
        "progressive-one-scan-and-eoi.jpg": progressive[:second_scan] + eoi,
        "half-progressive-and-eoi.jpg": progressive[: len(progressive) // 2] + eoi,
        "half.tif": tiff[: len(tiff) // 2],
        "matrix.jpg": images.MATRIX_TEXT,
        "forged-10000x9999.jpg": forged,
    }

    # One object at a time: libvips' error buffer is one for the process, so the exact
    # words of failures at once may be lost (see test_damaged_data: loaders.why).
    outcomes = run(load_handler(OBJECT_CONCURRENCY="1"), bucket, files, s3)

    assert {n: (o["status"], "retryable" in o) for n, o in outcomes.items()} == {
        n: ("failed", False) for n in files
    }
    where = f"s3://{bucket}/images/damaged"
    assert outcomes["half-and-eoi.jpg"]["reason"] == (
        f"{where}/half-and-eoi.jpg could not be decoded "
        "(VipsJpeg: Corrupt JPEG data: premature end of data segment)"
    )
    assert outcomes["progressive-one-scan-and-eoi.jpg"]["reason"] == (
        f"{where}/progressive-one-scan-and-eoi.jpg is damaged: its JPEG scans end before the "
        "picture is complete (component 1 of 3 lacks coefficients 1-63)"
    )
    assert outcomes["half.tif"]["reason"] == (
        f"{where}/half.tif could not be decoded (tiff2vips: read error)"
    )
    assert outcomes["matrix.jpg"]["reason"] == (
        f"{where}/matrix.jpg is not an image in a supported format {ACCEPTED}: "
        "libvips reads it as matrix (matrixload_source)"
    )
    assert outcomes["forged-10000x9999.jpg"]["reason"] == (
        f"{where}/forged-10000x9999.jpg is damaged: its header claims 10000x9999 in "
        f"{len(forged):,} bytes; an undamaged JPEG of that size takes at least 97,647 bytes"
    )
    assert copies(s3, bucket) == []


@pytest.mark.timeout(240)
@pytest.mark.parametrize("fraction", [0.3, 0.7, 0.97])
def test_a_body_the_network_cuts_is_retried_and_writes_nothing(
    fraction, s3, bucket, s3_endpoint, load_handler, monkeypatch
):
    # Every accepted kind, and a TIFF whose cut falls in bytes after its pixels: it
    # decodes whole, and only the download's own count shows that the body was short.
    files = {f"{kind}.img": data for kind, (data, _) in SOURCES.items()}
    files["tiff-with-trailer.tif"] = images.tiff(640, 480, deflate=True, trailer=400_000)
    with fault_proxy(s3_endpoint) as (endpoint, proxy):
        proxy.cuts["images/damaged/"] = fraction
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        outcomes = run(load_handler(), bucket, files, s3)

    assert {n: (o["status"], o.get("retryable")) for n, o in outcomes.items()} == {
        n: ("failed", True) for n in files
    }
    for name, outcome in outcomes.items():
        uri = f"s3://{bucket}/images/damaged/{name}"
        assert outcome["reason"].startswith(
            (f"the download of {uri} ended after ", f"reading {uri} failed after ")
        ), outcome["reason"]
    assert copies(s3, bucket) == []


def test_the_same_files_whole_are_processed(s3, bucket, load_handler):
    files = {f"{kind}.img": data for kind, (data, _) in SOURCES.items()}
    files["tiff-with-trailer.tif"] = images.tiff(640, 480, deflate=True, trailer=400_000)

    outcomes = run(load_handler(), bucket, files, s3)

    assert {n: o["status"] for n, o in outcomes.items()} == {n: "processed" for n in files}


def test_an_untidy_jpeg_gives_the_same_copies_as_its_tidy_self(s3, bucket, load_handler, caplog):
    # Bytes between segments (libjpeg: "N extraneous bytes before marker"), as Photoshop
    # and older cameras write them: the pixels are all there.
    tidy = {"baseline.jpg": images.jpeg(1600, 1200), "progressive.jpg": images.progressive_jpeg()}
    files = {
        **tidy,
        **{f"untidy-{name}": images.untidy_jpeg(data, b"\x00\x00") for name, data in tidy.items()},
    }

    outcomes = run(load_handler(), bucket, files, s3)

    assert {n: o["status"] for n, o in outcomes.items()} == {n: "processed" for n in files}
    logged = {
        r.key.rsplit("/", 1)[-1]: getattr(r, "untidy_bytes", None)
        for r in caplog.records
        if r.getMessage() == "object processed"
    }
    assert logged == {  # the log line says how many bytes were dropped, and only then
        **{name: None for name in tidy},
        **{f"untidy-{n}": len(files[f"untidy-{n}"]) - len(data) for n, data in tidy.items()},
    }
    for name in tidy:
        for width in (300, 600, 900):
            stem = name.removesuffix(".jpg")
            made = [
                s3.get_object(Bucket=bucket, Key=f"copy/damaged/{prefix}{stem}-{width}.jpg")[
                    "Body"
                ].read()
                for prefix in ("", "untidy-")
            ]
            assert made[0] == made[1], (name, width)
