"""The real awslambdaric runtime, driven through the Runtime API emulator on loopback."""

from __future__ import annotations

import itertools
import json
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import images
import pytest
from harness import sample_event

from devtools.emulator import INVOKE_PATH, Emulator
from devtools.image_env import image_env

FAULTS = "tests/integration/lambda_faults.handler"


@contextmanager
def running(handler: str = "app.handler.handler", **env: str) -> Iterator[Emulator]:
    with Emulator(handler, port=0, env=env) as emulator:
        yield emulator


def invoke(emulator: Emulator, event: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
    request = urllib.request.Request(
        f"http://{emulator.address}{INVOKE_PATH}", data=json.dumps(event).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.status, json.loads(response.read()), dict(response.headers)


def test_context_and_headers_reach_the_handler() -> None:
    with running(
        FAULTS,
        AWS_LAMBDA_FUNCTION_NAME="resizer",
        AWS_LAMBDA_FUNCTION_TIMEOUT="30",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="1769",
    ) as emulator:
        status, reply, headers = invoke(emulator, {"hello": "world"})

    assert status == 200 and "X-Amz-Function-Error" not in headers
    assert reply["event"] == {"hello": "world"}
    assert (reply["function_name"], int(reply["memory"])) == ("resizer", 1769)
    assert reply["arn"].endswith(":function:resizer")
    assert 0 < reply["remaining_ms"] <= 30_000
    assert len(reply["request_id"]) == 36


def test_the_runtime_runs_with_the_environment_the_image_sets() -> None:
    wanted = image_env()
    assert "MALLOC_ARENA_MAX" in wanted  # the Dockerfile's malloc setting, read from it

    with running(FAULTS) as emulator:
        _, reply, _ = invoke(emulator, {"env": sorted(wanted)})

    assert reply["env"] == wanted


def test_handler_exception_comes_back_as_an_error_object() -> None:
    with running(FAULTS) as emulator:
        status, reply, headers = invoke(emulator, {"do": "raise", "why": "testing"})

    assert status == 200 and headers["X-Amz-Function-Error"] == "Unhandled"
    assert reply["errorType"] == "ValueError"
    assert reply["errorMessage"] == "asked to fail: testing"
    assert set(reply) >= {"errorMessage", "errorType", "requestId", "stackTrace"}


def test_timeout_is_enforced_and_the_runtime_restarted() -> None:
    with running(FAULTS, AWS_LAMBDA_FUNCTION_TIMEOUT="2") as emulator:
        _, timed_out, headers = invoke(emulator, {"do": "sleep", "seconds": 60})
        _, after, _ = invoke(emulator, {"do": "echo"})

    assert headers["X-Amz-Function-Error"] == "Unhandled"
    assert timed_out["errorType"] == "Runtime.Timeout"
    assert timed_out["errorMessage"] == "Task timed out after 2.00 seconds"
    assert after["event"] == {"do": "echo"}
    assert emulator.restarts == 1


def test_a_crashed_runtime_is_reported_and_replaced() -> None:
    with running(FAULTS) as emulator:
        _, first, _ = invoke(emulator, {"do": "echo"})
        _, crashed, _ = invoke(emulator, {"do": "exit"})
        _, after, _ = invoke(emulator, {"do": "echo"})

    assert crashed["errorType"] == "Runtime.ExitError"
    assert crashed["errorMessage"].endswith("Runtime exited with error: exit status 3")
    assert after["event"] == {"do": "echo"} and after["pid"] != first["pid"]


def test_invocations_are_served_one_at_a_time() -> None:
    replies: list[dict[str, Any]] = []
    with running(FAULTS) as emulator:
        invoke(emulator, {"do": "echo"})  # warm up
        threads = [
            threading.Thread(
                target=lambda: replies.append(invoke(emulator, {"do": "sleep", "seconds": 0.3})[1])
            )
            for _ in range(3)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

    spans = sorted((r["started"], r["ended"]) for r in replies)
    assert len(spans) == 3
    assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(spans))


def test_bad_configuration_fails_the_cold_start_as_an_init_error(s3_endpoint: str) -> None:
    with running(RESIZE_WIDTHS="300,abc", QUALITY="0") as emulator:
        _, reply, headers = invoke(emulator, sample_event("s3-put.json", "any"))

    assert headers["X-Amz-Function-Error"] == "Unhandled"
    assert reply["errorType"] == "ConfigError"
    assert reply["errorMessage"] == (
        "invalid configuration (2 problems): invalid RESIZE_WIDTHS '300,abc': expected "
        "comma-separated widths or WxH boxes (WxH:cover to fill the box and crop), each "
        "1..16384, no repeats (e.g. 300,600,900 or 128x128:cover); invalid QUALITY '0': "
        "expected an integer from 1 to 100"
    )


# Every sample in events/: the objects it names, and what the reply must show.
SAMPLES = {
    "s3-put.json": ["images/2024/my photoé.jpg"],
    "s3-put-plain.json": ["images/2024/cat.jpg"],
    "s3-multi.json": [
        "images/batch/one.jpg",
        "images/batch/two+plus.png",
        "images/batch/three.webp",
    ],
    "sns-s3.json": ["images/sns/cat.jpg"],
    "sqs-s3.json": ["images/sqs/one.jpg", "images/sqs/two.png"],
    "sqs-sns-s3.json": ["images/sns/cat.jpg"],
    "eventbridge-object-created.json": ["images/eventbridge/cat photo.jpg"],
    "s3-batch-v1.json": ["images/backfill/old photo.jpg"],
    "s3-batch-v2.json": ["images/backfill/new.png"],
    "s3-test-event.json": [],
}


@pytest.fixture(scope="module")
def resizer(s3_endpoint: str) -> Iterator[Emulator]:
    with running(AWS_ENDPOINT_URL=s3_endpoint) as emulator:
        yield emulator


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_sample_event_through_the_real_runtime(
    name: str, resizer: Emulator, s3, bucket: str
) -> None:
    for key in SAMPLES[name]:
        data = (
            images.png()
            if key.endswith(".png")
            else (images.webp() if key.endswith(".webp") else images.jpeg(1200, 900))
        )
        s3.put_object(Bucket=bucket, Key=key, Body=data)

    status, reply, headers = invoke(resizer, sample_event(name, bucket))

    assert status == 200 and "X-Amz-Function-Error" not in headers, reply
    listing = s3.list_objects_v2(Bucket=bucket, Prefix="copy/").get("Contents", [])
    assert len(listing) == (3 + 1) * len(SAMPLES[name])  # 3 copies and a manifest each
    if name.startswith("s3-batch"):
        assert reply["invocationSchemaVersion"] == name[-6:-5] + ".0"
        assert [r["resultCode"] for r in reply["results"]] == ["Succeeded"]
        return
    assert sorted(r["key"] for r in reply["results"]) == sorted(SAMPLES[name])
    assert {r["status"] for r in reply["results"]} <= {"processed"}
    if name.startswith("sqs"):
        assert reply["batchItemFailures"] == []
    if name == "s3-test-event.json":
        assert "s3:TestEvent" in reply["ignored"][0]
