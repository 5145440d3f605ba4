"""The manifest's parts: ThumbHash (checked by decoding it), the dominant colour, the settings."""

from __future__ import annotations

import base64
import json

import images
import pytest
import pyvips
from helpers import decode_thumbhash

from app import config, manifest, thumbhash
from app.errors import ConfigError
from app.model import ObjectRef, Output


def solid(colour: tuple[int, ...], width: int = 300, height: int = 200) -> pyvips.Image:
    image = pyvips.Image.black(width, height).new_from_image(list(colour)).cast("uchar")
    return image.copy(interpretation="srgb")


@pytest.mark.parametrize(("width", "height"), [(900, 600), (400, 900), (500, 500), (1000, 150)])
def test_the_thumbhash_tells_the_aspect_ratio_and_the_picture(width: int, height: int) -> None:
    image = images.upright(width, height).copy_memory()
    w, h, rgba = manifest.small_rgba(image)
    assert max(w, h) == 100

    ratio, average, rows = decode_thumbhash(thumbhash.encode(w, h, rgba))

    # The hash has 7 luminance terms along the long side, and along the short side as many
    # as the ratio gives, rounded: the ratio it tells is within half a term of the truth.
    told, true = max(ratio, 1 / ratio), max(width / height, height / width)
    assert abs(7 / told - 7 / true) <= 0.5 + 0.05  # (and the 100-pixel downscale's rounding)
    assert (ratio > 1) == (width > height)
    mean = [v / 255 for v in images.mean_colour(image)]
    assert average == pytest.approx(tuple(mean), abs=0.04)
    # The red block is darker than the grey: the placeholder's top-left is its darkest part.
    corners = [rows[1][1], rows[1][-2], rows[-2][1], rows[-2][-2]]
    assert corners[0] == min(corners)


def test_a_thumbhash_of_transparent_pixels_has_alpha() -> None:
    clear = solid((10, 200, 10), 60, 40).bandjoin_const([0])
    half = clear.insert(solid((10, 200, 10), 30, 40).bandjoin_const([255]), 0, 0)
    hash_ = thumbhash.encode(60, 40, bytes(half.write_to_memory()))
    assert hash_[2] & 0x80  # the alpha bit
    assert len(hash_) > 5


def test_thumbhash_refuses_what_the_reference_refuses() -> None:
    with pytest.raises(ValueError, match="101x10 does not fit in 100x100"):
        thumbhash.encode(101, 10, bytes(101 * 10 * 4))


@pytest.mark.parametrize("colour", [(200, 30, 90), (0, 0, 0), (255, 255, 255), (17, 130, 241)])
def test_the_dominant_colour_of_a_solid_image_is_that_colour(colour: tuple[int, int, int]) -> None:
    _, _, rgba = manifest.small_rgba(solid(colour, 640, 480))
    assert manifest.dominant_colour(rgba) == "#{:02x}{:02x}{:02x}".format(*colour)


def test_the_dominant_colour_is_the_most_common_not_the_average() -> None:
    # 60% blue, 40% red: the average (a purple) appears nowhere in the picture.
    image = solid((20, 40, 200), 100, 100).insert(solid((220, 20, 20), 40, 100), 0, 0)
    _, _, rgba = manifest.small_rgba(image)
    assert manifest.dominant_colour(rgba) == "#1428c8"


def test_transparent_pixels_do_not_count_towards_the_dominant_colour() -> None:
    clear_red = solid((220, 20, 20), 100, 100).bandjoin_const([0])
    image = clear_red.insert(solid((20, 40, 200), 30, 100).bandjoin_const([255]), 0, 0)
    _, _, rgba = manifest.small_rgba(image)
    assert manifest.dominant_colour(rgba) == "#1428c8"
    _, _, rgba = manifest.small_rgba(clear_red)
    assert manifest.dominant_colour(rgba) is None


def test_the_manifest_document() -> None:
    ref = ObjectRef("photos", "images/a/cat.jpg", version="v1")
    outputs = (
        Output("copy/a/cat-300.jpg", 300, 200, 12_345, "image/jpeg"),
        Output("copy/a/cat-300.webp", 300, 200, 9_876, "image/webp"),
    )
    document = json.loads(
        manifest.build(ref, '"abc"', (1200, 800), outputs, solid((200, 30, 90), 900, 600))
    )
    assert document["source"] == {
        "bucket": "photos",
        "key": "images/a/cat.jpg",
        "etag": "abc",
        "versionId": "v1",
        "width": 1200,
        "height": 800,
    }
    assert document["renditions"] == [
        {
            "key": "copy/a/cat-300.jpg",
            "format": "jpeg",
            "width": 300,
            "height": 200,
            "bytes": 12_345,
            "contentType": "image/jpeg",
        },
        {
            "key": "copy/a/cat-300.webp",
            "format": "webp",
            "width": 300,
            "height": 200,
            "bytes": 9_876,
            "contentType": "image/webp",
        },
    ]
    assert document["dominantColor"] == "#c81e5a"
    ratio, _, _ = decode_thumbhash(base64.b64decode(document["thumbhash"]))
    assert ratio == 7 / 5  # 3:2, as close as 7 terms along the width can say


def test_manifest_settings() -> None:
    assert config.load({}).manifest_template == "{prefix}{dir}{stem}.json"
    assert config.load({"MANIFEST": "off"}).manifest_template is None
    custom = config.load({"MANIFEST_KEY_TEMPLATE": "{prefix}manifests/{dir}{stem}.{ext}"})
    assert custom.manifest_template == "{prefix}manifests/{dir}{stem}.{ext}"


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"MANIFEST": "maybe"}, "invalid MANIFEST 'maybe': expected on or off"),
        (
            {"MANIFEST_KEY_TEMPLATE": "{prefix}{stem}-{width}.json"},
            "invalid MANIFEST_KEY_TEMPLATE '{prefix}{stem}-{width}.json': expected a key "
            "template using only {prefix}, {dir}, {stem} and {ext} (json) as plain "
            "placeholders, starting with {prefix} and containing {stem}, with no '.' or '..' "
            "path segment (one manifest per source: no {width})",
        ),
        (
            {"MANIFEST_KEY_TEMPLATE": "{prefix}../{stem}.json"},
            "invalid MANIFEST_KEY_TEMPLATE '{prefix}../{stem}.json': expected a key template",
        ),
        (
            {"MANIFEST_KEY_TEMPLATE": "manifests/{stem}.json"},
            "invalid MANIFEST_KEY_TEMPLATE 'manifests/{stem}.json': expected a key template",
        ),
        (
            {
                "RESIZE_WIDTHS": "300",
                "OUTPUT_KEY_TEMPLATE": "{prefix}{dir}{stem}.{ext}",
                "MANIFEST_KEY_TEMPLATE": "{prefix}{dir}{stem}.webp",
            },
            "invalid MANIFEST_KEY_TEMPLATE '{prefix}{dir}{stem}.webp': it names the manifest "
            "'copy/a/b.webp' as OUTPUT_KEY_TEMPLATE names a copy",
        ),
        (
            {"MANIFEST_KEY_TEMPLATE": "{prefix}{dir}{stem}-300.jpg"},
            "invalid MANIFEST_KEY_TEMPLATE '{prefix}{dir}{stem}-300.jpg': it names the "
            "manifest 'copy/a/b-300.jpg' as OUTPUT_KEY_TEMPLATE names a copy; expected a key "
            "of its own (e.g. the default {prefix}{dir}{stem}.json)",
        ),
    ],
)
def test_manifest_settings_refused(env: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        config.load(env)
    assert any(p.startswith(problem) for p in raised.value.problems), raised.value.problems
