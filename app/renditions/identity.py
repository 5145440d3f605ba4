"""Every copy belongs to one source (bucket and key): another source's copy is never overwritten.

Each copy and manifest records its source: the key in `rendition-of` (MARKER), the
bucket in `source-bucket`. Before anything is written, the pipeline reads the
metadata of every key it would write (the up-to-date check's HEADs, app/renditions/freshness.py);
a key that already holds a copy of another source is a permanent failure whose
sentence names both sources and how the template can tell them apart. The later
upload never silently replaces the earlier one's copies, and the two never flip-flop.

A copy made before `source-bucket` was recorded is taken to be of the bucket the
event names: those copies were made under the same settings, and refusing them
would stop every existing deployment with a shared OUTPUT_BUCKET at once. An object
without MARKER is not a copy (someone else's file under OUTPUT_PREFIX) and is
written over, as it always was.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import unquote

from app import naming
from app.config.settings import Settings
from app.errors import PermanentError
from app.model import ObjectRef


def check(
    ref: ObjectRef,
    bucket: str,
    found: Mapping[str, dict[str, str] | None],
    settings: Settings,
    manifest_key: str | None,
    *,
    racing: bool = False,
) -> None:
    """Raise PermanentError if any key in `found` (key -> its metadata, None if absent)
    holds a copy of a source other than `ref`; `racing`: it was written while `ref`'s
    own copies were being written (checked after a lost conditional write)."""
    mine = naming.source_marker(ref.key)
    for key, metadata in found.items():
        if metadata is None or naming.MARKER not in metadata:
            continue
        theirs, their_bucket = metadata[naming.MARKER], metadata.get(naming.SOURCE_BUCKET)
        if theirs == mine and their_bucket in (None, ref.bucket):
            continue
        setting = "MANIFEST_KEY_TEMPLATE" if key == manifest_key else "OUTPUT_KEY_TEMPLATE"
        other = _name(theirs, their_bucket)
        what = (
            f"was taken by a copy of {other} while {ref.uri} was writing its own copies, "
            "so it stopped there"
            if racing
            else f"already holds a copy of {other}; {ref.uri} would overwrite it, so nothing "
            "was written"
        )
        raise PermanentError(
            f"s3://{bucket}/{key} {what}: {_advice(ref, theirs, their_bucket, setting, settings)}"
        )


def owns(metadata: dict[str, str], ref: ObjectRef, out_bucket: str) -> bool:
    """True if the copy whose user metadata is `metadata` (in `out_bucket`) is `ref`'s: it
    records `ref`'s key, and its bucket (a copy made before the bucket was recorded counts
    as the output bucket's own source's)."""
    if metadata.get(naming.MARKER) != naming.source_marker(ref.key):
        return False
    recorded = metadata.get(naming.SOURCE_BUCKET)
    if recorded is None:  # made before copies recorded their source's bucket
        return out_bucket == ref.bucket
    return recorded == ref.bucket


def _name(marker: str, bucket: str | None) -> str:
    if marker.startswith("sha256:"):  # a key too long to record: its digest stands in
        key = f"the key whose SHA-256 is {marker.removeprefix('sha256:')}"
        return f"{key} in bucket {bucket!r}" if bucket else key
    key = unquote(marker)
    return f"s3://{bucket}/{key}" if bucket else f"{key!r} (its bucket not recorded)"


def _advice(
    ref: ObjectRef, theirs: str, their_bucket: str | None, setting: str, settings: Settings
) -> str:
    """How `setting` can tell the two sources apart, or why no template can."""
    template = (
        settings.manifest_template
        if setting == "MANIFEST_KEY_TEMPLATE" and settings.manifest_template
        else settings.key_template
    )
    if their_bucket is not None and their_bucket != ref.bucket:
        differ = ["bucket"]
        why = f"the two buckets share OUTPUT_BUCKET {settings.output_bucket!r}"
    elif theirs.startswith("sha256:"):
        differ, why = [], ""
    else:
        mine = naming.source_fields(ref.key, settings.source_prefix, settings.output_prefix)
        other = naming.source_fields(
            unquote(theirs), settings.source_prefix, settings.output_prefix
        )
        differ = [name for name in ("dir", "stem", "source_ext") if mine[name] != other[name]]
        why = "the two differ in " + " and ".join(f"{{{name}}}" for name in differ)
    missing = [name for name in differ if f"{{{name}}}" not in template]
    if not missing:
        return (
            f"their keys differ only in how their path is written, which no {setting} "
            "tells apart; rename one of them"
        )
    example = template
    for name in missing:
        example = (
            example.replace("{prefix}", "{prefix}{dir}", 1)
            if name == "dir"
            else example.replace("{stem}", f"{{stem}}-{{{name}}}", 1)
        )
    added = " and ".join(f"{{{name}}}" for name in missing)
    return f"{why}, which {setting} {template!r} leaves out; add {added} (e.g. {example!r})"
