"""What operators see: the log lines and EMF metrics of real runs.

The function runs in the real `awslambdaric` runtime (through the emulator) against
the local S3 server; its stdout, which is what CloudWatch Logs receives, is parsed
and checked against the Embedded Metric Format specification and against S3 itself.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import images
from harness import s3_event

from app.observe import METRICS
from devtools.emulator import Emulator

FUNCTION = "image-resizer-test"


@contextmanager
def runtime(**env: str) -> Iterator[tuple[Emulator, Any]]:
    with (
        tempfile.TemporaryFile() as output,
        Emulator(
            "app.handler.handler",
            port=0,
            env={"AWS_LAMBDA_FUNCTION_NAME": FUNCTION, **env},
            output=output,
        ) as emulator,
    ):
        yield emulator, output


def invoke(emulator: Emulator, output: Any, event: dict[str, Any]) -> list[dict[str, Any]]:
    """Run `event`; return the JSON documents the runtime printed while it ran."""
    start = output.seek(0, 2)
    body, is_error = emulator.invoke(json.dumps(event).encode())
    assert not is_error, body
    output.seek(start)
    lines = output.read().decode().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def objects(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The per-object log lines, by key."""
    return {d["key"]: d for d in documents if str(d.get("message", "")).startswith("object ")}


def emf(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = [d for d in documents if "_aws" in d]
    for document in found:
        check_emf(document)
    return found


def check_emf(document: dict[str, Any]) -> None:
    """The EMF specification's rules, one by one."""
    meta = document["_aws"]
    assert isinstance(meta["Timestamp"], int) and meta["Timestamp"] > 1_600_000_000_000
    assert isinstance(meta["CloudWatchMetrics"], list) and meta["CloudWatchMetrics"]
    for directive in meta["CloudWatchMetrics"]:
        assert isinstance(directive["Namespace"], str) and 1 <= len(directive["Namespace"]) <= 255
        for dimension_set in directive["Dimensions"]:
            assert 1 <= len(dimension_set) <= 30
            for name in dimension_set:
                assert isinstance(document[name], str)  # every dimension is a root member
        assert 1 <= len(directive["Metrics"]) <= 100
        for metric in directive["Metrics"]:
            assert set(metric) <= {"Name", "Unit", "StorageResolution"}
            value = document[metric["Name"]]  # every metric is a root member
            values = value if isinstance(value, list) else [value]
            assert 1 <= len(values) <= 100
            assert all(isinstance(v, int | float) for v in values)
            assert metric["Unit"] == METRICS[metric["Name"]][0]


def values(document: dict[str, Any], name: str) -> list[float]:
    value = document.get(name, [])
    return sorted(value if isinstance(value, list) else [value])


def test_one_log_line_and_metrics_per_object_match_what_s3_holds(s3, bucket):
    sources = {
        "images/a.jpg": images.jpeg(1600, 1200),
        "images/b.png": images.png(),
        "images/broken.jpg": b"not an image at all",
    }
    for key, data in sources.items():
        s3.put_object(Bucket=bucket, Key=key, Body=data)

    with runtime() as (emulator, output):
        documents = invoke(emulator, output, s3_event(bucket, list(sources)))
        again = invoke(emulator, output, s3_event(bucket, ["images/a.jpg"]))

    logged = objects(documents)
    assert set(logged) == set(sources)
    for key, line in logged.items():
        assert line["bucket"] == bucket
        assert line["function_name"] == FUNCTION
        assert line["cold_start"] is True
        assert line["function_request_id"]
        assert line["level"] == ("WARNING" if key == "images/broken.jpg" else "INFO")
    broken = logged["images/broken.jpg"]
    assert broken["status"] == "failed" and "not an image" in broken["reason"]

    written: list[float] = []
    for key in ("images/a.jpg", "images/b.png"):
        line = logged[key]
        assert line["status"] == "processed"
        assert line["input_bytes"] == len(sources[key])
        decoded = images.load(sources[key])
        assert (line["width"], line["height"]) == (decoded.width, decoded.height)
        for phase in ("download_ms", "decode_ms", "encode_ms", "upload_ms", "total_ms"):
            assert 0 <= line[phase] <= line["total_ms"] * len(line["outputs"]), phase
        sizes = [
            s3.head_object(Bucket=bucket, Key=o["key"])["ContentLength"] for o in line["outputs"]
        ]
        assert [o["bytes"] for o in line["outputs"]] == sizes
        written.append(sum(sizes))

    [metrics] = emf(documents)
    [directive] = metrics["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "ImageResizer"
    assert directive["Dimensions"] == [["FunctionName"]]
    assert metrics["FunctionName"] == FUNCTION
    assert values(metrics, "ColdStart") == [1]
    assert values(metrics, "ObjectsProcessed") == [2]
    assert values(metrics, "ObjectsSkipped") == [0]
    assert values(metrics, "ObjectsFailed") == [1]
    assert values(metrics, "RenditionsWritten") == [6]
    assert values(metrics, "InputBytes") == sorted(
        len(sources[k]) for k in ("images/a.jpg", "images/b.png")
    )
    assert values(metrics, "OutputBytes") == sorted(written)
    processed = [logged[k] for k in ("images/a.jpg", "images/b.png")]
    assert values(metrics, "InputMegapixels") == sorted(
        round(line["width"] * line["height"] / 1e6, 3) for line in processed
    )
    assert values(metrics, "ProcessingTime") == sorted(line["total_ms"] for line in processed)

    # A warm invocation: no cold start, and the up-to-date copies are skipped.
    [line] = objects(again).values()
    assert line["cold_start"] is False and line["status"] == "skipped"
    [warm] = emf(again)
    assert "ColdStart" not in warm
    assert values(warm, "ObjectsSkipped") == [1] and values(warm, "RenditionsWritten") == [0]


def test_namespace_and_log_level_are_settings_and_no_bytes_are_logged(s3, bucket):
    data = images.jpeg(1200, 900)
    s3.put_object(Bucket=bucket, Key="images/quiet.jpg", Body=data)
    s3.put_object(Bucket=bucket, Key="images/bad.jpg", Body=data[: len(data) // 2])

    with runtime(METRICS_NAMESPACE="Team/Thumbnails", LOG_LEVEL="WARNING") as (emulator, output):
        documents = invoke(
            emulator, output, s3_event(bucket, ["images/quiet.jpg", "images/bad.jpg"])
        )
        output.seek(0)
        everything = output.read()

    logged = objects(documents)
    assert list(logged) == ["images/bad.jpg"]  # INFO lines are below LOG_LEVEL
    assert logged["images/bad.jpg"]["status"] == "failed"
    [metrics] = emf(documents)
    assert metrics["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Team/Thumbnails"
    assert values(metrics, "ObjectsProcessed") == [1] and values(metrics, "ObjectsFailed") == [1]
    # Nothing of the image itself, and no signed URLs, ever reach the log.
    assert data[200:232] not in everything
    assert b"X-Amz-Signature" not in everything and b"Signature=" not in everything
    assert max(len(line) for line in everything.splitlines()) < 4000
