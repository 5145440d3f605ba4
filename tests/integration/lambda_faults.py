"""A handler that misbehaves on request, to drive the emulator through every failure."""

from __future__ import annotations

import os
import time
from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """`do`: echo (default), sleep `seconds`, raise, or exit (the process dies)."""
    started = time.time()
    action = event.get("do", "echo")
    if action == "sleep":
        time.sleep(float(event["seconds"]))
    elif action == "raise":
        raise ValueError(f"asked to fail: {event.get('why', 'no reason')}")
    elif action == "exit":
        os._exit(3)
    return {
        "event": event,
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "memory": context.memory_limit_in_mb,
        "arn": context.invoked_function_arn,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "pid": os.getpid(),
        "started": started,
        "ended": time.time(),
        "env": {name: os.environ.get(name) for name in event.get("env", [])},
    }
