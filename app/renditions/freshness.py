"""Is every copy already made from this version of the source? Answered from HEADs alone.

The output keys carry each output format's extension, which for `source` in
OUTPUT_FORMATS only the image header tells. Before any GET the source's format is
guessed from the key's extension (else the Content-Type); every key of every format
must exist, and a copy is trusted only if it records the source's ETag and, with
`source`, the format that rule gave the source when the copy was made. So a wrong
guess costs a GET, never a wrong skip.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from app import naming
from app.aws.objects import CopyHead
from app.image.formats import FORMATS

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/development.md)
if TYPE_CHECKING:
    from typing import Protocol

    # Protocols are for mypy alone: any object with these methods is one, and what
    # asks at run time does so by method name (docs/development.md).
    class CopyReader(Protocol):
        """Reads an existing copy's ETag and metadata (None if there is none; raises if the
        read fails)."""

        def existing(self, bucket: str, key: str) -> CopyHead | None: ...


# Extensions and Content-Types of what `source` keeps; anything else becomes JPEG.
_BY_EXTENSION = {
    "jpg": "jpeg",
    "jpeg": "jpeg",
    "jpe": "jpeg",
    "png": "png",
    "webp": "webp",
    "gif": "gif",
    "avif": "avif",
    "heic": "jpeg",  # HEVC: decoded by pillow-heif (app/image/heic.py), kept as JPEG
    "heif": "jpeg",
}
_BY_CONTENT_TYPE = {fmt.content_type: name for name, fmt in FORMATS.items()} | {
    "image/heic": "jpeg",
    "image/heif": "jpeg",
}


def likely_source_format(key: str, content_type: str) -> str:
    """A guess, before any GET, of what `source` makes of the object: from its key's
    extension, else its Content-Type, else JPEG."""
    _, dot, extension = key.rpartition("/")[2].rpartition(".")
    if dot and extension.lower() in _BY_EXTENSION:
        return _BY_EXTENSION[extension.lower()]
    return _BY_CONTENT_TYPE.get(content_type.split(";")[0].strip().lower(), "jpeg")


def read_copies(store: CopyReader, bucket: str, keys: list[str]) -> dict[str, CopyHead | None]:
    """What each key holds now (None where nothing), read at once: one HEAD per key."""
    with ThreadPoolExecutor(max_workers=max(1, len(keys))) as pool:
        found = list(pool.map(lambda key: store.existing(bucket, key), keys))
    return dict(zip(keys, found, strict=True))


def metadata_of(found: Mapping[str, CopyHead | None]) -> dict[str, dict[str, str] | None]:
    """Each key's metadata (None where nothing is), as the checks of copies read it."""
    return {key: None if copy is None else copy.metadata for key, copy in found.items()}


def current(
    copies: Mapping[str, dict[str, str] | None],
    etag: str,
    source_format: str,
    wanted: tuple[str, ...],
    recipe: str,
) -> bool:
    """True if every copy in `copies` was made from `etag`, with the settings whose tag
    is `recipe` (app/renditions/recipe.py), and is what `wanted` makes now."""
    if not etag or not copies:
        return False

    def fresh(metadata: dict[str, str] | None) -> bool:
        if metadata is None or metadata.get(naming.SOURCE_ETAG) != etag:
            return False
        if metadata.get(naming.RECIPE) != recipe:  # other settings, or made before tags
            return False
        return "source" not in wanted or metadata.get(naming.SOURCE_FORMAT) == source_format

    return all(fresh(metadata) for metadata in copies.values())
