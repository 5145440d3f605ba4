"""A source's copies found among the keys they can have, checked, and removed with their versions.

Every path that takes copies away ends here: a deleted source (app/renditions/removal.py), a
source replaced by a file the function refuses, a permanent failure half-way through a
set, and a source that changed format (app/renditions/pipeline.py's failure and format steps,
app/renditions/follow.py). Each of those imports this module where it removes copies:
most events remove none, and a cold start does not load it.

- **Bounded**: only keys that can be this source's copies are touched: each size of
  every profile in every format's extension, each profile's manifest, and the keys
  that manifest lists (copies of sizes since removed from RESIZE_WIDTHS). For the
  default settings, 15 HEADs and one GET, whatever else the bucket holds; no LIST.
- **Only this source's**: a copy is removed only if it records this very source
  (app/renditions/identity.py's `owns`): `rendition-of` its key, and `source-bucket` its
  bucket (a copy made before the bucket was recorded counts as the output bucket's own
  source's). A copy made for a later event of the key (a larger `source-sequencer`)
  stays (app/renditions/order.py).
- **Versions**: in a versioned bucket a copy is removed with its versions, newest
  first, each version checked as the copy was; the first that is not this source's
  stops it (with the delete markers above it, it stays as it was). A plain DELETE
  would only add a delete marker, and every version would stay readable by its id.
- **Manifest last**: its list is what finds the copies of removed sizes, so it goes
  only once every copy has; a retry after a failure half-way finds the same keys.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from app import naming
from app.aws.objects import CopyHead
from app.config.settings import DEFAULTS, Settings
from app.image.formats import FORMATS
from app.model import ObjectRef
from app.record import Record
from app.renditions import copies, identity, order

# HEADs and DELETEs of one source's copies run at most this many at a time (and never
# more than the object's share of the connection pool: see `workers`).
WORKERS = 8
# A manifest is 1-3 KB; one larger than this is not ours to parse.
MANIFEST_BYTES = 256 * 1024
# Keys taken from one manifest's list: a set is sizes x formats (at most 16 x 5 with
# the settings' own limits, and far fewer in practice).
MAX_LISTED = 100

EXTENSIONS = tuple(sorted({fmt.extension for fmt in FORMATS.values()}))


class Swept(Record):
    """The keys removed (copies, then manifests), and why any copy of this source stayed."""

    removed: tuple[str, ...]
    kept: tuple[str, ...]


class Places(Record):
    """Where one source's copies can be: copy keys, manifest keys, and the output prefixes."""

    copies: tuple[str, ...]
    manifests: tuple[str, ...]
    prefixes: tuple[str, ...]


def places(profiles: Iterable[Settings], source_key: str, source_bucket: str = "") -> Places:
    """Every key any of `profiles` can give a copy or the manifest of `source_key` (in
    `source_bucket`, for a template's {bucket}): each size in every format's extension
    (the source's format may be gone with it)."""
    copy_keys: dict[str, None] = {}
    manifests: dict[str, None] = {}
    prefixes: dict[str, None] = {}
    for settings in profiles:
        prefix = settings.output_prefix
        prefixes[prefix] = None
        for spec in settings.specs:
            for ext in EXTENSIONS:
                key = naming.output_key(
                    settings.key_template,
                    source_key=source_key,
                    source_prefix=settings.source_prefix,
                    output_prefix=prefix,
                    width=spec.label,
                    ext=ext,
                    source_bucket=source_bucket,
                )
                if naming.escape_reason(key, prefix) is None:
                    copy_keys[key] = None
        # With MANIFEST=off, where the default put one while it was on.
        template = settings.manifest_template or DEFAULTS["MANIFEST_KEY_TEMPLATE"]
        key = naming.manifest_key(
            template, source_key, settings.source_prefix, prefix, source_bucket
        )
        if naming.escape_reason(key, prefix) is None:
            manifests[key] = None
    return Places(
        tuple(k for k in copy_keys if k not in manifests), tuple(manifests), tuple(prefixes)
    )


def workers(settings: Settings) -> int:
    """How many of one object's requests may run at once: its share of the handler's
    connection pool (one per copy, and the GET), at most WORKERS."""
    return max(1, min(WORKERS, copies.connections(settings)))


def sweep(
    ref: ObjectRef,
    out_bucket: str,
    profiles: Iterable[Settings],
    store: copies.Remover,
    *,
    spare: frozenset[str] = frozenset(),
    threads: int = WORKERS,
) -> Swept:
    """Remove every copy of `ref` in `out_bucket` that `profiles` can have made, but those
    in `spare` (just written) and those made for a later event of the key."""
    where = places(profiles, ref.key, ref.bucket)
    manifests: list[tuple[str, CopyHead]] = []
    listed: dict[str, None] = {}
    for key in where.manifests:
        found = store.read_copy(out_bucket, key, MANIFEST_BYTES)
        if found is None or not identity.owns(found[0].metadata, ref, out_bucket):
            continue
        manifests.append((key, found[0]))
        listed.update(dict.fromkeys(_listed(found[1], where.prefixes)))
    keys = [
        key
        for key in dict.fromkeys([*where.copies, *listed])
        if key not in spare and key not in where.manifests
    ]
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(keys)))) as pool:
        heads = list(pool.map(lambda key: store.copy_head(out_bucket, key), keys))
        ours, kept = _ours(ref, out_bucket, zip(keys, heads, strict=True))
        done = list(pool.map(lambda item: _remove(store, item[0], item[1], ref, out_bucket), ours))
    # Last: a retry after a failure above still finds the copies the manifest lists.
    mine, stale = _ours(ref, out_bucket, ((k, h) for k, h in manifests if k not in spare))
    done += [_remove(store, key, head, ref, out_bucket) for key, head in mine]
    tried = [key for key, _ in [*ours, *mine]]
    changed = [
        f"s3://{out_bucket}/{key} changed after it was checked (a later write); left as it is"
        for key, gone in zip(tried, done, strict=True)
        if not gone
    ]
    removed = tuple(key for key, gone in zip(tried, done, strict=True) if gone)
    return Swept(removed, (*kept, *stale, *changed))


def _ours(
    ref: ObjectRef, bucket: str, found: Iterable[tuple[str, CopyHead | None]]
) -> tuple[list[tuple[str, CopyHead]], list[str]]:
    """The copies that are `ref`'s to remove, and why any of its others stay."""
    ours: list[tuple[str, CopyHead]] = []
    kept: list[str] = []
    for key, head in found:
        if head is None or not identity.owns(head.metadata, ref, bucket):
            continue  # absent, another source's copy, or someone else's object
        stale = order.stale_reason(ref, bucket, key, head.metadata)
        if stale:
            kept.append(stale)
        else:
            ours.append((key, head))
    return ours, kept


def _listed(data: bytes, prefixes: tuple[str, ...]) -> list[str]:
    """The copy keys a manifest lists, under an output prefix; none if it is not ours to read."""
    try:
        renditions = json.loads(data).get("renditions", [])
        keys = [str(item["key"]) for item in renditions if isinstance(item, dict)]
    except (ValueError, AttributeError, KeyError, TypeError):
        return []  # not a manifest this function wrote: its list is not trusted
    return [
        key
        for key in keys[:MAX_LISTED]
        if any(key.startswith(p) and naming.escape_reason(key, p) is None for p in prefixes)
    ]


def _remove(store: copies.Remover, key: str, head: CopyHead, ref: ObjectRef, bucket: str) -> bool:
    """Remove the copy at `key` (its versions too, newest first, while they are `ref`'s);
    False if it changed since its HEAD (a later event wrote it meanwhile)."""
    if head.version is None:  # only the object checked: a newer write meanwhile stays
        return store.delete(bucket, key, etag=head.etag or None)
    for version, marker in store.versions(bucket, key):
        if not marker and version != head.version:
            older = store.copy_head(bucket, key, version)
            if (
                older is None
                or not identity.owns(older.metadata, ref, bucket)
                or order.stale_reason(ref, bucket, key, older.metadata)
            ):
                break  # another source's copy, or a later event's: it and those below stay
        store.delete(bucket, key, version)  # a version never changes: no condition needed
    return True
