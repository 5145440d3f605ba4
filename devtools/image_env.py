"""The environment that the container image sets: its Dockerfile's `ENV` lines.

The runtime emulator and the benchmark apply it, so that the function runs here as it
runs from the image (e.g. with the image's malloc settings), from one source of truth.
"""

from __future__ import annotations

import shlex
from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parent.parent / "Dockerfile"


def image_env(dockerfile: Path = DOCKERFILE) -> dict[str, str]:
    """`KEY=value` pairs of every `ENV` instruction (continuation lines joined)."""
    text = dockerfile.read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        instruction, _, rest = line.strip().partition(" ")
        if instruction.upper() != "ENV":
            continue
        for word in shlex.split(rest):
            key, sep, value = word.partition("=")
            if not sep:
                raise ValueError(f"{dockerfile}: write ENV as KEY=value, not {line.strip()!r}")
            env[key] = value
    return env
