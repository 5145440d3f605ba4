"""Shared test setup: fixtures made with pyvips, and the optional shared corpus."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from app import imaging

sys.path.insert(0, str(Path(__file__).parent))  # `import images` from any test folder

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"

imaging.configure_libvips()


@pytest.fixture
def corpus() -> Path:
    """../shared/corpus, or a skip naming what is missing."""
    if not CORPUS.is_dir():
        pytest.skip(f"no image corpus at {CORPUS}")
    return CORPUS


def render(
    data: bytes,
    specs: tuple[imaging.SizeSpec, ...] = (),
    fmt: str = "source",
    quality: int = 80,
    max_pixels: int = 100_000_000,
) -> list[imaging.Rendition]:
    """The pure image core on bytes, through a streaming source as in the function."""
    specs = specs or tuple(imaging.SizeSpec(w) for w in (300, 600, 900))
    source = imaging.stream_source(io.BytesIO(data).read)
    header = imaging.read_header(source, max_pixels, "test.img")
    out = imaging.output_format(header, fmt)
    image = imaging.decode(source, header, specs, "test.img", flatten=not imaging.FORMATS[out][2])
    return [imaging.render(image, header, spec, out, quality) for spec in specs]
