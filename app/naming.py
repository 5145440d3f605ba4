"""Pure naming: a source key and a rendition become an output key; the recursion guard.

Template placeholders (OUTPUT_KEY_TEMPLATE):

    {prefix}  OUTPUT_PREFIX                                  copy/
    {dir}     the source key's folders below SOURCE_PREFIX   2024/   (empty at top level)
    {stem}    the file name without its last extension       cat
    {width}   the size as written in RESIZE_WIDTHS           300, or 128x128 for a box
    {ext}     the output format's extension                  jpg, png, webp, avif, gif
    {source_ext}  the source file's own extension, as written    jpg, PNG (empty without one)
    {bucket}  the source's bucket                            photos

The default template leaves out {source_ext} and {bucket} to keep keys short and as
they always were; two sources that would share a key are refused (app/renditions/identity.py),
and these two placeholders are how a template tells such sources apart.
"""

from __future__ import annotations

from string import Formatter
from urllib.parse import quote

from app.digest import sha256

PLACEHOLDERS = ("prefix", "dir", "stem", "width", "ext", "source_ext", "bucket")

# User metadata written on every rendition. Its presence is also the marker that
# the recursion guard looks for, so a copy is never resized again.
MARKER = "rendition-of"
# The source's bucket, beside its key in MARKER: with a shared OUTPUT_BUCKET, two
# buckets' `images/x.jpg` are two sources (app/renditions/identity.py; deletes read it too).
SOURCE_BUCKET = "source-bucket"
SOURCE_ETAG = "source-etag"
SOURCE_VERSION = "source-version"
# What `source` in OUTPUT_FORMATS makes of the source (jpeg, png, ...): lets the up-to-date
# check, which guesses the format before reading the source, trust only copies
# that the current configuration would also have made.
SOURCE_FORMAT = "source-format"
# S3's sequencer of the event the copy was made for (hex): a later event for the same
# key with a smaller one is stale and never overwrites or deletes the copy
# (app/renditions/order.py).
SOURCE_SEQUENCER = "source-sequencer"
# The settings the copy was made with, as a tag (app/renditions/recipe.py): a copy made with
# other settings is made again.
RECIPE = "recipe"
MAX_SEQUENCER_VALUE = 64  # S3's are about 16 to 20 hex digits

MAX_KEY_BYTES = 1024  # S3's limit on a key, in UTF-8 bytes
# S3 refuses a PUT whose user metadata (keys and values, UTF-8 bytes) passes 2 KB.
# Counted here with each key's `x-amz-meta-` header prefix: stricter than either reading.
MAX_METADATA_BYTES = 2048
METADATA_HEADER = "x-amz-meta-"
# A %-encoded source key up to this size is stored as is (a 1024-byte key of
# 3-byte characters is 3,072 bytes encoded); a longer one by its digest.
MAX_SOURCE_VALUE = 1024
MAX_VERSION_VALUE = 128


def output_key(
    template: str,
    *,
    source_key: str,
    source_prefix: str,
    output_prefix: str,
    width: str,
    ext: str,
    source_bucket: str = "",
) -> str:
    """The key for one rendition of `source_key` (which must be under `source_prefix`)."""
    fields = {
        **source_fields(source_key, source_prefix, output_prefix, source_bucket),
        "width": width,
        "ext": ext,
    }
    key = render(template, fields)
    if len(key.encode()) > MAX_KEY_BYTES or escape_reason(key, output_prefix):
        # Too long once the prefix and suffix are added, or a '.'/'..' folder or name
        # in the source key: a stable digest stands in for the folders and the name,
        # so the key stays valid, deterministic and under the output prefix.
        key = render(template, {**fields, **digest_fields(source_key)})
    return key


def source_fields(
    source_key: str, source_prefix: str, output_prefix: str, source_bucket: str = ""
) -> dict[str, str]:
    """The placeholders that come from the source: {prefix}, {dir}, {stem}, {source_ext}
    and {bucket}."""
    relative = source_key.removeprefix(source_prefix)
    folder, _, filename = relative.rpartition("/")
    stem, dot, extension = filename.rpartition(".")
    if not dot or not stem:  # "README" or ".jpg": keep the whole name
        stem, extension = filename, ""
    return {
        "prefix": output_prefix,
        "dir": f"{folder}/" if folder else "",
        "stem": stem,
        "source_ext": extension,
        "bucket": source_bucket,
    }


def digest_fields(source_key: str) -> dict[str, str]:
    """What stands in for {dir}, {stem} and {source_ext} when the key made of them would
    not do (the digest is of the whole key, extension included)."""
    digest = "~" + sha256(source_key.encode()).hexdigest()[:32]
    return {"dir": "", "stem": digest, "source_ext": ""}


def manifest_key(
    template: str, source_key: str, source_prefix: str, output_prefix: str, source_bucket: str = ""
) -> str:
    """The key of the manifest of `source_key` (MANIFEST_KEY_TEMPLATE; {ext} is `json`)."""
    return output_key(
        template,
        source_key=source_key,
        source_prefix=source_prefix,
        output_prefix=output_prefix,
        width="",
        ext="json",
        source_bucket=source_bucket,
    )


def render(template: str, fields: dict[str, str]) -> str:
    """`template` with its placeholders filled; ValueError for anything but a plain one.

    Unlike `str.format`, no attribute or index access (`{stem.__class__}`,
    `{stem[0]}`), conversion (`{stem!r}`) or format spec (`{width:>9}`) is run.
    """
    parts = []
    for literal, field, spec, conversion in Formatter().parse(template):
        parts.append(literal)
        if field is None:
            continue
        if field not in PLACEHOLDERS or spec or conversion:
            raise ValueError(f"{{{field}}} is not a plain placeholder")
        parts.append(fields[field])
    return "".join(parts)


def escape_reason(key: str, output_prefix: str) -> str | None:
    """Why `key` is not safely under `output_prefix`, or None.

    A '.' or '..' path segment is refused too: a file system (`python -m app resize`),
    a CDN or a browser resolves it, and the copy lands outside the prefix.
    """
    if not key.startswith(output_prefix):
        return f"it does not start with OUTPUT_PREFIX {output_prefix!r}"
    if any(part in (".", "..") for part in key.removeprefix(output_prefix).split("/")):
        return "it has a '.' or '..' path segment"
    return None


def skip_reason(key: str, *, source_prefix: str, output_prefix: str | None) -> str | None:
    """Why `key` must not be processed, or None. `output_prefix` is None for another bucket."""
    if output_prefix is not None and key.startswith(output_prefix):
        return f"key is under the output prefix {output_prefix!r} (recursion guard)"
    if not key.startswith(source_prefix):
        return f"key is not under the source prefix {source_prefix!r}"
    if key.endswith("/"):
        return "key ends in '/': a folder marker (as the S3 console creates), not an image"
    return None


def skip_reason_any(key: str, *, source_prefix: str, output_prefixes: list[str]) -> str | None:
    """`skip_reason` with several output prefixes (every profile's, app/config/profiles.py)."""
    for prefix in output_prefixes:
        if key.startswith(prefix):
            return skip_reason(key, source_prefix=source_prefix, output_prefix=prefix)
    return skip_reason(key, source_prefix=source_prefix, output_prefix=None)


def rendition_metadata(
    source_key: str,
    source_etag: str,
    source_format: str,
    source_version: str | None = None,
    source_sequencer: str | None = None,
    recipe: str | None = None,
    source_bucket: str | None = None,
) -> dict[str, str]:
    """User metadata for a rendition: ASCII (the key %-encoded), within S3's 2 KB.

    A key whose %-encoded form passes MAX_SOURCE_VALUE is recorded as `sha256:` and
    the hex digest of its UTF-8 bytes (':' never occurs in a %-encoded key), so the
    marker is always present and still identifies the source.
    """
    metadata = {
        MARKER: source_marker(source_key),
        SOURCE_ETAG: source_etag.strip('"'),
        SOURCE_FORMAT: source_format,
    }
    if source_version is not None:  # S3's are 32 characters; its limit is 1024 bytes
        metadata[SOURCE_VERSION] = _bounded(source_version, MAX_VERSION_VALUE)
    # A sequencer is compared, never hashed: one too long to keep is not recorded.
    if source_sequencer is not None and len(source_sequencer) <= MAX_SEQUENCER_VALUE:
        metadata[SOURCE_SEQUENCER] = source_sequencer
    if recipe is not None:  # 12 hex digits
        metadata[RECIPE] = recipe
    if source_bucket is not None:  # S3's bucket names: at most 63 ASCII characters
        metadata[SOURCE_BUCKET] = source_bucket
    return metadata


def source_marker(source_key: str) -> str:
    """The value of MARKER on every copy of `source_key`: how its copies are told apart."""
    source = quote(source_key, safe="/")
    if len(source) > MAX_SOURCE_VALUE:
        source = "sha256:" + sha256(source_key.encode()).hexdigest()
    return source


def _bounded(value: str, limit: int) -> str:
    if len(value) <= limit and value.isascii():
        return value
    return "sha256:" + sha256(value.encode()).hexdigest()


def metadata_bytes(metadata: dict[str, str]) -> int:
    """The size S3 holds against MAX_METADATA_BYTES (with the header prefix, to be safe)."""
    return sum(len((METADATA_HEADER + k).encode()) + len(v.encode()) for k, v in metadata.items())
