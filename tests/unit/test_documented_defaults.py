"""Every default the configuration table (docs/configuration.md) documents, pinned by its
literal value.

Each value here is that page's, written out: a change of a default must change the
page and this file together, not pass because a test reads the value back from the
code it tests.
"""

from __future__ import annotations

import pytest
import pyvips

from app.config import settings as config
from app.image import formats
from app.image.fit import SizeSpec


def test_every_documented_default_as_the_configuration_page_writes_it() -> None:
    settings = config.load({})

    assert settings.specs == (SizeSpec(300), SizeSpec(600), SizeSpec(900))
    assert (settings.source_prefix, settings.output_prefix) == ("images/", "copy/")
    assert settings.output_bucket is None
    assert settings.key_template == "{prefix}{dir}{stem}-{width}.{ext}"
    assert settings.output_formats == ("source",)
    assert (settings.crop, settings.animation, settings.max_frames) == (
        "attention",
        "first-frame",
        300,
    )
    assert settings.quality == formats.Quality(jpeg=80, webp=83, avif=65)
    assert settings.cache_control == "public, max-age=31536000, immutable"
    assert settings.log_level == "INFO"
    assert settings.max_input_bytes == 104_857_600  # 100 MiB
    assert settings.max_input_pixels == 100_000_000  # 100 MP
    assert settings.object_concurrency == 4
    assert settings.metrics_namespace == "ImageResizer"
    assert settings.event_bus is None
    assert settings.manifest_template == "{prefix}{dir}{stem}.json"  # MANIFEST=on


def test_the_encoders_documented_efforts_and_limits() -> None:
    assert (formats.WEBP_EFFORT, formats.AVIF_EFFORT) == (3, 1)
    assert formats.MAX_SIDE == {
        "jpeg": 65_500,
        "png": 2**31 - 1,
        "webp": 16_383,
        "avif": 16_384,
        "gif": 65_535,
    }


@pytest.mark.parametrize("fmt", ["jpeg", "webp", "avif", "gif"])
def test_each_encoders_limit_is_libvips_own(fmt: str) -> None:
    # A thin strip at the limit is written; one pixel more is refused by libvips itself,
    # so copies.check_sides refuses exactly what the encoder would.
    limit = formats.MAX_SIDE[fmt]
    strip = (pyvips.Image.black(8, limit, bands=3) + 128).cast("uchar").copy(interpretation="srgb")

    assert formats.encode(strip, fmt, 50)
    with pytest.raises(pyvips.Error):
        formats.encode(strip.embed(0, 0, 8, limit + 1, extend="copy"), fmt, 50)
