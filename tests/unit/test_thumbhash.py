"""ThumbHash against the reference encoder's own output, byte for byte; the same bytes on
every run and thread count; what exact arithmetic makes 0 (or halfway) taken as such."""

from __future__ import annotations

import base64
import math
import random
from collections.abc import Callable
from fractions import Fraction

import images
import pytest
import pyvips
from helpers import encode_thumbhash

from app.image import thumbhash

# rgbaToThumbHash of evanw/thumbhash (js/thumbhash.js at a652ce6, MIT), run by Node 20 on
# the bytes of the pixels below. No term of these pictures is 0 in exact arithmetic (no
# flat channel, no symmetry: green's low bits vary across too, so r - g is not a row's
# value plus a column's, whose terms varying both ways are all 0): where a term's true
# value is 0, the reference's float noise decides its nibble, where this encoder gives
# the nibble of 0 (test_an_exact_zero_is_zero_not_noise).
REFERENCE = {
    (100, 75, "plain"): "HwgKNZpwd3dwiHd3h3eId4CACPh4",
    (60, 100, "block"): "4DgKHCKAB4iIiId4eIfl81n5eQ==",
    (90, 70, "alpha"): "oyiGHI4nsYewiHl3GAuboW8GeFh4iIiHCA==",
    (40, 90, "alpha"): "o/iFGg4noLCod4igsAr5WIGHgIiIeIg=",
    (100, 10, "plain"): "HwgKOZxxd3dweHeIgYAX94g=",
    (7, 5, "block"): "4WgKPaqRd2dwiIeXamdpd5b0Wvlp",
}


def pixels(width: int, height: int, kind: str) -> pyvips.Image:
    """Ramps in red (across) and green (down), a blue pattern; alpha, a red block."""
    rgba = bytearray(width * height * 4)
    for y in range(height):
        for x in range(width):
            j = (y * width + x) * 4
            rgba[j] = int(x * 255 / (width - 1))
            rgba[j + 1] = int(y * 255 / (height - 1)) ^ (x * y & 7)  # (not r - g separable)
            rgba[j + 2] = (x * 7 + y * 13) % 64 * 4
            rgba[j + 3] = (
                int((x * 2 + y) * 255 / (2 * width + height - 3)) if kind == "alpha" else 255
            )
            if kind == "block" and x < width / 3 and y < height / 2:
                rgba[j : j + 3] = bytes((200, 30, 40))
    image = pyvips.Image.new_from_memory(bytes(rgba), width, height, 4, "uchar")
    return image if kind == "alpha" else image.extract_band(0, n=3)


@pytest.mark.parametrize(("width", "height", "kind"), list(REFERENCE))
def test_thumbhash_is_the_reference_encoders(width: int, height: int, kind: str) -> None:
    image = pixels(width, height, kind)
    assert base64.b64encode(thumbhash.encode(image)).decode() == REFERENCE[width, height, kind]
    if kind != "alpha":  # an opaque alpha band changes nothing
        opaque = image.bandjoin_const([255])
        assert base64.b64encode(thumbhash.encode(opaque)).decode() == REFERENCE[width, height, kind]


def rgba(image: pyvips.Image) -> bytes:
    """The bytes of `image` with an alpha band, as the reference takes them."""
    return bytes((image if image.bands == 4 else image.bandjoin_const([255])).write_to_memory())


@pytest.mark.parametrize(("width", "height", "kind"), list(REFERENCE))
def test_the_python_port_is_the_reference(width: int, height: int, kind: str) -> None:
    # What the tests below compare with: the reference line for line in Python gives
    # what Node gave.
    hash_ = encode_thumbhash(width, height, rgba(pixels(width, height, kind)))
    assert base64.b64encode(hash_).decode() == REFERENCE[width, height, kind]


def flat(width: int, height: int) -> Callable[[int, int], bool]:
    """The terms exact arithmetic makes 0 in a flat `width` x `height` picture: all but
    those whose cosines are +-1 on every pixel (cx a multiple of 2 * width and cy of
    2 * height, which only a picture 1 to 3 pixels across keeps)."""
    return lambda cx, cy: cx % (2 * width) != 0 or cy % (2 * height) != 0


def header(hash_: bytes) -> tuple[int, int]:
    """The 24-bit and the 16-bit header."""
    return hash_[0] | hash_[1] << 8 | hash_[2] << 16, hash_[3] | hash_[4] << 8


@pytest.mark.parametrize(
    ("width", "height", "colour", "alpha"),
    [
        (60, 40, (10, 200, 10), 128),
        (100, 100, (10, 200, 10), 128),
        (100, 100, (90, 90, 90), 254),
        (33, 100, (17, 130, 241), 77),
        (100, 8, (0, 0, 0), 1),
        (7, 5, (10, 200, 10), 1),
        (4, 4, (10, 200, 10), 200),
        (100, 67, (255, 255, 255), 255),
        (60, 40, (17, 130, 241), 255),
        (100, 100, (90, 90, 90), 255),
        (100, 100, (1, 2, 3), 0),  # all clear: every channel 0
        (40, 60, (255, 255, 255), 0),
    ],
)
def test_a_flat_picture_has_scale_0_and_no_ac_terms(
    width: int, height: int, colour: tuple[int, int, int], alpha: int
) -> None:
    data = bytes((*colour, alpha)) * (width * height)
    image = pyvips.Image.new_from_memory(data, width, height, 4, "uchar")
    opaque = alpha == 255  # then the RGB image too: its own path, the same hash

    made = {
        thumbhash.encode(im) for im in (image, image.extract_band(0, n=3))[: 2 if opaque else 1]
    }

    # The reference's hash in exact arithmetic: its float noise (scaled up by a scale of
    # 1e-17 into AC nibbles all over the range) taken as the 0 it is.
    assert made == {encode_thumbhash(width, height, data, zero=flat(width, height))}
    (hash_,) = made
    header24, header16 = header(hash_)
    scales = [header24 >> 18 & 31, header16 >> 3 & 63, header16 >> 9 & 63]
    scales += [] if opaque else [hash_[5] >> 4]  # alpha's
    assert scales == [0] * len(scales)
    assert set(hash_[5 if opaque else 6 :]) == {0}  # every AC term


@pytest.mark.parametrize(("width", "height"), [(1, 1), (2, 3), (3, 3), (100, 1), (1, 60)])
def test_a_flat_picture_a_few_pixels_across_keeps_its_real_terms(width: int, height: int) -> None:
    # A cosine of twice the width's frequency is -1 on every pixel (pi * (x + 0.5) * 2):
    # such a term is the colour itself, not a zero.
    for colour in ((10, 200, 10, 128), (17, 130, 241, 255), (90, 90, 90, 77)):
        data = bytes(colour) * (width * height)
        image = pyvips.Image.new_from_memory(data, width, height, 4, "uchar")
        assert thumbhash.encode(image) == encode_thumbhash(
            width, height, data, zero=flat(width, height)
        )


def half_up(value: Fraction) -> int:
    """Math.round of an exact value."""
    return math.floor(value + Fraction(1, 2))


@pytest.mark.parametrize(
    ("width", "height", "colour", "alpha"),
    [
        (100, 100, (200, 30, 90), 255),  # r - g = 170: Q's DC 31.5 + 31.5 * 2/3 = 52.5
        (7, 5, (200, 30, 90), 1),  # (the reference's float sum gives 52 here, 53 above)
        (100, 8, (255, 85, 0), 128),  # and r + g - 2b = 340: P's too
        (100, 100, (255, 85, 0), 255),
        (60, 40, (170, 0, 45), 77),
    ],
)
def test_a_colour_halfway_between_two_levels_rounds_up_as_exact_arithmetic_does(
    width: int, height: int, colour: tuple[int, int, int], alpha: int
) -> None:
    image = pyvips.Image.new_from_memory(
        bytes((*colour, alpha)) * (width * height), width, height, 4, "uchar"
    )
    r, g, b = (Fraction(c, 255) for c in colour)
    q_dc = Fraction(63, 2) * (1 + r - g)
    assert q_dc.denominator == 2  # halfway: a float's last bit would decide

    header24, _ = header(thumbhash.encode(image))

    assert header24 & 63 == half_up(63 * (r + g + b) / 3)
    assert header24 >> 6 & 63 == half_up(Fraction(63, 2) * (1 + (r + g) / 2 - b))
    assert header24 >> 12 & 63 == half_up(q_dc)


def one_way(width: int, height: int, *, across: bool, alpha: bool) -> tuple[bytes, pyvips.Image]:
    """A picture that varies only across (every row the same) or only down: random
    colours (and alphas) along one side."""
    rnd = random.Random(width * 1000 + height)
    line = [bytes(rnd.randrange(256) for _ in range(3)) for _ in range(width if across else height)]
    opacity = [rnd.randrange(256) if alpha else 255 for _ in line]
    data = b"".join(
        line[x if across else y] + bytes((opacity[x if across else y],))
        for y in range(height)
        for x in range(width)
    )
    return data, pyvips.Image.new_from_memory(data, width, height, 4, "uchar")


@pytest.mark.parametrize(
    ("width", "height", "across", "alpha"),
    [
        (100, 75, True, False),
        (100, 75, True, True),
        (37, 100, False, True),
        (60, 100, False, False),
        (100, 4, True, False),
    ],
)
def test_a_picture_that_varies_one_way_only_has_exact_zeros_the_other_way(
    width: int, height: int, across: bool, alpha: bool
) -> None:
    # Every term with a frequency along the way it does not vary is 0: its nibble is 8
    # (0.5 of the scale, rounded up), where the reference's noise makes it 7 or 8.
    data, image = one_way(width, height, across=across, alpha=alpha)
    side = height if across else width

    def still(cx: int, cy: int) -> bool:
        return (cy if across else cx) % (2 * side) != 0

    assert thumbhash.encode(image) == encode_thumbhash(width, height, data, zero=still)


def test_a_term_a_nearly_opaque_pixel_makes_is_real_not_noise() -> None:
    # Rows of one grey each, and one pixel a level short of opaque whose grey is all but
    # the alpha-weighted average: composited over that average it moves by about 1.5e-7,
    # which moves the luminance terms across by a hair, real (the reference's decoders
    # use them) though far below anything an opaque pixel does. They round as exact
    # arithmetic rounds them, not as zeros would.
    x, y, n = 49, 7, 100 * 100

    def gap(rows: list[int]) -> Fraction:  # |average - the pixel's grey|, in 0..1
        weighted = 255 * 100 * sum(rows) - rows[y]  # alpha * grey, the pixel's alpha 254
        return abs(Fraction(weighted, 255 * (255 * n - 1)) - Fraction(rows[y], 255))

    rnd = random.Random(3)
    rows = min(([rnd.randrange(256) for _ in range(100)] for _ in range(3000)), key=gap)
    data = bytearray(b"".join(bytes((grey, grey, grey, 255)) * 100 for grey in rows))
    data[(y * 100 + x) * 4 + 3] = 254
    image = pyvips.Image.new_from_memory(bytes(data), 100, 100, 4, "uchar")

    assert 0 < gap(rows) < Fraction(1, 10_000)
    assert thumbhash.encode(image) == encode_thumbhash(100, 100, bytes(data))


# Pictures, and the terms exact arithmetic makes 0 in each (none in a photograph).
SAMPLES: dict[str, tuple[Callable[[], pyvips.Image], Callable[[int, int], bool] | None]] = {
    "photo": (lambda: images.photo(100, 100, alpha=True), None),
    "opaque photo": (lambda: images.photo(100, 67), None),
    "gradient": (lambda: images.gradient(100, 100), lambda cx, cy: cy % 200 != 0),
    "flat": (lambda: images.photo(100, 100).new_from_image([10, 200, 10, 128]), flat(100, 100)),
}


@pytest.mark.usefixtures("threads")
@pytest.mark.parametrize("name", list(SAMPLES))
def test_the_same_pixels_give_the_same_bytes_on_every_run_and_thread_count(name: str) -> None:
    make, zero = SAMPLES[name]
    image = make().cast("uchar")
    data = bytes(image.write_to_memory())
    made = set()
    for run in range(50):
        pyvips.concurrency_set((1, 2, 3, 8)[run % 4])
        fresh = pyvips.Image.new_from_memory(data, image.width, image.height, image.bands, "uchar")
        made.add(thumbhash.encode(fresh))

    assert made == {encode_thumbhash(image.width, image.height, rgba(image), zero=zero)}
