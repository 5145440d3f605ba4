"""Output keys and the recursion guard."""

from __future__ import annotations

import hashlib
from urllib.parse import quote_plus, unquote, unquote_plus

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from app import naming

TEMPLATE = "{prefix}{dir}{stem}-{width}.{ext}"


def key_for(source_key: str, width: str = "300", ext: str = "jpg", template: str = TEMPLATE) -> str:
    return naming.output_key(
        template,
        source_key=source_key,
        source_prefix="images/",
        output_prefix="copy/",
        width=width,
        ext=ext,
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("images/2024/cat.jpg", "copy/2024/cat-300.jpg"),
        ("images/cat.jpg", "copy/cat-300.jpg"),
        ("images/a/b/c.tar.png", "copy/a/b/c.tar-300.jpg"),
        ("images/README", "copy/README-300.jpg"),
        ("images/.jpg", "copy/.jpg-300.jpg"),
        ("images/my photoé.jpg", "copy/my photoé-300.jpg"),
    ],
)
def test_output_keys(source: str, expected: str) -> None:
    assert key_for(source) == expected


def test_template_placeholders() -> None:
    key = key_for(
        "images/2024/cat.png",
        width="128x128",
        ext="webp",
        template="{prefix}{width}/{dir}{stem}.{ext}",
    )

    assert key == "copy/128x128/2024/cat.webp"


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("copy/2024/cat-300.jpg", "key is under the output prefix 'copy/' (recursion guard)"),
        ("other/cat.jpg", "key is not under the source prefix 'images/'"),
        ("images/cat.jpg", None),
    ],
)
def test_skip_reason(key: str, reason: str | None) -> None:
    assert naming.skip_reason(key, source_prefix="images/", output_prefix="copy/") == reason


@pytest.mark.parametrize("key", ["images/", "images/sub/", "images/a b/é/"])
def test_folder_markers_are_skipped(key: str) -> None:
    assert naming.skip_reason(key, source_prefix="images/", output_prefix="copy/") == (
        "key ends in '/': a folder marker (as the S3 console creates), not an image"
    )


def test_metadata_is_ascii_and_names_the_source() -> None:
    metadata = naming.rendition_metadata("images/my photoé.jpg", '"abc123"', "jpeg")

    assert metadata == {
        "rendition-of": "images/my%20photo%C3%A9.jpg",
        "source-etag": "abc123",
        "source-format": "jpeg",
    }
    assert all(v.isascii() for v in metadata.values())


# What S3 refuses: more than 2 KB of user metadata, counted as the UTF-8 bytes of
# each key and value (here with the `x-amz-meta-` header prefix too, to be safe).
def s3_metadata_bytes(metadata: dict[str, str]) -> int:
    return sum(len(f"x-amz-meta-{k}".encode()) + len(v.encode()) for k, v in metadata.items())


# A realistic multipart ETag and an S3 version id (32 characters).
ETAG = '"d41d8cd98f00b204e9800998ecf8427e-10000"'
VERSION = "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo"


def test_a_1000_byte_non_ascii_key_keeps_its_copies_metadata_within_2_kb() -> None:
    key = "images/" + "é" * 496 + ".jpg"  # 1,003 bytes; 3,006 once %-encoded
    assert len(key.encode()) <= 1024

    metadata = naming.rendition_metadata(key, ETAG, "jpeg", VERSION)

    assert s3_metadata_bytes(metadata) <= 2048
    assert metadata["rendition-of"] == (
        "sha256:" + hashlib.sha256(key.encode()).hexdigest()  # still names the source
    )


@given(
    st.text(
        st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=1024
    ).filter(lambda name: len(("images/" + name).encode()) <= 1024),
    st.sampled_from([None, VERSION, "null", "v" * 1024]),
)
@example("é" * 506 + ".jpg", VERSION)  # 1,023 bytes, 3,069 once %-encoded
@example("😀" * 254, "v" * 1024)  # 4-byte characters, the longest version S3 allows
@example("a" * 1017, None)  # ASCII at S3's limit: stored as is
def test_every_key_s3_allows_gives_copies_metadata_s3_accepts(
    name: str, version: str | None
) -> None:
    source_key = "images/" + name
    # The longest sequencer that is kept (S3's are about 20 hex digits).
    sequencer = "F" * naming.MAX_SEQUENCER_VALUE
    metadata = naming.rendition_metadata(source_key, ETAG, "avif", version, sequencer)
    assert metadata[naming.SOURCE_SEQUENCER] == sequencer

    assert s3_metadata_bytes(metadata) <= 2048
    assert naming.metadata_bytes(metadata) == s3_metadata_bytes(metadata)
    assert all(k.isascii() and v.isascii() for k, v in metadata.items())
    assert naming.MARKER in metadata  # the recursion guard's mark is always there
    source = metadata[naming.MARKER]
    # It identifies the source: the key itself, or the digest of the key.
    assert unquote(source) == source_key or source == (
        "sha256:" + hashlib.sha256(source_key.encode()).hexdigest()
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("images/../cat.jpg", "copy/~"),
        ("images/a/./cat.jpg", "copy/~"),
        ("images/a/../../cat.jpg", "copy/~"),
        ("images/..b/cat.jpg", "copy/..b/cat-300.jpg"),
    ],
)
def test_dot_segments_of_a_source_key_never_lead_out_of_the_prefix(
    source: str, expected: str
) -> None:
    key = key_for(source)

    assert key.startswith(expected)
    assert naming.escape_reason(key, "copy/") is None


@pytest.mark.parametrize(
    "template",
    [
        "{prefix}{stem.__class__.__name__}-{width}.{ext}",
        "{prefix}{stem[0]}-{width}.{ext}",
        "{prefix}{stem!r}-{width}.{ext}",
        "{prefix}{stem}-{width:>9}.{ext}",
        "{prefix}{0}{stem}-{width}.{ext}",
    ],
)
def test_templates_run_plain_placeholders_only(template: str) -> None:
    with pytest.raises(ValueError, match="is not a plain placeholder"):
        key_for("images/cat.jpg", template=template)


@given(st.text(min_size=1, max_size=1100))
def test_any_key_maps_under_the_output_prefix_within_s3_limits(name: str) -> None:
    source_key = ("images/" + name)[:1024]
    key = key_for(source_key, width="900", ext="avif")

    assert key.startswith("copy/") and not key.startswith("images/")
    assert len(key.encode()) <= naming.MAX_KEY_BYTES or len(source_key.encode()) > 1024
    assert key.endswith("-900.avif")
    # The recursion guard recognises every output key.
    assert naming.skip_reason(key, source_prefix="images/", output_prefix="copy/")
    # A key survives the URL-encoding of an event.
    assert unquote_plus(quote_plus(source_key)) == source_key


@given(st.text(min_size=1, max_size=300))
def test_output_keys_are_deterministic_and_distinct_per_width(name: str) -> None:
    source_key = "images/" + name
    assert key_for(source_key, "300") == key_for(source_key, "300")
    assert key_for(source_key, "300") != key_for(source_key, "600")


def test_the_recipe_tag_follows_every_setting_that_changes_the_pixels_and_nothing_else():
    from app.config import settings as config
    from app.renditions import recipe

    base = recipe.tag(config.load({}))
    assert base == recipe.tag(config.load({})) and len(base) == 12
    for name, value in (
        ("QUALITY", "81"),
        ("AVIF_QUALITY", "50"),
        ("CROP", "centre"),
        ("ANIMATION", "keep"),
        # The largest size sets the decode's scale, so every copy's pixels (issue 22).
        ("RESIZE_WIDTHS", "300,600,1200"),
        ("RESIZE_WIDTHS", "300,600"),
        ("OUTPUT_FORMATS", "source,webp"),  # the manifest lists every copy
    ):
        assert recipe.tag(config.load({name: value})) != base, name
    # Where copies go is in their keys; the tag does not repeat it. The order the sizes
    # are listed in changes no copy.
    unchanged = {"RESIZE_WIDTHS": "900,600,300", "MANIFEST": "off", "OUTPUT_PREFIX": "out/"}
    assert recipe.tag(config.load(unchanged)) == base
