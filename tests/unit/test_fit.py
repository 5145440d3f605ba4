"""Cover boxes: the exact box, cut where CROP says, from an upright image, never upscaled."""

from __future__ import annotations

import images
import pytest
from helpers import decode, render

from app.image.fit import SizeSpec


def cover(width: int, height: int) -> SizeSpec:
    return SizeSpec(width, height, cover=True)


@pytest.mark.parametrize(
    ("source", "spec", "size"),
    [
        ((1600, 1200), cover(300, 300), (300, 300)),
        ((1600, 1200), cover(200, 400), (200, 400)),
        ((1600, 1200), cover(400, 100), (400, 100)),
        ((1200, 1600), cover(300, 300), (300, 300)),
        ((6028, 3391), cover(128, 128), (128, 128)),
        # A box the source cannot fill: the box's aspect ratio at the source's size.
        ((500, 250), cover(600, 600), (250, 250)),
        ((1000, 200), cover(300, 300), (200, 200)),
        ((400, 300), cover(900, 300), (400, 133)),
        ((300, 400), cover(300, 400), (300, 400)),
    ],
)
def test_a_cover_box_is_filled_exactly_and_never_upscaled(
    source: tuple[int, int], spec: SizeSpec, size: tuple[int, int]
) -> None:
    for fmt in ("jpeg", "png"):
        data = images.jpeg(*source) if fmt == "jpeg" else images.png(*source)
        rendition = render(data, (spec,))[0]

        decoded = images.load(rendition.data)
        assert (rendition.width, rendition.height) == size
        assert (decoded.width, decoded.height) == size


def test_the_decode_keeps_enough_pixels_to_cover_the_box() -> None:
    # Fitting inside 300x300 needs 300x225; covering it needs 400x300.
    assert decode(images.jpeg(1600, 1200), (SizeSpec(300, 300),)).width == 300
    decoded = decode(images.jpeg(1600, 1200), (cover(300, 300),))

    assert (decoded.width, decoded.height) == (400, 300)


def test_fit_inside_and_cover_of_one_box_differ() -> None:
    specs = (SizeSpec(300, 300), cover(300, 300))

    renditions = render(images.jpeg(1600, 1200), specs)

    assert [(r.width, r.height) for r in renditions] == [(300, 225), (300, 300)]
    assert [r.spec.label for r in renditions] == ["300x300", "300x300-cover"]


def picture_with_subject_off_centre() -> bytes:
    return bytes(images.salient().jpegsave_buffer(Q=95))


def reds(image) -> int:
    """How many pixels of `image` are the subject's red."""
    red = (image[0] > 150) & (image[1] < 90) & (image[2] < 90)
    return int(red.avg() / 255 * image.width * image.height)


def test_attention_crop_keeps_the_salient_subject_in_frame() -> None:
    # 1200x600 -> 600x300, cut to 300x300: the subject sits at x 475-535 of 600.
    data = picture_with_subject_off_centre()

    kept = images.load(render(data, (cover(300, 300),))[0].data)
    centred = images.load(render(data, (cover(300, 300),), crop="centre")[0].data)

    assert (kept.width, kept.height) == (300, 300)
    assert reds(kept) > 800  # the whole subject: ~1,800 red pixels of 3,600
    assert reds(centred) == 0


def test_centre_crop_cuts_the_middle() -> None:
    data = picture_with_subject_off_centre()

    centred = images.load(render(data, (cover(300, 300),), crop="centre")[0].data)

    # The blue cross at the picture's centre is at the crop's centre. (At exactly 2x the
    # JPEG's DCT scale does the whole reduce, which leaves its 2-pixel arms a little
    # softer than a Lanczos reduce would: blue 149 rather than over 150.)
    def bluish(pixel: list[float]) -> bool:
        return pixel[2] > 120 and pixel[0] < 60 and pixel[1] < 60

    assert bluish(centred(150, 150))
    assert bluish(centred(150, 142)) and bluish(centred(142, 150))
    assert not bluish(centred(150, 125))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_an_exif_rotated_photo_is_cropped_upright(orientation: int) -> None:
    # Upright 800x600 with a red top-left block: a 300x200 cover resizes to 300x225 and
    # cuts 12 rows off top and bottom, so the block stays in the top-left corner only.
    data = images.with_orientation(orientation, 800, 600)

    rendition = render(data, (cover(300, 200),), fmt="jpeg", crop="centre")[0]

    decoded = images.load(rendition.data)
    assert (decoded.width, decoded.height) == (300, 200)
    assert images.top_left_is_red(decoded), f"orientation {orientation} cropped as stored"


@pytest.mark.parametrize(
    ("source", "spec", "expected"),
    [
        ((3840, 2400), SizeSpec(900), (900, 563)),  # 562.5: a half goes up, as in libvips
        ((5312, 2988), SizeSpec(600), (600, 338)),  # 337.5
        ((2400, 3840), SizeSpec(900, 900), (563, 900)),
        ((1000, 500), SizeSpec(300, 300, cover=True), (300, 300)),
    ],
)
def test_a_half_pixel_rounds_up_as_libvips_pillow_and_sharp_round_it(source, spec, expected):
    assert spec.fit(*source) == expected


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_the_copies_have_the_half_up_height(fmt):
    source = images.jpeg(3840, 2400) if fmt == "jpeg" else images.png(3840, 2400)

    [copy] = render(source, (SizeSpec(900),))

    assert (copy.width, copy.height) == (900, 563)
