"""Pure naming: a source key and a rendition become an output key; the recursion guard.

Template placeholders (OUTPUT_KEY_TEMPLATE):

    {prefix}  OUTPUT_PREFIX                                  copy/
    {dir}     the source key's folders below SOURCE_PREFIX   2024/   (empty at top level)
    {stem}    the file name without its last extension       cat
    {width}   the size as written in RESIZE_WIDTHS           300, or 128x128 for a box
    {ext}     the output format's extension                  jpg, png, webp, avif, gif
"""

from __future__ import annotations

import hashlib
from urllib.parse import quote

PLACEHOLDERS = ("prefix", "dir", "stem", "width", "ext")

# User metadata written on every rendition. Its presence is also the marker that
# the recursion guard looks for, so a copy is never resized again.
MARKER = "rendition-of"
SOURCE_ETAG = "source-etag"

MAX_KEY_BYTES = 1024  # S3's limit on a key, in UTF-8 bytes


def output_key(
    template: str, *, source_key: str, source_prefix: str, output_prefix: str, width: str, ext: str
) -> str:
    """The key for one rendition of `source_key` (which must be under `source_prefix`)."""
    relative = source_key.removeprefix(source_prefix)
    folder, _, filename = relative.rpartition("/")
    stem, dot, _ = filename.rpartition(".")
    if not dot or not stem:  # "README" or ".jpg": keep the whole name
        stem = filename
    fields = {
        "prefix": output_prefix,
        "dir": f"{folder}/" if folder else "",
        "stem": stem,
        "width": width,
        "ext": ext,
    }
    key = template.format(**fields)
    if len(key.encode()) > MAX_KEY_BYTES:
        # Too long once the prefix and suffix are added: a stable digest stands in
        # for the folders and the name, so the key stays valid and deterministic.
        digest = hashlib.sha256(source_key.encode()).hexdigest()[:32]
        key = template.format(**{**fields, "dir": "", "stem": f"~{digest}"})
    return key


def skip_reason(key: str, *, source_prefix: str, output_prefix: str | None) -> str | None:
    """Why `key` must not be processed, or None. `output_prefix` is None for another bucket."""
    if output_prefix is not None and key.startswith(output_prefix):
        return f"key is under the output prefix {output_prefix!r} (recursion guard)"
    if not key.startswith(source_prefix):
        return f"key is not under the source prefix {source_prefix!r}"
    return None


def rendition_metadata(source_key: str, source_etag: str) -> dict[str, str]:
    """User metadata for a rendition; S3 metadata must be ASCII, so the key is %-encoded."""
    return {MARKER: quote(source_key, safe="/"), SOURCE_ETAG: source_etag.strip('"')}
