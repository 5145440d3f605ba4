"""The deadline holds end to end: slow and stalled S3 answers at every step.

Each test gives the function a few seconds, puts the fault proxy in front of the S3
server, and makes one of three objects meet a slow or stalled answer: the GET's
headers, the GET's body (stalled half-way, or trickling), a HEAD, one of the PUTs.
The invocation must return before its deadline, with that object failed and
retryable and the other two processed, its log lines and its metrics written.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import images
import pytest
from faults import Slow, fault_proxy
from harness import LambdaContext, s3_event, sample_event

from app.aws import deadline
from app.errors import TransientError
from devtools.emulator import Emulator

JPEG = images.jpeg(1200, 900)
KEYS = ["images/deadline/a.jpg", "images/deadline/b.jpg", "images/deadline/c.jpg"]
SLOW = "images/deadline/b.jpg"  # the object that meets the fault
REMAINING_MS = 6000  # a short Lambda timeout, so the tests stay fast
ANSWER_S = 10.0  # how late a slow answer comes: well past the whole invocation
# Half the body, then 256 bytes every 0.3 s: no wait is as long as the read timeout,
# and the rest would take 14 s.
TRICKLE = Slow("GET", seconds=ANSWER_S, stall_at=0.5, drip=256, every=0.3)


def sqs_event(bucket: str, keys: list[str]) -> dict[str, Any]:
    """An SQS event with one message per key, each holding an S3 notification."""
    template = sample_event("sqs-s3.json", bucket)["Records"][0]
    return {
        "Records": [
            {**template, "messageId": f"message-{key}", "body": json.dumps(s3_event(bucket, [key]))}
            for key in keys
        ]
    }


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture
def run_slow(s3, bucket, s3_endpoint, load_handler, monkeypatch, capsys, caplog):
    """Run the handler on KEYS with `slow` answers; return (reply, seconds, logged, metrics)."""

    def run(slow: dict[str, Slow]) -> tuple[dict[str, Any], float, dict[str, Any], Any]:
        for key in KEYS:
            s3.put_object(Bucket=bucket, Key=key, Body=JPEG)
        with fault_proxy(s3_endpoint) as (endpoint, proxy):
            proxy.slow.update(slow)
            monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
            handler = load_handler()
            capsys.readouterr()
            start = time.monotonic()
            reply = handler.handler(
                sqs_event(bucket, KEYS), LambdaContext(remaining_ms=REMAINING_MS)
            )
            elapsed = time.monotonic() - start
            [metrics] = [d for d in json_lines(capsys.readouterr().out) if "_aws" in d]
            assert set(proxy.hits) == set(slow), "the fault was never met"
        logged = {
            r.key: {"level": r.levelname, **vars(r)}
            for r in caplog.records
            if r.getMessage().startswith("object ")
        }
        return reply, elapsed, logged, metrics

    return run


def check(reply, elapsed, logged, metrics, bucket) -> str:
    """The invocation returned in time: SLOW failed for a retry, the others processed."""
    # Returned before the deadline, and with most of the reserve still unused.
    assert elapsed < REMAINING_MS / 1000 - deadline.RESERVE_S / 2, elapsed
    statuses = {r["key"]: (r["status"], r.get("retryable", False)) for r in reply["results"]}
    assert statuses == {
        "images/deadline/a.jpg": ("processed", False),
        SLOW: ("failed", True),
        "images/deadline/c.jpg": ("processed", False),
    }
    assert reply["batchItemFailures"] == [{"itemIdentifier": f"message-{SLOW}"}]
    assert set(logged) == set(KEYS)
    assert logged[SLOW]["level"] == "WARNING" and logged[SLOW]["retryable"] is True
    assert (metrics["ObjectsProcessed"], metrics["ObjectsFailed"]) == ([2.0], [1.0])
    [reason] = [r["reason"] for r in reply["results"] if r["key"] == SLOW]
    return reason


@pytest.mark.timeout(60)
def test_get_whose_headers_are_slow(run_slow, bucket):
    reason = check(*run_slow({SLOW: Slow("GET", seconds=ANSWER_S)}), bucket)

    assert reason == (
        f"s3:GetObject on s3://{bucket}/{SLOW} timed out: no answer within 1 s "
        "(read timeout, 1 attempt)"
    )


@pytest.mark.timeout(60)
def test_get_whose_body_stalls_half_way(run_slow, bucket):
    reason = check(*run_slow({SLOW: Slow("GET", seconds=ANSWER_S, stall_at=0.5)}), bucket)

    # What the decoder had been given: the network reads 64 KB at a time.
    assert re.fullmatch(
        rf"reading s3://{bucket}/{SLOW} stalled after [\d,]+ of {len(JPEG):,} bytes: "
        r"no bytes for 1 s \(the read timeout\)",
        reason,
    ), reason


@pytest.mark.timeout(60)
def test_get_whose_body_trickles_past_the_deadline(run_slow, bucket):
    reason = check(*run_slow({SLOW: TRICKLE}), bucket)

    assert reason.startswith(f"reading s3://{bucket}/{SLOW} stopped at the Lambda deadline after ")
    assert reason.endswith(f" of {len(JPEG):,} bytes; left for a retry")


@pytest.mark.timeout(60)
def test_one_slow_put_of_three(run_slow, bucket, s3):
    reply, *rest = run_slow({"deadline/b-600.": Slow("PUT", seconds=ANSWER_S)})

    reason = check(reply, *rest, bucket)
    assert reason == (
        f"s3:PutObject on s3://{bucket}/copy/deadline/b-600.jpg timed out: no answer within "
        "1 s (read timeout, 1 attempt)"
    )
    listing = s3.list_objects_v2(Bucket=bucket, Prefix="copy/deadline/b-")
    # The two other copies are written: the same bytes that the retry writes again.
    assert sorted(o["Key"] for o in listing.get("Contents", [])) == [
        "copy/deadline/b-300.jpg",
        "copy/deadline/b-900.jpg",
    ]


@pytest.mark.timeout(60)
def test_slow_copy_heads_leave_their_object_for_a_retry(run_slow, bucket):
    # The copies' HEADs are the guard against writing over another source's copy or a
    # later event's (issue 25): one that does not answer is retryable, never "absent".
    reason = check(*run_slow({"deadline/b-": Slow("HEAD", seconds=ANSWER_S)}), bucket)

    assert re.fullmatch(
        rf"s3:GetObject on s3://{bucket}/copy/deadline/b-\d+\.jpg timed out: no answer "
        r"within 1 s \(read timeout, 1 attempt\)",
        reason,
    ), reason


def test_a_store_past_its_deadline_sends_nothing(s3, bucket, load_handler):
    handler = load_handler()
    late = handler.store.until(time.monotonic() - 0.001)

    with pytest.raises(TransientError) as raised:
        late.put(
            bucket,
            "copy/late.jpg",
            b"x",
            content_type="image/jpeg",
            cache_control="",
            metadata={},
            replacing=None,
        )

    assert str(raised.value) == (
        f"s3:PutObject on s3://{bucket}/copy/late.jpg not sent: 0 ms left before the "
        "Lambda deadline; left for a retry"
    )
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


@contextmanager
def runtime(**env: str) -> Iterator[tuple[Emulator, Any]]:
    import tempfile

    with (
        tempfile.TemporaryFile() as output,
        Emulator("app.handler.handler", port=0, env=env, output=output) as emulator,
    ):
        yield emulator, output


@pytest.mark.timeout(60)
def test_the_real_runtime_replies_before_its_timeout(s3, bucket, s3_endpoint):
    """Through awslambdaric and the emulator, which kills a handler that runs past its timeout."""
    for key in KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=JPEG)
    with fault_proxy(s3_endpoint) as (endpoint, proxy):
        proxy.slow.update({SLOW: TRICKLE, "deadline/c-300.": Slow("PUT", seconds=ANSWER_S)})
        with runtime(AWS_ENDPOINT_URL=endpoint, AWS_LAMBDA_FUNCTION_TIMEOUT="6") as (
            emulator,
            output,
        ):
            emulator.invoke(json.dumps(sample_event("s3-test-event.json", bucket)).encode())
            start = output.seek(0, 2)
            began = time.monotonic()
            body, is_error = emulator.invoke(json.dumps(sqs_event(bucket, KEYS)).encode())
            elapsed = time.monotonic() - began
            output.seek(start)
            documents = json_lines(output.read().decode())

    reply = json.loads(body)
    assert not is_error, reply  # not "Task timed out after 6.00 seconds"
    assert elapsed < 6, elapsed
    assert reply["batchItemFailures"] == [
        {"itemIdentifier": f"message-{key}"} for key in (SLOW, "images/deadline/c.jpg")
    ]
    logged = {d["key"]: d for d in documents if str(d.get("message")).startswith("object ")}
    assert {k: v["status"] for k, v in logged.items()} == {
        "images/deadline/a.jpg": "processed",
        SLOW: "failed",
        "images/deadline/c.jpg": "failed",
    }
    assert "stopped at the Lambda deadline" in logged[SLOW]["reason"]
    late_put = logged["images/deadline/c.jpg"]["reason"]
    assert "copy/deadline/c-300.jpg timed out: no answer within" in late_put
    [metrics] = [d for d in documents if "_aws" in d]
    assert (metrics["ObjectsProcessed"], metrics["ObjectsFailed"]) == ([1.0], [2.0])
