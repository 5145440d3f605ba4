"""HEIC photos (HEIF holding HEVC) decoded by pillow-heif, then resized as any image.

Imported only when a HEIC arrives (`heif_brand.is_hevc`): libvips' wheel has no HEVC
decoder, so pillow-heif's libheif and libde265 decode it, in the HEIC image variant
(`--build-arg HEIC=on`); without it, a HEIC upload fails with a sentence saying so.

- **Bounded**: libheif needs the whole file in memory (a 12 MP iPhone photo is 2-4 MB,
  MAX_INPUT_BYTES bounds it); `header` reads the container only (pillow-heif is lazy)
  and checks MAX_INPUT_PIXELS before any pixel is decoded; the decode is the whole
  bitmap, 8-bit (HDR brought down), which is what `Header.decode_bytes` claims from
  the memory budget.
- **Upright once**: libheif applies the file's `irot`/`imir` transforms, which are
  what HEIF displays by; the EXIF orientation is informative only in HEIF (Apple
  writes both, equal), so it is never applied on top (libvips' heifload does the same).
- **Colour**: the file's ICC profile (Display P3 on iPhones) travels as libvips'
  `icc-profile-data`: its copies stay Display P3 (COLOUR=keep), or the pipeline's sRGB
  conversion applies it (COLOUR=srgb). A file with only an nclx colour description is
  taken as sRGB.
- **Rights**: its EXIF and XMP travel as libvips' `exif-data` and `xmp-data`, from which
  only the creator and copyright reach the copies (app/image/carry.py).
"""

from __future__ import annotations

import pyvips

from app.errors import BadImage, InputTooLarge
from app.image import imaging

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/development.md)
if TYPE_CHECKING:
    from typing import Any

LOADER = "heicload"  # as details and Header name it: kind `heic`, kept as JPEG by `source`
_BANDS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}


class Heic:
    """One HEIC file, all of its bytes in memory; `header`, then `decode`."""

    def __init__(self, data: bytes, name: str) -> None:
        self._data = data
        self._name = name
        self._file: Any = None

    def header(self, max_pixels: int) -> imaging.Header:
        """The primary image's upright size and bands, from the container alone."""
        pillow_heif = _pillow_heif(self._name)
        try:
            self._file = pillow_heif.open_heif(self._data, convert_hdr_to_8bit=True)
            width, height = self._file.size
            mode = self._file.mode
        except (ValueError, RuntimeError, OSError, SyntaxError) as error:
            raise BadImage(
                f"{self._name} is not an image in a supported format "
                f"(HEIC header unreadable: {_reason(error)})"
            ) from None
        if width * height > max_pixels:
            raise InputTooLarge(
                f"{self._name} is {width}x{height} ({imaging.megapixels(width * height)}); "
                f"limit is {imaging.megapixels(max_pixels)} (MAX_INPUT_PIXELS)"
            )
        if mode not in _BANDS:
            raise BadImage(f"{self._name} is a HEIC photo in pixel mode {mode}, not RGB or grey")
        return imaging.Header(width, height, LOADER, 1, _BANDS[mode])

    def decode(
        self,
        header: imaging.Header,
        specs: tuple[imaging.SizeSpec, ...],
        *,
        flatten: bool,
        colour_mode: str = "srgb",
    ) -> pyvips.Image:
        """Decode the primary image (upright, as `header` says) and reduce it as `decode`."""
        try:
            data, stride = self._file.data, self._file.stride
            icc = self._file.info.get("icc_profile")
        except (ValueError, RuntimeError, OSError, SyntaxError) as error:
            raise BadImage(f"{self._name} could not be decoded ({_reason(error)})") from None
        width, height, bands = header.width, header.height, header.bands
        row = width * bands
        if (self._file.size, len(data)) != ((width, height), stride * height) or stride < row:
            raise BadImage(f"{self._name} could not be decoded (pillow-heif gave no whole image)")
        if stride != row:  # libheif pads rows; libvips wants them packed
            view = memoryview(data)
            data = b"".join(view[y * stride : y * stride + row] for y in range(height))
        image = pyvips.Image.new_from_memory(data, width, height, bands, "uchar")
        image = image.copy(interpretation="srgb" if bands >= 3 else "b-w")
        if icc:
            image.set_type(pyvips.GValue.blob_type, "icc-profile-data", bytes(icc))
        for field, key in (("exif-data", "exif"), ("xmp-data", "xmp")):
            if block := self._file.info.get(key):  # their creator and copyright (carry.py)
                image.set_type(pyvips.GValue.blob_type, field, bytes(block))
        try:
            return imaging.decode_memory(
                image, header, specs, self._name, flatten=flatten, colour_mode=colour_mode
            )
        finally:
            self._file = None  # the decoded bitmap is freed with it


def require(name: str) -> None:
    """BadImage (naming `name`) unless this image has HEIC support: asked before any
    of the photo's bytes are read."""
    _pillow_heif(name)


def _pillow_heif(name: str) -> Any:
    try:
        import pillow_heif  # here: only a HEIC pays for loading libheif
    except ImportError:
        raise BadImage(
            f"{name} is a HEIC photo (HEVC); this image was built without HEIC support: "
            "rebuild with --build-arg HEIC=on (scripts/deploy.sh --heic)"
        ) from None
    return pillow_heif


def _reason(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__
