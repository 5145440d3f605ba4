"""--local: the backfill's tasks through the function on this machine.

Each object becomes the very event S3 Batch Operations would send (schema 2.0), given
to `app.handler.handler` in this process with a Lambda-like context, OBJECTS at a
time, against whatever S3 endpoint boto3 is configured for (AWS_ENDPOINT_URL: the
local stack, or moto in the tests). A TemporaryFailure is tried again, as the job
would; the reply of each task is counted as the job's completion report would be.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, TextIO

from devtools.context import LambdaContext
from tools.backfill import summary, tasks
from tools.backfill.objects import Selection
from tools.backfill.progress import Progress

Handler = Callable[[dict[str, Any], Any], Any]
RETRY_PAUSE_S = 1.0


def load_handler(log: TextIO) -> Handler:
    """Import the function (its cold start), its logs sent to `log`, its metrics off.

    Powertools prints one metrics document per invocation to stdout, and every log line
    there too: they would tear the progress display. Metrics are for CloudWatch, so off.
    """
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    from app import handler

    stream_handler = handler.logger.registered_handler
    if isinstance(stream_handler, logging.StreamHandler):
        stream_handler.setStream(log)
    return handler.handler


def run(
    handler: Handler,
    bucket: str,
    selection: Selection,
    *,
    concurrency: int,
    retries: int,
    timeout_ms: int,
    out: TextIO = sys.stdout,
) -> int:
    """Run every task, show progress, print the summary; 1 if any object failed."""
    job_id = str(uuid.uuid4())
    progress = Progress(out, len(selection.keys))
    results: list[tasks.Result] = []
    failed = 0
    progress.update(0, 0)
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = [
            pool.submit(_task, handler, job_id, bucket, key, retries, timeout_ms)
            for key in selection.keys
        ]
        for future in as_completed(futures):
            results.append(future.result())
            failed += results[-1].kind == "failed"
            progress.update(len(results), failed)
    progress.close()
    print(summary.render(results, bucket, selection.left_out), file=out)
    return 1 if failed else 0


def _task(
    handler: Handler, job_id: str, bucket: str, key: str, retries: int, timeout_ms: int
) -> tasks.Result:
    for attempt in range(retries + 1):
        try:
            reply = handler(
                tasks.event(job_id, bucket, key), LambdaContext(remaining_ms=timeout_ms)
            )
        except Exception as error:  # noqa: BLE001 (what Lambda reports as a function error)
            result = tasks.Result(
                key, "failed", f"function error: {type(error).__name__}: {error}", retry=True
            )
        else:
            result = tasks.result(key, reply)
        if not result.retry or attempt == retries:
            return result
        time.sleep(RETRY_PAUSE_S * (attempt + 1))
    raise AssertionError("unreachable")
