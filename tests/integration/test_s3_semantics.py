"""What AWS's S3 does that the local server does not show: folder markers, the 2 KB
metadata limit, versions, and what a re-delivered event costs; through the fault
proxy, which logs every request and refuses oversized metadata as S3 does."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import boto3
import images
import pytest
from botocore.exceptions import ClientError
from faults import MAX_METADATA_BYTES, fault_proxy
from harness import LambdaContext, s3_event, sample_event

RED, BLUE = (220, 20, 20), (20, 20, 220)


def copies(s3: Any, bucket: str) -> list[str]:
    listing = s3.list_objects_v2(Bucket=bucket, Prefix="copy/")
    return sorted(o["Key"] for o in listing.get("Contents", []))


@pytest.fixture
def proxied(s3_endpoint, load_handler, monkeypatch):
    """The handler, cold-started against S3 through the proxy; yields (handler, proxy)."""
    with fault_proxy(s3_endpoint) as (endpoint, proxy):
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        yield load_handler(), proxy


def test_folder_markers_are_skipped_before_any_request(s3, bucket, proxied):
    handler, proxy = proxied
    for key in ("images/", "images/sub/"):  # as the S3 console's "Create folder" makes them
        s3.put_object(Bucket=bucket, Key=key, Body=b"")

    result = handler.handler(s3_event(bucket, ["images/", "images/sub/"]), LambdaContext())

    assert (result["skipped"], result["failed"]) == (2, 0)  # no ObjectsFailed alarm
    for outcome in result["results"]:
        assert outcome["reason"] == (
            "key ends in '/': a folder marker (as the S3 console creates), not an image"
        )
    assert proxy.requests == []  # neither a GET nor a HEAD


def test_a_redelivered_event_costs_heads_and_no_get(s3, bucket, proxied):
    handler, proxy = proxied
    s3.put_object(Bucket=bucket, Key="images/2024/cat.jpg", Body=images.jpeg(1200, 900))
    source = f"/{bucket}/images/2024/cat.jpg"
    first = handler.handler(sample_event("s3-put-plain.json", bucket), LambdaContext())
    assert first["processed"] == 1
    assert proxy.seen("GET", source) == 1
    proxy.requests.clear()

    again = handler.handler(sample_event("s3-put-plain.json", bucket), LambdaContext())

    assert again["results"][0]["reason"].startswith("up to date: every copy already exists")
    assert proxy.seen("GET", source) == 0
    assert proxy.seen("HEAD", source) == 1
    assert sorted(path for method, path in proxy.requests if method == "HEAD") == sorted(
        [source] + [f"/{bucket}/{key}" for key in copies(s3, bucket)]
    )
    assert {method for method, _ in proxy.requests} == {"HEAD"}


def test_a_file_whose_extension_lies_is_checked_again_once_its_format_is_known(s3, bucket, proxied):
    handler, proxy = proxied
    s3.put_object(Bucket=bucket, Key="images/scan.jpg", Body=images.png(800, 600))
    assert handler.handler(s3_event(bucket, ["images/scan.jpg"]), LambdaContext())["processed"]
    assert copies(s3, bucket) == [
        *(f"copy/scan-{w}.png" for w in (300, 600, 900)),
        "copy/scan.json",
    ]

    proxy.requests.clear()

    again = handler.handler(s3_event(bucket, ["images/scan.jpg"]), LambdaContext())

    # The guess (.jpg) found no copies, so the header was read; no copy was written again.
    assert again["results"][0]["reason"].startswith("up to date: every copy already exists")
    assert proxy.seen("GET", f"/{bucket}/images/scan.jpg") == 1
    assert proxy.seen("PUT", "/copy/") == 0


def test_copies_are_made_again_when_the_format_rule_changed(s3, bucket, s3_endpoint, proxied):
    # Copies made as WebP from a PNG named .webp: with OUTPUT_FORMAT=source the PNG
    # must give PNG copies, though WebP copies with the right ETag sit at the guessed keys.
    handler, _ = proxied
    s3.put_object(Bucket=bucket, Key="images/logo.webp", Body=images.png(400, 300))
    etag = s3.head_object(Bucket=bucket, Key="images/logo.webp")["ETag"].strip('"')
    for width in (300, 600, 900):
        s3.put_object(
            Bucket=bucket,
            Key=f"copy/logo-{width}.webp",
            Body=images.webp(width, width * 3 // 4),
            Metadata={
                "rendition-of": "images/logo.webp",
                "source-etag": etag,
                "source-format": "png",
            },
        )

    result = handler.handler(s3_event(bucket, ["images/logo.webp"]), LambdaContext())

    assert result["processed"] == 1
    assert [o["key"] for o in result["results"][0]["outputs"]] == [
        f"copy/logo-{w}.png" for w in (300, 600, 900)
    ]


def test_a_1000_byte_non_ascii_key_is_resized_and_its_copies_stay_guarded(s3, bucket, proxied):
    handler, _ = proxied
    key = "images/" + "é" * 496 + ".jpg"  # 1,003 bytes; 3,006 bytes once %-encoded
    s3.put_object(Bucket=bucket, Key=key, Body=images.jpeg(800, 600))

    result = handler.handler(s3_event(bucket, [key]), LambdaContext())

    assert result["processed"] == 1, result["results"][0].get("reason")
    made = copies(s3, bucket)
    assert len(made) == 3 + 1  # and the manifest, by the same rule
    for copy in made:
        metadata = s3.head_object(Bucket=bucket, Key=copy)["Metadata"]
        assert sum(len(k.encode()) + len(v.encode()) for k, v in metadata.items()) <= (
            MAX_METADATA_BYTES
        )
        assert metadata["rendition-of"] == "sha256:" + hashlib.sha256(key.encode()).hexdigest()

    # A copy brought back under the source prefix keeps its metadata: the guard holds.
    s3.copy_object(Bucket=bucket, Key="images/back.jpg", CopySource=f"{bucket}/{made[0]}")
    back = handler.handler(s3_event(bucket, ["images/back.jpg"]), LambdaContext())
    assert back["results"][0]["reason"] == (
        "object carries the 'rendition-of' metadata of a copy made by this function "
        "(recursion guard)"
    )


def test_the_proxy_refuses_oversized_metadata_as_s3_does(s3, bucket, proxied):
    client = boto3.client(
        "s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1"
    )
    client.put_object(Bucket=bucket, Key="copy/ok", Body=b"", Metadata={"a": "x" * 2047})
    with pytest.raises(ClientError, match="MetadataTooLarge"):
        client.put_object(Bucket=bucket, Key="copy/big", Body=b"", Metadata={"a": "x" * 2048})


@pytest.fixture
def versioned(s3, bucket) -> tuple[str, str, str]:
    """A versioned bucket holding images/cat.jpg twice: v1 red, then v2 blue."""
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=images.solid_jpeg(RED))
    v2 = s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=images.solid_jpeg(BLUE))
    return bucket, v1["VersionId"], v2["VersionId"]


def copies_are(s3: Any, bucket: str, colour: tuple[int, int, int]) -> bool:
    """True if every copy is, on average, `colour` (JPEG leaves a few levels off)."""
    made = [key for key in copies(s3, bucket) if not key.endswith(".json")]
    means = [
        images.mean_colour(images.load(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
        for key in made
    ]
    return len(made) == 3 and all(
        abs(a - b) < 15 for mean in means for a, b in zip(mean, colour, strict=True)
    )


@pytest.mark.parametrize("schema", ["1", "2"])
def test_a_batch_task_naming_an_old_version_leaves_the_current_versions_copies(
    schema, s3, versioned, proxied
):
    # Issue 16: copies follow the current version. A task naming a replaced version (as a
    # job over an inventory of every version has) is skipped; the last task to run
    # must not decide which version's pixels the copies show.
    handler, _ = proxied
    bucket, v1, v2 = versioned
    current = sample_event("s3-put-plain.json", bucket)
    current["Records"][0]["s3"]["object"].update(key="images/cat.jpg", versionId=v2)
    assert handler.handler(current, LambdaContext())["processed"] == 1
    assert copies_are(s3, bucket, BLUE)

    task = sample_event(f"s3-batch-v{schema}.json", bucket)
    task["tasks"][0].update(s3Key="images/cat.jpg", s3VersionId=v1)
    result = handler.handler(task, LambdaContext())

    assert result["results"][0]["resultCode"] == "Succeeded"
    assert result["results"][0]["resultString"] == (
        f"version {v1} of s3://{bucket}/images/cat.jpg is no longer the current version "
        f"({v2} is): the copies follow the current version"
    )
    assert copies_are(s3, bucket, BLUE)  # v2's pixels still

    task["tasks"][0].update(s3VersionId=v2)  # the current version: read by its id
    s3.delete_object(Bucket=bucket, Key="copy/cat-300.jpg")
    result = handler.handler(task, LambdaContext())
    assert result["results"][0]["resultString"] == f"wrote 3 copies (version {v2})"
    assert copies_are(s3, bucket, BLUE)
    v2_etag = s3.head_object(Bucket=bucket, Key="images/cat.jpg", VersionId=v2)["ETag"]
    for key in copies(s3, bucket):
        metadata = s3.head_object(Bucket=bucket, Key=key)["Metadata"]
        assert (metadata["source-version"], metadata["source-etag"]) == (v2, v2_etag.strip('"'))


def test_an_eventbridge_event_for_a_version_reads_that_version(s3, versioned, proxied):
    handler, proxy = proxied
    bucket, v1, v2 = versioned
    event = sample_event("eventbridge-object-created.json", bucket)
    event["detail"]["object"].update({"key": "images/cat.jpg", "version-id": v2})

    result = handler.handler(event, LambdaContext())

    assert result["processed"] == 1
    assert result["results"][0]["versionId"] == v2
    assert copies_are(s3, bucket, BLUE)
    assert any(
        method == "GET" and path.endswith("images/cat.jpg") for method, path in proxy.requests
    )

    event["detail"]["object"].update({"version-id": v1})  # late: v2 replaced it
    late = handler.handler(event, LambdaContext())
    assert late["skipped"] == 1
    assert copies_are(s3, bucket, BLUE)


def test_a_version_behind_a_delete_marker_is_gone(s3, versioned, proxied):
    # A late event (or task) for a version that a delete hid must not bring its copies back.
    handler, _ = proxied
    bucket, _, v2 = versioned
    s3.delete_object(Bucket=bucket, Key="images/cat.jpg")  # a delete marker
    event = sample_event("s3-batch-v2.json", bucket)
    event["tasks"][0].update(s3Key="images/cat.jpg", s3VersionId=v2)

    result = handler.handler(event, LambdaContext())

    assert result["results"][0]["resultCode"] == "Succeeded"
    assert result["results"][0]["resultString"].startswith(
        f"s3://{bucket}/images/cat.jpg no longer exists"
    )
    assert copies(s3, bucket) == []


def test_a_403_that_names_s3_listbucket_on_the_get_means_the_key_is_gone(s3, bucket, proxied):
    # Deleted between the HEAD and the GET, read by a role without s3:ListBucket.
    handler, proxy = proxied
    s3.put_object(Bucket=bucket, Key="images/2024/cat.jpg", Body=images.jpeg(800, 600))
    proxy.rules["GET images/2024/cat.jpg"] = "AccessDenied/ListBucket"

    result = handler.handler(sample_event("s3-put-plain.json", bucket), LambdaContext())

    assert result["results"][0]["status"] == "skipped"
    assert result["results"][0]["reason"] == (
        f"s3://{bucket}/images/2024/cat.jpg no longer exists (S3 answered 403, as the "
        f"function's role lacks s3:ListBucket on arn:aws:s3:::{bucket})"
    )
    assert proxy.seen("HEAD", "images/2024/cat.jpg") == 1


def test_copies_made_with_other_settings_are_made_again(s3, bucket, load_handler):
    # Same keys, other pixels: a change of QUALITY (or CROP, ANIMATION) is not "up to date".
    s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=images.jpeg(1200, 900))
    event = s3_event(bucket, ["images/cat.jpg"])
    assert load_handler(QUALITY="90").handler(event, LambdaContext())["processed"] == 1
    sizes_at_90 = {
        k: s3.head_object(Bucket=bucket, Key=k)["ContentLength"] for k in copies(s3, bucket)
    }

    again = load_handler(QUALITY="90").handler(event, LambdaContext())
    assert again["results"][0]["reason"].startswith("up to date: every copy already exists")

    lower = load_handler(QUALITY="40").handler(event, LambdaContext())

    assert lower["processed"] == 1
    jpegs = {key: before for key, before in sizes_at_90.items() if key.endswith(".jpg")}
    assert len(jpegs) == 3
    for key, before in jpegs.items():  # the copies were encoded again, at the new quality
        assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] < before, key
    tags = {s3.head_object(Bucket=bucket, Key=k)["Metadata"]["recipe"] for k in sizes_at_90}
    assert len(tags) == 1  # the manifest carries the same tag as its copies
    assert load_handler(QUALITY="40").handler(event, LambdaContext())["skipped"] == 1
