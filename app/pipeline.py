"""One object, start to end: guard, HEAD, check, GET, decode once, encode and write in parallel.

`process` never raises for a bad object: every path ends in an `Outcome` whose
status says what happened and whose `retryable` flag says whether trying again
can help. The store is anything with `head`, `open`, `copy_metadata` and `put`
(S3 or local files). A source is only opened (GET) once its HEAD says there is
work to do: a re-delivered event costs HEADs, not a download.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any, Protocol

from app import copies, decoded, formats, freshness, imaging, manifest, naming, order
from app import deadline as time_left
from app.config import Settings
from app.errors import BadImage, InputTooLarge, PermanentError, Skip, TransientError
from app.memory import MemoryBudget
from app.model import ObjectRef, Outcome, Output
from app.storage import Download, Head

# What an object may need before it is worth starting: a generous bound on a large
# photo's GET, decode, encodes and PUTs, so that it never dies half-way.
BASE_MS = 3000
MS_PER_MB = 200


UNLIMITED = MemoryBudget(None)


class Store(copies.Writer, Protocol):
    """Where sources are read from and renditions written to (`put`, `copy_metadata`)."""

    def head(self, ref: ObjectRef) -> Head: ...

    def open(self, ref: ObjectRef, head: Head) -> Download: ...


def process(
    ref: ObjectRef,
    settings: Settings,
    store: Store,
    deadline: float | None = None,
    budget: MemoryBudget = UNLIMITED,
) -> Outcome:
    """Make every rendition of `ref`; classify whatever goes wrong.

    `deadline` (a `time.monotonic()` value) is when work must end, a little before
    Lambda stops the invocation: an object that cannot finish before it is not
    started, one that runs out of time stops between steps, and both are left for a retry.
    `budget` is the memory that the decodes of objects processed at once share.
    """

    def work(details: dict[str, Any]) -> Outcome:
        # The object's share of the memory budget, taken before its decode and held
        # until its last encode is done.
        with ExitStack() as held:
            outputs = _run(ref, settings, store, details, deadline, budget, held)
        return Outcome(ref, "processed", outputs=outputs, details=details)

    return classified(ref, work)


def classified(ref: ObjectRef, work: Callable[[dict[str, Any]], Outcome]) -> Outcome:
    """`work(details)`'s outcome, or what it raised as a classified, timed Outcome."""
    details: dict[str, Any] = {}
    start = time.perf_counter()
    try:
        return work(details)
    except Skip as skip:
        return Outcome(ref, "skipped", str(skip), details=details)
    except PermanentError as error:
        return Outcome(ref, "failed", str(error), details=details)
    except TransientError as error:
        return Outcome(ref, "failed", str(error), retryable=True, details=details)
    finally:
        details["total_ms"] = round((time.perf_counter() - start) * 1000, 1)


def guard(ref: ObjectRef, settings: Settings) -> str:
    """The bucket of `ref`'s copies; Skip if the key is not one to act on (not under
    SOURCE_PREFIX, or a copy of ours: the recursion guard). No request is made."""
    out_bucket = settings.output_bucket_for(ref.bucket)
    reason = naming.skip_reason(
        ref.key,
        source_prefix=settings.source_prefix,
        output_prefix=settings.output_prefix if out_bucket == ref.bucket else None,
    )
    if reason:
        raise Skip(reason)
    return out_bucket


def _run(
    ref: ObjectRef,
    settings: Settings,
    store: Store,
    details: dict[str, Any],
    deadline: float | None,
    budget: MemoryBudget,
    held: ExitStack,
) -> tuple[Output, ...]:
    conflict = settings.conflict_in(ref.bucket)
    if conflict:
        raise PermanentError(conflict)
    out_bucket = guard(ref, settings)
    _check_size(ref, ref.size, settings)  # from the event: refuse before any request
    _check_time(ref, deadline)

    clock = _Clock(details)
    head = store.head(ref)
    clock.lap("head_ms")
    order.check_current(ref, head)  # a replaced version is not worth copies
    if naming.MARKER in head.metadata:
        raise Skip(
            f"object carries the '{naming.MARKER}' metadata of a copy made by "
            "this function (recursion guard)"
        )
    _check_size(ref, head.size, settings)
    details["input_bytes"] = head.size
    guess = freshness.likely_source_format(ref.key, head.content_type)
    _skip_if_up_to_date(store, settings, ref, out_bucket, guess, head.etag)
    clock.lap("check_ms")

    download = store.open(ref, head)
    try:
        clock.lap("open_ms")
        try:
            source = decoded.opened(
                download.read, download.size, ref.uri, settings.max_input_pixels
            )
            header = source.header
            details.update(width=header.width, height=header.height, loader=header.loader)
            source_format = imaging.output_format(header, "source")
            if source_format != guess:  # the guess was wrong: check the copies that would be made
                _skip_if_up_to_date(store, settings, ref, out_bucket, source_format, head.etag)
            fmts = imaging.output_formats(header, settings.output_formats)
            keys = copies.keys(settings, ref, fmts)
            # The object's share of the memory budget (app/memory.py), held until it is done.
            held.enter_context(
                budget.hold(decoded.needed(source, fmts, settings, ref.uri), ref.uri)
            )
            _check_left(ref, deadline, "decoding")
            image = decoded.decode(source, fmts, settings, ref.uri)
        except BadImage:
            if download.failure is not None:  # the network, not the file, cut the stream
                raise download.failure from None
            raise
        # Streaming overlaps the two: the waits inside read() are the download's share.
        clock.lap("decode_ms", less=download.waited_s)
        download.finish()
        if download.failure is not None:  # a decoder may take a cut body for the file's end
            raise download.failure
        details["download_ms"] = round(details["open_ms"] + download.waited_s * 1000, 1)
    finally:
        download.close()

    metadata = naming.rendition_metadata(
        ref.key, head.etag, source_format, ref.version, ref.sequencer
    )

    written = copies.write(
        image,
        keys,
        ref,
        out_bucket,
        metadata,
        settings,
        store,
        before=lambda key: _check_left(ref, deadline, f"writing {key}"),
    )
    clock.lap("encode_upload_ms")
    # Per-rendition sums: they overlap, so they may add up to more than the lap above.
    details["encode_ms"] = round(written.encode_s * 1000, 1)
    details["upload_ms"] = round(written.upload_s * 1000, 1)
    outputs = written.outputs
    manifest_key = copies.manifest_key(settings, ref)
    if manifest_key is not None:  # last: a manifest is only ever there beside its copies
        _check_left(ref, deadline, f"writing {manifest_key}")
        store.put(
            out_bucket,
            manifest_key,
            manifest.build(ref, head.etag, (header.width, header.height), outputs, image.still),
            content_type=manifest.CONTENT_TYPE,
            cache_control=settings.cache_control,
            metadata=metadata,
        )
        details["manifest"] = manifest_key
        clock.lap("manifest_ms")
    return outputs


def _skip_if_up_to_date(
    store: Store, settings: Settings, ref: ObjectRef, bucket: str, source_format: str, etag: str
) -> None:
    fmts = formats.resolve(settings.output_formats, source_format)
    keys = list(copies.keys(settings, ref, fmts).values())
    manifest_key = copies.manifest_key(settings, ref)
    if manifest_key is not None:  # a manifest missing or older than the copies: make both
        keys.append(manifest_key)
    found = freshness.read_copies(store, bucket, keys)
    order.check_not_stale(ref, bucket, found)  # made for a later event of this key
    if freshness.current(found, etag, source_format, settings.output_formats):
        also = ", and the manifest" if manifest_key else ""
        raise Skip(f"up to date: every copy already exists for ETag {etag}{also}")


def _check_time(ref: ObjectRef, deadline: float | None) -> None:
    if deadline is None:
        return
    left_ms = (deadline - time.monotonic()) * 1000
    need_ms = BASE_MS + MS_PER_MB * (ref.size or 0) / 1e6
    if left_ms < need_ms:
        raise TransientError(
            f"not started: {left_ms:,.0f} ms left before the Lambda deadline "
            f"and {ref.uri} needs up to {need_ms:,.0f} ms; left for a retry"
        )


def _check_left(ref: ObjectRef, deadline: float | None, step: str) -> None:
    """Stop between steps once the deadline has passed (a thread the handler left behind)."""
    if deadline is not None and time.monotonic() >= deadline:
        raise TransientError(
            f"stopped before {step}: {ref.uri} ran out of time before the Lambda deadline; "
            "left for a retry"
        )


def unfinished(ref: ObjectRef) -> Outcome:
    """The outcome of an object still running when the handler must reply."""
    return Outcome(
        ref,
        "failed",
        f"did not finish: {ref.uri} was still being processed {time_left.RESERVE_S:g} s "
        "before the Lambda deadline; left for a retry",
        retryable=True,
    )


def _check_size(ref: ObjectRef, size: int | None, settings: Settings) -> None:
    if size is not None and size > settings.max_input_bytes:
        raise InputTooLarge(
            f"{ref.uri} is {size:,} bytes; limit is "
            f"{settings.max_input_bytes:,} bytes (MAX_INPUT_BYTES)"
        )
    if size == 0:
        raise BadImage(f"{ref.uri} is empty (0 bytes)")


class _Clock:
    """Records the milliseconds between laps into `details`."""

    def __init__(self, details: dict[str, Any]) -> None:
        self._details = details
        self._last = time.perf_counter()

    def lap(self, name: str, *, less: float = 0.0) -> None:
        """Record the time since the last lap, minus `less` seconds spent elsewhere."""
        now = time.perf_counter()
        self._details[name] = round((now - self._last - less) * 1000, 1)
        self._last = now
