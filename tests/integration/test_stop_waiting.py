"""The deadline's last layer end to end: the handler stops waiting for an object that outlasts it.

Every S3 call has its own bound (test_deadline.py); what no S3 bound covers is work
in the function itself, a decode or an encode that runs past the deadline. Here one
object's decode is held until after the handler has replied: the reply must come
before the deadline with that object failed for a retry and the others processed, and
the thread left behind must write nothing once it is let go.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import images
import pytest
from harness import LambdaContext, s3_event, sample_event

from app.aws import deadline

KEYS = ["images/late/a.jpg", "images/late/b.jpg", "images/late/c.jpg"]
HELD = "images/late/b.jpg"
REMAINING_MS = 6000


def sqs_event(bucket: str, keys: list[str]) -> dict[str, Any]:
    template = sample_event("sqs-s3.json", bucket)["Records"][0]
    return {
        "Records": [
            {**template, "messageId": key, "body": json.dumps(s3_event(bucket, [key]))}
            for key in keys
        ]
    }


@pytest.mark.timeout(60)
def test_an_object_still_decoding_at_the_deadline_is_left_for_a_retry(
    s3, bucket, load_handler, monkeypatch, capsys
):
    for key in KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=images.jpeg(1200, 900))
    handler = load_handler()
    decode = handler.pipeline.decoded.decode
    entered, release = threading.Event(), threading.Event()

    def held(source: Any, fmts: Any, settings: Any, uri: str) -> Any:
        if uri.endswith(HELD):  # a decode that outlasts the deadline
            entered.set()
            release.wait(30)
        return decode(source, fmts, settings, uri)

    monkeypatch.setattr(handler.pipeline.decoded, "decode", held)
    before = set(threading.enumerate())
    capsys.readouterr()

    start = time.monotonic()
    reply = handler.handler(sqs_event(bucket, KEYS), LambdaContext(remaining_ms=REMAINING_MS))
    elapsed = time.monotonic() - start
    printed = capsys.readouterr().out
    left_behind = set(threading.enumerate()) - before
    release.set()
    for thread in left_behind:
        thread.join(timeout=30)

    assert entered.is_set()
    # Replied at `stop`, the reserve kept for the reply, log lines and metrics.
    assert REMAINING_MS / 1000 - deadline.RESERVE_S - 0.5 < elapsed < REMAINING_MS / 1000
    outcomes = {r["key"]: r for r in reply["results"]}
    assert {k: (o["status"], o.get("retryable", False)) for k, o in outcomes.items()} == {
        "images/late/a.jpg": ("processed", False),
        HELD: ("failed", True),
        "images/late/c.jpg": ("processed", False),
    }
    assert outcomes[HELD]["reason"] == (
        f"did not finish: s3://{bucket}/{HELD} was still being processed "
        f"{deadline.RESERVE_S:g} s before the Lambda deadline; left for a retry"
    )
    assert reply["batchItemFailures"] == [{"itemIdentifier": HELD}]
    [metrics] = [json.loads(line) for line in printed.splitlines() if '"_aws"' in line]
    assert (metrics["ObjectsProcessed"], metrics["ObjectsFailed"]) == ([2.0], [1.0])
    # Let go after the deadline, the thread left behind wrote nothing.
    assert [t for t in left_behind if t.is_alive()] == []
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="copy/late/b").get("Contents", [])
    assert listed == []
