"""The counts at the end of a backfill, and the failures grouped by reason."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable

from tools.backfill.tasks import Result

SHOWN_KEYS = 3  # keys printed under each reason


def reason_of(result: Result, bucket: str) -> str:
    """The message with the object's own name taken out, so that alike failures group."""
    text = result.message.replace(f"s3://{bucket}/{result.key}", "<object>")
    text = text.replace(repr(result.key), "<key>").replace(result.key, "<key>")
    return re.sub(r'ETag "?[0-9a-f]{32}(-\d+)?"?', "ETag <etag>", text)


def render(
    results: Iterable[Result], bucket: str, left_out: Counter[str], headline: str | None = None
) -> str:
    """Counts by kind, reasons for skips and failures, each with a few of its keys."""
    results = list(results)
    counts = Counter(r.kind for r in results)
    lines = [
        headline
        or f"Done: {len(results)} objects: {counts['made']} made, "
        f"{counts['up to date']} skipped as up to date, {counts['skipped']} skipped, "
        f"{counts['failed']} failed"
    ]
    if left_out:
        parts = ", ".join(f"{why}: {n}" for why, n in sorted(left_out.items()))
        lines.append(f"Left out of the tasks (the function would skip them): {parts}")
    for kind, title in (("skipped", "Skipped"), ("failed", "Failed")):
        groups: dict[str, list[str]] = defaultdict(list)
        for r in results:
            if r.kind == kind:
                groups[reason_of(r, bucket)].append(r.key)
        if groups:
            lines.append(f"{title}, by reason:")
        for reason, keys in sorted(groups.items(), key=lambda item: -len(item[1])):
            lines.append(f"  {len(keys)} x {reason}")
            more = f" (and {len(keys) - SHOWN_KEYS} more)" if len(keys) > SHOWN_KEYS else ""
            lines.append("      " + ", ".join(sorted(keys)[:SHOWN_KEYS]) + more)
    return "\n".join(lines)
