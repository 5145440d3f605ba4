"""Copies follow their source: deletes, late, repeated and reversed events, versions.

Against moto's S3 server over HTTP, through the fault proxy (which logs every request
and holds a chosen one back, to replay a race between two events of one key).
"""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import quote_plus

import images
import pytest
from faults import Slow, fault_proxy
from harness import LambdaContext, s3_event, sample_event

from app import naming
from app.model import ObjectRef
from app.renditions import pipeline

RED, BLUE, GREEN = (220, 20, 20), (20, 20, 220), (20, 200, 20)


@pytest.fixture
def proxied(s3_endpoint, load_handler, monkeypatch):
    """The handler, cold-started against S3 through the proxy; yields (handler, proxy)."""
    with fault_proxy(s3_endpoint) as (endpoint, proxy):
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        yield load_handler(MANIFEST="off"), proxy  # the manifest: test_manifest_s3.py


def event(
    bucket: str,
    key: str,
    sequencer: str,
    name: str = "ObjectCreated:Put",
    version: str | None = None,
) -> dict[str, Any]:
    """An S3 notification as S3 sends it: its name, the key, its sequencer, a version."""
    sample = sample_event("s3-put-plain.json", bucket)
    record = sample["Records"][0]
    record["eventName"] = name
    obj: dict[str, Any] = {"key": quote_plus(key, safe="/"), "sequencer": sequencer}
    if name.startswith("ObjectCreated"):
        obj["size"] = None
    if version is not None:
        obj["versionId"] = version
    record["s3"]["object"] = obj
    return sample


def removed(bucket: str, key: str, sequencer: str, **kw: Any) -> dict[str, Any]:
    return event(bucket, key, sequencer, kw.pop("name", "ObjectRemoved:Delete"), **kw)


def keys(s3: Any, bucket: str, prefix: str = "copy/") -> list[str]:
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def colour_of(s3: Any, bucket: str, key: str) -> tuple[float, ...]:
    return images.mean_colour(images.load(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))


def all_are(s3: Any, bucket: str, colour: tuple[int, int, int], n: int = 3) -> bool:
    made = keys(s3, bucket)
    return len(made) == n and all(
        abs(a - b) < 15
        for key in made
        for a, b in zip(colour_of(s3, bucket, key), colour, strict=True)
    )


def run(handler: Any, payload: dict[str, Any]) -> dict[str, Any]:
    return handler.handler(payload, LambdaContext())  # type: ignore[no-any-return]


CAT = [f"copy/cat-{w}.jpg" for w in (300, 600, 900)]


# --- deletes ----------------------------------------------------------------------------


def test_deleting_a_source_deletes_its_copies_and_manifest_and_nothing_else(s3, bucket, proxied):
    handler, _ = proxied
    for key in ("images/cat.jpg", "images/cat.png", "images/catalog.jpg", "images/cat/x.jpg"):
        body = images.png() if key.endswith(".png") else images.jpeg(640, 480)
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    keys_before = ["images/cat.jpg", "images/cat.png", "images/catalog.jpg", "images/cat/x.jpg"]
    assert run(handler, s3_event(bucket, keys_before))["processed"] == 4
    # The per-source manifest (another module writes it) carries the same marker.
    s3.put_object(
        Bucket=bucket,
        Key="copy/cat.json",
        Body=b"{}",
        Metadata={naming.MARKER: naming.source_marker("images/cat.jpg")},
    )
    s3.put_object(Bucket=bucket, Key="copy/cat-notes.txt", Body=b"someone else's")
    before = keys(s3, bucket)

    s3.delete_object(Bucket=bucket, Key="images/cat.jpg")
    result = run(handler, removed(bucket, "images/cat.jpg", "0065F1A2B3C4D5E6FA"))

    [outcome] = result["results"]
    assert (outcome["status"], result["deleted"]) == ("deleted", 1)
    assert outcome["deleted"] == sorted(["copy/cat.json", *CAT])
    assert keys(s3, bucket) == sorted(set(before) - set(outcome["deleted"]))
    # cat.png's copies share the stem, catalog's the prefix, cat/x's the folder: all kept.
    assert [k for k in keys(s3, bucket) if k.startswith("copy/cat-")] == [
        "copy/cat-300.png",
        "copy/cat-600.png",
        "copy/cat-900.png",
        "copy/cat-notes.txt",
    ]

    # Delivered twice: nothing left to do, nothing else touched.
    again = run(handler, removed(bucket, "images/cat.jpg", "0065F1A2B3C4D5E6FA"))
    assert again["results"][0]["status"] == "skipped"
    assert again["results"][0]["reason"] == (
        f"nothing to delete: s3://{bucket}/images/cat.jpg has no copies left"
    )
    assert keys(s3, bucket) == sorted(set(before) - set(outcome["deleted"]))


def test_a_delete_under_the_output_prefix_does_nothing(s3, bucket, proxied):
    handler, proxy = proxied
    s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=images.jpeg(640, 480))
    run(handler, s3_event(bucket, ["images/cat.jpg"]))
    s3.delete_object(Bucket=bucket, Key="copy/cat-300.jpg")
    proxy.requests.clear()

    result = run(handler, removed(bucket, "copy/cat-300.jpg", "0065F1A2B3C4D5E6FA"))

    assert result["results"][0]["status"] == "skipped"
    assert "recursion guard" in result["results"][0]["reason"]
    assert keys(s3, bucket) == CAT[1:]
    assert proxy.requests == []  # not even a HEAD


@pytest.mark.parametrize("shape", ["eventbridge", "sqs", "sns", "sqs-sns"])
def test_every_shape_delivers_deletes(shape, s3, bucket, proxied):
    handler, _ = proxied
    s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=images.jpeg(640, 480))
    run(handler, s3_event(bucket, ["images/cat.jpg"]))
    s3.delete_object(Bucket=bucket, Key="images/cat.jpg")
    delete = removed(bucket, "images/cat.jpg", "0065F1A2B3C4D5E6FA")
    if shape == "eventbridge":
        payload = sample_event("eventbridge-object-deleted.json", bucket)
        payload["detail"]["object"].update(key="images/cat.jpg", sequencer="0065F1A2B3C4D5E6FA")
    else:
        payload = sample_event("sqs-s3.json" if shape.startswith("sqs") else "sns-s3.json", bucket)
        body = json.dumps(delete)
        if shape == "sqs-sns":
            body = json.dumps({"Type": "Notification", "Message": body})
        if shape == "sns":
            payload["Records"][0]["Sns"]["Message"] = body
        else:
            payload["Records"] = payload["Records"][:1]
            payload["Records"][0]["body"] = body

    result = run(handler, payload)

    assert result["deleted"] == 1, result["results"]
    assert keys(s3, bucket) == []


def test_a_delete_that_s3_refuses_names_the_permission(s3, bucket, proxied):
    handler, proxy = proxied
    s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=images.jpeg(640, 480))
    run(handler, s3_event(bucket, ["images/cat.jpg"]))
    s3.delete_object(Bucket=bucket, Key="images/cat.jpg")
    proxy.rules["DELETE copy/cat-600.jpg"] = "AccessDenied"

    result = run(handler, removed(bucket, "images/cat.jpg", "0065F1A2B3C4D5E6FA"))

    assert result["results"][0]["status"] == "failed"
    assert result["results"][0]["reason"] == (
        f"s3:DeleteObject was denied on arn:aws:s3:::{bucket}/copy/cat-600.jpg: the function's "
        "role needs s3:DeleteObject on that resource (Access Denied)"
    )


# --- versions -----------------------------------------------------------------------------


@pytest.fixture
def versioned(s3, bucket) -> tuple[str, str, str]:
    """A versioned bucket holding images/cat.jpg twice: v1 red, then v2 blue."""
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=images.solid_jpeg(RED))
    v2 = s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=images.solid_jpeg(BLUE))
    return bucket, v1["VersionId"], v2["VersionId"]


def test_reversed_events_leave_the_newer_versions_copies(s3, versioned, proxied):
    handler, _ = proxied
    bucket, v1, v2 = versioned
    assert run(handler, event(bucket, "images/cat.jpg", "20", version=v2))["processed"] == 1
    assert all_are(s3, bucket, BLUE)

    late = run(handler, event(bucket, "images/cat.jpg", "10", version=v1))

    assert late["results"][0]["status"] == "skipped"
    assert all_are(s3, bucket, BLUE)  # v2's pixels, not v1's


def test_a_delete_marker_removes_the_copies_and_a_late_create_does_not_bring_them_back(
    s3, versioned, proxied
):
    handler, _ = proxied
    bucket, v1, v2 = versioned
    run(handler, event(bucket, "images/cat.jpg", "20", version=v2))
    marker = s3.delete_object(Bucket=bucket, Key="images/cat.jpg")["VersionId"]

    gone = run(
        handler,
        removed(
            bucket, "images/cat.jpg", "30", name="ObjectRemoved:DeleteMarkerCreated", version=marker
        ),
    )
    assert gone["results"][0]["deleted"] == CAT
    assert keys(s3, bucket) == []

    # v1 and v2 are still in the bucket, behind the marker: their late events make nothing.
    for version, sequencer in ((v1, "10"), (v2, "20")):
        late = run(handler, event(bucket, "images/cat.jpg", sequencer, version=version))
        assert late["results"][0]["status"] == "skipped"
        assert late["results"][0]["reason"] == f"s3://{bucket}/images/cat.jpg no longer exists"
    assert keys(s3, bucket) == []


def test_deleting_an_old_version_keeps_the_current_versions_copies(s3, versioned, proxied):
    handler, _ = proxied
    bucket, v1, v2 = versioned
    run(handler, event(bucket, "images/cat.jpg", "20", version=v2))
    s3.delete_object(Bucket=bucket, Key="images/cat.jpg", VersionId=v1)

    result = run(handler, removed(bucket, "images/cat.jpg", "30", version=v1))

    assert result["results"][0]["status"] == "skipped"
    assert result["results"][0]["reason"].startswith(
        f"s3://{bucket}/images/cat.jpg still exists, so its copies stay: up to date"
    )
    assert all_are(s3, bucket, BLUE)


def test_deleting_the_current_version_brings_the_previous_ones_copies(s3, versioned, proxied):
    handler, _ = proxied
    bucket, _, v2 = versioned
    run(handler, event(bucket, "images/cat.jpg", "20", version=v2))
    s3.delete_object(Bucket=bucket, Key="images/cat.jpg", VersionId=v2)  # v1 is current again

    result = run(handler, removed(bucket, "images/cat.jpg", "30", version=v2))

    assert result["results"][0]["status"] == "processed"
    assert all_are(s3, bucket, RED)  # no copy of the deleted v2 stays public


# --- order (unversioned bucket) -----------------------------------------------------------------


def test_an_older_event_never_overwrites_or_deletes_copies_of_a_newer_upload(s3, bucket, proxied):
    handler, _ = proxied
    s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=images.solid_jpeg(RED))  # seq 10
    s3.delete_object(Bucket=bucket, Key="images/cat.jpg")  # seq 20
    s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=images.solid_jpeg(BLUE))  # seq 30

    # Delivered out of order: the last upload's event first, then the two before it.
    assert run(handler, event(bucket, "images/cat.jpg", "30"))["processed"] == 1
    stale = run(handler, event(bucket, "images/cat.jpg", "10"))
    assert stale["results"][0]["reason"] == (
        f"stale event: s3://{bucket}/copy/cat-300.jpg was made for a later event of "
        f"s3://{bucket}/images/cat.jpg (sequencer 30 > 10); left as it is"
    )
    late_delete = run(handler, removed(bucket, "images/cat.jpg", "20"))
    assert late_delete["results"][0]["status"] == "skipped"
    assert all_are(s3, bucket, BLUE)

    # Deleted again (seq 40); that delete's event is still on its way when the late one
    # of seq 20 arrives: the source is gone, but the copies are of a later upload.
    s3.delete_object(Bucket=bucket, Key="images/cat.jpg")
    kept = run(handler, removed(bucket, "images/cat.jpg", "20"))
    assert kept["results"][0]["status"] == "skipped"
    assert "stale event" in kept["results"][0]["reason"]
    assert all_are(s3, bucket, BLUE)
    assert run(handler, removed(bucket, "images/cat.jpg", "40"))["deleted"] == 1
    assert keys(s3, bucket) == []

    # A late create event for the deleted object: its HEAD says 404, nothing comes back.
    late = run(handler, event(bucket, "images/cat.jpg", "30"))
    assert late["results"][0]["reason"] == f"s3://{bucket}/images/cat.jpg no longer exists"
    assert keys(s3, bucket) == []

    # Uploaded again (seq 50): a newer sequencer, copies as usual.
    s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=images.solid_jpeg(GREEN))
    assert run(handler, event(bucket, "images/cat.jpg", "50"))["processed"] == 1
    assert all_are(s3, bucket, GREEN)


def test_a_write_that_a_later_event_overtook_is_dropped(s3, versioned, proxied):
    # v1's event reads v1 (pinned by its version) slowly; meanwhile v2 is uploaded and its
    # event writes v2's copies. v1's copies, ready last, must not replace them.
    handler, proxy = proxied
    bucket, v1, _ = versioned
    s3.delete_object(Bucket=bucket, Key="images/cat.jpg", VersionId=_current(s3, bucket))
    proxy.slow["images/cat.jpg"] = Slow("GET", seconds=2)
    result: dict[str, Any] = {}
    slow = threading.Thread(
        target=lambda: result.update(
            run(handler, event(bucket, "images/cat.jpg", "10", version=v1))
        )
    )
    slow.start()
    assert proxy.wait_for_hit("images/cat.jpg", 20)  # v1's GET has met the slow answer
    del proxy.slow["images/cat.jpg"]  # v1's GET is held; the next ones are not
    v3 = s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=images.solid_jpeg(BLUE))
    newer = ObjectRef(bucket, "images/cat.jpg", version=v3["VersionId"], sequencer="30")
    assert pipeline.process(newer, handler.settings, handler.store).status == "processed"

    slow.join(timeout=30)

    assert result["results"][0]["status"] == "skipped", result
    assert result["results"][0]["reason"].startswith("stale event: ")
    assert all_are(s3, bucket, BLUE)


def _current(s3: Any, bucket: str) -> str:
    return str(s3.head_object(Bucket=bucket, Key="images/cat.jpg")["VersionId"])
