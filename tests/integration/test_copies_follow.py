"""Copies follow their source in every case: a bounded delete, sources told apart by
bucket, versions, a replaced source, a failure half-way, a wait past the deadline.

Against moto's S3 server over HTTP, through the fault proxy, which logs every request
(to count what a delete costs) and refuses chosen ones.
"""

from __future__ import annotations

import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import images
import pytest
from faults import Slow, fault_proxy
from harness import LambdaContext, s3_event, sample_event
from test_lifecycle import BLUE, RED, event, keys, removed, run

from app import naming
from app.aws import deadline
from app.errors import TransientError
from app.image.memory import MB, RESERVED_BYTES
from app.model import ObjectRef
from app.renditions import pipeline

EXTENSIONS = ("avif", "gif", "jpg", "png", "webp")
LATER = "0065F1A2B3C4D5E6FA"  # a delete's sequencer, after s3_event's upload (...E6F7)


@pytest.fixture
def proxied(s3_endpoint, load_handler, monkeypatch):
    """Cold-starts the handler against S3 through the proxy: `start(**env)` -> handler;
    `proxy` is the proxy."""
    with fault_proxy(s3_endpoint) as (endpoint, proxy):
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)

        class Proxied:
            def __init__(self) -> None:
                self.proxy = proxy

            def start(self, **env: str) -> Any:
                return load_handler(**env)

        yield Proxied()


def copy_of(bucket: str | None, key: str) -> dict[str, str]:
    """The metadata that makes an object a copy of `key` (of `bucket`, if recorded)."""
    metadata = {naming.MARKER: naming.source_marker(key), naming.SOURCE_ETAG: "e"}
    if bucket is not None:
        metadata[naming.SOURCE_BUCKET] = bucket
    return metadata


# --- the search is bounded ---------------------------------------------------------------


def test_a_delete_among_2000_sources_costs_a_bounded_number_of_requests(s3, bucket, proxied):
    # 1..2000: 1,111 of them start with '1', and 444 copies' keys with 'copy/1'.
    def put(n: int) -> None:
        for w in (300, 600):
            s3.put_object(
                Bucket=bucket,
                Key=f"copy/{n}-{w}.jpg",
                Body=b"c",
                Metadata=copy_of(bucket, f"images/{n}.jpg"),
            )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(2, 2001)))
    handler = proxied.start()
    s3.put_object(Bucket=bucket, Key="images/1.jpg", Body=images.jpeg(640, 480))
    assert run(handler, s3_event(bucket, ["images/1.jpg"]))["processed"] == 1
    s3.delete_object(Bucket=bucket, Key="images/1.jpg")
    proxy = proxied.proxy
    proxy.requests.clear()

    result = run(handler, removed(bucket, "images/1.jpg", "0065F1A2B3C4D5E6FA"))

    [outcome] = result["results"]
    assert outcome["deleted"] == [f"copy/1-{w}.jpg" for w in (300, 600, 900)] + ["copy/1.json"]
    # The source's HEAD; the manifest read whole (it lists the copies); a HEAD of each key
    # a copy of it can have (3 sizes x 5 formats); a DELETE of each found. Nothing else.
    candidates = {f"/{bucket}/copy/1-{w}.{ext}" for w in (300, 600, 900) for ext in EXTENSIONS}
    assert sorted(proxy.requests) == sorted(
        [("HEAD", f"/{bucket}/images/1.jpg"), ("GET", f"/{bucket}/copy/1.json")]
        + [("HEAD", path) for path in candidates]
        + [("DELETE", f"/{bucket}/{key}") for key in outcome["deleted"]]
    )
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="copy/")
    assert sum(page["KeyCount"] for page in pages) == 2 * 1999  # every other source's stay


def test_a_delete_throttled_half_way_keeps_the_manifest_for_its_retry(s3, bucket, proxied):
    # The manifest lists the copies of sizes since removed: it goes last, so the retry
    # finds them too.
    handler = proxied.start(RESIZE_WIDTHS="300,600,900")
    s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=images.jpeg(640, 480))
    run(handler, s3_event(bucket, ["images/cat.jpg"]))
    s3.delete_object(Bucket=bucket, Key="images/cat.jpg")
    narrower = proxied.start(RESIZE_WIDTHS="300,600")  # 900 is no longer configured
    proxied.proxy.rules["DELETE copy/cat-600"] = "SlowDown"

    with pytest.raises(TransientError) as raised:  # retried by Lambda
        run(narrower, removed(bucket, "images/cat.jpg", LATER))

    assert str(raised.value) == (
        "1 of 1 objects failed transiently and will be retried: s3:DeleteObject on "
        f"s3://{bucket}/copy/cat-600.jpg failed after retries: SlowDown Please reduce your "
        "request rate."
    )
    assert keys(s3, bucket) == ["copy/cat-600.jpg", "copy/cat.json"]

    proxied.proxy.rules.clear()
    again = run(narrower, removed(bucket, "images/cat.jpg", LATER))
    assert again["results"][0]["deleted"] == ["copy/cat-600.jpg", "copy/cat.json"]
    assert keys(s3, bucket) == []


# --- a copy is its source's by bucket and key -----------------------------------------------


def test_a_delete_removes_only_the_copies_that_record_its_bucket(s3, bucket, proxied):
    other = f"{bucket}-b"
    out = f"{bucket}-out"
    for name in (other, out):
        s3.create_bucket(Bucket=name)
    # One output bucket for two source buckets: the same key in each is two sources.
    made = {
        "copy/x-300.jpg": copy_of(bucket, "images/x.jpg"),
        "copy/x-600.jpg": copy_of(other, "images/x.jpg"),
        "copy/x-900.jpg": copy_of(None, "images/x.jpg"),  # made before buckets were recorded
    }
    for key, metadata in made.items():
        s3.put_object(Bucket=out, Key=key, Body=b"c", Metadata=metadata)
    handler = proxied.start(OUTPUT_BUCKET=out)

    mine = run(handler, removed(bucket, "images/x.jpg", "10"))
    theirs = run(handler, removed(other, "images/x.jpg", "10"))

    assert mine["results"][0]["deleted"] == ["copy/x-300.jpg"]
    assert theirs["results"][0]["deleted"] == ["copy/x-600.jpg"]
    # Unrecorded, in a bucket of its own: no source can be sure it is its own.
    assert keys(s3, out) == ["copy/x-900.jpg"]

    # In the source's own bucket, a copy without the record is that bucket's source's.
    s3.put_object(Bucket=bucket, Key="copy/x-900.jpg", Body=b"c", Metadata=made["copy/x-900.jpg"])
    same = proxied.start(OUTPUT_BUCKET="")
    assert run(same, removed(bucket, "images/x.jpg", "10"))["deleted"] == 1
    assert keys(s3, bucket) == []


def test_a_copy_rewritten_while_its_delete_is_on_its_way_stays(s3, bucket, proxied):
    # The delete's HEAD saw the old copy; a later upload's event rewrites it before the
    # DELETE arrives. The DELETE is conditional on the ETag the HEAD saw: the new copy stays.
    handler = proxied.start(MANIFEST="off")
    s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=images.jpeg(640, 480))
    run(handler, event(bucket, "images/cat.jpg", "10"))
    s3.delete_object(Bucket=bucket, Key="images/cat.jpg")
    proxy = proxied.proxy
    proxy.slow["copy/cat-300.jpg"] = Slow("DELETE", seconds=2)
    result: dict[str, Any] = {}
    deleting = threading.Thread(
        target=lambda: result.update(run(handler, removed(bucket, "images/cat.jpg", "20")))
    )
    deleting.start()
    assert proxy.wait_for_hit("copy/cat-300.jpg", 20)  # the DELETE is held at the proxy
    newer = copy_of(bucket, "images/cat.jpg") | {naming.SOURCE_SEQUENCER: "30"}
    s3.put_object(Bucket=bucket, Key="copy/cat-300.jpg", Body=b"newer", Metadata=newer)
    deleting.join(timeout=30)

    [outcome] = result["results"]
    assert outcome["deleted"] == ["copy/cat-600.jpg", "copy/cat-900.jpg"]
    assert keys(s3, bucket) == ["copy/cat-300.jpg"]
    assert s3.get_object(Bucket=bucket, Key="copy/cat-300.jpg")["Body"].read() == b"newer"


# --- versions -----------------------------------------------------------------------------------


def test_a_versioned_delete_removes_every_version_of_its_copies(s3, bucket, proxied):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    # Someone else's object under a key the copies take later: it stays, and is current again.
    s3.put_object(Bucket=bucket, Key="copy/cat-300.jpg", Body=b"theirs")
    handler = proxied.start()
    for n, colour in enumerate((RED, BLUE), start=1):
        v = s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=images.solid_jpeg(colour))
        made = run(handler, event(bucket, "images/cat.jpg", f"{n}0", version=v["VersionId"]))
        assert made["processed"] == 1
    listed = s3.list_object_versions(Bucket=bucket, Prefix="copy/")
    assert len(listed["Versions"]) == 1 + 2 * 4  # two sets of 3 copies and a manifest
    marker = s3.delete_object(Bucket=bucket, Key="images/cat.jpg")["VersionId"]

    result = run(
        handler,
        removed(
            bucket, "images/cat.jpg", "30", name="ObjectRemoved:DeleteMarkerCreated", version=marker
        ),
    )

    assert result["results"][0]["deleted"] == [
        "copy/cat-300.jpg",
        "copy/cat-600.jpg",
        "copy/cat-900.jpg",
        "copy/cat.json",
    ]
    left = s3.list_object_versions(Bucket=bucket, Prefix="copy/")
    assert [(v["Key"], v["IsLatest"]) for v in left.get("Versions", [])] == [
        ("copy/cat-300.jpg", True)
    ]
    assert left.get("DeleteMarkers", []) == []  # no version of a copy readable by its id
    body = s3.get_object(Bucket=bucket, Key="copy/cat-300.jpg")["Body"].read()
    assert body == b"theirs"


def test_a_versioned_delete_without_the_permission_to_list_versions_names_it(s3, bucket, proxied):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    handler = proxied.start(MANIFEST="off")
    s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=images.jpeg(640, 480))
    run(handler, s3_event(bucket, ["images/cat.jpg"]))
    s3.delete_object(Bucket=bucket, Key="images/cat.jpg")
    proxied.proxy.rules["GET versions"] = "AccessDenied"  # ?versions: ListObjectVersions

    result = run(handler, removed(bucket, "images/cat.jpg", LATER))

    [outcome] = result["results"]
    assert (outcome["status"], outcome.get("retryable")) == ("failed", None)
    assert outcome["reason"] == (
        f"s3:ListBucketVersions was denied on arn:aws:s3:::{bucket} for the prefix "
        "'copy/cat-300.jpg': the function's role needs s3:ListBucketVersions on that bucket "
        "for keys under OUTPUT_PREFIX, to remove a deleted source's copies with their versions"
    )
    assert keys(s3, bucket) == [f"copy/cat-{w}.jpg" for w in (300, 600, 900)]


# --- a replaced source --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("replacement", "why"),
    [
        (b"\xff\xd8\xff\xe0 not a whole JPEG", "is not an image in a supported format"),
        (bytes(300_000), "is 300,000 bytes; limit is 200,000 bytes (MAX_INPUT_BYTES)"),
    ],
    ids=["damaged", "too large"],
)
def test_a_source_replaced_by_a_file_the_function_refuses_loses_its_copies(
    replacement, why, s3, bucket, proxied
):
    handler = proxied.start(MAX_INPUT_BYTES="200000")
    s3.put_object(Bucket=bucket, Key="images/avatar", Body=images.jpeg(640, 480))
    assert run(handler, s3_event(bucket, ["images/avatar"]))["processed"] == 1
    assert len(keys(s3, bucket)) == 4
    s3.put_object(Bucket=bucket, Key="images/avatar", Body=replacement)

    result = run(handler, s3_event(bucket, ["images/avatar"]))

    [outcome] = result["results"]
    assert (outcome["status"], outcome.get("retryable")) == ("failed", None)
    assert why in outcome["reason"]
    assert outcome["reason"].endswith(
        "; its 4 copies removed (of an earlier file, or made before the failure): no copy "
        "stays that is not of this file"
    )
    assert keys(s3, bucket) == []


@pytest.mark.parametrize("manifest", ["on", "off"])
def test_a_source_replaced_in_another_format_loses_the_old_formats_copies(
    manifest, s3, bucket, proxied
):
    handler = proxied.start(MANIFEST=manifest)
    s3.put_object(Bucket=bucket, Key="images/avatar", Body=images.jpeg(640, 480))
    run(handler, s3_event(bucket, ["images/avatar"]))
    jpegs = [f"copy/avatar-{w}.jpg" for w in (300, 600, 900)]
    json_key = ["copy/avatar.json"] if manifest == "on" else []
    assert keys(s3, bucket) == sorted(jpegs + json_key)
    s3.put_object(Bucket=bucket, Key="images/avatar", Body=images.png(640, 480))

    result = run(handler, s3_event(bucket, ["images/avatar"]))

    assert result["processed"] == 1, result
    pngs = [f"copy/avatar-{w}.png" for w in (300, 600, 900)]
    assert keys(s3, bucket) == sorted(pngs + json_key)
    if json_key:  # the manifest lists the new copies only
        body = s3.get_object(Bucket=bucket, Key="copy/avatar.json")["Body"].read()
        assert [r["key"] for r in json.loads(body)["renditions"]] == pngs


def test_a_permanent_failure_half_way_leaves_no_partial_set_and_a_retry_makes_it(
    s3, bucket, proxied
):
    handler = proxied.start()
    s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=images.jpeg(1200, 900))
    proxied.proxy.rules["PUT copy/cat-900"] = "MetadataTooLarge"  # 400: retrying cannot help

    failed = run(handler, s3_event(bucket, ["images/cat.jpg"]))

    [outcome] = failed["results"]
    assert outcome["reason"] == (
        f"s3:PutObject on s3://{bucket}/copy/cat-900.jpg failed: MetadataTooLarge Your metadata "
        "headers exceed the maximum allowed metadata size.; its 2 copies removed (of an earlier "
        "file, or made before the failure): no copy stays that is not of this file"
    )
    assert keys(s3, bucket) == []

    proxied.proxy.rules.clear()
    again = run(handler, s3_event(bucket, ["images/cat.jpg"]))
    assert again["processed"] == 1
    assert keys(s3, bucket) == sorted(
        [f"copy/cat-{w}.jpg" for w in (300, 600, 900)] + ["copy/cat.json"]
    )


# --- deadlines ------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_a_wait_for_memory_ends_at_the_deadline(s3, bucket, proxied, capsys):
    # 512 MB: 256 MB for objects. A decode left behind by an earlier invocation holds 250
    # of them; this object needs about 35 MB, and its GET is open while it waits.
    handler = proxied.start(AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512")
    s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=images.jpeg(1200, 900))
    assert handler.budget.total == 512 * MB - RESERVED_BYTES
    capsys.readouterr()

    with handler.budget.hold(250 * MB, "a decode left behind"):
        start = time.monotonic()
        result = handler.handler(_sqs(bucket, "images/cat.jpg"), LambdaContext(remaining_ms=6000))
        elapsed = time.monotonic() - start

    assert elapsed < 6 - deadline.RESERVE_S / 2, elapsed
    [outcome] = result["results"]
    assert (outcome["status"], outcome["retryable"]) == ("failed", True)
    assert re.fullmatch(
        rf"s3://{bucket}/images/cat.jpg waited for \d+ MB of memory until the Lambda deadline: "
        r"other objects held 250 of 256 MB; left for a retry",
        outcome["reason"],
    ), outcome["reason"]
    assert result["batchItemFailures"] == [{"itemIdentifier": "message-1"}]
    assert keys(s3, bucket) == []
    [metrics] = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line
    ]
    assert metrics["ObjectsFailed"] == [1.0]
    # The share it waited for is free again: the next invocation gets the whole budget.
    with handler.budget.hold(handler.budget.total, "the next object", time.monotonic()):
        pass


@pytest.mark.timeout(60)
def test_a_delete_whose_requests_meet_a_stalled_answer_ends_within_the_deadline(
    s3, bucket, proxied
):
    handler = proxied.start(MANIFEST="off")
    s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=images.jpeg(640, 480))
    run(handler, s3_event(bucket, ["images/cat.jpg"]))
    s3.delete_object(Bucket=bucket, Key="images/cat.jpg")
    proxied.proxy.slow["copy/cat-600.webp"] = Slow("HEAD")  # never answers

    start = time.monotonic()
    with pytest.raises(TransientError) as raised:  # not SQS: a retryable failure is raised
        handler.handler(removed(bucket, "images/cat.jpg", LATER), LambdaContext(remaining_ms=6000))
    elapsed = time.monotonic() - start

    assert elapsed < 6 - deadline.RESERVE_S / 2, elapsed
    assert str(raised.value) == (
        f"1 of 1 objects failed transiently and will be retried: s3:GetObject on "
        f"s3://{bucket}/copy/cat-600.webp timed out: no answer within 1 s (read timeout, "
        "1 attempt)"
    )
    assert keys(s3, bucket) == [f"copy/cat-{w}.jpg" for w in (300, 600, 900)]  # for the retry


def _sqs(bucket: str, key: str) -> dict[str, Any]:
    template = sample_event("sqs-s3.json", bucket)["Records"][0]
    return {
        "Records": [
            {**template, "messageId": "message-1", "body": json.dumps(s3_event(bucket, [key]))}
        ]
    }


def test_a_decode_no_invocation_has_the_time_for_fails_for_good(s3, bucket, proxied):
    # 81 MP: up to 5 s to decode, encode and write; a 6 s function gives an object 4.5 s.
    big = bytes(images.flat(9000, 9000, bands=1).jpegsave_buffer())
    s3.put_object(Bucket=bucket, Key="images/big.jpg", Body=big)
    handler = proxied.start()

    result = handler.handler(s3_event(bucket, ["images/big.jpg"]), LambdaContext(remaining_ms=6000))

    [outcome] = result["results"]
    assert "retryable" not in outcome
    assert re.fullmatch(
        rf"can never finish: s3://{bucket}/images/big.jpg \(9000x9000\) needs up to 5,050 ms, "
        r"and an invocation of this function gives at most 4,[0-9]{3} ms \(its timeout less "
        r"1,500 ms kept for the reply\): raise the function's timeout to at least 7 s, or lower "
        r"MAX_INPUT_BYTES and MAX_INPUT_PIXELS",
        outcome["reason"],
    ), outcome["reason"]

    # With time for the object but not for its decode: left for a retry, nothing written.
    ref = ObjectRef(bucket, "images/big.jpg")
    late = pipeline.process(ref, handler.settings, handler.store, time.monotonic() + 4, span_s=60)
    assert (late.status, late.retryable) == ("failed", True)
    assert late.reason is not None
    assert re.fullmatch(
        r"not decoded: [\d,]+ ms left before the Lambda deadline and "
        rf"s3://{bucket}/images/big.jpg \(9000x9000\) needs up to 5,050 ms; left for a retry",
        late.reason,
    ), late.reason
    assert keys(s3, bucket) == []
