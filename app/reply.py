"""Shape the reply each event source expects from the outcomes of its objects."""

from __future__ import annotations

from collections import Counter

from app.events import Message, ParsedEvent
from app.model import Outcome

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/development.md)
if TYPE_CHECKING:
    from typing import Any, Literal

RESULT_STRING_MAX = 256  # Batch Operations truncates longer result strings in its report


def build(parsed: ParsedEvent, outcomes: list[tuple[Message, list[Outcome]]]) -> dict[str, Any]:
    """The handler's reply: a per-object summary, plus what SQS or the job reads."""
    if parsed.source == "batch":
        return _batch_reply(parsed, outcomes)
    flat = [o for _, group in outcomes for o in group]
    counts = Counter(o.status for o in flat)
    # Records that could not be read: each a permanent failure of its own.
    broken = [
        {"messageId": m.id, "status": "failed", "reason": e} for m, _ in outcomes for e in m.errors
    ]
    reply: dict[str, Any] = {
        "processed": counts["processed"],
        "skipped": counts["skipped"],
        "failed": counts["failed"] + len(broken),
        "deleted": counts["deleted"],
        "results": [o.as_dict() for o in flat] + broken,
    }
    ignored = [reason for m, _ in outcomes for reason in m.ignored]
    if ignored:
        reply["ignored"] = ignored
    if parsed.source == "sqs":
        # Only what a retry can fix goes back to the queue; the rest is reported, not looped.
        reply["batchItemFailures"] = [
            {"itemIdentifier": m.id} for m, group in outcomes if any(o.retryable for o in group)
        ]
    return reply


def retryable(outcomes: list[tuple[Message, list[Outcome]]]) -> list[Outcome]:
    """Outcomes whose failure a retry of the whole event could fix."""
    return [o for _, group in outcomes for o in group if o.retryable]


def _batch_reply(
    parsed: ParsedEvent, outcomes: list[tuple[Message, list[Outcome]]]
) -> dict[str, Any]:
    """The one-result reply that S3 Batch Operations reads (schemas 1.0 and 2.0)."""
    results = []
    for message, group in outcomes:
        for error in message.errors:  # a task that could not be read: no retry can fix it
            results.append(
                {
                    "taskId": str(message.id),
                    "resultCode": "PermanentFailure",
                    "resultString": error[:RESULT_STRING_MAX],
                }
            )
        for outcome in group:
            code: Literal["Succeeded", "TemporaryFailure", "PermanentFailure"]
            if outcome.status != "failed":
                code = "Succeeded"
                text = outcome.reason or (
                    f"deleted {len(outcome.removed)} copies"
                    if outcome.status == "deleted"
                    else f"wrote {len(outcome.outputs)} copies"
                )
                if outcome.ref.version is not None and not outcome.reason:
                    text += f" (version {outcome.ref.version})"  # the version the task named
            else:
                code = "TemporaryFailure" if outcome.retryable else "PermanentFailure"
                text = outcome.reason or "failed"
            results.append(
                {
                    "taskId": str(message.id),
                    "resultCode": code,
                    "resultString": text[:RESULT_STRING_MAX],
                }
            )
    return {
        "invocationSchemaVersion": parsed.raw["invocationSchemaVersion"],
        "treatMissingKeysAs": "PermanentFailure",
        "invocationId": parsed.raw["invocationId"],
        "results": results,
    }
