"""Hostile input and failure semantics, end to end against the S3 server."""

from __future__ import annotations

import json
import random
import re
import time
from typing import Any

import images
import pytest
from faults import fault_proxy
from harness import LambdaContext, s3_event, sample_event

from app.model import ObjectRef
from app.renditions import pipeline
from bench import memory as memory_bench

JPEG = images.jpeg(1200, 900)


def put(s3: Any, bucket: str, key: str, data: bytes) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=data)


def test_redelivered_event_is_skipped_as_up_to_date_without_new_uploads(s3, bucket, load_handler):
    put(s3, bucket, "images/2024/cat.jpg", JPEG)
    handler = load_handler()
    first = handler.handler(sample_event("s3-put-plain.json", bucket), LambdaContext())
    stamps = {
        k: s3.head_object(Bucket=bucket, Key=k)["LastModified"]
        for k in (o["key"] for o in first["results"][0]["outputs"])
    }

    again = handler.handler(sample_event("s3-put-plain.json", bucket), LambdaContext())

    outcome = again["results"][0]
    assert outcome["status"] == "skipped"
    assert outcome["reason"].startswith("up to date: every copy already exists for ETag ")
    assert stamps == {k: s3.head_object(Bucket=bucket, Key=k)["LastModified"] for k in stamps}

    put(s3, bucket, "images/2024/cat.jpg", images.png(1200, 900))  # a new version: redo
    third = handler.handler(sample_event("s3-put-plain.json", bucket), LambdaContext())
    assert third["results"][0]["status"] == "processed"


def test_objects_that_cannot_finish_before_the_deadline_are_not_started(s3, bucket, load_handler):
    put(s3, bucket, "images/sqs/one.jpg", JPEG)
    handler = load_handler()
    ref = ObjectRef(bucket, "images/sqs/one.jpg")
    # Late in an invocation that could have done it: left for a retry, nothing sent.
    late = pipeline.process(
        ref, handler.settings, handler.store, time.monotonic() + 1.5, span_s=60.0
    )

    assert (late.status, late.retryable) == ("failed", True)
    assert late.reason is not None
    assert re.fullmatch(
        rf"not started: [\d,]+ ms left before the Lambda deadline and s3://{bucket}/"
        r"images/sqs/one.jpg needs up to 3,000 ms; left for a retry",
        late.reason,
    ), late.reason
    assert s3.list_objects_v2(Bucket=bucket, Prefix="copy/").get("KeyCount") == 0


def test_objects_that_can_never_finish_within_the_timeout_fail_for_good(s3, bucket, load_handler):
    # A 6 s function keeps 1.5 s for its reply: 4.5 s for an object. 8 MB may need 4.6 s
    # (BASE_MS + MS_PER_MB a MB): no retry can give it more, so none is asked for.
    put(s3, bucket, "images/sqs/one.jpg", JPEG)
    put(s3, bucket, "images/sqs/two.png", bytes(8_000_000))
    handler = load_handler()
    event = sample_event("sqs-s3.json", bucket)

    result = handler.handler(event, LambdaContext(remaining_ms=6000))

    assert result["batchItemFailures"] == []
    [one, two] = result["results"]
    assert (one["status"], two["status"]) == ("processed", "failed")
    assert re.fullmatch(
        rf"can never finish: s3://{bucket}/images/sqs/two.png \(8,000,000 bytes\) needs up to "
        r"4,600 ms, and an invocation of this function gives at most 4,[0-9]{3} ms \(its "
        r"timeout less 1,500 ms kept for the reply\): raise the function's timeout to at least "
        r"7 s, or lower MAX_INPUT_BYTES and MAX_INPUT_PIXELS",
        two["reason"],
    ), two["reason"]
    assert "retryable" not in two


def test_sqs_reports_only_retryable_messages_as_batch_item_failures(
    s3, bucket, s3_endpoint, load_handler, monkeypatch
):
    event = sample_event("sqs-s3.json", bucket)
    event["Records"].append({**event["Records"][0], "messageId": "bad-body", "body": "{}"})
    put(s3, bucket, "images/sqs/one.jpg", b"not an image")  # permanent: not retried
    put(s3, bucket, "images/sqs/two.png", images.png())  # throttled: retried
    with fault_proxy(s3_endpoint) as (endpoint, proxy):
        proxy.rules["sqs/two.png"] = "SlowDown"
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        handler = load_handler()
        result = handler.handler(event, LambdaContext())

    assert result["batchItemFailures"] == [{"itemIdentifier": event["Records"][1]["messageId"]}]
    statuses = [(r.get("key") or r.get("messageId"), r["status"]) for r in result["results"]]
    assert statuses == [
        ("images/sqs/one.jpg", "failed"),
        ("images/sqs/two.png", "failed"),
        ("bad-body", "failed"),
    ]
    assert result["results"][2]["reason"] == (
        "message bad-body holds no S3 notification (top-level keys: none)"
    )


@pytest.mark.parametrize("schema", ["1", "2"])
def test_batch_operations_reply_in_its_schema_with_classified_results(
    schema, s3, bucket, s3_endpoint, load_handler, monkeypatch
):
    for key, data in (("ok", JPEG), ("bad", b"GIF89a broken"), ("slow", JPEG)):
        put(s3, bucket, f"images/backfill/{key}.jpg", data)
    codes = {}
    with fault_proxy(s3_endpoint) as (endpoint, proxy):
        proxy.rules["backfill/slow.jpg"] = "SlowDown"
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        handler = load_handler()
        for name in ("ok", "bad", "slow"):  # Batch Operations sends one task per invocation
            event = sample_event(f"s3-batch-v{schema}.json", bucket)
            event["tasks"][0].update(taskId=name, s3Key=f"images/backfill/{name}.jpg")
            result = handler.handler(event, LambdaContext())
            assert result["invocationSchemaVersion"] == f"{schema}.0"
            assert result["invocationId"] == event["invocationId"]
            assert result["treatMissingKeysAs"] == "PermanentFailure"
            [task] = result["results"]
            codes[task["taskId"]] = (task["resultCode"], task["resultString"])

    assert codes["ok"] == ("Succeeded", "wrote 3 copies")
    assert codes["bad"][0] == "PermanentFailure" and "not an image" in codes["bad"][1]
    assert codes["slow"] == (
        "TemporaryFailure",
        f"s3:GetObject on s3://{bucket}/images/backfill/slow.jpg failed after retries: "
        "503 Service Unavailable",
    )


def test_unknown_event_fails_with_one_sentence(load_handler):
    handler = load_handler()

    with pytest.raises(Exception, match=r"received an object with top-level keys: detail, foo"):
        handler.handler({"foo": 1, "detail": {}}, LambdaContext())


def hostile_files() -> dict[str, bytes]:
    """Damaged encodings cut at many offsets, flipped bytes, forged headers, non-images."""
    rng = random.Random(1234)  # the same files every run
    sources = {
        "jpg": images.jpeg(640, 480),
        "png": images.png(640, 480),
        "webp": images.webp(640, 480),
        "gif": images.gif(320, 240),
        "avif": images.avif(320, 240),
    }
    files: dict[str, bytes] = {}
    for ext, data in sources.items():
        for fraction in (0.0, 0.01, 0.1, 0.3, 0.6, 0.9, 0.99):
            files[f"cut-{int(fraction * 100)}.{ext}"] = data[: int(len(data) * fraction)]
        for n in range(3):
            flipped = bytearray(data)
            for _ in range(20):
                flipped[rng.randrange(16, len(flipped))] ^= 0xFF
            files[f"flip-{n}.{ext}"] = bytes(flipped)
    files["forged-huge.png"] = images.forged_png(65535, 65535)
    files["forged-wide.png"] = images.forged_png(1_000_000, 1)
    files["text.jpg"] = b"Hello, I am a text file with an image name.\n" * 10
    files["html.png"] = b"<html><body>not an image</body></html>"
    files["svg.jpg"] = b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>'
    files["random.webp"] = rng.randbytes(4096)
    return files


@pytest.mark.timeout(240)
def test_hostile_files_each_end_in_a_classified_outcome(s3, bucket, load_handler):
    files = hostile_files()
    for name, data in files.items():
        put(s3, bucket, f"images/hostile/{name}", data)
    handler = load_handler()
    # This run's own peak (VmHWM, reset first), not the test process's lifetime peak,
    # which an earlier test may have set higher than anything this one does.
    rss_before = memory_bench.reset_peak()

    result = handler.handler(
        s3_event(bucket, [f"images/hostile/{n}" for n in files]), LambdaContext()
    )

    grown_mb = (memory_bench.peak() - rss_before) / 2**20
    by_name = {r["key"].rsplit("/", 1)[-1]: r for r in result["results"]}
    assert set(by_name) == set(files)
    assert [n for n, r in by_name.items() if "retryable" in r] == []
    processed = {n: r for n, r in by_name.items() if r["status"] == "processed"}
    failed = {n: r["reason"] for n, r in by_name.items() if r["status"] == "failed"}
    assert set(processed) | set(failed) == set(files)
    # Some flipped bytes still decode (a cut at 99% keeps every pixel row but the last).
    assert [n for n in processed if not n.startswith(("flip-", "cut-99"))] == []
    assert [n for n, r in processed.items() if r["outputs"][0]["width"] > 300] == []
    where = f"s3://{bucket}/images/hostile/"
    assert [n for n, why in failed.items() if not why.startswith(f"{where}{n} ")] == []
    assert "(MAX_INPUT_PIXELS)" in failed["forged-huge.png"]
    assert failed["cut-0.jpg"].endswith("is empty (0 bytes)")
    assert "not an image in a supported format" in failed["svg.jpg"]
    assert grown_mb < 512, f"peak memory grew by {grown_mb:.0f} MB on small hostile files"
    json.dumps(result)  # the reply is always serialisable
