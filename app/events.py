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
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote_plus

from app.errors import EventError
from app.model import Action, ObjectRef

Source = Literal["s3", "sns", "sqs", "eventbridge", "batch", "test"]


@dataclass(frozen=True, slots=True)
class Message:
    """Objects that succeed or fail together in the reply; `id` names the message or task."""

    id: str | None
    refs: tuple[ObjectRef, ...] = ()
    ignored: tuple[str, ...] = ()  # why parts of it carry nothing to do (logged)
    error: str | None = None  # the message itself is unreadable: a permanent failure


@dataclass(frozen=True, slots=True)
class ParsedEvent:
    """What an invocation asks for, and what its reply must look like."""

    source: Source
    messages: tuple[Message, ...]
    raw: dict[str, Any]

    @property
    def refs(self) -> tuple[ObjectRef, ...]:
        return tuple(ref for message in self.messages for ref in message.refs)


def parse(event: Any) -> ParsedEvent:
    """Recognise the event's shape; raise EventError naming what arrived if none fits."""
    try:
        return _parse(event)
    except KeyError as error:  # a known shape, but not all of it
        raise EventError(f"malformed event: it lacks the field {error}") from None
    except (TypeError, AttributeError) as error:
        raise EventError(f"malformed event: a field has the wrong type ({error})") from None


def _parse(event: Any) -> ParsedEvent:
    if not isinstance(event, dict):
        raise EventError(
            f"unsupported event: expected a JSON object, received {type(event).__name__}"
        )
    records = event.get("Records")
    if isinstance(records, list) and records and all(isinstance(r, dict) for r in records):
        first = records[0]
        if "s3" in first:
            return ParsedEvent("s3", (_from_s3(event, None),), event)
        if "Sns" in first:
            return ParsedEvent("sns", (_from_sns(event),), event)
        if first.get("eventSource") == "aws:sqs" or "body" in first:
            return ParsedEvent(
                "sqs",
                tuple(_from_body(r["messageId"], r["body"]) for r in records),
                event,
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
        # Schema 1.0 names the bucket by ARN (arn:aws:s3:::bucket), 2.0 by name.
        bucket = task["s3BucketArn"].split(":::")[-1] if "s3BucketArn" in task else task["s3Bucket"]
        ref = ObjectRef(
            bucket, unquote_plus(task["s3Key"]), version=task.get("s3VersionId") or None
        )
        return ParsedEvent("batch", (Message(task["taskId"], (ref,)),), event)
    if event.get("Event") == "s3:TestEvent":
        return ParsedEvent("test", (Message(None, ignored=(_TEST_EVENT,)),), event)
    keys = ", ".join(sorted(map(str, event))) or "none"
    raise EventError(
        "unsupported event: expected S3, SNS, SQS, EventBridge or S3 Batch Operations "
        f"records; received an object with top-level keys: {keys}"
    )


_TEST_EVENT = "s3:TestEvent (sent by S3 when a notification is configured)"


def _from_s3(event: dict[str, Any], message_id: str | None) -> Message:
    refs, ignored = [], []
    for record in event["Records"]:
        name, obj = record["eventName"], record["s3"]["object"]
        key = unquote_plus(obj["key"])
        action = _S3_ACTIONS.get(name.partition(":")[0])
        if action is None:
            ignored.append(
                f"{name} for {key!r} is not an ObjectCreated, ObjectRemoved or "
                "LifecycleExpiration event"
            )
            continue
        refs.append(
            ObjectRef(
                record["s3"]["bucket"]["name"],
                key,
                obj.get("size") if action == "create" else None,
                obj.get("eTag") if action == "create" else None,
                obj.get("versionId") or None,
                action=action,
                sequencer=_sequencer(obj),
            )
        )
    return Message(message_id, tuple(refs), tuple(ignored))


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
    detail_type, detail = event["detail-type"], event["detail"]
    action = _EVENTBRIDGE_ACTIONS.get(detail_type)
    if action is None:
        return Message(
            message_id,
            ignored=(
                f"EventBridge {detail_type!r} is not an 'Object Created' or 'Object Deleted' event",
            ),
        )
    obj = detail["object"]
    ref = ObjectRef(
        detail["bucket"]["name"],
        unquote_plus(obj["key"]),
        obj.get("size") if action == "create" else None,
        (obj.get("etag") or None) if action == "create" else None,
        obj.get("version-id") or None,
        action=action,
        sequencer=_sequencer(obj),
    )
    return Message(message_id, (ref,))


def _from_sns(event: dict[str, Any]) -> Message:
    messages = [_from_body(None, record["Sns"]["Message"]) for record in event["Records"]]
    return _merge(None, messages)


def _from_body(message_id: str | None, body: str) -> Message:
    """An SQS body or SNS message: S3 JSON, SNS-wrapped S3 JSON, EventBridge JSON, or a test."""
    try:
        payload = json.loads(body)
    except (TypeError, ValueError):
        return Message(
            message_id,
            error=f"message {message_id or ''} is not JSON: {str(body)[:80]!r}".replace("  ", " "),
        )
    if isinstance(payload, dict):
        if payload.get("Type") == "Notification" and isinstance(payload.get("Message"), str):
            return _from_body(message_id, payload["Message"])  # SNS -> SQS without raw delivery
        if payload.get("Event") == "s3:TestEvent":
            return Message(message_id, ignored=(_TEST_EVENT,))
        if isinstance(payload.get("Records"), list) and all(
            isinstance(r, dict) and "s3" in r for r in payload["Records"]
        ):
            return _from_s3(payload, message_id)
        if payload.get("source") == "aws.s3" and "detail" in payload:
            return _from_eventbridge(payload, message_id)
    keys = (
        ", ".join(sorted(map(str, payload)))
        if isinstance(payload, dict)
        else type(payload).__name__
    )
    return Message(
        message_id,
        error=f"message {message_id or ''} holds no S3 notification "
        f"(top-level keys: {keys or 'none'})".replace("  ", " "),
    )


def _merge(message_id: str | None, messages: list[Message]) -> Message:
    errors = [m.error for m in messages if m.error]
    return Message(
        message_id,
        tuple(r for m in messages for r in m.refs),
        tuple(i for m in messages for i in m.ignored),
        "; ".join(errors) or None,
    )
