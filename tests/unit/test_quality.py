"""QUALITY is JPEG's: WebP and AVIF get the quality that looks alike (app/image/formats.py's
table, measured by bench/formats.py), unless WEBP_QUALITY or AVIF_QUALITY says otherwise."""

from __future__ import annotations

from pathlib import Path

import images
import pytest

from app.config import settings as config
from app.errors import ConfigError
from app.image import formats
from app.image.formats import EQUAL_QUALITY, Quality, equal_quality
from app.localfiles import LocalStore
from app.model import ObjectRef
from app.renditions import pipeline


@pytest.mark.parametrize("fmt", ["webp", "avif"])
def test_the_mapping_rises_with_quality_and_stays_in_range(fmt: str) -> None:
    mapped = [equal_quality(fmt, q) for q in range(1, 101)]

    assert all(1 <= q <= 100 for q in mapped)
    assert mapped == sorted(mapped)  # a higher QUALITY never gives a lower one
    assert (mapped[0], mapped[-1]) == (1, 100)
    assert len(set(mapped)) > 50  # and it follows QUALITY, not a few steps


def test_the_table_is_measured_at_the_default_and_rows_rise() -> None:
    jpeg = [row[0] for row in EQUAL_QUALITY]
    assert jpeg == sorted(set(jpeg))
    for column in (1, 2):
        values = [row[column] for row in EQUAL_QUALITY]
        assert values == sorted(values)
    assert 80 in jpeg  # the default QUALITY is a measured row, not an interpolation


def test_default_quality_gives_the_documented_values() -> None:
    # Literal, as docs/configuration.md documents them: not read back from the table under test.
    default = config.load({}).quality

    assert default == Quality(jpeg=80, webp=83, avif=65)
    assert (default.of("jpeg"), default.of("png"), default.of("gif")) == (80, 80, 80)


def test_a_lower_quality_lowers_every_format() -> None:
    at_70, at_80 = config.load({"QUALITY": "70"}).quality, config.load({}).quality

    # A third of the way from the 65 row (73, 55) to the 80 row (83, 65), rounded.
    assert at_70 == Quality(70, 76, 58)
    assert at_70.webp < at_80.webp and at_70.avif < at_80.avif


def test_each_format_can_be_set_on_its_own() -> None:
    settings = config.load({"QUALITY": "75", "WEBP_QUALITY": "60", "AVIF_QUALITY": " 45 "})

    assert settings.quality == Quality(75, 60, 45)
    assert config.load({"AVIF_QUALITY": "50"}).quality.webp == 83


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"WEBP_QUALITY": "0"},
            "invalid WEBP_QUALITY '0': expected an integer from 1 to 100, or empty for the "
            "quality that looks like QUALITY's JPEG",
        ),
        (
            {"AVIF_QUALITY": "high"},
            "invalid AVIF_QUALITY 'high': expected an integer from 1 to 100, or empty for the "
            "quality that looks like QUALITY's JPEG",
        ),
    ],
)
def test_a_bad_format_quality_is_refused_in_one_line(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        config.load(env)

    assert raised.value.problems == [message]


def test_the_pipeline_encodes_each_format_at_its_own_quality(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(images.jpeg(1200, 900))

    def copies(**env: str) -> dict[str, bytes]:
        settings = config.load({"RESIZE_WIDTHS": "300", "OUTPUT_FORMATS": "webp,avif", **env})
        out = tmp_path / "-".join(["out", *(f"{k}{v}" for k, v in env.items())])
        store = LocalStore({"images/photo.jpg": path}, out, settings.output_prefix)
        outcome = pipeline.process(ObjectRef("", "images/photo.jpg"), settings, store)
        assert outcome.status == "processed", outcome.reason
        return {p.suffix: p.read_bytes() for p in out.rglob("*.*") if p.suffix != ".json"}

    default = copies()
    quality = config.load({}).quality
    # The same bytes as each format's quality given outright: the default maps QUALITY ...
    assert default == copies(WEBP_QUALITY=str(quality.webp), AVIF_QUALITY=str(quality.avif))
    # ... and is not QUALITY itself handed to every encoder, as it was.
    old = copies(WEBP_QUALITY="80", AVIF_QUALITY="80")
    assert old[".webp"] != default[".webp"] and old[".avif"] != default[".avif"]
    assert formats.Quality.matching(80) == quality


def test_no_more_av1_encodes_run_at_once_than_the_machine_has_cores(monkeypatch) -> None:
    import os
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import pyvips

    inside, most, lock = [0], [0], threading.Lock()
    real = pyvips.Image.heifsave_buffer

    def counted(image: pyvips.Image, **options: object) -> bytes:
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        try:
            return real(image, **options)
        finally:
            with lock:
                inside[0] -= 1

    monkeypatch.setattr(pyvips.Image, "heifsave_buffer", counted, raising=False)
    picture = images.upright(600, 400)

    with ThreadPoolExecutor(max_workers=8) as pool:
        made = list(pool.map(lambda _: formats.encode(picture, "avif", 60), range(8)))

    assert len(made) == 8 and all(made)
    assert 1 <= most[0] <= max(1, os.cpu_count() or 1)
