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
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import pyvips

from app import animation, formats, freshness, heif_brand, imaging, manifest, memory, naming, order
from app import deadline as time_left
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
            source_format = imaging.output_format(header, "source")
            if source_format != guess:  # the guess was wrong: check the copies that would be made
                _skip_if_up_to_date(store, settings, ref, out_bucket, source_format, head.etag)
            fmts = imaging.output_formats(header, settings.output_formats)
            keys = _output_keys(settings, ref, fmts)
            decoded = _decode(
                source, heic, header, download.size, fmts, settings, ref, deadline, budget, held
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
        ref.key, head.etag, source_format, ref.version, ref.sequencer
    )

    def write(
        job: tuple[imaging.SizeSpec, str], image: pyvips.Image
    ) -> tuple[Output, float, float]:
        spec, fmt = job
        _check_left(ref, deadline, f"writing {keys[job]}")
        start = time.perf_counter()
        rendition = imaging.encode(image, spec, fmt, settings.quality.of(fmt))
        encoded = time.perf_counter()
        if ref.sequencer is not None:  # a later event may have written it meanwhile
            existing = store.copy_metadata(out_bucket, keys[job])
            order.check_not_stale(ref, out_bucket, {keys[job]: existing})
        store.put(
            out_bucket,
            keys[job],
            rendition.data,
            content_type=rendition.content_type,
            cache_control=settings.cache_control,
            metadata=metadata,
        )
        output = Output(
            keys[job],
            rendition.width,
            rendition.height,
            len(rendition.data),
            rendition.content_type,
        )
        return output, encoded - start, time.perf_counter() - encoded

    # libvips releases the GIL while resizing and encoding, and uploads wait on the
    # network: one thread per size, then one per copy (size and format), overlaps all.
    def size(spec: imaging.SizeSpec) -> _Sized:
        return decoded.sized(spec, settings.crop)

    with ThreadPoolExecutor(max_workers=len(keys)) as pool:
        sized = dict(zip(settings.specs, pool.map(size, settings.specs), strict=True))
        written = list(pool.map(lambda job: write(job, sized[job[0]].pick(job[1])), keys))
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
            manifest.build(ref, head.etag, (header.width, header.height), outputs, decoded.still),
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


def _decode(
    source: pyvips.Source,
    heic: heic.Heic | None,
    header: imaging.Header,
    input_bytes: int,
    fmts: tuple[str, ...],
    settings: Settings,
    ref: ObjectRef,
    deadline: float | None,
    budget: MemoryBudget,
    held: ExitStack,
) -> _Decoded:
    """The one decode: every frame of a kept animation, else one image (alpha kept
    if any format keeps it; each copy without alpha is flattened on its own).

    The object's share of the memory budget (app/memory.py) is taken here and held in
    `held` until its last encode is done."""
    animated = animation.kept(header, settings.animation, fmts)
    needed = memory.estimate(header, input_bytes, settings.specs, fmts)
    if animated:
        animation.check(header, settings.max_frames, settings.max_input_pixels, ref.uri)
        needed += animation.decode_bytes(header, settings.specs)  # every frame, each size
    held.enter_context(budget.hold(needed, ref.uri))
    _check_left(ref, deadline, "decoding")
    if animated:
        return _Decoded(header, animation.decode(source, header, settings.specs, ref.uri), True)
    flatten = not any(imaging.FORMATS[fmt].alpha for fmt in fmts)
    image = (
        heic.decode(header, settings.specs, flatten=flatten)
        if heic
        else imaging.decode(source, header, settings.specs, ref.uri, flatten=flatten)
    )
    return _Decoded(header, image, False)


@dataclass(frozen=True, slots=True)
class _Decoded:
    """The decoded image (or animation: its frames stacked) of one object."""

    header: imaging.Header
    image: pyvips.Image
    animated: bool

    @property
    def still(self) -> pyvips.Image:
        """The image, or an animation's first frame."""
        return animation.first_frame(self.image) if self.animated else self.image

    def sized(self, spec: imaging.SizeSpec, crop: str) -> _Sized:
        """The image made to `spec`; an animation's first frame too, for still formats."""
        if not self.animated:
            return _Sized(imaging.sized(self.image, self.header, spec, crop), None)
        stack = animation.sized(self.image, self.header, spec, crop)
        return _Sized(animation.first_frame(stack), stack)


@dataclass(frozen=True, slots=True)
class _Sized:
    """One size of the decoded image: still, and animated if the decode kept frames."""

    still: pyvips.Image
    animated: pyvips.Image | None

    def pick(self, fmt: str) -> pyvips.Image:
        """What a copy in `fmt` is made of: every frame if the format can hold them."""
        if self.animated is not None and imaging.FORMATS[fmt].animated:
            return self.animated
        return self.still


def _output_keys(
    settings: Settings, ref: ObjectRef, fmts: tuple[str, ...]
) -> dict[tuple[imaging.SizeSpec, str], str]:
    """Every copy's key (each size in each format), each checked to stay under OUTPUT_PREFIX."""
    keys = {}
    for spec in settings.specs:
        for fmt in fmts:
            key = naming.output_key(
                settings.key_template,
                source_key=ref.key,
                source_prefix=settings.source_prefix,
                output_prefix=settings.output_prefix,
                width=spec.label,
                ext=imaging.FORMATS[fmt].extension,
            )
            keys[spec, fmt] = _under_prefix(key, settings, ref)
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
    store: Store, settings: Settings, ref: ObjectRef, bucket: str, source_format: str, etag: str
) -> None:
    fmts = formats.resolve(settings.output_formats, source_format)
    keys = list(_output_keys(settings, ref, fmts).values())
    manifest_key = _manifest_key(settings, ref)
    if manifest_key is not None:  # a manifest missing or older than the copies: make both
        keys.append(manifest_key)
    copies = freshness.read_copies(store, bucket, keys)
    order.check_not_stale(ref, bucket, copies)  # made for a later event of this key
    if freshness.current(copies, etag, source_format, settings.output_formats):
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
