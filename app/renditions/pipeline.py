"""One object, start to end: guard, HEAD, check, GET, decode once, encode and write in parallel.

`process` never raises for a bad object: every path ends in an `Outcome` whose
status says what happened and whose `retryable` flag says whether trying again
can help. The store is anything with `head`, `open`, `existing`, `put` and `delete`
(S3 or local files). A source is only opened (GET) once its HEAD says there is
work to do: a re-delivered event costs HEADs, not a download.

Given a Configuration of several profiles (app/config/profiles.py), the recursion guard covers
every profile's copies; the rules choose a profile by the key before the HEAD, and the
object's `profile` metadata, read by the HEAD, may choose another before anything else
depends on it.

The checks run in this order: what needs no request (bucket, prefix, time left);
the HEAD, then the current-version check before anything else the HEAD or the event
tells (so a stale event for an empty object that was replaced is skipped, not
failed); the size; the copies' HEADs (whose source each key holds, app/renditions/identity.py;
a later event's; up to date). What the copies' HEADs saw is what the writes replace
(conditional PUTs, app/aws/storage.py). A set being remade first loses its manifest, which
is written again last: a manifest is only ever beside the finished set it lists.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager

from app import naming
from app.aws import deadline as time_left
from app.aws.objects import CopyHead, Download, Head
from app.config.profiles import Configuration
from app.config.settings import Settings
from app.errors import BadImage, InputTooLarge, PermanentError, Skip, TransientError, WriteLost
from app.image import formats, imaging
from app.image.memory import MemoryBudget
from app.model import ObjectRef, Outcome, Output
from app.record import Record
from app.renditions import copies, decoded, follow, freshness, identity, manifest, order, recipe
from app.renditions.unexpected import unexpected

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/development.md)
if TYPE_CHECKING:
    from typing import Any, Protocol

    # Protocols are for mypy alone: any object with these methods is one, and what
    # asks at run time does so by method name (docs/development.md).
    class Store(copies.Writer, Protocol):
        """Where sources are read from and renditions written to (`put`, `existing`), and a
        stale manifest withdrawn (`delete`)."""

        def head(self, ref: ObjectRef) -> Head: ...

        def open(self, ref: ObjectRef, head: Head) -> Download: ...

        def delete(
            self, bucket: str, key: str, version: str | None = None, etag: str | None = None
        ) -> bool: ...


# What an object may need before it is worth starting: a generous bound on a large
# photo's GET, decode, encodes and PUTs, so that it never dies half-way.
BASE_MS = 3000
MS_PER_MB = 200
# What a decode may need once its header is read: its pixels, then the encodes and PUTs
# (a 48 MP AVIF decodes in about 1.5 s on one core). A decode cannot be stopped half-way,
# so one without this much time left is not started.
DECODE_BASE_MS = 1000
MS_PER_MP = 50


UNLIMITED = MemoryBudget(None)


def process(
    ref: ObjectRef,
    settings: Settings | Configuration,
    store: Store,
    deadline: float | None = None,
    budget: MemoryBudget = UNLIMITED,
    span_s: float | None = None,
) -> Outcome:
    """Make every rendition of `ref`; classify whatever goes wrong.

    `deadline` (a `time.monotonic()` value) is when work must end, a little before
    Lambda stops the invocation: an object that cannot finish before it is not
    started, one that runs out of time stops between steps, and both are left for a retry.
    `span_s` is the most any invocation gives (from its start to `deadline`): an object
    that needs more can never finish, and fails for good. `budget` is the memory that
    the decodes of objects processed at once share.
    `settings` is one profile's, or a Configuration to choose the object's profile from.
    """
    configuration = settings if isinstance(settings, Configuration) else Configuration.of(settings)
    job = _Job(ref, configuration.by_rule(ref.key), store, deadline, configuration, span_s, _Seen())

    def work(details: dict[str, Any]) -> Outcome:
        try:
            # The object's share of the memory budget, taken before its decode and held
            # until its last encode is done (and its manifest, made from the image, written).
            with ExitStack() as held:
                outputs = _run(job, budget, held, details)
        except PermanentError as error:  # the copies it had go with it (app/renditions/follow.py)
            every = configuration.profiles.values()
            raise follow.refused(ref, every, store, job.seen.out_bucket, error, details) from None
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
    except Exception as error:  # noqa: BLE001 - one object's failure is its outcome, never the batch's
        return unexpected(ref, error, details)
    finally:
        details["total_ms"] = round((time.perf_counter() - start) * 1000, 1)


def guard(ref: ObjectRef, settings: Settings | Configuration) -> str:
    """The bucket of `ref`'s copies; PermanentError if its bucket is not in SOURCE_BUCKETS,
    Skip if the key is not one to act on (not under SOURCE_PREFIX, or a copy of ours,
    whatever profile made it: the recursion guard). No request is made."""
    configuration = settings if isinstance(settings, Configuration) else Configuration.of(settings)
    # SOURCE_BUCKETS, OUTPUT_BUCKET and SOURCE_PREFIX are global: every profile's the same.
    _refuse_foreign(ref, configuration.default)
    out_bucket = configuration.default.output_bucket_for(ref.bucket)
    reason = naming.skip_reason_any(
        ref.key,
        source_prefix=configuration.default.source_prefix,
        output_prefixes=configuration.output_prefixes() if out_bucket == ref.bucket else [],
    )
    if reason:
        raise Skip(reason)
    return out_bucket


def _refuse_foreign(ref: ObjectRef, settings: Settings) -> None:
    """PermanentError if `ref`'s bucket is not in SOURCE_BUCKETS (a global setting)."""
    foreign = settings.foreign(ref.bucket)
    if foreign:
        raise PermanentError(f"{ref.uri} refused: {foreign}")


class _Seen:
    """What one attempt learnt on its way, for its last steps and its failure path."""

    __slots__ = ("copies", "out_bucket")

    def __init__(self) -> None:
        self.out_bucket: str | None = None  # once the HEAD found the current version
        self.copies: dict[str, dict[str, str] | None] = {}  # key -> metadata


class _Job(Record):
    """What every step of one object reads: the object, its profile's settings, the store,
    the deadline, and the profiles to choose from."""

    ref: ObjectRef
    settings: Settings
    store: Store
    deadline: float | None
    configuration: Configuration
    span_s: float | None
    seen: _Seen  # shared by the job's replacements

    def check_left(self, step: str) -> None:
        """Stop between steps once the deadline has passed (a thread the handler left behind)."""
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise TransientError(
                f"stopped before {step}: {self.ref.uri} ran out of time before the Lambda "
                "deadline; left for a retry"
            )


class _Known(Record):
    """What the HEAD told of an object worth copying, and where its copies go."""

    out_bucket: str
    head: Head
    guess: str  # the format `source` keeps it in, guessed before any GET (freshness.py)
    found: Mapping[str, CopyHead | None]  # what the keys of the guess's copies hold now


class _Fetched(Record):
    """The object decoded, the format `source` keeps it in, and its copies' keys."""

    image: decoded.Decoded
    source_format: str
    keys: copies.Keys
    found: Mapping[str, CopyHead | None]  # what the keys (and manifest's) hold now


def _run(
    job: _Job, budget: MemoryBudget, held: ExitStack, details: dict[str, Any]
) -> tuple[Output, ...]:
    """The steps of one object, in order; any of them may end its work (Skip: nothing to do)."""
    out_bucket = _check(job)
    clock = _Clock(details)
    job, known = _head(job, out_bucket, clock, details)
    fetched = _fetch(job, known, budget, held, clock)
    ref = job.ref
    metadata = naming.rendition_metadata(
        ref.key,
        known.head.etag,
        fetched.source_format,
        ref.version,
        ref.sequencer,
        recipe.tag(job.settings),
        source_bucket=ref.bucket,
    )
    _withdraw_manifest(job, known, fetched)
    outputs = _write_copies(job, known, fetched, metadata, clock)
    follow.other_formats(
        ref,
        job.settings,
        job.store,
        known.out_bucket,
        job.seen.copies.values(),
        fetched.source_format,
        (output.key for output in outputs),
    )
    _write_manifest(job, known, fetched, outputs, metadata, clock)
    return outputs


def _check(job: _Job) -> str:
    """The copies' bucket, once the object passes every check that needs no request."""
    _refuse_foreign(job.ref, job.configuration.default)
    for profile in job.configuration.profiles.values():
        conflict = profile.conflict_in(job.ref.bucket)
        if conflict:
            raise PermanentError(conflict)
    out_bucket = guard(job.ref, job.configuration)
    # The event's size is not checked here, nor used for the time it needs: the object
    # may have been replaced since (an empty placeholder, then the upload). The HEAD's
    # size is, after the current-version check.
    _check_time(job.ref, None, job.deadline, job.span_s)
    return out_bucket


def _head(
    job: _Job, out_bucket: str, clock: _Clock, details: dict[str, Any]
) -> tuple[_Job, _Known]:
    """HEAD the object; refuse a replaced version, a copy of ours or too many bytes; take
    the profile its metadata names, if any; skip it if its copies are up to date by the
    guess of its format."""
    ref = job.ref
    head = job.store.head(ref)
    clock.lap("head_ms")
    order.check_current(ref, head)  # a replaced version is not worth copies
    if naming.MARKER in head.metadata:
        raise Skip(
            f"object carries the '{naming.MARKER}' metadata of a copy made by "
            "this function (recursion guard)"
        )
    job = job._replace(settings=job.configuration.choose(ref.key, head.metadata, ref.uri))
    details["profile"] = job.settings.profile
    job.seen.out_bucket = out_bucket  # the current version: its copies follow it from here
    _check_size(ref, head.size, job.settings)
    _check_time(ref, head.size, job.deadline, job.span_s)
    clock.record(input_bytes=head.size)
    guess = freshness.likely_source_format(ref.key, head.content_type)
    found = _skip_if_up_to_date(job, out_bucket, head, guess)
    clock.lap("check_ms")
    return job, _Known(out_bucket, head, guess, found)


def _fetch(
    job: _Job, known: _Known, budget: MemoryBudget, held: ExitStack, clock: _Clock
) -> _Fetched:
    """GET the object and decode it once; the download is read to its end and closed.

    A network failure is raised in place of the BadImage a cut stream makes of it."""
    download = job.store.open(job.ref, known.head)
    try:
        open_ms = clock.lap("open_ms")
        with _network_first(download):
            fetched = _decode(job, known, download, budget, held, clock)
        # Streaming overlaps the two: the waits inside read() are the download's share.
        clock.lap("decode_ms", less=download.waited_s)
        download.finish()
        if download.failure is not None:  # a decoder may take a cut body for the file's end
            raise download.failure
        clock.record(download_ms=round(open_ms + download.waited_s * 1000, 1))
    finally:
        download.close()
    return fetched


def _decode(
    job: _Job,
    known: _Known,
    download: Download,
    budget: MemoryBudget,
    held: ExitStack,
    clock: _Clock,
) -> _Fetched:
    """The header; the copies checked again if it tells another format than the guess;
    then the one decode, under the object's share of the memory budget, kept in `held`."""
    ref, settings = job.ref, job.settings
    reserved = 0

    def reserve(size: int) -> None:  # a HEIC is read whole before its header tells more
        nonlocal reserved
        held.enter_context(budget.hold(size, ref.uri, job.deadline))
        reserved += size

    source = decoded.opened(
        download.read, download.size, ref.uri, settings.max_input_pixels, reserve
    )
    header = source.header
    clock.record(width=header.width, height=header.height, loader=header.loader)
    source_format = imaging.output_format(header, "source")
    found = known.found
    if source_format != known.guess:  # the guess was wrong: check the copies that would be made
        found = _skip_if_up_to_date(job, known.out_bucket, known.head, source_format)
    fmts = imaging.output_formats(header, settings.output_formats)
    keys = copies.keys(settings, ref, fmts)
    copies.check_sides(settings, header, fmts, ref.uri)  # what an encoder would refuse
    needed = decoded.needed(source, fmts, settings, ref.uri)
    _check_decode_time(job, header)
    held.enter_context(budget.hold(max(0, needed - reserved), ref.uri, job.deadline))
    _check_decode_time(job, header)  # again: the wait for memory may have taken the time
    image = decoded.decode(source, fmts, settings, ref.uri)
    if source.scans.dropped:  # an untidy JPEG: processed, and said so in its log line
        clock.record(untidy_bytes=source.scans.dropped)
    return _Fetched(image, source_format, keys, found)


@contextmanager
def _network_first(download: Download) -> Iterator[None]:
    """The download's failure raised in place of a BadImage: the network, not the file,
    cut the stream."""
    try:
        yield
    except BadImage:
        if download.failure is not None:
            raise download.failure from None
        raise


def _write_copies(
    job: _Job, known: _Known, fetched: _Fetched, metadata: dict[str, str], clock: _Clock
) -> tuple[Output, ...]:
    """Every copy, in parallel (app/renditions/copies.py), none started after the deadline."""
    written = copies.write(
        fetched.image,
        fetched.keys,
        job.ref,
        known.out_bucket,
        metadata,
        job.settings,
        job.store,
        before=lambda key: job.check_left(f"writing {key}"),
        found=fetched.found,
    )
    clock.lap("encode_upload_ms")
    # Per-rendition sums: they overlap, so they may add up to more than the lap above.
    clock.record(
        encode_ms=round(written.encode_s * 1000, 1), upload_ms=round(written.upload_s * 1000, 1)
    )
    return written.outputs


def _withdraw_manifest(job: _Job, known: _Known, fetched: _Fetched) -> None:
    """Delete the manifest of the set about to be remade (only that very object): until
    the new one is written after the last copy, no manifest says the set is finished."""
    manifest_key = copies.manifest_key(job.settings, job.ref)
    seen = None if manifest_key is None else fetched.found.get(manifest_key)
    if manifest_key is not None and seen is not None:
        job.store.delete(known.out_bucket, manifest_key, etag=seen.etag)


def _write_manifest(
    job: _Job,
    known: _Known,
    fetched: _Fetched,
    outputs: tuple[Output, ...],
    metadata: dict[str, str],
    clock: _Clock,
) -> None:
    """The manifest (none with MANIFEST=off), last: it is only ever there beside its copies."""
    ref, header = job.ref, fetched.image.header
    manifest_key = copies.manifest_key(job.settings, ref)
    if manifest_key is None:
        return
    job.check_left(f"writing {manifest_key}")
    try:
        job.store.put(
            known.out_bucket,
            manifest_key,
            manifest.build(
                ref,
                known.head.etag,
                (header.width, header.height),
                outputs,
                fetched.image.still,
                job.settings.profile,
            ),
            content_type=manifest.CONTENT_TYPE,
            cache_control=job.settings.cache_control,
            metadata=metadata,
            replacing=None,  # any earlier one was withdrawn before the copies: made anew
        )
    except WriteLost:
        copies.check_overtaken(
            job.store, ref, known.out_bucket, manifest_key, job.settings, manifest_key
        )
        raise
    clock.record(manifest=manifest_key)
    clock.lap("manifest_ms")


def _skip_if_up_to_date(
    job: _Job, out_bucket: str, head: Head, source_format: str
) -> Mapping[str, CopyHead | None]:
    """What each key `source_format` gives (and the manifest's) holds now; refuse a key
    holding another source's copy; skip if any was made for a later event of the key,
    or if all were made from this ETag with these settings."""
    settings = job.settings
    fmts = formats.resolve(settings.output_formats, source_format)
    keys = list(copies.keys(settings, job.ref, fmts).values())
    manifest_key = copies.manifest_key(settings, job.ref)
    if manifest_key is not None:  # a manifest missing or older than the copies: make both
        keys.append(manifest_key)
    found = freshness.read_copies(job.store, out_bucket, keys)
    metadata = freshness.metadata_of(found)
    job.seen.copies.update(metadata)  # the formats its copies record (follow.other_formats)
    identity.check(job.ref, out_bucket, metadata, settings, manifest_key)  # another's copies
    order.check_not_stale(job.ref, out_bucket, metadata)  # made for a later event of this key
    tag = recipe.tag(settings)
    if freshness.current(metadata, head.etag, source_format, settings.output_formats, tag):
        also = ", and the manifest" if manifest_key else ""
        raise Skip(f"up to date: every copy already exists for ETag {head.etag}{also}")
    return found


def _check_time(
    ref: ObjectRef, size: int | None, deadline: float | None, span_s: float | None
) -> None:
    """Refuse to start what cannot finish: for good if no invocation is long enough."""
    need_ms = BASE_MS + MS_PER_MB * (size or 0) / 1e6
    what = ref.uri if size is None else f"{ref.uri} ({size:,} bytes)"
    time_left.check_need(need_ms, deadline, span_s, what, "started")


def _check_decode_time(job: _Job, header: imaging.Header) -> None:
    """Refuse to start a decode that cannot finish: it cannot be stopped half-way, and would
    run on into the next invocation holding its memory."""
    pixels = header.width * header.height
    need_ms = DECODE_BASE_MS + MS_PER_MP * pixels / 1e6
    what = f"{job.ref.uri} ({header.width}x{header.height})"
    time_left.check_need(need_ms, job.deadline, job.span_s, what, "decoded")


def unfinished(ref: ObjectRef) -> Outcome:
    """The outcome of an object still running when the handler must reply."""
    return Outcome(
        ref,
        "failed",
        f"did not finish: {ref.uri} was still being processed {time_left.RESERVE_S:g} s "
        "before the Lambda deadline; left for a retry",
        retryable=True,
    )


def unstarted(ref: ObjectRef, error: RuntimeError) -> Outcome:
    """The outcome of an object whose thread could not be started (out of threads)."""
    return Outcome(
        ref,
        "failed",
        f"not started: no thread could be started for {ref.uri} ({error}); left for a retry",
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
    """Records the milliseconds between laps, and what else the steps tell, into `details`."""

    def __init__(self, details: dict[str, Any]) -> None:
        self._details = details
        self._last = time.perf_counter()

    def lap(self, name: str, *, less: float = 0.0) -> float:
        """Record (and return) the milliseconds since the last lap, less `less` seconds
        spent elsewhere."""
        now = time.perf_counter()
        ms = self._details[name] = round((now - self._last - less) * 1000, 1)
        self._last = now
        return ms

    def record(self, **values: Any) -> None:
        """Record `values` beside the laps."""
        self._details.update(values)
