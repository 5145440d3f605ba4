"""What operators see of each invocation: CloudWatch metrics computed from the outcomes.

Pure: outcomes in, `(name, unit, value)` out. The handler hands them to Powertools
Metrics, which writes them as Embedded Metric Format documents to the log, where
CloudWatch turns them into metrics (namespace METRICS_NAMESPACE, dimension FunctionName).
"""

from __future__ import annotations

from collections.abc import Iterable

from app.model import Outcome

# name -> (unit, what it means); docs/deploy.md's Monitoring and the dashboard use these.
METRICS: dict[str, tuple[str, str]] = {
    "ObjectsProcessed": ("Count", "objects whose copies were all written"),
    "ObjectsSkipped": ("Count", "objects left alone on purpose (own copies, up to date, prefix)"),
    "ObjectsFailed": (
        "Count",
        "objects that failed, permanently or for a retry, and records that could not be read",
    ),
    "ObjectsDeleted": ("Count", "deleted sources whose copies were deleted"),
    "RenditionsWritten": ("Count", "copies written"),
    "RenditionsDeleted": ("Count", "copies deleted with their source"),
    "EventsFailed": ("Count", "application events EventBridge did not take (EVENT_BUS_NAME)"),
    "InputBytes": ("Bytes", "size of each processed source object"),
    "OutputBytes": ("Bytes", "total size of each processed object's copies"),
    "InputMegapixels": ("None", "pixels of each processed source, in millions"),
    "ProcessingTime": (
        "Milliseconds",
        "time from the start of its work (before the HEAD) to its last PUT, per processed object",
    ),
    "ColdStart": ("Count", "invocations that started a new execution environment"),
}

_COUNTS = {
    "processed": "ObjectsProcessed",
    "skipped": "ObjectsSkipped",
    "failed": "ObjectsFailed",
    "deleted": "ObjectsDeleted",
}


def metrics_of(outcomes: Iterable[Outcome], unreadable: int = 0) -> list[tuple[str, str, float]]:
    """The metrics of one invocation: the counts once (zeros too), the rest per object;
    `unreadable` records (app/events.py) count as failed objects."""
    outcomes = list(outcomes)
    counts = {name: 0.0 for name in _COUNTS.values()}
    counts["ObjectsFailed"] = float(unreadable)
    per_object: list[tuple[str, str, float]] = []
    written = deleted = 0
    for outcome in outcomes:
        counts[_COUNTS[outcome.status]] += 1
        deleted += len(outcome.removed)
        if outcome.status != "processed":
            continue
        written += len(outcome.outputs)
        details = outcome.details
        per_object.append(_metric("OutputBytes", sum(o.bytes for o in outcome.outputs)))
        if "input_bytes" in details:
            per_object.append(_metric("InputBytes", details["input_bytes"]))
        if "width" in details:
            per_object.append(
                _metric("InputMegapixels", round(details["width"] * details["height"] / 1e6, 3))
            )
        if "total_ms" in details:
            per_object.append(_metric("ProcessingTime", details["total_ms"]))
    return [
        *(_metric(name, value) for name, value in counts.items()),
        _metric("RenditionsWritten", written),
        _metric("RenditionsDeleted", deleted),
        *per_object,
    ]


def events_failed(count: int) -> tuple[str, str, float]:
    """The metric of application events not delivered in one invocation."""
    return _metric("EventsFailed", count)


def _metric(name: str, value: float) -> tuple[str, str, float]:
    return name, METRICS[name][0], float(value)
