"""Where a deleted source's copies are searched for, and how application events are put."""

from __future__ import annotations

import ast
import json
import time
from pathlib import Path
from typing import Any

import pytest

from app.aws import deadline, notify
from app.aws.storage import S3Store
from app.config import settings as config
from app.localfiles import LocalStore
from app.model import ObjectRef, Outcome, Output
from app.renditions import copies, identity, sweep


def places(key: str, *profiles: dict[str, str]) -> sweep.Places:
    return sweep.places([config.load(env) for env in profiles or ({},)], key)


def test_a_delete_asks_only_for_the_keys_its_source_can_have() -> None:
    found = places("images/2024/cat.jpg")
    # Each size in every format's extension (the source's format is gone with it).
    assert found.copies == tuple(
        f"copy/2024/cat-{w}.{ext}"
        for w in (300, 600, 900)
        for ext in ("avif", "gif", "jpg", "png", "webp")
    )
    assert found.manifests == ("copy/2024/cat.json",)


def test_every_profile_adds_its_own_keys_once() -> None:
    found = places(
        "images/cat.jpg",
        {"RESIZE_WIDTHS": "300,600"},
        {"RESIZE_WIDTHS": "600,128x128", "OUTPUT_PREFIX": "thumbs/", "MANIFEST": "off"},
        {"RESIZE_WIDTHS": "300", "OUTPUT_KEY_TEMPLATE": "{prefix}{width}/{dir}{stem}.{ext}"},
    )
    widths = {k.rsplit(".", 1)[0] for k in found.copies}
    assert widths == {
        "copy/cat-300",
        "copy/cat-600",
        "thumbs/cat-600",
        "thumbs/cat-128x128",
        "copy/300/cat",
    }
    assert len(found.copies) == 5 * 5  # no key twice
    # MANIFEST=off: where the default template put one while it was on.
    assert found.manifests == ("copy/cat.json", "thumbs/cat.json")
    assert found.prefixes == ("copy/", "thumbs/")


def test_a_key_named_by_its_digest_is_asked_for_by_its_digest() -> None:
    key = "images/" + "a" * 1013 + ".jpg"  # 1,024 bytes: too long once copy/ and -300.jpg are added
    found = places(key)
    assert len(found.copies) == 15
    assert all(k.startswith("copy/~") for k in found.copies)


def test_a_template_naming_the_bucket_is_searched_in_that_bucket() -> None:
    template = {"OUTPUT_KEY_TEMPLATE": "{prefix}{bucket}/{dir}{stem}-{width}.{ext}"}
    settings = [config.load(template)]
    found = sweep.places(settings, "images/cat.jpg", "photos")
    assert "copy/photos/cat-300.jpg" in found.copies
    assert not any(k.startswith("copy/other/") for k in found.copies)


@pytest.mark.parametrize(
    ("metadata", "owned"),
    [
        ({"rendition-of": "images/cat.jpg", "source-bucket": "photos"}, True),
        ({"rendition-of": "images/cat.jpg", "source-bucket": "other"}, False),
        ({"rendition-of": "images/cat.png", "source-bucket": "photos"}, False),
        ({"rendition-of": "images/cat.jpg"}, True),  # made before the bucket was recorded
        ({}, False),
    ],
)
def test_a_copy_is_its_sources_by_bucket_and_key(metadata: dict[str, str], owned: bool) -> None:
    ref = ObjectRef("photos", "images/cat.jpg")
    assert identity.owns(metadata, ref, "photos") is owned
    # In another output bucket, a copy without its source's bucket is no one's to remove.
    assert identity.owns(metadata, ref, "thumbnails") is (owned and "source-bucket" in metadata)


def test_only_a_store_that_can_find_and_delete_copies_is_asked_to() -> None:
    s3 = S3Store(deadline.Clients(lambda config: None))  # type: ignore[arg-type,return-value]
    local = LocalStore({}, Path("out"), "copy/")

    assert copies.removes(s3)
    assert not copies.removes(local)  # local files: copies of another format stay
    # Remover is a Protocol for mypy alone (no typing at run time): `removes` asks for the
    # methods it declares, as read from its source.
    source = ast.parse(Path(copies.__file__).read_text())
    [remover] = [n for n in ast.walk(source) if isinstance(n, ast.ClassDef) and n.name == "Remover"]
    methods = tuple(n.name for n in remover.body if isinstance(n, ast.FunctionDef))
    assert methods == copies._REMOVER
    for missing in methods:
        kept = {name: getattr(S3Store, name) for name in methods if name != missing}
        partial = type("Partial", (), kept)
        assert not copies.removes(partial()), missing


def test_a_sources_requests_fit_in_its_share_of_the_connection_pool() -> None:
    assert sweep.workers(config.load({})) == 4  # 3 copies and the GET
    assert sweep.workers(config.load({"OUTPUT_FORMATS": "jpeg,webp,avif"})) == sweep.WORKERS


def outcome(status: str, **extra: Any) -> Outcome:
    return Outcome(ObjectRef("b", "images/cat.jpg", version="v1"), status, **extra)  # type: ignore[arg-type]


def test_one_entry_per_object_that_changed_something() -> None:
    written = outcome(
        "processed", outputs=(Output("copy/cat-300.jpg", 300, 200, 999, "image/jpeg"),)
    )
    entry = notify.entry("apps", written)
    assert entry is not None
    assert (entry["Source"], entry["DetailType"], entry["EventBusName"]) == (
        "image-resizer",
        "Renditions Created",
        "apps",
    )
    assert json.loads(entry["Detail"]) == {
        "bucket": "b",
        "key": "images/cat.jpg",
        "version": "v1",
        "outputs": [
            {
                "key": "copy/cat-300.jpg",
                "width": 300,
                "height": 200,
                "bytes": 999,
                "contentType": "image/jpeg",
            }
        ],
    }
    deleted = notify.entry("apps", outcome("deleted", removed=("copy/cat-300.jpg",)))
    assert deleted is not None and deleted["DetailType"] == "Renditions Deleted"
    assert json.loads(deleted["Detail"])["deleted"] == ["copy/cat-300.jpg"]
    failed = notify.entry("apps", outcome("failed", reason="bad"))
    assert failed is not None and failed["DetailType"] == "Renditions Failed"
    assert json.loads(failed["Detail"])["reason"] == "bad"
    assert notify.entry("apps", outcome("skipped", reason="up to date")) is None


def test_calls_carry_at_most_ten_entries_and_256_kb() -> None:
    small = [{"Source": "s", "DetailType": "d", "Detail": "{}"} for _ in range(23)]
    assert [len(c) for c in notify.batches(small)] == [10, 10, 3]
    big = [{"Source": "s", "DetailType": "d", "Detail": "x" * 100_000} for _ in range(5)]
    assert [len(c) for c in notify.batches(big)] == [2, 2, 1]


class Refusing:
    """EventBridge's documented partial failure (FailedEntryCount), which moto never gives
    for valid entries: the second entry of each call is refused."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def put_events(self, *, Entries: Any) -> dict[str, Any]:
        self.calls.append(len(Entries))
        results: list[dict[str, str]] = [{"EventId": "1"} for _ in Entries]
        results[1] = {"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"}
        return {"FailedEntryCount": 1, "Entries": results}


def test_refused_entries_are_reported_one_sentence_each() -> None:
    client = Refusing()
    publisher = notify.Publisher(lambda _: client, "apps")
    outcomes = [outcome("processed"), Outcome(ObjectRef("b", "images/dog.jpg"), "failed", "x")]

    failures = publisher.publish(outcomes, time.monotonic() + 30)

    assert client.calls == [2]
    assert failures == [
        "events:PutEvents of 'Renditions Failed' for s3://b/images/dog.jpg on event bus 'apps' "
        "failed: ThrottlingException: Rate exceeded"
    ]


def test_no_call_is_made_without_the_time_for_one() -> None:
    def never(_: Any) -> Any:
        raise AssertionError("no client is needed")

    failures = notify.Publisher(never, "apps").publish(
        [outcome("processed")], time.monotonic() + 0.2
    )
    assert len(failures) == 1
    assert failures[0].startswith(
        "events:PutEvents of 'Renditions Created' for s3://b/images/cat.jpg on event bus 'apps' "
        "failed: not sent: "
    )
    assert failures[0].endswith(" ms left before the Lambda deadline")


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("apps", True),
        ("default", True),
        ("arn:aws:events:eu-west-1:123456789012:event-bus/apps", True),
        ("my bus", False),
        ("arn:aws:sqs:eu-west-1:123456789012:queue", False),
        ("b" * 257, False),
    ],
)
def test_event_bus_name_is_a_name_or_an_arn(value: str, ok: bool) -> None:
    if ok:
        assert config.load({"EVENT_BUS_NAME": value}).event_bus == value
        return
    with pytest.raises(config.ConfigError) as raised:
        config.load({"EVENT_BUS_NAME": value})
    assert str(raised.value).endswith(
        f"invalid EVENT_BUS_NAME {value!r}: expected an EventBridge event bus name (1-256 "
        "letters, digits or . - _ /) or its ARN (arn:aws:events:REGION:ACCOUNT:event-bus/NAME), "
        "or empty for no events"
    )
