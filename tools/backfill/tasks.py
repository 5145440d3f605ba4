"""The task events Batch Operations sends (schema 2.0), and what the function's reply says."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

SCHEMA = "2.0"

# How a task ended, as the summary counts it.
Kind = Literal["made", "up to date", "skipped", "failed"]


@dataclass(frozen=True, slots=True)
class Result:
    """One object's task: its key, how it ended, and the function's words for it."""

    key: str
    kind: Kind
    message: str
    retry: bool = False  # a TemporaryFailure: Batch Operations tries such a task again


def event(job_id: str, bucket: str, key: str, version: str | None = None) -> dict[str, Any]:
    """The event Batch Operations sends for one object (schema 2.0; the key URL-encoded)."""
    return {
        "invocationSchemaVersion": SCHEMA,
        "invocationId": _token(),
        "job": {"id": job_id, "userArguments": {}},
        "tasks": [
            {
                "taskId": _token(),
                "s3Bucket": bucket,
                "s3Key": quote(key, safe="/"),
                "s3VersionId": version,
            }
        ],
    }


def _token() -> str:
    return base64.b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def result(key: str, reply: Any) -> Result:
    """Read the function's reply to one task (resultCode and resultString)."""
    try:
        [task] = reply["results"]
        code, text = task["resultCode"], str(task.get("resultString") or "")
    except (KeyError, TypeError, ValueError):
        return Result(
            key,
            "failed",
            f"the function's reply is not a Batch Operations reply: {str(reply)[:200]}",
        )
    return classify(key, code, text)


def classify(key: str, code: str, text: str) -> Result:
    """A task's result code and string as the summary counts them."""
    if code == "Succeeded":
        if text.startswith("wrote "):
            return Result(key, "made", text)
        if text.startswith("up to date"):
            return Result(key, "up to date", text)
        return Result(key, "skipped", text)
    return Result(key, "failed", text or code, retry=code == "TemporaryFailure")
