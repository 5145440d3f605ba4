"""One source's copies: where they go (each key kept under OUTPUT_PREFIX), and their writing.

Each size is made once from the decoded image, and each copy (a size in a format)
encoded and written on its own thread: libvips releases the GIL while it resizes and
encodes, and uploads wait on the network, so the threads overlap all of it. What a
store needs to remove copies (`Remover`, and `removes` to ask) is named here too, so
that every object can ask it of its store without loading app/renditions/sweep.py,
which only removals need.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

import pyvips

from app import naming
from app.aws.objects import CopyHead
from app.config.settings import Settings
from app.errors import PermanentError, WriteLost
from app.image import formats, imaging
from app.model import ObjectRef, Output
from app.record import Record
from app.renditions import identity, order
from app.renditions.decoded import Decoded, Sized

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/development.md)
if TYPE_CHECKING:
    from typing import Protocol, TypeGuard

    # Protocols are for mypy alone: any object with these methods is one, and what
    # asks at run time does so by method name (docs/development.md).
    class Writer(Protocol):
        """Where copies are written (each over what the key held when it was read, see
        app/aws/storage.py), and what a key holds read (None if nothing)."""

        def existing(self, bucket: str, key: str) -> CopyHead | None: ...

        def put(
            self,
            bucket: str,
            key: str,
            data: bytes,
            *,
            content_type: str,
            cache_control: str,
            metadata: dict[str, str],
            replacing: str | None,
        ) -> None: ...

    class Remover(Protocol):
        """What finding and removing copies needs (S3; local files have no such store)."""

        def copy_head(
            self, bucket: str, key: str, version: str | None = None
        ) -> CopyHead | None: ...

        def read_copy(self, bucket: str, key: str, limit: int) -> tuple[CopyHead, bytes] | None: ...

        def versions(self, bucket: str, key: str) -> list[tuple[str, bool]]: ...

        def delete(
            self, bucket: str, key: str, version: str | None = None, etag: str | None = None
        ) -> bool: ...


Keys = Mapping[tuple[imaging.SizeSpec, str], str]


class Written(Record):
    """The copies written, and the seconds spent encoding and uploading them (summed)."""

    outputs: tuple[Output, ...]
    encode_s: float
    upload_s: float


# The methods Remover names, which `removes` looks for (a test holds the two lists equal).
_REMOVER = ("copy_head", "read_copy", "versions", "delete")


def removes(store: object) -> TypeGuard[Remover]:
    """True if `store` has every method of Remover (S3's store does; local files' not).

    Asked of every object's store, so not by isinstance on a runtime-checkable protocol:
    that loads inspect (~8 ms) with the first object of a process that has not."""
    return all(getattr(store, name, None) is not None for name in _REMOVER)


def connections(settings: Settings) -> int:
    """The connections one object may hold at once: one per copy, and its GET."""
    return len(settings.specs) * len(settings.output_formats) + 1


def keys(settings: Settings, ref: ObjectRef, fmts: tuple[str, ...]) -> Keys:
    """Every copy's key (each size in each format), each checked to stay under OUTPUT_PREFIX."""
    found = {}
    for spec in settings.specs:
        for fmt in fmts:
            key = naming.output_key(
                settings.key_template,
                source_key=ref.key,
                source_prefix=settings.source_prefix,
                output_prefix=settings.output_prefix,
                width=spec.label,
                ext=imaging.FORMATS[fmt].extension,
                source_bucket=ref.bucket,
            )
            found[spec, fmt] = _under_prefix(key, settings, ref)
    return found


def check_sides(
    settings: Settings, header: imaging.Header, fmts: tuple[str, ...], uri: str
) -> None:
    """Refuse, before the decode, a source one of whose copies its encoder cannot make
    (a side over formats.MAX_SIDE): no copy is made rather than some."""
    for spec in settings.specs:
        width, height = spec.fit(header.width, header.height)
        for fmt in fmts:
            limit = formats.MAX_SIDE[fmt]
            if max(width, height) > limit:
                raise PermanentError(
                    f"{uri} is {header.width}x{header.height}: its copy at {spec.label} would "
                    f"be {width}x{height}, over {formats.NAMES[fmt]}'s limit of {limit:,} px a "
                    f"side; nothing written (a size with a height, such as "
                    f"{spec.width}x{limit}, keeps every copy within it)"
                )


def manifest_key(settings: Settings, ref: ObjectRef) -> str | None:
    """The manifest's key (None with MANIFEST=off), checked to stay under OUTPUT_PREFIX."""
    if settings.manifest_template is None:
        return None
    key = naming.manifest_key(
        settings.manifest_template,
        ref.key,
        settings.source_prefix,
        settings.output_prefix,
        ref.bucket,
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


def check_overtaken(
    store: Writer,
    ref: ObjectRef,
    bucket: str,
    key: str,
    settings: Settings,
    manifest_key: str | None = None,
) -> None:
    """After a lost conditional write of `key`: Skip if a later event of `ref`'s key
    wrote it (this event is stale); PermanentError if another source's copy took it
    meanwhile (two sources racing for one key: the same refusal as when it was there
    before, app/renditions/identity.py); else the caller's failure stands, for a retry."""
    now = store.existing(bucket, key)
    found = {key: None if now is None else now.metadata}
    order.check_not_stale(ref, bucket, found)
    identity.check(ref, bucket, found, settings, manifest_key, racing=True)


def write(
    decoded: Decoded,
    keys: Keys,
    ref: ObjectRef,
    bucket: str,
    metadata: dict[str, str],
    settings: Settings,
    store: Writer,
    before: Callable[[str], None],
    found: Mapping[str, CopyHead | None],
) -> Written:
    """Every copy of `decoded` at its key in `bucket`, each written over what `found`
    says the key held when it was checked (so never over a copy written since);
    `before(key)` runs before each copy is made (it raises to stop there)."""

    def write_one(
        job: tuple[imaging.SizeSpec, str], image: pyvips.Image
    ) -> tuple[Output, float, float]:
        spec, fmt = job
        before(keys[job])
        start = time.perf_counter()
        rendition = imaging.encode(image, spec, fmt, settings.quality.of(fmt))
        encoded = time.perf_counter()
        # A later event may have written the key since it was checked: the write is
        # conditional on what the check saw, and then fails, left for a retry.
        seen = found.get(keys[job])
        try:
            store.put(
                bucket,
                keys[job],
                rendition.data,
                content_type=rendition.content_type,
                cache_control=settings.cache_control,
                metadata=metadata,
                replacing=None if seen is None else seen.etag,
            )
        except WriteLost:
            check_overtaken(store, ref, bucket, keys[job], settings)
            raise
        output = Output(
            keys[job],
            rendition.width,
            rendition.height,
            len(rendition.data),
            rendition.content_type,
            rendition.colour_space,
            rendition.hdr,
        )
        return output, encoded - start, time.perf_counter() - encoded

    # One thread per size, then one per copy (size and format).
    def size(spec: imaging.SizeSpec) -> Sized:
        return decoded.sized(spec, settings.crop)

    with ThreadPoolExecutor(max_workers=len(keys)) as pool:
        sized = dict(zip(settings.specs, pool.map(size, settings.specs), strict=True))
        written = list(pool.map(lambda job: write_one(job, sized[job[0]].pick(job[1])), keys))
    return Written(
        tuple(output for output, _, _ in written),
        sum(encode for _, encode, _ in written),
        sum(upload for _, _, upload in written),
    )
