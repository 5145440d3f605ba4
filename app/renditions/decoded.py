"""A source's pixels: its header read from the stream, the one decode, each size made from it.

A HEIC photo goes to pillow-heif (app/image/heic.py), anything else to libvips; a kept
animation is decoded with every frame, stacked. What the decode holds is claimed from
the memory budget (`needed`) before it starts.
"""

from __future__ import annotations

from collections.abc import Callable

import pyvips

from app.config.settings import Settings
from app.image import animation, carry, heif_brand, imaging, jpegdata, memory
from app.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/development.md)
if TYPE_CHECKING:
    from app.image import heic


class Opened(Record):
    """A source whose header is read and whose pixels are not yet: what `decode` starts from."""

    source: pyvips.Source
    scans: jpegdata.Stream  # what the decoder read of a JPEG's structure
    heic: heic.Heic | None  # (its module is loaded by a HEIC alone: a Record reads no type)
    header: imaging.Header
    input_bytes: int


def opened(
    read: Callable[[int], bytes],
    input_bytes: int,
    uri: str,
    max_pixels: int,
    reserve: Callable[[int], None] = lambda size: None,
) -> Opened:
    """The header of the `input_bytes` long stream `read`, checked against `max_pixels`.

    `reserve(size)` is called before a whole object is read into memory (a HEIC: its
    header comes only with all of it), to claim those bytes from the memory budget."""
    peeked = heif_brand.Peeked(read)
    scans = jpegdata.Stream(peeked.read)  # untidy bytes dropped, scans noted (jpegdata.py)
    source = imaging.stream_source(scans.read)
    hevc = heif_brand.is_hevc(peeked.head)
    heic = _open_heic(peeked, uri, reserve, input_bytes) if hevc else None
    header = (
        heic.header(max_pixels)
        if heic
        else imaging.read_header(source, max_pixels, uri, size=input_bytes)
    )
    return Opened(source, scans, heic, header, input_bytes)


def _open_heic(
    peeked: heif_brand.Peeked, uri: str, reserve: Callable[[int], None], input_bytes: int
) -> heic.Heic:
    """A HEIC photo, all of it read: libvips has no HEVC decoder (see app/image/heic.py).

    Refused before its bytes are read where the image has no HEIC support, and its
    bytes claimed (twice: a buffer grown by doubling) before they are read."""
    from app.image import heic  # here: loaded by the first HEIC, not at cold start

    heic.require(uri)
    reserve(2 * input_bytes)
    return heic.Heic(peeked.rest(), uri)


def needed(source: Opened, fmts: tuple[str, ...], settings: Settings, uri: str) -> int:
    """The bytes the decode for `fmts` holds (app/image/memory.py); an animation to be kept is
    first checked against MAX_FRAMES and MAX_INPUT_PIXELS."""
    header = source.header
    estimate = memory.estimate(header, source.input_bytes, settings.specs, fmts)
    if animation.kept(header, settings.animation, fmts):
        animation.check(header, settings.max_frames, settings.max_input_pixels, uri)
        estimate += animation.decode_bytes(header, settings.specs)  # every frame, each size
    return estimate


def decode(source: Opened, fmts: tuple[str, ...], settings: Settings, uri: str) -> Decoded:
    """The one decode: every frame of a kept animation, else one image (alpha kept
    if any format keeps it; each copy without alpha is flattened on its own); a JPEG
    whose scans leave part of the picture out is refused (BadImage)."""
    header = source.header
    if animation.kept(header, settings.animation, fmts):
        frames = animation.decode(source.source, header, settings.specs, uri)
        return Decoded(header, carry.kept(frames, hdr="drop", rights_mode=settings.rights), True)
    flatten = not any(imaging.FORMATS[fmt].alpha for fmt in fmts)
    colour_mode = settings.colour
    image = (
        source.heic.decode(header, settings.specs, flatten=flatten, colour_mode=colour_mode)
        if source.heic
        else imaging.decode(
            source.source, header, settings.specs, uri, flatten=flatten, colour_mode=colour_mode
        )
    )
    jpegdata.check(source.scans, uri)  # every scan is read by now: the decode holds its pixels
    # Only what the copies may carry stays on it: the wide profile, gain map and rights.
    image = carry.kept(image, hdr=settings.hdr, rights_mode=settings.rights)
    return Decoded(header, image, False)


class Decoded(Record):
    """The decoded image (or animation: its frames stacked) of one object."""

    header: imaging.Header
    image: pyvips.Image
    animated: bool

    @property
    def still(self) -> pyvips.Image:
        """The image, or an animation's first frame."""
        return animation.first_frame(self.image) if self.animated else self.image

    def sized(self, spec: imaging.SizeSpec, crop: str) -> Sized:
        """The image made to `spec`; an animation's first frame too, for still formats."""
        if not self.animated:
            return Sized(imaging.sized(self.image, self.header, spec, crop), None)
        stack = animation.sized(self.image, self.header, spec, crop)
        return Sized(animation.first_frame(stack), stack)


class Sized(Record):
    """One size of the decoded image: still, and animated if the decode kept frames."""

    still: pyvips.Image
    animated: pyvips.Image | None

    def pick(self, fmt: str) -> pyvips.Image:
        """What a copy in `fmt` is made of: every frame if the format can hold them."""
        if self.animated is not None and imaging.FORMATS[fmt].animated:
            return self.animated
        return self.still
