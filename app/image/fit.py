"""Pure geometry of a size spec (fit inside, or cover and crop) and the crop itself.

A spec is a width (`300`), a box the image fits inside (`300x300`, or
`300x300:contain`), or a box it covers and is cropped to (`300x300:cover`). Nothing
is ever upscaled: a cover box larger than the source (in either direction) becomes
the largest rectangle of the box's aspect ratio inside the source, at its own size.
"""

from __future__ import annotations

import pyvips

from app.record import Record

# CROP: where a cover crop is cut. libvips' smartcrop: `attention` looks for skin,
# saturated colour and edges; `entropy` for the busiest region; `centre` the middle.
CROPS = ("attention", "entropy", "centre")


class SizeSpec(Record):
    """A target size: a width, or a `WxH` box that the image fits inside or covers."""

    width: int
    height: int | None = None
    cover: bool = False  # fill the box and crop the rest (needs a height)

    @property
    def label(self) -> str:
        """The spec in output keys: `300`, `128x128`, or `128x128-cover` for a cover box.

        A cover box has its own label, so that its copies never take the keys of the
        fit-inside copies of the same box (nor pass for them in the up-to-date check).
        """
        if self.height is None:
            return str(self.width)
        return f"{self.width}x{self.height}" + ("-cover" if self.cover else "")

    def scaled(self, width: int, height: int) -> tuple[int, int]:
        """The size a `width`x`height` image is resized to, before any crop; never upscaled."""
        scale = self.width / width
        if self.height is not None:
            # Cover: the larger factor, so that the box is filled; contain: the smaller.
            pick = max if self.cover else min
            scale = pick(scale, self.height / height)
        if scale >= 1:
            return width, height
        # Round as libvips, Pillow and sharp do (half up); never collapse to zero.
        size = max(1, _round(width * scale)), max(1, _round(height * scale))
        if self.cover and self.height is not None:  # rounding never leaves less than the box
            return max(size[0], self.width), max(size[1], self.height)
        return size

    def fit(self, width: int, height: int) -> tuple[int, int]:
        """The size of a `width`x`height` image made to this spec (after any crop)."""
        scaled = self.scaled(width, height)
        if not self.cover or self.height is None:
            return scaled
        if scaled != (width, height):
            return self.width, self.height
        # A box the source cannot fill: the box's aspect ratio at the source's size.
        if width * self.height > height * self.width:
            return max(1, min(width, _round(height * self.width / self.height))), height
        return width, max(1, min(height, _round(width * self.height / self.width)))


def _round(size: float) -> int:
    """`size` to the nearest whole pixel, a half up (Python's `round` takes it to even:
    3840x2400 at 900 wide would be 562 high, where libvips, Pillow and sharp make 563)."""
    return int(size + 0.5)


def crop(image: pyvips.Image, width: int, height: int, how: str) -> pyvips.Image:
    """`image` cut to `width`x`height` where `how` (one of CROPS) says."""
    if (image.width, image.height) == (width, height):
        return image
    return image.smartcrop(width, height, interesting=how)


def crop_offset(image: pyvips.Image, width: int, height: int, how: str) -> tuple[int, int]:
    """Where `crop` would cut `image`: the left and top of the `width`x`height` box."""
    cut = crop(image, width, height, how)
    # smartcrop ends in an extract_area, which records the cut as a negative offset.
    return -cut.xoffset, -cut.yoffset
