"""Every event shape in events/ becomes the right object references."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import events
from app.errors import EventError

EVENTS = Path(__file__).resolve().parents[2] / "events"
B = "image-resizer-local"


def load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


@pytest.mark.parametrize(
    ("name", "source", "keys"),
    [
        ("s3-put.json", "s3", ["images/2024/my photoé.jpg"]),
        ("s3-put-plain.json", "s3", ["images/2024/cat.jpg"]),
        (
            "s3-multi.json",
            "s3",
            ["images/batch/one.jpg", "images/batch/two+plus.png", "images/batch/three.webp"],
        ),
        ("sns-s3.json", "sns", ["images/sns/cat.jpg"]),
        ("sqs-s3.json", "sqs", ["images/sqs/one.jpg", "images/sqs/two.png"]),
        ("sqs-sns-s3.json", "sqs", ["images/sns/cat.jpg"]),
        ("eventbridge-object-created.json", "eventbridge", ["images/eventbridge/cat photo.jpg"]),
        ("s3-batch-v1.json", "batch", ["images/backfill/old photo.jpg"]),
        ("s3-batch-v2.json", "batch", ["images/backfill/new.png"]),
        ("s3-test-event.json", "test", []),
        ("s3-delete.json", "s3", ["images/2024/old cat.jpg"]),
        ("eventbridge-object-deleted.json", "eventbridge", ["images/eventbridge/old photo.jpg"]),
    ],
)
def test_every_sample_event(name: str, source: str, keys: list[str]) -> None:
    parsed = events.parse(load(name))

    assert parsed.source == source
    assert [ref.key for ref in parsed.refs] == keys
    assert {ref.bucket for ref in parsed.refs} <= {B}


def test_sqs_messages_keep_their_ids() -> None:
    parsed = events.parse(load("sqs-s3.json"))

    assert [m.id for m in parsed.messages] == [
        "059f36b4-87a3-44ab-83d2-661975830a7d",
        "2e1424d4-f796-459a-8184-9c92662be6da",
    ]


def test_test_event_inside_sqs_is_ignored_not_failed() -> None:
    event = load("sqs-s3.json")
    event["Records"][0]["body"] = json.dumps(load("s3-test-event.json"))

    message = events.parse(event).messages[0]
    assert (message.refs, message.errors) == ((), ())
    assert "s3:TestEvent" in message.ignored[0]


def test_unreadable_sqs_body_is_a_message_error() -> None:
    event = load("sqs-s3.json")
    event["Records"][1]["body"] = "not json"

    messages = events.parse(event).messages
    assert messages[0].refs and messages[0].errors == ()
    assert messages[1].errors == (
        "message 2e1424d4-f796-459a-8184-9c92662be6da is not JSON: 'not json'",
    )


def wrapped(event: dict, how: str) -> dict:
    """`event` as S3 sends it directly, through SNS, SQS, or SNS and then SQS."""
    if how == "s3":
        return event
    if how == "sns":
        sns = load("sns-s3.json")
        sns["Records"][0]["Sns"]["Message"] = json.dumps(event)
        return sns
    sqs = load("sqs-s3.json")
    sqs["Records"] = sqs["Records"][:1]
    body = event if how == "sqs" else {"Type": "Notification", "Message": json.dumps(event)}
    sqs["Records"][0]["body"] = json.dumps(body)
    return sqs


@pytest.mark.parametrize("how", ["s3", "sns", "sqs", "sqs-sns"])
@pytest.mark.parametrize(
    "name",
    [
        "ObjectRemoved:Delete",
        "ObjectRemoved:DeleteMarkerCreated",
        "LifecycleExpiration:Delete",
        "LifecycleExpiration:DeleteMarkerCreated",
    ],
)
def test_removals_in_every_wrapping_become_remove_refs_with_their_sequencer(
    name: str, how: str
) -> None:
    event = load("s3-delete.json")
    event["Records"][0]["eventName"] = name

    [ref] = events.parse(wrapped(event, how)).refs
    assert (ref.key, ref.action, ref.sequencer) == (
        "images/2024/old cat.jpg",
        "remove",
        "0065F1A2B3C4D5E6FA",
    )


def test_eventbridge_object_deleted_is_a_removal() -> None:
    [ref] = events.parse(load("eventbridge-object-deleted.json")).refs
    assert (ref.action, ref.sequencer, ref.version) == ("remove", "00617F0838BA5B0C0B", None)
    [created] = events.parse(load("eventbridge-object-created.json")).refs
    assert (created.action, created.sequencer) == ("create", "00617F08299329D189")


def test_other_s3_events_are_ignored_with_a_reason() -> None:
    event = load("s3-put-plain.json")
    event["Records"][0]["eventName"] = "ObjectRestore:Completed"

    message = events.parse(event).messages[0]
    assert message.refs == ()
    assert message.ignored == (
        "ObjectRestore:Completed for 'images/2024/cat.jpg' is not an ObjectCreated, "
        "ObjectRemoved or LifecycleExpiration event",
    )
    bridge = load("eventbridge-object-created.json")
    bridge["detail-type"] = "Object Tags Added"
    assert events.parse(bridge).messages[0].ignored == (
        "EventBridge 'Object Tags Added' is not an 'Object Created' or 'Object Deleted' event",
    )


@pytest.mark.parametrize(
    ("sequencer", "kept"),
    [("617f08299329d189", "617F08299329D189"), (None, None), ("", None), ("not-hex", None)],
)
def test_a_sequencer_is_kept_only_when_it_is_hex(sequencer: str | None, kept: str | None) -> None:
    event = load("s3-put-plain.json")
    event["Records"][0]["s3"]["object"]["sequencer"] = sequencer
    assert events.parse(event).refs[0].sequencer == kept
    batch = events.parse(load("s3-batch-v2.json")).refs[0]
    assert (batch.action, batch.sequencer) == ("create", None)  # Batch tasks carry none


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"foo": 1, "bar": 2}, "received an object with top-level keys: bar, foo"),
        ({}, "received an object with top-level keys: none"),
        ([1, 2], "expected a JSON object, received list"),
        ({"Records": [{"kinesis": {}}]}, "top-level keys: Records"),
    ],
)
def test_unknown_shapes_fail_with_one_sentence(event: object, message: str) -> None:
    with pytest.raises(EventError) as raised:
        events.parse(event)

    assert (
        str(raised.value).startswith(
            "unsupported event: expected S3, SNS, SQS, EventBridge or S3 Batch Operations"
        )
        or "list" in message
    )
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (
            {"invocationSchemaVersion": "1.0", "tasks": [{"taskId": "t"}]},
            "malformed event: it lacks the field 'invocationId'",
        ),
        (
            {"invocationSchemaVersion": "2.0", "invocationId": "i", "tasks": [{"s3Key": "k"}]},
            "malformed event: it lacks the field 'taskId'",
        ),
    ],
)
def test_an_event_whose_reply_could_not_name_the_failure_is_refused_whole(
    event: object, message: str
) -> None:
    with pytest.raises(EventError) as raised:
        events.parse(event)

    assert str(raised.value) == message


GOOD = load("s3-put-plain.json")["Records"][0]


def s3_record(**changes: object) -> dict:
    """GOOD with fields of its `s3.object` replaced (None: removed), or `eventName` removed."""
    record = json.loads(json.dumps(GOOD))
    for name, value in changes.items():
        if name == "eventName":
            del record["eventName"]
        elif value is None:
            del record["s3"]["object"][name]
        else:
            record["s3"]["object"][name] = value
    return record


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (s3_record(eventName=None), "it lacks the field 'eventName'"),
        (s3_record(key=None), "it lacks the field 'key'"),
        (
            s3_record(key=42),
            "a field has the wrong type (s3.object.key is 42, expected a non-empty string)",
        ),
        (
            s3_record(size="big"),
            "a field has the wrong type (s3.object.size is 'big', expected a whole number of "
            "bytes)",
        ),
        ("not a record", "a field has the wrong type (string indices must be integers, not 'str')"),
    ],
)
@pytest.mark.parametrize("how", ["s3", "sns", "sqs", "sqs-sns"])
def test_one_unreadable_s3_record_fails_alone_in_every_wrapping(
    bad: object, error: str, how: str
) -> None:
    event = {"Records": [GOOD, bad, GOOD]}

    parsed = events.parse(wrapped(event, how))

    assert [ref.key for ref in parsed.refs] == ["images/2024/cat.jpg"] * 2
    [message] = parsed.messages
    within = " of message 059f36b4-87a3-44ab-83d2-661975830a7d" if "sqs" in how else ""
    assert message.errors == (f"malformed S3 record 2 of 3{within}: {error}",)


def test_an_sqs_record_without_a_body_or_an_sns_record_without_a_message_fails_alone() -> None:
    sqs = load("sqs-s3.json")
    del sqs["Records"][1]["body"]
    sns = load("sns-s3.json")
    sns["Records"].append({"Sns": "not an object"})

    good, bad = events.parse(sqs).messages
    [merged] = events.parse(sns).messages

    assert good.refs and not good.errors
    assert bad.errors == (
        "malformed SQS message 2e1424d4-f796-459a-8184-9c92662be6da: it lacks the field 'body'",
    )
    assert [ref.key for ref in merged.refs] == ["images/sns/cat.jpg"]
    assert merged.errors == (
        "malformed SNS record 2 of 2: a field has the wrong type (string indices must be "
        "integers, not 'str')",
    )


def test_an_unreadable_eventbridge_event_or_batch_task_is_its_own_failure() -> None:
    bridge = load("eventbridge-object-created.json")
    del bridge["detail"]["bucket"]
    batch = load("s3-batch-v2.json")
    batch["tasks"][0]["s3Key"] = 7

    [bridge_message] = events.parse(bridge).messages
    [task] = events.parse(batch).messages

    assert bridge_message.errors == ("malformed EventBridge event: it lacks the field 'bucket'",)
    assert (task.refs, task.errors) == (
        (),
        (
            f"malformed Batch Operations task {task.id}: a field has the wrong type (s3Key is 7, "
            "expected a non-empty string)",
        ),
    )


@given(st.text(min_size=1, max_size=200))
def test_any_key_round_trips_through_every_wrapping(name: str) -> None:
    key = "images/" + name
    event = load("s3-put-plain.json")
    event["Records"][0]["s3"]["object"]["key"] = quote_plus(key, safe="/")
    sqs = load("sqs-s3.json")
    sqs["Records"] = sqs["Records"][:1]
    sqs["Records"][0]["body"] = json.dumps(event)

    assert [r.key for r in events.parse(event).refs] == [key]
    assert [r.key for r in events.parse(sqs).refs] == [key]


V = "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo"


def with_version(name: str) -> dict:
    """A sample event as S3 sends it from a versioned bucket."""
    event = load(name)
    if name.startswith("s3-batch"):
        event["tasks"][0]["s3VersionId"] = V
    elif name.startswith("eventbridge"):
        event["detail"]["object"]["version-id"] = V
    elif name.startswith("sqs"):
        body = json.loads(event["Records"][0]["body"])
        body["Records"][0]["s3"]["object"]["versionId"] = V
        event["Records"][0]["body"] = json.dumps(body)
    else:
        event["Records"][0]["s3"]["object"]["versionId"] = V
    return event


@pytest.mark.parametrize(
    "name",
    [
        "s3-put-plain.json",
        "sqs-s3.json",
        "eventbridge-object-created.json",
        "s3-batch-v1.json",
        "s3-batch-v2.json",
    ],
)
def test_every_shape_carries_the_version_it_names(name: str) -> None:
    assert events.parse(load(name)).refs[0].version is None  # an unversioned bucket
    assert events.parse(with_version(name)).refs[0].version == V
