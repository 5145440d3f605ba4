"""A removed source takes its copies with it: guard, HEAD the source, then sweep its copies.

When an `ObjectRemoved` (or `LifecycleExpiration`) event arrives:

1. A key under OUTPUT_PREFIX or outside SOURCE_PREFIX is left alone (recursion guard):
   deleting a copy does nothing more.
2. The source's current version is read (HEAD). If the key still has one, what was
   removed was a non-current version, or the key was uploaded again after the delete:
   the copies follow what is current now (app/renditions/pipeline.py, which skips them when they
   are already up to date). Only a source that is gone loses its copies.
3. Its copies are removed (sweep.py): only keys that any profile (app/config/profiles.py) can
   give this source are asked about, a bounded number of requests; only copies
   that record this very source (bucket and key) go, with their versions in a
   versioned bucket; copies made for a later event of the key stay.

Deleting twice is harmless: the second time finds nothing and is skipped.
"""

from __future__ import annotations

from app.config.profiles import Configuration
from app.config.settings import Settings
from app.errors import ObjectGone, Skip
from app.image.memory import MemoryBudget
from app.model import ObjectRef, Outcome
from app.renditions import copies, pipeline, sweep

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/development.md)
if TYPE_CHECKING:
    from typing import Any, Protocol

    # Protocols are for mypy alone: any object with these methods is one, and what
    # asks at run time does so by method name (docs/development.md).
    class Store(pipeline.Store, copies.Remover, Protocol):
        """A pipeline store that can also find and delete copies."""


def remove(
    ref: ObjectRef,
    settings: Settings | Configuration,
    store: Store,
    deadline: float | None = None,
    budget: MemoryBudget = pipeline.UNLIMITED,
    span_s: float | None = None,
) -> Outcome:
    """Delete every copy of `ref` if the source is gone; classify whatever goes wrong.

    `settings`: one profile's, or a Configuration, any of whose profiles may have made
    copies; the other arguments are `pipeline.process`'s, for a source still there."""
    return pipeline.classified(
        ref, lambda details: _run(ref, settings, store, details, (deadline, budget, span_s))
    )


def _run(
    ref: ObjectRef,
    settings: Settings | Configuration,
    store: Store,
    details: dict[str, Any],
    work: tuple[float | None, MemoryBudget, float | None],
) -> Outcome:
    out_bucket = pipeline.guard(ref, settings)
    try:
        head = store.head(ref._replace(version=None))
    except ObjectGone:
        head = None
    if head is not None:
        # Still there: a non-current version went, or the key was uploaded again.
        again = ref._replace(action="create", version=head.version)
        outcome = pipeline.process(again, settings, store, *work)
        if outcome.status == "skipped":
            outcome = outcome._replace(
                reason=f"{ref.uri} still exists, so its copies stay: {outcome.reason}"
            )
        return outcome._replace(ref=ref)

    every = tuple(settings.profiles.values() if isinstance(settings, Configuration) else [settings])
    threads = max(sweep.workers(profile) for profile in every)
    swept = sweep.sweep(ref, out_bucket, every, store, threads=threads)
    if swept.kept:
        details["kept"] = list(swept.kept)
    if not swept.removed:
        raise Skip(
            swept.kept[0] if swept.kept else f"nothing to delete: {ref.uri} has no copies left"
        )
    return Outcome(ref, "deleted", removed=swept.removed, details=details)
