"""The completion report of a Batch Operations job: its manifest.json, then its CSVs."""

from __future__ import annotations

import csv
import io
import json
import sys
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from tools.backfill import tasks
from tools.backfill.calls import Calls


def failures(calls: Calls, bucket: str, key: str) -> list[tasks.Result]:
    """The failed tasks of the completion report (its manifest.json names the CSVs)."""
    try:
        index = json.loads(calls.read("s3", "GetObject", Bucket=bucket, Key=key)["Body"].read())
    except ClientError as error:
        print(f"backfill: no completion report at s3://{bucket}/{key} ({error})", file=sys.stderr)
        return []
    failures = []
    for part in index.get("Results", []):
        if part.get("TaskExecutionStatus") != "failed":
            continue
        body = calls.client("s3").get_object(Bucket=part["Bucket"], Key=part["Key"])["Body"].read()
        failures += rows(body.decode())
    return failures


def rows(text: str) -> list[tasks.Result]:
    """Rows of a Report_CSV_20180820 file: Bucket, Key, VersionId, TaskStatus, ErrorCode,
    HTTPStatusCode, ResultMessage (keys URL-encoded as in the manifest)."""
    results = []
    for row in csv.reader(io.StringIO(text)):
        if len(row) < 7 or row[3] != "failed":
            continue
        # AWS's own example puts the HTTP status before the code: take whichever is a name.
        code = row[4] if not row[4].isdigit() else row[5]
        results.append(tasks.classify(unquote_plus(row[1]), code, ",".join(row[6:])))
    return results
