"""A removed source takes its copies with it: guard, HEAD the source, find, check, delete.

When an `ObjectRemoved` (or `LifecycleExpiration`) event arrives:

1. A key under OUTPUT_PREFIX or outside SOURCE_PREFIX is left alone (recursion guard):
   deleting a copy does nothing more.
2. The source's current version is read (HEAD). If the key still has one, what was
   removed was a non-current version, or the key was uploaded again after the delete:
   the copies follow what is current now (app/pipeline.py, which skips them when they
   are already up to date). Only a source that is gone loses its copies.
3. The copies are found where the configuration puts them, without guessing their
   formats: every key the template can give this source starts with the template's
   text up to `{stem}` (for the default `{prefix}{dir}{stem}-{width}.{ext}`, one
   prefix: `copy/2024/cat`), and so does the per-source manifest at
   `{prefix}{dir}{stem}.json`. One LIST per prefix, then a HEAD of each key found:
   only objects whose `rendition-of` metadata names this very source are deleted, so
   `images/cat.png`'s copies survive the deletion of `images/cat.jpg`, and so do
   `copy/catalog-300.jpg` and anything else that only shares the prefix. Copies made
   for a later event of the key (a larger `source-sequencer`) are kept.

With profiles (app/profiles.py), every profile's prefixes are searched: an object's
copies are found whatever profile made them. Deleting twice is harmless: the second
time finds nothing and is skipped. Copies made under an earlier OUTPUT_KEY_TEMPLATE (or
with a `{width}` before `{stem}` and widths no longer in RESIZE_WIDTHS) are outside the
prefixes searched and stay.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from string import Formatter
from typing import Any, Protocol

from app import imaging, naming, order, pipeline
from app.config import Settings
from app.errors import ObjectGone, Skip
from app.memory import MemoryBudget
from app.model import ObjectRef, Outcome
from app.profiles import Configuration

# HEADs and DELETEs of candidate copies run this many at a time.
WORKERS = 8


class Store(pipeline.Store, Protocol):
    """A pipeline store that can also find and delete copies."""

    def copy_head(self, bucket: str, key: str) -> dict[str, str] | None: ...

    def list_keys(self, bucket: str, prefix: str, delimiter: str) -> list[str]: ...

    def delete(self, bucket: str, key: str) -> None: ...


def remove(
    ref: ObjectRef,
    settings: Settings | Configuration,
    store: Store,
    deadline: float | None = None,
    budget: MemoryBudget = pipeline.UNLIMITED,
) -> Outcome:
    """Delete every copy of `ref` if the source is gone; classify whatever goes wrong."""
    return pipeline.classified(
        ref, lambda details: _run(ref, settings, store, details, deadline, budget)
    )


def _run(
    ref: ObjectRef,
    settings: Settings | Configuration,
    store: Store,
    details: dict[str, Any],
    deadline: float | None,
    budget: MemoryBudget,
) -> Outcome:
    out_bucket = pipeline.guard(ref, settings)
    try:
        head = store.head(dataclasses.replace(ref, version=None))
    except ObjectGone:
        head = None
    if head is not None:
        # Still there: a non-current version went, or the key was uploaded again.
        again = dataclasses.replace(ref, action="create", version=head.version)
        outcome = pipeline.process(again, settings, store, deadline, budget)
        if outcome.status == "skipped":
            outcome = dataclasses.replace(
                outcome, reason=f"{ref.uri} still exists, so its copies stay: {outcome.reason}"
            )
        return dataclasses.replace(outcome, ref=ref)

    marker = naming.source_marker(ref.key)
    every = settings.profiles.values() if isinstance(settings, Configuration) else [settings]
    found = [
        key
        for profile in every
        for prefix, delimiter in search_prefixes(profile, ref.key)
        for key in store.list_keys(out_bucket, prefix, delimiter)
        if key.startswith(profile.output_prefix)  # never anything but copies
    ]
    details["candidates"] = len(found)

    def removed(key: str) -> str | None:
        metadata = store.copy_head(out_bucket, key)
        if metadata is None or metadata.get(naming.MARKER) != marker:
            return None  # another source's copy, or an object of someone else's
        stale = order.stale_reason(ref, out_bucket, key, metadata)
        if stale:
            kept.append(stale)
            return None
        store.delete(out_bucket, key)
        return key

    kept: list[str] = []
    with ThreadPoolExecutor(max_workers=max(1, min(WORKERS, len(found)))) as pool:
        deleted = tuple(key for key in pool.map(removed, sorted(set(found))) if key)
    if not deleted:
        raise Skip(kept[0] if kept else f"nothing to delete: {ref.uri} has no copies left")
    if kept:
        details["kept"] = kept
    return Outcome(ref, "deleted", removed=deleted, details=details)


def search_prefixes(settings: Settings, source_key: str) -> list[tuple[str, str]]:
    """(prefix, delimiter) pairs whose listings hold every copy of `source_key`.

    The prefix is the template rendered up to `{stem}`; a `{width}` or `{ext}` before it
    gives one prefix per configured width or extension. The delimiter '/' keeps the
    listing out of deeper folders (`copy/cat/...` for `copy/cat-300.jpg`) whenever no
    '/' can follow the stem.
    """
    head, tail = _split_at_stem(settings.key_template)
    delimiter = "" if "/" in tail or "{dir}" in tail or "{prefix}" in tail else "/"
    fields = naming.source_fields(source_key, settings.source_prefix, settings.output_prefix)
    variants = [fields]
    extensions = sorted({fmt.extension for fmt in imaging.FORMATS.values()})
    keys = [
        naming.output_key(
            settings.key_template,
            source_key=source_key,
            source_prefix=settings.source_prefix,
            output_prefix=settings.output_prefix,
            width=spec.label,
            ext=ext,
        )
        for spec in settings.specs
        for ext in extensions
    ]
    digest = {**fields, **naming.digest_fields(source_key)}
    if any(digest["stem"] in key for key in keys):  # some keys are named by the digest
        variants.append(digest)
    prefixes: dict[str, str] = {}
    for variant in variants:
        for spec in settings.specs:
            for ext in extensions:
                prefix = naming.render(head, {**variant, "width": spec.label, "ext": ext})
                prefixes.setdefault(prefix, delimiter)
    # The manifest, where the default settings put it: {prefix}{dir}{stem}.json.
    manifest = naming.render("{prefix}{dir}{stem}", fields)
    prefixes[manifest] = prefixes.get(manifest, "/")
    return sorted(prefixes.items())


def _split_at_stem(template: str) -> tuple[str, str]:
    """The template up to and including `{stem}`, and the rest (a valid template has it)."""
    head: list[str] = []
    parts = list(Formatter().parse(template))
    for n, (literal, field, _, _) in enumerate(parts):
        head.append(literal)
        if field is not None:
            head.append("{" + field + "}")
        if field == "stem":
            tail = "".join(
                lit + ("{" + f + "}" if f is not None else "") for lit, f, _, _ in parts[n + 1 :]
            )
            return "".join(head), tail
    return "".join(head), ""
