"""One object, start to end: guard, open, check, decode once, encode and write in parallel.

`process` never raises for a bad object: every path ends in an `Outcome` whose
status says what happened and whose `retryable` flag says whether trying again
can help. The store is anything with `open(ref)` and `put(...)` (S3 or local files).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any, Protocol

from app import imaging, memory, naming
from app.config import Settings
from app.errors import BadImage, InputTooLarge, PermanentError, Skip, TransientError
from app.memory import MemoryBudget
from app.model import ObjectRef, Outcome, Output
from app.storage import Download

# What an object may need before it is worth starting: a generous bound on a large
# photo's GET, decode, encodes and PUTs, so that it never dies half-way.
BASE_MS = 3000
MS_PER_MB = 200


UNLIMITED = MemoryBudget(None)


class Store(Protocol):
    """Where sources are read from and renditions written to."""

    def open(self, ref: ObjectRef) -> Download: ...

    def source_etag_of(self, bucket: str, key: str) -> str | None: ...

    def put(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        content_type: str,
        cache_control: str,
        metadata: dict[str, str],
    ) -> None: ...


def process(
    ref: ObjectRef,
    settings: Settings,
    store: Store,
    deadline: float | None = None,
    budget: MemoryBudget = UNLIMITED,
) -> Outcome:
    """Make every rendition of `ref`; classify whatever goes wrong.

    `deadline` (a `time.monotonic()` value) is when Lambda will stop the invocation:
    an object that cannot finish before it is not started, and left for a retry.
    `budget` is the memory that the decodes of objects processed at once share.
    """
    details: dict[str, Any] = {}
    start = time.perf_counter()
    try:
        # The object's share of the memory budget, taken before its decode and held
        # until its last encode is done.
        with ExitStack() as held:
            outputs = _run(ref, settings, store, details, deadline, budget, held)
    except Skip as skip:
        return Outcome(ref, "skipped", str(skip), details=details)
    except PermanentError as error:
        return Outcome(ref, "failed", str(error), details=details)
    except TransientError as error:
        return Outcome(ref, "failed", str(error), retryable=True, details=details)
    finally:
        details["total_ms"] = round((time.perf_counter() - start) * 1000, 1)
    return Outcome(ref, "processed", outputs=outputs, details=details)


def _run(
    ref: ObjectRef,
    settings: Settings,
    store: Store,
    details: dict[str, Any],
    deadline: float | None,
    budget: MemoryBudget,
    held: ExitStack,
) -> tuple[Output, ...]:
    out_bucket = settings.output_bucket_for(ref.bucket)
    reason = naming.skip_reason(
        ref.key,
        source_prefix=settings.source_prefix,
        output_prefix=settings.output_prefix if out_bucket == ref.bucket else None,
    )
    if reason:
        raise Skip(reason)
    _check_size(ref, ref.size, settings)  # from the event: refuse before any request
    _check_time(ref, deadline)

    clock = _Clock(details)
    download = store.open(ref)
    try:
        clock.lap("open_ms")
        if naming.MARKER in download.metadata:
            raise Skip(
                f"object carries the '{naming.MARKER}' metadata of a copy made by "
                "this function (recursion guard)"
            )
        _check_size(ref, download.size, settings)
        details["input_bytes"] = download.size
        source = imaging.stream_source(download.read)
        try:
            header = imaging.read_header(source, settings.max_input_pixels, ref.uri)
            details.update(width=header.width, height=header.height, loader=header.loader)
            fmt = imaging.output_format(header, settings.output_format)
            keys = {spec: _output_key(settings, ref, spec, fmt) for spec in settings.specs}
            if _up_to_date(store, out_bucket, list(keys.values()), download.etag):
                raise Skip(f"up to date: every copy already exists for ETag {download.etag}")
            needed = memory.estimate(header, download.size, settings.specs, fmt)
            held.enter_context(budget.hold(needed, ref.uri))
            image = imaging.decode(
                source, header, settings.specs, ref.uri, flatten=not imaging.FORMATS[fmt].alpha
            )
        except BadImage:
            if download.failure is not None:  # the network, not the file, cut the stream
                raise download.failure from None
            raise
        # Streaming overlaps the two: the waits inside read() are the download's share.
        clock.lap("decode_ms", less=download.waited_s)
        details["download_ms"] = round(details["open_ms"] + download.waited_s * 1000, 1)
    finally:
        download.close()

    metadata = naming.rendition_metadata(ref.key, download.etag)

    def write(spec: imaging.SizeSpec) -> tuple[Output, float, float]:
        start = time.perf_counter()
        rendition = imaging.render(image, header, spec, fmt, settings.quality)
        encoded = time.perf_counter()
        store.put(
            out_bucket,
            keys[spec],
            rendition.data,
            content_type=rendition.content_type,
            cache_control=settings.cache_control,
            metadata=metadata,
        )
        output = Output(
            keys[spec],
            rendition.width,
            rendition.height,
            len(rendition.data),
            rendition.content_type,
        )
        return output, encoded - start, time.perf_counter() - encoded

    # libvips releases the GIL while encoding, and uploads wait on the network:
    # one thread per rendition overlaps both.
    with ThreadPoolExecutor(max_workers=len(settings.specs)) as pool:
        written = list(pool.map(write, settings.specs))
    clock.lap("encode_upload_ms")
    # Per-rendition sums: they overlap, so they may add up to more than the lap above.
    details["encode_ms"] = round(sum(encode for _, encode, _ in written) * 1000, 1)
    details["upload_ms"] = round(sum(upload for _, _, upload in written) * 1000, 1)
    return tuple(output for output, _, _ in written)


def _output_key(settings: Settings, ref: ObjectRef, spec: imaging.SizeSpec, fmt: str) -> str:
    return naming.output_key(
        settings.key_template,
        source_key=ref.key,
        source_prefix=settings.source_prefix,
        output_prefix=settings.output_prefix,
        width=spec.label,
        ext=imaging.FORMATS[fmt].extension,
    )


def _up_to_date(store: Store, bucket: str, keys: list[str], etag: str) -> bool:
    """True if every copy exists and was made from this very version of the source."""
    if not etag:
        return False
    with ThreadPoolExecutor(max_workers=len(keys)) as pool:
        return all(
            found == etag for found in pool.map(lambda key: store.source_etag_of(bucket, key), keys)
        )


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
