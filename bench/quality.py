"""Is speed bought with bad pixels? Sizes and PSNR against a full-precision reference.

The reference decodes every pixel (no shrink-on-load), turns it upright, converts it
to sRGB through its ICC profile if it has one (16-bit), and resizes
to the exact size in floating point with Lanczos-3: what a resizer with no time limit
would make. Each output is compared with the reference at the output's own size.
"""

from __future__ import annotations

import math
from pathlib import Path

import pyvips

from app.image.imaging import SizeSpec


class Reference:
    """The full-precision reference of one image, resized on demand (and remembered)."""

    def __init__(self, image: Path) -> None:
        full = pyvips.Image.new_from_file(str(image)).autorot()
        if full.hasalpha():
            full = full.flatten(background=[255, 255, 255])
        if full.get_typeof("icc-profile-data"):
            # Its colours in sRGB, in 16 bits so that the reference keeps its precision.
            full = full.icc_transform("srgb", embedded=True, depth=16).cast("float") / 257
            full = full.copy(interpretation="srgb")
        self.full = full.colourspace("srgb").cast("float").copy_memory()
        self._sized: dict[tuple[int, int], pyvips.Image] = {}

    def expected(self, width: int) -> tuple[int, int]:
        """The size a width must give (heights rounded as libvips, Pillow and sharp do)."""
        return SizeSpec(width).fit(self.full.width, self.full.height)

    def fits(self, width: int, size: tuple[int, int]) -> bool:
        """`size` is what `width` must give, or the other rounding of a height that falls
        exactly half-way (3840x2400 at 900 wide is 562.5 high: the project rounds it to
        even, Pillow and sharp up)."""
        if size == self.expected(width):
            return True
        exact = self.full.height * width / self.full.width
        return size[0] == width < self.full.width and abs(size[1] - exact) == 0.5

    def at(self, size: tuple[int, int]) -> pyvips.Image:
        if size not in self._sized:
            w, h = size
            # reduce, not resize: one Lanczos-3 over the whole factor, no box pre-shrink.
            self._sized[size] = self.full.reduce(
                self.full.width / w, self.full.height / h, kernel="lanczos3"
            ).copy_memory()
        return self._sized[size]


def check(reference: Reference, width: int, encoded: bytes) -> tuple[bool, float]:
    """(right size?, PSNR in dB against the reference at the output's size)."""
    output = pyvips.Image.new_from_buffer(encoded, "")
    if output.get_typeof("icc-profile-data"):
        # A copy that kept a wide gamut (COLOUR=keep): compared as a browser shows it, its
        # colours in sRGB through its own profile, as the reference's were made.
        output = output.icc_transform("srgb", embedded=True, depth=16).cast("float") / 257
        output = output.copy(interpretation="srgb")
    output = output.colourspace("srgb").cast("float")
    size = (output.width, output.height)
    ideal = reference.at(size)
    mse = ((output - ideal) ** 2).avg()
    psnr = 99.0 if mse == 0 else 10 * math.log10(255**2 / mse)
    return reference.fits(width, size), psnr
