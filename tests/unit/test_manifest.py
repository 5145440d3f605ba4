"""The manifest's parts: ThumbHash (checked by decoding it), the dominant colour, the settings."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import images
import pytest
import pyvips
from helpers import decode_thumbhash

from app.config import settings as config
from app.errors import ConfigError
from app.image import thumbhash
from app.model import ObjectRef, Output
from app.renditions import manifest

ROOT = Path(__file__).resolve().parents[2]


def solid(colour: tuple[int, ...], width: int = 300, height: int = 200) -> pyvips.Image:
    image = pyvips.Image.black(width, height).new_from_image(list(colour)).cast("uchar")
    return image.copy(interpretation="srgb")


@pytest.mark.parametrize(
    ("width", "height"), [(900, 600), (400, 900), (500, 500), (1000, 150), (1234, 800)]
)
def test_the_thumbhash_tells_the_aspect_ratio_and_the_picture(width: int, height: int) -> None:
    image = images.upright(width, height).copy_memory()
    placeholder = manifest.small(image)
    # Box-averaged by a whole factor: at most 100 along the longer side, more than half that.
    assert 50 < max(placeholder.width, placeholder.height) <= 100

    ratio, average, rows = decode_thumbhash(thumbhash.encode(placeholder))

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
    hash_ = thumbhash.encode(half)
    assert hash_[2] & 0x80  # the alpha bit
    assert len(hash_) > 5
    # An alpha band that is opaque everywhere is no alpha: the same hash as without it.
    opaque = solid((10, 200, 10), 60, 40).insert(solid((200, 10, 10), 20, 40), 0, 0)
    assert thumbhash.encode(opaque.bandjoin_const([255])) == thumbhash.encode(opaque)


def test_thumbhash_refuses_what_the_reference_refuses() -> None:
    with pytest.raises(ValueError, match="101x10 does not fit in 100x100"):
        thumbhash.encode(solid((1, 2, 3), 101, 10))
    with pytest.raises(ValueError, match="expected 8-bit RGB or RGBA"):
        thumbhash.encode(solid((1, 2, 3), 10, 10).cast("ushort"))


def test_the_placeholder_of_a_strip_keeps_a_pixel_across() -> None:
    placeholder = manifest.small(solid((1, 2, 3), 3, 5000))
    assert (placeholder.width, placeholder.height) == (1, 100)
    assert decode_thumbhash(thumbhash.encode(placeholder))[0] < 1  # tall


def test_the_placeholder_of_a_transparent_image_takes_no_colour_from_clear_pixels() -> None:
    # Clear pixels of any colour beside opaque grey: averaged by alpha, the edge stays grey.
    clear_red = solid((255, 0, 0), 900, 600).bandjoin_const([0])
    image = clear_red.insert(solid((128, 128, 128), 450, 600).bandjoin_const([255]), 0, 0)
    placeholder = manifest.small(image)
    edge = placeholder.crop(placeholder.width // 2 - 1, 0, 1, placeholder.height)
    assert edge[3].avg() > 0  # a partly covered column ...
    assert [round(edge[b].avg()) for b in range(3)] == [128, 128, 128]  # ... still grey


@pytest.mark.parametrize("colour", [(200, 30, 90), (0, 0, 0), (255, 255, 255), (17, 130, 241)])
def test_the_dominant_colour_of_a_solid_image_is_that_colour(colour: tuple[int, int, int]) -> None:
    assert manifest.dominant_colour(
        manifest.small(solid(colour, 640, 480))
    ) == "#{:02x}{:02x}{:02x}".format(*colour)


def test_the_dominant_colour_is_the_most_common_not_the_average() -> None:
    # 60% blue, 40% red: the average (a purple) appears nowhere in the picture.
    image = solid((20, 40, 200), 100, 100).insert(solid((220, 20, 20), 40, 100), 0, 0)
    assert manifest.dominant_colour(manifest.small(image)) == "#1428c8"
    # 70% red, 30% blue, on a photo's scale (box-averaged to 100 wide first).
    image = solid((20, 40, 200), 4000, 3000).insert(solid((220, 20, 20), 2800, 3000), 0, 0)
    assert manifest.dominant_colour(manifest.small(image)) == "#dc1414"


def test_the_dominant_colour_of_a_gradient_is_its_most_common_bin_averaged() -> None:
    # A sky: 60% of the picture a blue that varies within one bin (blue 224..239), the rest
    # a ramp through every grey (16 bins of 2.5% each). The sky's bin wins, and its colour
    # is its pixels' mean, not the bin's edge or centre.
    x = pyvips.Image.xyz(1000, 800)[0]
    sky = (x * (15 / 999)).cast("uchar") + 224  # 224..239 across
    sky = (sky * 0 + 90).bandjoin([sky * 0 + 150, sky]).cast("uchar")
    ramp = (x * (255 / 999)).cast("uchar")
    ground = ramp.bandjoin([ramp, ramp])
    image = sky.insert(ground.crop(0, 0, 1000, 320), 0, 480).copy(interpretation="srgb")
    colour = manifest.dominant_colour(manifest.small(image))
    assert colour is not None and colour[:5] == "#5a96"  # red 90, green 150
    assert 230 <= int(colour[5:], 16) <= 233  # blue: the mean of 224..239
    # A ramp alone and a 10% patch: the patch wins, as no grey covers 10%.
    patch = ground.insert(solid((250, 120, 0), 100, 800), 900, 0)
    assert manifest.dominant_colour(manifest.small(patch)) == "#fa7800"


def test_transparent_pixels_do_not_count_towards_the_dominant_colour() -> None:
    clear_red = solid((220, 20, 20), 100, 100).bandjoin_const([0])
    image = clear_red.insert(solid((20, 40, 200), 30, 100).bandjoin_const([255]), 0, 0)
    assert manifest.dominant_colour(manifest.small(image)) == "#1428c8"
    assert manifest.dominant_colour(manifest.small(clear_red)) is None
    # Half transparent or less does not count; more than half does.
    faint = solid((220, 20, 20), 100, 100).bandjoin_const([127])
    assert manifest.dominant_colour(faint.insert(image.crop(0, 0, 30, 100), 0, 0)) == "#1428c8"
    held = solid((220, 20, 20), 100, 100).bandjoin_const([128])
    assert manifest.dominant_colour(held.insert(image.crop(0, 0, 30, 100), 0, 0)) == "#dc1414"


def test_the_manifest_document() -> None:
    ref = ObjectRef("photos", "images/a/cat.jpg", version="v1")
    outputs = (
        Output("copy/a/cat-300.jpg", 300, 200, 12_345, "image/jpeg", "Display P3", hdr=True),
        Output("copy/a/cat-300.webp", 300, 200, 9_876, "image/webp", "Display P3"),
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
            "colourSpace": "Display P3",
            "hdr": True,
        },
        {
            "key": "copy/a/cat-300.webp",
            "format": "webp",
            "width": 300,
            "height": 200,
            "bytes": 9_876,
            "contentType": "image/webp",
            "colourSpace": "Display P3",
            "hdr": False,
        },
    ]
    assert document["dominantColor"] == "#c81e5a"
    ratio, _, _ = decode_thumbhash(base64.b64decode(document["thumbhash"]))
    assert ratio == 7 / 5  # 3:2, as close as 7 terms along the width can say


@pytest.mark.parametrize(
    "image",
    [
        solid((200, 30, 90), 900, 600),
        solid((10, 200, 10), 60, 40).bandjoin_const([128]),  # with alpha: a longer hash
        images.upright(1234, 800),
        images.upright(150, 1000),
    ],
    ids=["solid", "alpha", "landscape", "portrait"],
)
def test_the_thumbhash_field_is_base64s_text(image: pyvips.Image) -> None:
    ref, outputs = ObjectRef("photos", "cat.jpg"), (Output("o.jpg", 3, 2, 9, "image/jpeg", "sRGB"),)

    document = json.loads(manifest.build(ref, '"e"', (image.width, image.height), outputs, image))

    made = thumbhash.encode(manifest.small(image))
    assert document["thumbhash"] == base64.b64encode(made).decode()


@cache
def sources() -> dict[str, pyvips.Image]:
    """Decoded sources of each kind the manifest's image work takes its own way: box-averaged
    with alpha (premultiplied) or without, flat, a wide-gamut one made sRGB."""
    x, y = pyvips.Image.xyz(900, 603).bandsplit()
    grain = (x * 7 + y * 13) % 9 - 4  # detail the box average takes away
    photo = images.photo(100, 67, alpha=True).zoom(9, 9)
    photo = (photo[:3] + grain).bandjoin(photo[3]).cast("uchar").copy(interpretation="srgb")
    opaque = images.photo(100, 75).zoom(12, 12)
    wide = opaque.copy()  # the same numbers, in Display P3's colours
    p3 = solid((0, 0, 0), 1, 1).icc_transform("p3", input_profile="srgb")
    wide.set_type(pyvips.GValue.blob_type, "icc-profile-data", p3.get("icc-profile-data"))
    return {
        "photo with alpha": photo,
        "photo": opaque,
        "flat with alpha": solid((10, 200, 10), 900, 900).bandjoin_const([128]),
        "flat": solid((200, 30, 90), 1200, 800),
        "wide gamut": wide,
    }


def manifests() -> dict[str, str]:
    """Each of the sources' manifest, as text."""
    ref = ObjectRef("photos", "images/a/cat.jpg", version="v1")
    outputs = (Output("copy/a/cat-300.jpg", 300, 200, 12_345, "image/jpeg", "sRGB"),)
    return {
        name: manifest.build(ref, '"e"', (image.width, image.height), outputs, image).decode()
        for name, image in sources().items()
    }


@pytest.mark.usefixtures("threads")
def test_a_source_has_the_same_manifest_on_every_run_and_thread_count() -> None:
    made = []
    for run in range(12):
        pyvips.concurrency_set((1, 2, 3, 8)[run % 4])
        made.append(manifests())
    assert all(m == made[0] for m in made)
    assert len(set(made[0].values())) == len(made[0])  # (five different manifests)


def made_here() -> dict[str, str]:
    """What every process must make alike: each source's manifest, and the ThumbHash of a
    photograph's kind of pixels (with and without alpha) and of a gradient."""
    samples = {
        "photo": images.photo(100, 67, alpha=True),
        "opaque photo": images.photo(100, 75),
        "gradient": images.gradient(100, 100),
    }
    return {name: thumbhash.encode(image).hex() for name, image in samples.items()} | manifests()


# A fresh interpreter that prints made_here(), set up as the function sets up libvips.
_FRESH = (
    "import json, sys; sys.path[:0] = ['tests', 'tests/unit']; "
    "from app.image import imaging; imaging.configure_libvips(); "
    "import test_manifest; print(json.dumps(test_manifest.made_here()))"
)


def test_a_source_has_the_same_manifest_in_fresh_processes_at_any_thread_count() -> None:
    made = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", _FRESH],
                cwd=ROOT,
                env={**os.environ, "VIPS_CONCURRENCY": threads},
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            ).stdout
        )
        for threads in ("1", "2", "8")
    ]
    assert made == [made_here()] * 3


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
            "invalid MANIFEST_KEY_TEMPLATE '{prefix}{stem}-{width}.json': {width} is not "
            "allowed here: a source has one manifest, for all its sizes",
        ),
        (
            {"MANIFEST_KEY_TEMPLATE": "{prefix}../{stem}.json"},
            "invalid MANIFEST_KEY_TEMPLATE '{prefix}../{stem}.json': the keys it makes must stay "
            "under OUTPUT_PREFIX, and it has a '.' or '..' path segment (a file system, a CDN "
            "or a browser resolves it)",
        ),
        (
            {"MANIFEST_KEY_TEMPLATE": "manifests/{stem}.json"},
            "invalid MANIFEST_KEY_TEMPLATE 'manifests/{stem}.json': it does not start with "
            "{prefix}, which keeps every key under OUTPUT_PREFIX",
        ),
        (
            {"MANIFEST_KEY_TEMPLATE": "{prefix}{dir}index.json"},
            "invalid MANIFEST_KEY_TEMPLATE '{prefix}{dir}index.json': it lacks {stem}: without "
            "it, every source would write the same manifest",
        ),
        (
            {"MANIFEST_KEY_TEMPLATE": "{prefix}{stem}.{name}"},
            "invalid MANIFEST_KEY_TEMPLATE '{prefix}{stem}.{name}': unknown placeholder {name}; "
            "expected only {prefix}, {dir}, {stem}, {ext}, {source_ext}, {bucket}",
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
