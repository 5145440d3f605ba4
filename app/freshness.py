"""Is every copy already made from this version of the source? Answered from HEADs alone.

The output keys carry the output format's extension, which for OUTPUT_FORMAT=source
only the image header tells. Before any GET the format is guessed from the key's
extension (else the Content-Type); a copy is trusted only if it records the source's
ETag and, for `source`, the format that rule gave the source when the copy was made.
So a wrong guess costs a GET, never a wrong skip.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from app import naming
from app.imaging import FORMATS

# Extensions and Content-Types of what OUTPUT_FORMAT=source keeps; anything else becomes JPEG.
_BY_EXTENSION = {
    "jpg": "jpeg",
    "jpeg": "jpeg",
    "jpe": "jpeg",
    "png": "png",
    "webp": "webp",
    "gif": "gif",
    "avif": "avif",
    "heic": "jpeg",  # HEVC: decoded by pillow-heif (app/heic.py), kept as JPEG
    "heif": "jpeg",
}
_BY_CONTENT_TYPE = {fmt.content_type: name for name, fmt in FORMATS.items()} | {
    "image/heic": "jpeg",
    "image/heif": "jpeg",
}


class CopyReader(Protocol):
    """Reads the user metadata of an existing copy (None if it is absent or unreadable)."""

    def copy_metadata(self, bucket: str, key: str) -> dict[str, str] | None: ...


def likely_format(key: str, content_type: str, wanted: str) -> str:
    """The output format, exact unless OUTPUT_FORMAT is `source` (then a guess)."""
    if wanted != "source":
        return wanted
    _, dot, extension = key.rpartition("/")[2].rpartition(".")
    if dot and extension.lower() in _BY_EXTENSION:
        return _BY_EXTENSION[extension.lower()]
    return _BY_CONTENT_TYPE.get(content_type.split(";")[0].strip().lower(), "jpeg")


def up_to_date(
    store: CopyReader, bucket: str, keys: list[str], etag: str, fmt: str, wanted: str
) -> bool:
    """True if every copy exists, was made from `etag`, and is what `wanted` makes now."""
    if not etag:
        return False

    def current(key: str) -> bool:
        metadata = store.copy_metadata(bucket, key)
        if metadata is None or metadata.get(naming.SOURCE_ETAG) != etag:
            return False
        return wanted != "source" or metadata.get(naming.SOURCE_FORMAT) == fmt

    with ThreadPoolExecutor(max_workers=len(keys)) as pool:
        return all(pool.map(current, keys))
