"""Which event is newer: S3's sequencer for a key, and the current version of a source.

Events arrive late, twice and out of order. Two rules keep stale ones from undoing
newer work:

- Only the current version of a source is worth copies. An event (or a Batch
  Operations task) that names a version is processed only while that version is the
  current one (`check_current`): a replaced version, or one hidden by a delete marker,
  is skipped. Without a version (an unversioned bucket), the current object is read.
- Every copy records the `sequencer` of the event it was made for. S3 documents it as
  a hex string that orders the events of one key: compared after left-padding with
  zeros to equal length, the larger is the later event. An event whose sequencer is
  smaller than a copy's never overwrites (`stale_reason`) or deletes it. Sequencers
  of different keys are not comparable, so only copies of the same source count.
  Batch Operations tasks carry none: they rely on the first rule alone.
"""

from __future__ import annotations

from app import naming
from app.aws.objects import Head
from app.errors import Skip
from app.model import ObjectRef


def later(a: str, b: str) -> bool:
    """True if sequencer `a` is of a later event than `b` (for the same key)."""
    width = max(len(a), len(b))
    return a.upper().rjust(width, "0") > b.upper().rjust(width, "0")


def check_current(ref: ObjectRef, head: Head) -> None:
    """Raise Skip if `ref` names a version that is no longer the source's current one."""
    if ref.version is not None and head.version is not None and head.version != ref.version:
        raise Skip(
            f"version {ref.version} of {ref.uri} is no longer the current version "
            f"({head.version} is): the copies follow the current version"
        )


def recorded(metadata: dict[str, str] | None, source_key: str) -> str | None:
    """The sequencer a copy records, if the copy is one of `source_key`'s."""
    if metadata is None or metadata.get(naming.MARKER) != naming.source_marker(source_key):
        return None
    return metadata.get(naming.SOURCE_SEQUENCER) or None


def stale_reason(
    ref: ObjectRef, bucket: str, key: str, metadata: dict[str, str] | None
) -> str | None:
    """Why the event behind `ref` must leave the copy at `key` alone, or None."""
    theirs = recorded(metadata, ref.key)
    if ref.sequencer is None or theirs is None or not later(theirs, ref.sequencer):
        return None
    return (
        f"stale event: s3://{bucket}/{key} was made for a later event of {ref.uri} "
        f"(sequencer {theirs} > {ref.sequencer}); left as it is"
    )


def check_not_stale(ref: ObjectRef, bucket: str, copies: dict[str, dict[str, str] | None]) -> None:
    """Raise Skip if any copy in `copies` (key -> metadata) was made for a later event."""
    for key, metadata in copies.items():
        reason = stale_reason(ref, bucket, key, metadata)
        if reason:
            raise Skip(reason)
