"""Shared test setup: fixtures made with pyvips, and the optional shared corpus."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import pyvips

from app.image import imaging

sys.path.insert(0, str(Path(__file__).parent))  # `import images` from any test folder

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("CORPUS_DIR") or ROOT.parent / "shared" / "corpus")

imaging.configure_libvips()


@pytest.fixture
def corpus() -> Path:
    """../shared/corpus, or a skip naming what is missing."""
    if not CORPUS.is_dir():
        pytest.skip(f"no image corpus at {CORPUS}")
    return CORPUS


@pytest.fixture
def threads() -> Iterator[None]:
    """libvips' thread count put back after the test (which may set it)."""
    before = pyvips.concurrency_get()
    yield
    pyvips.concurrency_set(before)
