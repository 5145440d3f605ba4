"""One object, start to end: guard, HEAD, check, GET, decode once, encode and write in parallel.

`process` never raises for a bad object: every path ends in an `Outcome` whose
status says what happened and whose `retryable` flag says whether trying again
can help. The store is anything with `head`, `open`, `copy_metadata` and `put`
(S3 or local files). A source is only opened (GET) once its HEAD says there is
work to do: a re-delivered event costs HEADs, not a download.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

from app import deadline as time_left
from app import freshness, heif_brand, imaging, manifest, naming
from app.config import Settings
from app.errors import BadImage, InputTooLarge, PermanentError, Skip, TransientError
from app.memory import MemoryBudget
from app.model import ObjectRef, Outcome, Output
from app.storage import Download, Head

if TYPE_CHECKING:
    from app import heic

# What an object may need before it is worth starting: a generous bound on a large
# photo's GET, decode, encodes and PUTs, so that it never dies half-way.
BASE_MS = 3000
MS_PER_MB = 200


UNLIMITED = MemoryBudget(None)


class Store(Protocol):
    """Where sources are read from and renditions written to."""

    def head(self, ref: ObjectRef) -> Head: ...

    def open(self, ref: ObjectRef, head: Head) -> Download: ...

    def copy_metadata(self, bucket: str, key: str) -> dict[str, str] | None: ...

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

    `deadline` (a `time.monotonic()` value) is when work must end, a little before
    Lambda stops the invocation: an object that cannot finish before it is not
    started, one that runs out of time stops between steps, and both are left for a retry.
    `budget` is the memory that the decodes of objects processed at once share.
    """
    details: dict[str, Any] = {}
    start = time.perf_counter()
    try:
        outputs = _run(ref, settings, store, details, deadline, budget)
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
) -> tuple[Output, ...]:
    out_bucket = settings.output_bucket_for(ref.bucket)
    conflict = settings.conflict_in(ref.bucket)
    if conflict:
        raise PermanentError(conflict)
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
    head = store.head(ref)
    clock.lap("head_ms")
    if naming.MARKER in head.metadata:
        raise Skip(
            f"object carries the '{naming.MARKER}' metadata of a copy made by "
            "this function (recursion guard)"
        )
    _check_size(ref, head.size, settings)
    details["input_bytes"] = head.size
    guess = freshness.likely_format(ref.key, head.content_type, settings.output_format)
    _skip_if_up_to_date(store, settings, ref, out_bucket, guess, head.etag)
    clock.lap("check_ms")

    download = store.open(ref, head)
    try:
        clock.lap("open_ms")
        peeked = heif_brand.Peeked(download.read)
        source = imaging.stream_source(peeked.read)
        try:
            heic = _open_heic(peeked, ref) if heif_brand.is_hevc(peeked.head) else None
            header = (
                heic.header(settings.max_input_pixels)
                if heic
                else imaging.read_header(
                    source, settings.max_input_pixels, ref.uri, size=download.size
                )
            )
            details.update(width=header.width, height=header.height, loader=header.loader)
            fmt = imaging.output_format(header, settings.output_format)
            if fmt != guess:  # the guess was wrong: check the copies that would be made
                _skip_if_up_to_date(store, settings, ref, out_bucket, fmt, head.etag)
            keys = _output_keys(settings, ref, fmt)
            with budget.hold(header.decode_bytes, ref.uri):
                _check_left(ref, deadline, "decoding")
                flatten = not imaging.FORMATS[fmt].alpha
                image = (
                    heic.decode(header, settings.specs, flatten=flatten)
                    if heic
                    else imaging.decode(source, header, settings.specs, ref.uri, flatten=flatten)
                )
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
        ref.key, head.etag, imaging.output_format(header, "source"), ref.version
    )

    def write(spec: imaging.SizeSpec) -> tuple[Output, float, float]:
        _check_left(ref, deadline, f"writing {keys[spec]}")
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
    outputs = tuple(output for output, _, _ in written)
    manifest_key = _manifest_key(settings, ref)
    if manifest_key is not None:  # last: a manifest is only ever there beside its copies
        _check_left(ref, deadline, f"writing {manifest_key}")
        store.put(
            out_bucket,
            manifest_key,
            manifest.build(ref, head.etag, (header.width, header.height), outputs, image),
            content_type=manifest.CONTENT_TYPE,
            cache_control=settings.cache_control,
            metadata=metadata,
        )
        details["manifest"] = manifest_key
        clock.lap("manifest_ms")
    return outputs


def _open_heic(peeked: heif_brand.Peeked, ref: ObjectRef) -> heic.Heic:
    """A HEIC photo, all of it read: libvips has no HEVC decoder (see app/heic.py)."""
    from app import heic  # here: loaded by the first HEIC, not at cold start

    return heic.Heic(peeked.rest(), ref.uri)


def _output_keys(settings: Settings, ref: ObjectRef, fmt: str) -> dict[imaging.SizeSpec, str]:
    """Every rendition's key, each checked to stay under OUTPUT_PREFIX."""
    keys = {}
    for spec in settings.specs:
        key = naming.output_key(
            settings.key_template,
            source_key=ref.key,
            source_prefix=settings.source_prefix,
            output_prefix=settings.output_prefix,
            width=spec.label,
            ext=imaging.FORMATS[fmt].extension,
        )
        keys[spec] = _under_prefix(key, settings, ref)
    return keys


def _manifest_key(settings: Settings, ref: ObjectRef) -> str | None:
    """The manifest's key (None with MANIFEST=off), checked to stay under OUTPUT_PREFIX."""
    if settings.manifest_template is None:
        return None
    key = naming.manifest_key(
        settings.manifest_template, ref.key, settings.source_prefix, settings.output_prefix
    )
    return _under_prefix(key, settings, ref)


def _under_prefix(key: str, settings: Settings, ref: ObjectRef) -> str:
    escape = naming.escape_reason(key, settings.output_prefix)
    if escape:
        raise PermanentError(
            f"output key {key!r} for {ref.uri} would leave OUTPUT_PREFIX "
            f"{settings.output_prefix!r} ({escape}); nothing written"
        )
    return key


def _skip_if_up_to_date(
    store: Store, settings: Settings, ref: ObjectRef, bucket: str, fmt: str, etag: str
) -> None:
    keys = list(_output_keys(settings, ref, fmt).values())
    manifest_key = _manifest_key(settings, ref)
    if manifest_key is not None:  # a manifest missing or older than the copies: make both
        keys.append(manifest_key)
    if freshness.up_to_date(store, bucket, keys, etag, fmt, settings.output_format):
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
