"""The gallery's HTML for one manifest: a `<picture>` per source, formats as `<source>`s
with the most widely decoded one in the `<img srcset>`, every name escaped."""

from __future__ import annotations

from typing import Any

from devtools import gallery


def _manifest(key: str, formats: list[tuple[str, str]], **extra: Any) -> dict[str, Any]:
    stem = key.rsplit(".", 1)[0].replace("images/", "copy/")
    return {
        "source": {"bucket": "b", "key": key, "etag": "e", "width": 1200, "height": 800},
        "renditions": [
            {
                "key": f"{stem}-{w}.{ext}",
                "format": name,
                "width": w,
                "height": w * 2 // 3,
                "bytes": 1000 + w,
                "contentType": f"image/{name}",
            }
            for name, ext in formats
            for w in (300, 600)
        ],
        "thumbhash": "VAgKHYK9moifhoaFmHZ2mHJAAydU",
        "dominantColor": "#090700",
        "bucket": "b",
        "manifestKey": f"{stem}.json",
        **extra,
    }


def test_each_format_is_a_source_and_jpeg_is_the_img_fallback() -> None:
    page = gallery.section(_manifest("images/a.jpg", [("avif", "avif"), ("jpeg", "jpg")]))

    assert (
        '<source type="image/avif" srcset="/s3/b/copy/a-300.avif 300w, '
        f'/s3/b/copy/a-600.avif 600w" sizes="{gallery.SIZES}">'
    ) in page
    assert (
        '<img class="copy" srcset="/s3/b/copy/a-300.jpg 300w, /s3/b/copy/a-600.jpg 600w" '
        f'sizes="{gallery.SIZES}" src="/s3/b/copy/a-300.jpg" width="600" height="400"'
    ) in page
    assert "<td>avif</td><td>600&times;400</td><td>1,600</td><td>image/avif</td>" in page
    assert 'data-thumbhash="VAgKHYK9moifhoaFmHZ2mHJAAydU"' in page
    assert "aspect-ratio: 1200 / 800; background: #090700" in page


def test_names_are_escaped_and_the_profile_is_shown_when_the_manifest_has_one() -> None:
    page = gallery.section(_manifest('images/<b>"x".png', [("png", "png")], profile="avatars"))

    assert "<b>" not in page and '"x"' not in page
    assert "<h2>images/&lt;b&gt;&quot;x&quot;.png</h2>" in page
    assert "/s3/b/copy/%3Cb%3E%22x%22-300.png 300w" in page  # keys are URL-quoted
    assert "profile avatars" in page


def test_a_manifest_without_copies_or_placeholder_still_shows_its_source() -> None:
    manifest = _manifest("images/none.jpg", [])
    manifest.update(thumbhash=None, dominantColor=None)

    page = gallery.section(manifest)

    assert "<picture>" not in page
    assert 'data-thumbhash=""' in page and "background: transparent" in page
