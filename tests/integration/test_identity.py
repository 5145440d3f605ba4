"""Every copy belongs to one source; only SOURCE_BUCKETS are sources; a bad record fails
alone; failures converge (issue 22, and issue 25's conditional writes and order of checks).

Through the handler against moto's S3 server over HTTP; the fault proxy where a
request must fail or be counted.
"""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import quote_plus

import images
import pytest
from faults import fault_proxy
from harness import LambdaContext, s3_event, sample_event

from app import naming
from app.aws.storage import S3Store
from app.errors import TransientError

JPEG = images.jpeg(800, 600)
PNG = images.png()


def run(handler: Any, event: dict[str, Any]) -> dict[str, Any]:
    return handler.handler(event, LambdaContext())  # type: ignore[no-any-return]


def keys(s3: Any, bucket: str, prefix: str = "copy/") -> list[str]:
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def state(s3: Any, bucket: str) -> dict[str, tuple[dict[str, str], bytes]]:
    """Every object under copy/: its metadata (less the bucket, which differs between
    buckets compared) and its bytes (a manifest's with its bucket name left out)."""
    found = {}
    for key in keys(s3, bucket):
        got = s3.get_object(Bucket=bucket, Key=key)
        body = got["Body"].read().replace(f'"{bucket}"'.encode(), b'"BUCKET"')
        metadata = {k: v for k, v in got["Metadata"].items() if k != naming.SOURCE_BUCKET}
        found[key] = (metadata, body)
    return found


def result_of(reply: dict[str, Any], key: str) -> dict[str, Any]:
    [result] = [r for r in reply["results"] if r.get("key") == key]
    return result


# -- Copies tied to their source's identity ------------------------------------------------


def test_a_second_source_never_overwrites_the_copies_of_the_first(s3, bucket, load_handler):
    s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=JPEG)
    s3.put_object(Bucket=bucket, Key="images/cat.png", Body=PNG)
    handler = load_handler(OUTPUT_FORMATS="jpeg,webp")
    first = run(handler, s3_event(bucket, ["images/cat.jpg"]))
    before = state(s3, bucket)

    second = run(handler, s3_event(bucket, ["images/cat.png"]))
    again = run(handler, s3_event(bucket, ["images/cat.jpg"]))  # no flip-flop

    assert first["processed"] == 1
    assert result_of(second, "images/cat.png") == {
        "bucket": bucket,
        "key": "images/cat.png",
        "status": "failed",
        "outputs": [],
        "profile": "default",
        "reason": f"s3://{bucket}/copy/cat-300.jpg already holds a copy of "
        f"s3://{bucket}/images/cat.jpg; s3://{bucket}/images/cat.png would overwrite it, so "
        "nothing was written: the two differ in {source_ext}, which OUTPUT_KEY_TEMPLATE "
        "'{prefix}{dir}{stem}-{width}.{ext}' leaves out; add {source_ext} "
        "(e.g. '{prefix}{dir}{stem}-{source_ext}-{width}.{ext}')",
    }
    assert state(s3, bucket) == before
    assert again["results"][0]["reason"].startswith("up to date: ")


def test_the_template_the_sentence_suggests_keeps_both(s3, bucket, load_handler):
    s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=JPEG)
    s3.put_object(Bucket=bucket, Key="images/cat.png", Body=PNG)
    handler = load_handler(
        OUTPUT_FORMATS="jpeg,webp",
        OUTPUT_KEY_TEMPLATE="{prefix}{dir}{stem}-{source_ext}-{width}.{ext}",
        MANIFEST_KEY_TEMPLATE="{prefix}{dir}{stem}-{source_ext}.json",
    )

    reply = run(handler, s3_event(bucket, ["images/cat.jpg", "images/cat.png"]))

    assert reply["processed"] == 2, reply["results"]
    assert "copy/cat-jpg-300.webp" in keys(s3, bucket)
    assert "copy/cat-png-300.webp" in keys(s3, bucket)
    assert {"copy/cat-jpg.json", "copy/cat-png.json"} <= set(keys(s3, bucket))


def test_only_the_manifest_is_shared_when_each_source_keeps_its_format(s3, bucket, load_handler):
    s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=JPEG)
    s3.put_object(Bucket=bucket, Key="images/cat.png", Body=PNG)
    handler = load_handler()
    run(handler, s3_event(bucket, ["images/cat.jpg"]))

    reply = run(handler, s3_event(bucket, ["images/cat.png"]))

    assert reply["results"][0]["reason"] == (
        f"s3://{bucket}/copy/cat.json already holds a copy of s3://{bucket}/images/cat.jpg; "
        f"s3://{bucket}/images/cat.png would overwrite it, so nothing was written: the two "
        "differ in {source_ext}, which MANIFEST_KEY_TEMPLATE '{prefix}{dir}{stem}.json' leaves "
        "out; add {source_ext} (e.g. '{prefix}{dir}{stem}-{source_ext}.json')"
    )
    assert not any(key.endswith(".png") for key in keys(s3, bucket))  # none of its copies


def test_two_spellings_of_one_path_are_two_sources(s3, bucket, load_handler):
    s3.put_object(Bucket=bucket, Key="images/x.jpg", Body=JPEG)
    s3.put_object(Bucket=bucket, Key="images//x.jpg", Body=images.jpeg(640, 480))
    handler = load_handler()
    run(handler, s3_event(bucket, ["images/x.jpg"]))
    before = state(s3, bucket)

    reply = run(handler, s3_event(bucket, ["images//x.jpg"]))

    assert reply["results"][0]["reason"] == (
        f"s3://{bucket}/copy/x-300.jpg already holds a copy of s3://{bucket}/images/x.jpg; "
        f"s3://{bucket}/images//x.jpg would overwrite it, so nothing was written: their keys "
        "differ only in how their path is written, which no OUTPUT_KEY_TEMPLATE tells apart; "
        "rename one of them"
    )
    assert state(s3, bucket) == before


def test_two_buckets_sharing_an_output_bucket_keep_their_own_copies(s3, bucket, load_handler):
    one, other, out = bucket, f"{bucket}-other", f"{bucket}-copies"
    for name in (other, out):
        s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=one, Key="images/x.jpg", Body=JPEG)
    s3.put_object(Bucket=other, Key="images/x.jpg", Body=JPEG)  # the very same bytes
    handler = load_handler(OUTPUT_BUCKET=out)
    run(handler, s3_event(one, ["images/x.jpg"]))
    before = state(s3, out)

    reply = run(handler, s3_event(other, ["images/x.jpg"]))

    assert reply["results"][0]["status"] == "failed"  # not "up to date": another's copies
    assert reply["results"][0]["reason"] == (
        f"s3://{out}/copy/x-300.jpg already holds a copy of s3://{one}/images/x.jpg; "
        f"s3://{other}/images/x.jpg would overwrite it, so nothing was written: the two "
        f"buckets share OUTPUT_BUCKET '{out}', which OUTPUT_KEY_TEMPLATE "
        "'{prefix}{dir}{stem}-{width}.{ext}' leaves out; add {bucket} "
        "(e.g. '{prefix}{dir}{stem}-{bucket}-{width}.{ext}')"
    )
    assert state(s3, out) == before
    head = s3.head_object(Bucket=out, Key="copy/x-300.jpg")["Metadata"]
    assert (head[naming.MARKER], head[naming.SOURCE_BUCKET]) == ("images/x.jpg", one)


# -- SOURCE_BUCKETS -------------------------------------------------------------------------


def test_an_event_naming_another_bucket_is_refused_before_any_request(
    s3, bucket, s3_endpoint, load_handler, monkeypatch
):
    s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=JPEG)
    created = s3_event(bucket, ["images/cat.jpg"])
    deleted = s3_event(bucket, ["images/cat.jpg"])
    deleted["Records"][0]["eventName"] = "ObjectRemoved:Delete"
    with fault_proxy(s3_endpoint) as (endpoint, proxy):
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        handler = load_handler(SOURCE_BUCKETS="photos,avatars")
        proxy.requests.clear()

        replies = [run(handler, created), run(handler, deleted)]

        assert proxy.requests == []
    for reply in replies:
        assert reply["results"][0]["status"] == "failed"
        assert reply["results"][0]["reason"] == (
            f"s3://{bucket}/images/cat.jpg refused: bucket '{bucket}' is not a source: "
            "SOURCE_BUCKETS lists photos, avatars; nothing read or written"
        )
    assert keys(s3, bucket) == []


def test_a_listed_bucket_is_processed(s3, bucket, load_handler):
    s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=JPEG)
    handler = load_handler(SOURCE_BUCKETS=f"photos,{bucket}")

    assert run(handler, s3_event(bucket, ["images/cat.jpg"]))["processed"] == 1


# -- One bad record fails alone ---------------------------------------------------------------


def metrics_of(out: str) -> dict[str, Any]:
    [document] = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
    return document  # type: ignore[no-any-return]


def bad_records(bucket: str) -> list[dict[str, Any]]:
    """Two S3 records that cannot be read: one lacks `eventName`, one has a numeric key."""
    template = s3_event(bucket, ["images/bad.jpg"])["Records"][0]
    lacking = {k: v for k, v in template.items() if k != "eventName"}
    numeric = json.loads(json.dumps(template))
    numeric["s3"]["object"]["key"] = 12345
    return [lacking, numeric]


GOOD_KEYS = [f"images/batch/{n}.jpg" for n in range(8)]


@pytest.fixture
def uploaded(s3, bucket):
    for key in GOOD_KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=images.jpeg(320, 240))
    return bucket


def test_a_malformed_sqs_message_fails_alone(uploaded, s3, load_handler, capsys, caplog):
    bucket = uploaded
    template = sample_event("sqs-s3.json", bucket)["Records"][0]
    bodies = [s3_event(bucket, [key]) for key in GOOD_KEYS[:4]]
    bodies += [{"Records": [record]} for record in bad_records(bucket)]
    bodies += [s3_event(bucket, [key]) for key in GOOD_KEYS[4:]]
    event = {
        "Records": [
            {**template, "messageId": f"m{n}", "body": json.dumps(body)}
            for n, body in enumerate(bodies)
        ]
    }
    handler = load_handler()
    capsys.readouterr()

    reply = run(handler, event)

    assert (reply["processed"], reply["failed"]) == (8, 2)
    assert reply["batchItemFailures"] == []  # no retry can fix them: not back to the queue
    broken = [r for r in reply["results"] if "messageId" in r]
    assert broken == [
        {
            "messageId": "m4",
            "status": "failed",
            "reason": "malformed S3 record 1 of 1 of message m4: it lacks the field 'eventName'",
        },
        {
            "messageId": "m5",
            "status": "failed",
            "reason": "malformed S3 record 1 of 1 of message m5: a field has the wrong type "
            "(s3.object.key is 12345, expected a non-empty string)",
        },
    ]
    logged = [r for r in caplog.records if r.getMessage() == "unreadable record"]
    assert [(r.levelname, r.messageId) for r in logged] == [("ERROR", "m4"), ("ERROR", "m5")]
    assert metrics_of(capsys.readouterr().out)["ObjectsFailed"] == [2.0]


@pytest.mark.parametrize("how", ["s3", "sns"])
def test_a_malformed_record_of_a_direct_event_fails_alone(uploaded, load_handler, capsys, how):
    bucket = uploaded
    event = s3_event(bucket, GOOD_KEYS[:2])
    event["Records"][1:1] = bad_records(bucket)
    if how == "sns":
        sns = sample_event("sns-s3.json", bucket)
        sns["Records"] = [
            {**sns["Records"][0], "Sns": {**sns["Records"][0]["Sns"], "Message": json.dumps(event)}}
        ]
        event = sns
    handler = load_handler()
    capsys.readouterr()

    reply = run(handler, event)  # does not raise: a retry of the whole event fixes nothing

    assert (reply["processed"], reply["failed"]) == (2, 2)
    assert [r["reason"] for r in reply["results"] if "messageId" in r] == [
        "malformed S3 record 2 of 4: it lacks the field 'eventName'",
        "malformed S3 record 3 of 4: a field has the wrong type (s3.object.key is 12345, "
        "expected a non-empty string)",
    ]
    assert metrics_of(capsys.readouterr().out)["ObjectsFailed"] == [2.0]


def test_a_malformed_eventbridge_event_is_a_reported_failure_not_a_crash(
    uploaded, load_handler, capsys
):
    event = sample_event("eventbridge-object-created.json", uploaded)
    event["detail"]["object"]["key"] = ["images/batch/0.jpg"]
    handler = load_handler()
    capsys.readouterr()

    reply = run(handler, event)

    assert reply["results"] == [
        {
            "messageId": None,
            "status": "failed",
            "reason": "malformed EventBridge event: a field has the wrong type "
            "(detail.object.key is ['images/batch/0.jpg'], expected a non-empty string)",
        }
    ]
    assert metrics_of(capsys.readouterr().out)["ObjectsFailed"] == [1.0]


def test_a_malformed_batch_operations_task_is_a_permanent_failure(uploaded, load_handler):
    event = sample_event("s3-batch-v2.json", uploaded)
    del event["tasks"][0]["s3Key"]
    handler = load_handler()

    reply = run(handler, event)

    task = event["tasks"][0]["taskId"]
    assert reply["results"] == [
        {
            "taskId": task,
            "resultCode": "PermanentFailure",
            "resultString": f"malformed Batch Operations task {task}: it lacks the field 's3Key'",
        }
    ]


# -- Convergence ------------------------------------------------------------------------------


def test_a_partial_failure_leaves_no_manifest_and_its_retry_ends_as_a_clean_run(
    s3, bucket, s3_endpoint, load_handler, monkeypatch
):
    clean = f"{bucket}-clean"
    s3.create_bucket(Bucket=clean)
    for name in (bucket, clean):
        s3.put_object(Bucket=name, Key="images/cat.jpg", Body=images.jpeg(640, 480))
    with fault_proxy(s3_endpoint) as (endpoint, proxy):
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        handler = load_handler()
        run(handler, s3_event(bucket, ["images/cat.jpg"]))  # a finished set, and its manifest
        for name in (bucket, clean):
            s3.put_object(Bucket=name, Key="images/cat.jpg", Body=JPEG)  # a new version
        proxy.rules["PUT copy/cat-600"] = "AccessDenied"

        failed = run(handler, s3_event(bucket, ["images/cat.jpg"]))

        assert failed["results"][0]["status"] == "failed"
        assert "retryable" not in failed["results"][0]
        # The old set's manifest went before its copies were replaced: no reader takes
        # the half-made set for a finished one.
        assert "copy/cat.json" not in keys(s3, bucket)
        del proxy.rules["PUT copy/cat-600"]

        retried = run(handler, s3_event(bucket, ["images/cat.jpg"]))
        run(handler, s3_event(clean, ["images/cat.jpg"]))

    assert retried["processed"] == 1
    assert state(s3, bucket) == state(s3, clean)
    assert len(state(s3, bucket)) == 4  # three copies and the manifest


def test_a_change_of_the_largest_size_remakes_the_copies(s3, bucket, load_handler):
    s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=images.jpeg(2000, 1500))
    run(load_handler(RESIZE_WIDTHS="300,600,900"), s3_event(bucket, ["images/cat.jpg"]))
    before = s3.head_object(Bucket=bucket, Key="copy/cat-300.jpg")["Metadata"]["recipe"]

    reply = run(load_handler(RESIZE_WIDTHS="300,600,1800"), s3_event(bucket, ["images/cat.jpg"]))

    assert reply["results"][0]["status"] == "processed"
    assert s3.head_object(Bucket=bucket, Key="copy/cat-300.jpg")["Metadata"]["recipe"] != before


def test_two_versions_racing_end_with_the_newer_set_whole(s3, bucket, load_handler, monkeypatch):
    # The older version's attempt has read its source and the (absent) copies when the
    # newer version is uploaded and processed in full; only then do its writes go out.
    s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=images.jpeg(640, 480))
    old_etag = s3.head_object(Bucket=bucket, Key="images/cat.jpg")["ETag"].strip('"')
    handler = load_handler()
    put = S3Store.put
    newer_done = threading.Event()
    newer: dict[str, Any] = {}

    def held_put(self: S3Store, bucket_: str, key: str, data: bytes, **kw: Any) -> None:
        if kw["metadata"][naming.SOURCE_ETAG] == old_etag:  # the older attempt's write
            with lock:
                if not newer_done.is_set():
                    s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=JPEG)
                    newer.update(run(handler, s3_event(bucket, ["images/cat.jpg"])))
                    newer_done.set()
        put(self, bucket_, key, data, **kw)

    lock = threading.Lock()
    monkeypatch.setattr(S3Store, "put", held_put)
    event = s3_event(bucket, ["images/cat.jpg"])
    event["Records"][0]["eventName"] = "ObjectCreated:Put"

    with pytest.raises(TransientError, match="changed while this attempt wrote"):
        run(handler, event)  # the older attempt: left for a retry, raised for Lambda's

    assert newer["processed"] == 1
    new_etag = s3.head_object(Bucket=bucket, Key="images/cat.jpg")["ETag"].strip('"')
    made = keys(s3, bucket)
    assert len(made) == 4
    for key in made:
        assert s3.head_object(Bucket=bucket, Key=key)["Metadata"][naming.SOURCE_ETAG] == new_etag
    manifest = json.loads(s3.get_object(Bucket=bucket, Key="copy/cat.json")["Body"].read())
    assert manifest["source"]["etag"] == new_etag
    # The older event's retry finds the set up to date with the current version.
    assert run(handler, event)["results"][0]["reason"].startswith("up to date: ")


def test_a_stale_event_of_an_empty_object_is_skipped_not_failed(s3, bucket, load_handler):
    # Tools that create an empty object first, then upload into it (versioned bucket).
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    empty = s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=b"")["VersionId"]
    current = s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=JPEG)["VersionId"]
    event = s3_event(bucket, ["images/cat.jpg"])
    event["Records"][0]["s3"]["object"].update(size=0, versionId=empty)
    handler = load_handler()

    reply = run(handler, event)

    assert reply["results"][0]["status"] == "skipped"
    assert reply["results"][0]["reason"] == (
        f"version {empty} of s3://{bucket}/images/cat.jpg is no longer the current version "
        f"({current} is): the copies follow the current version"
    )
    assert keys(s3, bucket) == []


def test_an_empty_current_object_still_fails(s3, bucket, load_handler):
    s3.put_object(Bucket=bucket, Key="images/empty.jpg", Body=b"")
    event = s3_event(bucket, ["images/empty.jpg"])
    event["Records"][0]["s3"]["object"]["size"] = 0

    reply = run(load_handler(), event)

    assert reply["results"][0]["status"] == "failed"
    assert reply["results"][0]["reason"] == f"s3://{bucket}/images/empty.jpg is empty (0 bytes)"


def test_keys_with_reserved_characters_keep_their_identity(s3, bucket, load_handler):
    key = "images/a b+c%.jpg"
    s3.put_object(Bucket=bucket, Key=key, Body=JPEG)
    event = s3_event(bucket, [key])
    assert event["Records"][0]["s3"]["object"]["key"] == quote_plus(key, safe="/")
    handler = load_handler()

    assert run(handler, event)["processed"] == 1
    assert run(handler, event)["results"][0]["reason"].startswith("up to date: ")


def test_two_sources_racing_for_one_key_never_share_a_set(s3, bucket, load_handler):
    # Both are checked before either writes (two at once): the conditional writes, not
    # the check, decide. Whichever loses a key stops for good, naming the other; its own
    # copies go with it; what stays is one source's whole set.
    s3.put_object(Bucket=bucket, Key="images/cat.jpg", Body=JPEG)
    s3.put_object(Bucket=bucket, Key="images/cat.png", Body=PNG)
    handler = load_handler(OUTPUT_FORMATS="jpeg", OBJECT_CONCURRENCY="2")

    reply = run(handler, s3_event(bucket, ["images/cat.jpg", "images/cat.png"]))

    for result in reply["results"]:
        assert "retryable" not in result, result
        if result["status"] == "failed":
            other = "cat.png" if result["key"].endswith("cat.jpg") else "cat.jpg"
            assert f"a copy of s3://{bucket}/images/{other}" in result["reason"], result
            assert "add {source_ext}" in result["reason"], result
        else:
            assert result["status"] == "processed", result
    made = {r["key"] for r in reply["results"] if r["status"] == "processed"}
    sources = {
        s3.head_object(Bucket=bucket, Key=key)["Metadata"][naming.MARKER]
        for key in keys(s3, bucket)
    }
    assert sources == {quote_plus(k, safe="/") for k in made}  # one set, or none
    if made:  # the winner's set is whole: three copies and its manifest
        assert keys(s3, bucket) == [
            "copy/cat-300.jpg",
            "copy/cat-600.jpg",
            "copy/cat-900.jpg",
            "copy/cat.json",
        ]
