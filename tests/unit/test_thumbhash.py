"""ThumbHash against the reference encoder's own output, byte for byte."""

from __future__ import annotations

import base64

import pytest
import pyvips

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
