"""Copies follow their source: a refused current version, a failure half-way, a new format.

Steps at the end of one object's work (app/renditions/pipeline.py), each removing copies through
app/renditions/sweep.py (imported only where copies go: most objects remove none), and only
ever copies that record this very source:

- `refused`: the current version failed for good (damaged, too large, can never
  finish, or a copy refused half-way). Its copies are of an earlier file (the one it
  replaced) or part of a set this attempt could not finish; either way no reader may
  take them for this file's, so they go, and the reason says so.
- `other_formats`: with `source` in OUTPUT_FORMATS, a source now in another format
  (a JPEG avatar replaced by a PNG at the same key) gets its new copies, then loses
  the old format's, before its new manifest is written.
"""

from __future__ import annotations

from collections.abc import Iterable

from app import naming
from app.config.settings import Settings
from app.errors import AccessDenied, PermanentError, ResizerError, TransientError
from app.model import ObjectRef
from app.renditions import copies, identity

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/development.md)
if TYPE_CHECKING:
    from typing import Any


def refused(
    ref: ObjectRef,
    profiles: Iterable[Settings],
    store: object,
    out_bucket: str | None,
    error: PermanentError,
    details: dict[str, Any],
) -> ResizerError:
    """`error`, once `ref`'s copies that any of `profiles` made are removed (the reason
    says how many), or why not.

    Left as they are: before the HEAD showed `ref` to be the current version
    (`out_bucket` None), on a permission failure (it tells nothing of the file; fix the
    role and the retry converges), and in a store that cannot remove (local files).
    Errors no step classified never get here (a fault of the function itself must not
    take the copies of every source it meets). A removal that fails leaves the object
    for a retry."""
    if out_bucket is None or isinstance(error, AccessDenied) or not copies.removes(store):
        return error
    from app.renditions import sweep  # here: loaded by the first refusal, not at cold start

    every = tuple(profiles)
    try:
        threads = max(sweep.workers(profile) for profile in every)
        swept = sweep.sweep(ref, out_bucket, every, store, threads=threads)
    except TransientError as failure:
        return TransientError(f"{error}; removing its copies failed ({failure}); left for a retry")
    except ResizerError as failure:
        return _amended(error, f"its copies stay: {failure}")
    if not swept.removed:
        return error
    details["removed"] = list(swept.removed)
    n = len(swept.removed)
    return _amended(
        error,
        f"its {n} cop{'y' if n == 1 else 'ies'} removed (of an earlier file, "
        "or made before the failure): no copy stays that is not of this file",
    )


def other_formats(
    ref: ObjectRef,
    settings: Settings,
    store: object,
    out_bucket: str,
    seen: Iterable[dict[str, str] | None],
    source_format: str,
    written: Iterable[str],
) -> None:
    """Remove `ref`'s copies in a format it no longer has (`source_format` is its own now;
    `seen`, the metadata of its copies and manifest read on the way; `written`, the keys
    just written). No request when they all record `source_format`; with MANIFEST=off and
    none of its copies seen, every other format's keys are asked."""
    if "source" not in settings.output_formats or not copies.removes(store):
        return
    recorded = {
        metadata.get(naming.SOURCE_FORMAT)
        for metadata in seen
        if metadata is not None and identity.owns(metadata, ref, out_bucket)
    }
    manifest = copies.manifest_key(settings, ref)
    if recorded <= {source_format} and (recorded or manifest is not None):
        return
    from app.renditions import sweep  # here: loaded by the first change of format

    spare = frozenset([*written, *([manifest] if manifest else [])])
    sweep.sweep(ref, out_bucket, (settings,), store, spare=spare, threads=sweep.workers(settings))


def _amended(error: PermanentError, note: str) -> PermanentError:
    """`error` with `note` after its sentence, of the same class."""
    return type(error)(f"{error}; {note}")
