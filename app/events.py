"""Every supported event shape becomes a list of messages, each naming S3 objects.

Shapes: S3 notifications (`Records[].s3`), S3 in SNS (`Records[].Sns.Message`),
S3 or SNS-wrapped S3 in SQS (`Records[].body`), EventBridge `Object Created` and
`Object Deleted`, S3 Batch Operations (schema 1.0 and 2.0), and the `s3:TestEvent`
S3 sends when a notification is configured. `ObjectCreated:*` becomes a ref whose
action is "create"; `ObjectRemoved:*` (Delete, DeleteMarkerCreated) and
`LifecycleExpiration:*` (the same removals, made by a lifecycle rule) one whose
action is "remove". Each keeps S3's `sequencer`, the order of the events of one key.
Every source sends keys URL-encoded (`my+photo%C3%A9.jpg` is `my photoé.jpg`); they
are decoded here. In a versioned bucket each shape also names the version
(`s3.object.versionId`, EventBridge `detail.object.version-id`, Batch Operations
`s3VersionId`); it is kept on the ref.

The shapes are read as the plain JSON they are, not through Powertools' event
data classes: importing those imports all ~40 of its event classes, about 60 ms
of every cold start (7% more than boto3 and pyvips take), for five small shapes.

A message is the unit a reply reports on: an SQS message, a Batch Operations
task, or the whole event for the direct shapes.

One bad record fails alone: a record that cannot be read (a field missing, or of the
wrong type: a numeric key, a bucket that is not a string) becomes an error of its
message, a permanent failure reported, logged and counted beside the outcomes of the
others, which run. Only an event whose reply could not name what failed (no shape
known, a Batch Operations event without its invocation or task id) is refused whole.
"""

from __future__ import annotations

import json
from urllib.parse import unquote_plus

from app.errors import EventError
from app.model import ObjectRef
from app.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/development.md)
if TYPE_CHECKING:
    from typing import Any, Literal

    from app.model import Action

    Source = Literal["s3", "sns", "sqs", "eventbridge", "batch", "test"]


class Message(Record):
    """Objects that succeed or fail together in the reply; `id` names the message or task."""

    id: str | None
    refs: tuple[ObjectRef, ...] = ()
    ignored: tuple[str, ...] = ()  # why parts of it carry nothing to do (logged)
    errors: tuple[str, ...] = ()  # why records of it are unreadable: permanent failures


class ParsedEvent(Record):
    """What an invocation asks for, and what its reply must look like."""

    source: Source
    messages: tuple[Message, ...]
    raw: dict[str, Any]

    @property
    def refs(self) -> tuple[ObjectRef, ...]:
        return tuple(ref for message in self.messages for ref in message.refs)


def parse(event: Any) -> ParsedEvent:
    """Recognise the event's shape; raise EventError naming what arrived if none fits,
    or if the reply could not name what failed."""
    try:
        return _parse(event)
    except _READ_ERRORS as error:  # a known shape, but not all of it
        raise EventError(_unreadable("event", error)) from None


# What reading a record of a known shape raises when a field is missing or of the wrong type.
_READ_ERRORS = (KeyError, TypeError, AttributeError)


def _unreadable(what: str, error: Exception) -> str:
    """The sentence for a record that cannot be read."""
    if isinstance(error, KeyError):
        return f"malformed {what}: it lacks the field {error}"
    return f"malformed {what}: a field has the wrong type ({error})"


def _text(container: Any, name: str, path: str, *, optional: bool = False) -> str | None:
    """`container[name]`, a non-empty string (or, if `optional`, absent, null or empty)."""
    value = container.get(name) if optional else container[name]
    if optional and value in (None, ""):
        return None
    if not isinstance(value, str) or not value:
        raise TypeError(f"{path} is {value!r}, expected a non-empty string")
    return value


def _size(obj: Any, name: str, path: str) -> int | None:
    value = obj.get(name)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise TypeError(f"{path} is {value!r}, expected a whole number of bytes")
    return value


def _parse(event: Any) -> ParsedEvent:
    if not isinstance(event, dict):
        raise EventError(
            f"unsupported event: expected a JSON object, received {type(event).__name__}"
        )
    records = event.get("Records")
    if not isinstance(records, list):
        records = []
    first = next((r for r in records if isinstance(r, dict)), None)
    if first is not None:  # the first record that is an object tells the shape
        if "s3" in first:
            return ParsedEvent("s3", (_from_s3(records, None),), event)
        if "Sns" in first:
            return ParsedEvent("sns", (_from_sns(records),), event)
        if first.get("eventSource") == "aws:sqs" or "body" in first:
            return ParsedEvent(
                "sqs", tuple(_from_sqs(n, r, len(records)) for n, r in enumerate(records)), event
            )
    if event.get("source") == "aws.s3" and "detail" in event:
        return ParsedEvent("eventbridge", (_from_eventbridge(event, None),), event)
    if "invocationSchemaVersion" in event and "tasks" in event:
        tasks = event["tasks"]
        if not isinstance(tasks, list) or len(tasks) != 1:  # its reply has room for one
            raise EventError(
                "unsupported event: S3 Batch Operations sends one task per "
                f"invocation; received {len(tasks) if isinstance(tasks, list) else tasks!r}"
            )
        if "invocationId" not in event:  # the reply must name it
            raise KeyError("invocationId")
        task = tasks[0]
        task_id = task["taskId"]  # the reply must name it too
        return ParsedEvent("batch", (_from_task(task, str(task_id)),), event)
    if event.get("Event") == "s3:TestEvent":
        return ParsedEvent("test", (Message(None, ignored=(_TEST_EVENT,)),), event)
    keys = ", ".join(sorted(map(str, event))) or "none"
    raise EventError(
        "unsupported event: expected S3, SNS, SQS, EventBridge or S3 Batch Operations "
        f"records; received an object with top-level keys: {keys}"
    )


_TEST_EVENT = "s3:TestEvent (sent by S3 when a notification is configured)"


def _from_task(task: Any, task_id: str) -> Message:
    """One Batch Operations task; unreadable, it is that task's permanent failure."""
    try:
        # Schema 1.0 names the bucket by ARN (arn:aws:s3:::bucket), 2.0 by name.
        if "s3BucketArn" in task:
            bucket = str(_text(task, "s3BucketArn", "s3BucketArn")).split(":::")[-1]
        else:
            bucket = str(_text(task, "s3Bucket", "s3Bucket"))
        key = unquote_plus(str(_text(task, "s3Key", "s3Key")))
        version = _text(task, "s3VersionId", "s3VersionId", optional=True)
    except _READ_ERRORS as error:
        return Message(task_id, errors=(_unreadable(f"Batch Operations task {task_id}", error),))
    return Message(task_id, (ObjectRef(bucket, key, version=version),))


def _from_s3(records: list[Any], message_id: str | None) -> Message:
    refs, ignored, errors = [], [], []
    within = f" of message {message_id}" if message_id else ""
    for n, record in enumerate(records):
        try:
            ref, why = _s3_record(record)
        except _READ_ERRORS as error:
            errors.append(_unreadable(f"S3 record {n + 1} of {len(records)}{within}", error))
            continue
        if ref is not None:
            refs.append(ref)
        if why is not None:
            ignored.append(why)
    return Message(message_id, tuple(refs), tuple(ignored), tuple(errors))


def _s3_record(record: Any) -> tuple[ObjectRef | None, str | None]:
    """One S3 notification record: its ref, or why it is ignored."""
    name = str(_text(record, "eventName", "eventName"))
    obj = record["s3"]["object"]
    key = unquote_plus(str(_text(obj, "key", "s3.object.key")))
    bucket = str(_text(record["s3"]["bucket"], "name", "s3.bucket.name"))
    action = _S3_ACTIONS.get(name.partition(":")[0])
    if action is None:
        return None, (
            f"{name} for {key!r} is not an ObjectCreated, ObjectRemoved or "
            "LifecycleExpiration event"
        )
    ref = ObjectRef(
        bucket,
        key,
        _size(obj, "size", "s3.object.size") if action == "create" else None,
        _text(obj, "eTag", "s3.object.eTag", optional=True) if action == "create" else None,
        _text(obj, "versionId", "s3.object.versionId", optional=True),
        action=action,
        sequencer=_sequencer(obj),
    )
    return ref, None


_S3_ACTIONS: dict[str, Action] = {
    "ObjectCreated": "create",
    "ObjectRemoved": "remove",
    "LifecycleExpiration": "remove",
}
_EVENTBRIDGE_ACTIONS: dict[str, Action] = {"Object Created": "create", "Object Deleted": "remove"}


def _sequencer(obj: dict[str, Any]) -> str | None:
    """S3's hex `sequencer`, if the event has a usable one (else the order is unknown)."""
    value = obj.get("sequencer")
    if isinstance(value, str) and value and all(c in "0123456789abcdefABCDEF" for c in value):
        return value.upper()
    return None


def _from_eventbridge(event: dict[str, Any], message_id: str | None) -> Message:
    """One EventBridge event; unreadable, it is its message's permanent failure."""
    within = f" in message {message_id}" if message_id else ""
    try:
        detail_type, detail = event["detail-type"], event["detail"]
        action = _EVENTBRIDGE_ACTIONS.get(detail_type)
        if action is None:
            return Message(
                message_id,
                ignored=(
                    f"EventBridge {detail_type!r} is not an 'Object Created' or "
                    "'Object Deleted' event",
                ),
            )
        obj = detail["object"]
        ref = ObjectRef(
            str(_text(detail["bucket"], "name", "detail.bucket.name")),
            unquote_plus(str(_text(obj, "key", "detail.object.key"))),
            _size(obj, "size", "detail.object.size") if action == "create" else None,
            _text(obj, "etag", "detail.object.etag", optional=True) if action == "create" else None,
            _text(obj, "version-id", "detail.object.version-id", optional=True),
            action=action,
            sequencer=_sequencer(obj),
        )
    except _READ_ERRORS as error:
        return Message(message_id, errors=(_unreadable(f"EventBridge event{within}", error),))
    return Message(message_id, (ref,))


def _from_sns(records: list[Any]) -> Message:
    messages = []
    for n, record in enumerate(records):
        try:
            body = record["Sns"]["Message"]
        except _READ_ERRORS as error:
            what = f"SNS record {n + 1} of {len(records)}"
            messages.append(Message(None, errors=(_unreadable(what, error),)))
            continue
        messages.append(_from_body(None, body))
    return _merge(None, messages)


def _from_sqs(n: int, record: Any, count: int) -> Message:
    """One SQS message; without a readable body, its own permanent failure."""
    message_id = record.get("messageId") if isinstance(record, dict) else None
    if not isinstance(message_id, str):
        message_id = None
    try:
        body = record["body"]
    except _READ_ERRORS as error:
        what = f"SQS message {message_id}" if message_id else f"SQS record {n + 1} of {count}"
        return Message(message_id, errors=(_unreadable(what, error),))
    return _from_body(message_id, body)


def _from_body(message_id: str | None, body: str) -> Message:
    """An SQS body or SNS message: S3 JSON, SNS-wrapped S3 JSON, EventBridge JSON, or a test."""
    try:
        payload = json.loads(body)
    except (TypeError, ValueError):
        return Message(
            message_id,
            errors=(
                f"message {message_id or ''} is not JSON: {str(body)[:80]!r}".replace("  ", " "),
            ),
        )
    if isinstance(payload, dict):
        if payload.get("Type") == "Notification" and isinstance(payload.get("Message"), str):
            return _from_body(message_id, payload["Message"])  # SNS -> SQS without raw delivery
        if payload.get("Event") == "s3:TestEvent":
            return Message(message_id, ignored=(_TEST_EVENT,))
        records = payload.get("Records")
        if isinstance(records, list) and any(isinstance(r, dict) and "s3" in r for r in records):
            return _from_s3(records, message_id)  # a record without "s3" fails alone
        if payload.get("source") == "aws.s3" and "detail" in payload:
            return _from_eventbridge(payload, message_id)
    keys = (
        ", ".join(sorted(map(str, payload)))
        if isinstance(payload, dict)
        else type(payload).__name__
    )
    return Message(
        message_id,
        errors=(
            f"message {message_id or ''} holds no S3 notification "
            f"(top-level keys: {keys or 'none'})".replace("  ", " "),
        ),
    )


def _merge(message_id: str | None, messages: list[Message]) -> Message:
    return Message(
        message_id,
        tuple(r for m in messages for r in m.refs),
        tuple(i for m in messages for i in m.ignored),
        tuple(e for m in messages for e in m.errors),
    )
