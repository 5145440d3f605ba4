"""Events for applications: after each object, one EventBridge event says how it ended.

With EVENT_BUS_NAME set, every object whose copies were written, deleted, or could not
be made becomes one event on that bus (source `image-resizer`; detail-type
`Renditions Created`, `Renditions Deleted` or `Renditions Failed`; the detail is the
object's result as the reply has it: bucket, key, version, the profile that made the
copies (app/config/profiles.py), outputs, deleted keys, reason). Skipped objects changed nothing
and send nothing.

The events of one invocation go out together after its objects are done, ten to a
PutEvents call (its limit). A call's time comes out of the reserve the handler keeps
before the Lambda deadline (app/aws/deadline.py), with timeouts and attempts from the time
left, as for S3. An event that EventBridge refuses (FailedEntryCount), or that no call
could carry in time, is returned as a reason to log and count (metric EventsFailed):
the object's own result stands either way.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from app.aws import deadline
from app.model import Outcome

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/development.md)
if TYPE_CHECKING:
    from typing import Any, Protocol

    # Protocols are for mypy alone: any object with these methods is one, and what
    # asks at run time does so by method name (docs/development.md).
    class EventsClient(Protocol):
        """The part of boto3's EventBridge client used here."""

        def put_events(self, *, Entries: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]: ...


SOURCE = "image-resizer"
DETAIL_TYPES = {
    "processed": "Renditions Created",
    "deleted": "Renditions Deleted",
    "failed": "Renditions Failed",
}
MAX_ENTRIES = 10  # PutEvents takes at most 10 entries per call
MAX_CALL_BYTES = 256 * 1024  # and at most 256 KB of them

# From the most generous down, as deadline.LADDER; the last fits in half the reserve.
LADDER = (
    deadline.Timeouts(connect=1, read=3, attempts=3),  # worst 18 s
    deadline.Timeouts(connect=0.5, read=1, attempts=2),  # 5 s
    deadline.Timeouts(connect=0.2, read=0.5, attempts=1),  # 0.9 s
    deadline.Timeouts(connect=0.1, read=0.3, attempts=1),  # 0.5 s
)


def entry(bus: str, outcome: Outcome) -> dict[str, Any] | None:
    """The PutEvents entry for one object's outcome; None if it changed nothing."""
    detail_type = DETAIL_TYPES.get(outcome.status)
    if detail_type is None:
        return None
    detail = outcome.as_dict()
    del detail["status"]  # the detail-type says it
    detail = {"bucket": detail.pop("bucket"), "key": detail.pop("key"), **detail}
    detail["version"] = detail.pop("versionId", None)
    return {
        "Source": SOURCE,
        "DetailType": detail_type,
        "Detail": json.dumps(detail, separators=(",", ":")),
        "EventBusName": bus,
    }


def batches(entries: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """`entries` in calls of at most MAX_ENTRIES entries and MAX_CALL_BYTES."""
    calls: list[list[dict[str, Any]]] = []
    size = 0
    for item in entries:
        # As AWS counts an entry: its Source, DetailType and Detail, plus its time.
        item_size = sum(len(item[k].encode()) for k in ("Source", "DetailType", "Detail")) + 14
        if not calls or len(calls[-1]) == MAX_ENTRIES or size + item_size > MAX_CALL_BYTES:
            calls.append([])
            size = 0
        calls[-1].append(item)
        size += item_size
    return calls


class Publisher:
    """Puts the application events of each invocation on one bus."""

    def __init__(self, make: Callable[[Config], EventsClient], bus: str) -> None:
        """`make(config)` returns a new EventBridge client with `config` merged in."""
        self._make = make
        self.bus = bus
        self._made: dict[deadline.Timeouts, EventsClient] = {}
        self._lock = threading.Lock()

    def _client(self, timeouts: deadline.Timeouts) -> EventsClient:
        with self._lock:
            client = self._made.get(timeouts)
            if client is None:
                client = self._made[timeouts] = self._make(timeouts.config())
            return client

    def publish(self, outcomes: Sequence[Outcome], until: float) -> list[str]:
        """Put one event per outcome that changed something, by `until` (monotonic).

        Returns why each event that did not reach the bus did not, one sentence each.
        """
        pending = [(o, e) for o in outcomes if (e := entry(self.bus, o)) is not None]
        failures: list[str] = []
        by_entry = {id(e): o for o, e in pending}
        for call in batches([e for _, e in pending]):
            left = until - time.monotonic()
            timeouts = deadline.timeouts_for(left, LADDER)
            if timeouts is None:
                failures += [
                    self._failed(
                        by_entry[id(e)],
                        e,
                        f"not sent: {max(left, 0) * 1000:,.0f} ms left before the Lambda deadline",
                    )
                    for e in call
                ]
                continue
            try:
                response = self._client(timeouts).put_events(Entries=call)
            except (ClientError, BotoCoreError) as error:
                failures += [self._failed(by_entry[id(e)], e, _reason(error)) for e in call]
                continue
            if response.get("FailedEntryCount"):
                for item, result in zip(call, response.get("Entries", []), strict=False):
                    if result.get("ErrorCode"):
                        why = f"{result['ErrorCode']}: {result.get('ErrorMessage', '')}".rstrip(
                            ": "
                        )
                        failures.append(self._failed(by_entry[id(item)], item, why))
        return failures

    def _failed(self, outcome: Outcome, item: dict[str, Any], why: str) -> str:
        return (
            f"events:PutEvents of '{item['DetailType']}' for {outcome.ref.uri} on event bus "
            f"{self.bus!r} failed: {why}"
        )


def _reason(error: Exception) -> str:
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        code, message = info.get("Code", ""), info.get("Message", "")
        if code in ("AccessDeniedException", "AccessDenied"):
            return (
                f"{code}: the function's role needs events:PutEvents on that event bus ({message})"
            )
        return f"{code}: {message}"
    return str(error)
