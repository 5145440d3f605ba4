"""One object, start to end: guard, open, check, decode once, encode and write in parallel.

`process` never raises for a bad object: every path ends in an `Outcome` whose
status says what happened and whose `retryable` flag says whether trying again
can help. The store is anything with `open(ref)` and `put(...)` (S3 or local files).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from app import imaging, naming
from app.config import Settings
from app.errors import BadImage, InputTooLarge, PermanentError, Skip, TransientError
from app.model import ObjectRef, Outcome, Output
from app.storage import Download


class Store(Protocol):
    """Where sources are read from and renditions written to."""

    def open(self, ref: ObjectRef) -> Download: ...

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


def process(ref: ObjectRef, settings: Settings, store: Store) -> Outcome:
    """Make every rendition of `ref`; classify whatever goes wrong."""
    details: dict[str, Any] = {}
    try:
        outputs = _run(ref, settings, store, details)
    except Skip as skip:
        return Outcome(ref, "skipped", str(skip), details=details)
    except PermanentError as error:
        return Outcome(ref, "failed", str(error), details=details)
    except TransientError as error:
        return Outcome(ref, "failed", str(error), retryable=True, details=details)
    return Outcome(ref, "processed", outputs=outputs, details=details)


def _run(
    ref: ObjectRef, settings: Settings, store: Store, details: dict[str, Any]
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
            image = imaging.decode(
                source, header, settings.specs, ref.uri, flatten=not imaging.FORMATS[fmt][2]
            )
        except BadImage:
            if download.failure is not None:  # the network, not the file, cut the stream
                raise download.failure from None
            raise
        clock.lap("decode_ms")  # streaming: includes the download, which it overlaps
    finally:
        download.close()

    metadata = naming.rendition_metadata(ref.key, download.etag)

    def write(spec: imaging.SizeSpec) -> Output:
        rendition = imaging.render(image, header, spec, fmt, settings.quality)
        key = naming.output_key(
            settings.key_template,
            source_key=ref.key,
            source_prefix=settings.source_prefix,
            output_prefix=settings.output_prefix,
            width=spec.label,
            ext=rendition.extension,
        )
        store.put(
            out_bucket,
            key,
            rendition.data,
            content_type=rendition.content_type,
            cache_control=settings.cache_control,
            metadata=metadata,
        )
        return Output(
            key, rendition.width, rendition.height, len(rendition.data), rendition.content_type
        )

    # libvips releases the GIL while encoding, and uploads wait on the network:
    # one thread per rendition overlaps both.
    with ThreadPoolExecutor(max_workers=len(settings.specs)) as pool:
        outputs = tuple(pool.map(write, settings.specs))
    clock.lap("encode_upload_ms")
    return outputs


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

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self._details[name] = round((now - self._last) * 1000, 1)
        self._last = now
