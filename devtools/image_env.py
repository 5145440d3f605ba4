"""The environment that the container image sets: its Dockerfile's `ENV` lines.

The runtime emulator and the benchmark apply it, so that the function runs here as it
runs from the image (e.g. with the image's malloc settings), from one source of truth.
"""

from __future__ import annotations

from pathlib import Path

from devtools import dockerfile


def image_env(path: Path = dockerfile.DOCKERFILE) -> dict[str, str]:
    """`KEY=value` pairs of every `ENV` instruction (continuation lines joined)."""
    return dockerfile.parse(path).env
