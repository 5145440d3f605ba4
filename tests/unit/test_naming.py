"""Output keys and the recursion guard."""

from __future__ import annotations

from urllib.parse import quote_plus, unquote_plus

import pytest
from hypothesis import given
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


def test_metadata_is_ascii_and_names_the_source() -> None:
    metadata = naming.rendition_metadata("images/my photoé.jpg", '"abc123"')

    assert metadata == {"rendition-of": "images/my%20photo%C3%A9.jpg", "source-etag": "abc123"}
    assert all(v.isascii() for v in metadata.values())


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
