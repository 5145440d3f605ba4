"""Which objects a backfill sends to the function, and the CSV manifest that names them.

Keys the function would skip anyway (folder markers, its own copies, keys outside
SOURCE_PREFIX) are left out here by the function's own rule (`naming.skip_reason`):
each task left out is an invocation, and a Batch Operations task, not paid for.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote_plus

from app import naming
from app.config.profiles import Configuration
from app.config.settings import Settings

# The Format of a CSV manifest in create-job, and the one of an S3 Inventory report.
CSV_FORMAT = "S3BatchOperations_CSV_20180820"
INVENTORY_FORMAT = "S3InventoryReport_CSV_20161130"


@dataclass
class Selection:
    """The keys to process, and how many were left out for each reason."""

    keys: list[str] = field(default_factory=list)
    left_out: Counter[str] = field(default_factory=Counter)

    @property
    def listed(self) -> int:
        return len(self.keys) + sum(self.left_out.values())


def select(
    keys: Iterable[str], bucket: str, prefix: str, settings: Settings | Configuration
) -> Selection:
    """The keys under `prefix` that the function would process, by its own rule (every
    profile's output prefix is its own copies')."""
    chosen = Selection()
    configuration = settings if isinstance(settings, Configuration) else Configuration.of(settings)
    same_bucket = configuration.default.output_bucket_for(bucket) == bucket
    for key in keys:
        if not key.startswith(prefix):
            continue
        reason = naming.skip_reason_any(
            key,
            source_prefix=configuration.default.source_prefix,
            output_prefixes=configuration.output_prefixes() if same_bucket else [],
        )
        if reason:
            chosen.left_out[_short(reason)] += 1
        else:
            chosen.keys.append(key)
    return chosen


def _short(reason: str) -> str:
    """The skip rule's reason without the detail after ':' ("a folder marker", ...)."""
    if reason.startswith("key ends in '/'"):
        return "folder markers"
    if "output prefix" in reason:
        return "under the output prefix (the function's own copies)"
    return reason.removeprefix("key is ")


def listing(s3: Any, bucket: str, prefix: str) -> Iterator[str]:
    """Every key under `prefix`, page by page (ListObjectsV2, 1,000 keys a page)."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield item["Key"]


def to_csv(bucket: str, keys: Iterable[str]) -> bytes:
    """A Batch Operations CSV manifest: `bucket,key` a line, keys URL-encoded as it requires.

    Every byte but letters, digits, '/' and '-_.~' is %-encoded, so a space is %20 and a
    '+' is %2B: read back the same by `unquote` and by `unquote_plus` (the function's).
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for key in keys:
        writer.writerow([bucket, quote(key, safe="/")])
    return out.getvalue().encode()


def from_csv(data: bytes) -> list[tuple[str, str, str | None]]:
    """(bucket, key, version) of each line of a CSV manifest, keys decoded."""
    rows = csv.reader(io.StringIO(data.decode()))
    return [
        (row[0], unquote_plus(row[1]), (row[2] or None) if len(row) > 2 else None)
        for row in rows
        if row
    ]


class InventoryError(ValueError):
    """An S3 Inventory report this tool cannot read; the message says why."""


def inventory_keys(s3: Any, uri: str, bucket: str) -> Iterator[str]:
    """The current keys of `bucket` in the S3 Inventory report whose manifest.json is `uri`."""
    report_bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not key.endswith("manifest.json"):
        raise InventoryError(
            f"invalid --inventory {uri!r}: expected the s3:// address of an S3 Inventory "
            "report's manifest.json"
        )
    manifest = json.loads(s3.get_object(Bucket=report_bucket, Key=key)["Body"].read())
    if manifest.get("fileFormat") != "CSV":
        raise InventoryError(
            f"s3://{report_bucket}/{key} is an S3 Inventory report in "
            f"{manifest.get('fileFormat')!r}; this tool reads CSV reports only"
        )
    if manifest.get("sourceBucket") != bucket:
        raise InventoryError(
            f"s3://{report_bucket}/{key} lists bucket {manifest.get('sourceBucket')!r}, "
            f"not {bucket!r}"
        )
    columns = [c.strip() for c in manifest["fileSchema"].split(",")]
    at = {name: columns.index(name) for name in columns}
    for item in manifest["files"]:
        body = s3.get_object(Bucket=report_bucket, Key=item["key"])["Body"].read()
        for row in csv.reader(io.StringIO(gzip.decompress(body).decode())):
            if "IsLatest" in at and row[at["IsLatest"]] != "true":
                continue  # an older version: the copies follow the current one
            if "IsDeleteMarker" in at and row[at["IsDeleteMarker"]] == "true":
                continue
            yield unquote_plus(row[at["Key"]])  # inventory keys are URL-encoded
