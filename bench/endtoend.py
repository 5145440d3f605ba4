"""End to end with streaming: `python -m bench.endtoend ENDPOINT IMAGE` (run by extras).

Against a real S3 API on loopback (moto's server), in one process, interleaved:
- the handler, for an S3 event naming a fresh copy of IMAGE (GET streams into the decoder);
- the download alone (GetObject, read to the end);
- the pipeline alone, on the bytes already in memory;
- the other requests alone: a HEAD (up to date?) and a PUT per copy.
Streaming overlaps the download with the decode, so handler < the sum of the three.
Prints one JSON object of median milliseconds, as its last line.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from bench.workers import WIDTHS, project
from devtools.context import LambdaContext

BUCKET = f"bench-endtoend-{os.getpid()}"  # each run its own: no copies from a run before
ROUNDS = 7


def main() -> None:
    endpoint, image = sys.argv[1], Path(sys.argv[2])
    data = image.read_bytes()
    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket=BUCKET)

    from app import handler  # after the environment is set: its settings load at import

    pipeline_only = project(data, list(WIDTHS))
    pipeline_only()
    timings: dict[str, list[float]] = {
        "handler_ms": [],
        "download_ms": [],
        "pipeline_ms": [],
        "requests_ms": [],
    }
    for round_ in range(ROUNDS + 1):
        key = f"images/photo-{round_}.jpg"
        s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        event = {
            "Records": [
                {
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Put",
                    "s3": {
                        "bucket": {"name": BUCKET},
                        "object": {"key": key, "size": len(data)},
                    },
                }
            ]
        }
        start = time.perf_counter()
        reply = handler.handler(event, LambdaContext())
        handler_ms = (time.perf_counter() - start) * 1000
        if reply["processed"] != 1:  # a skip or a failure would time something else
            raise SystemExit(f"endtoend: the handler did not process {key}: {reply['results']}")
        start = time.perf_counter()
        s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        download_ms = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        outputs = pipeline_only()
        pipeline_ms = (time.perf_counter() - start) * 1000
        # What the handler does on S3 besides the GET: one HEAD per copy (is it up to
        # date?) and one PUT per copy, each set in parallel as the pipeline does them.
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=len(outputs)) as pool:
            heads = [f"copy/none-{round_}-{w}.jpg" for w, _ in outputs]
            list(pool.map(lambda k: _head(s3, k), heads))
            list(
                pool.map(
                    lambda o: s3.put_object(Bucket=BUCKET, Key=f"x/{o[0]}", Body=o[1]), outputs
                )
            )
        requests_ms = (time.perf_counter() - start) * 1000
        if round_:  # the first round warms connections and code paths
            timings["handler_ms"].append(handler_ms)
            timings["download_ms"].append(download_ms)
            timings["pipeline_ms"].append(pipeline_ms)
            timings["requests_ms"].append(requests_ms)
    medians = {name: statistics.median(values) for name, values in timings.items()}
    print("\n" + json.dumps(medians))  # the last line; the handler's EMF lines come before


def _head(s3: Any, key: str) -> None:
    with contextlib.suppress(ClientError):  # not there yet, as for a new photo
        s3.head_object(Bucket=BUCKET, Key=key)


if __name__ == "__main__":
    if sys.argv[1:2] in (["-h"], ["--help"]):
        print(__doc__)
    else:
        main()
