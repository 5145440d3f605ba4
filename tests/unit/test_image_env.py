"""The Dockerfile's ENV lines, read so that local runs match the image."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.image_env import image_env


def test_reads_every_env_instruction(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "FROM base\n"
        "# ENV NOT_THIS=1, the builder's comment\n"
        "ENV A=1 B='two words'\n"
        "RUN echo ENV=no\n"
        "env C=3 \\\n"
        "    D=4\n"
    )

    assert image_env(dockerfile) == {"A": "1", "B": "two words", "C": "3", "D": "4"}


def test_the_legacy_form_is_refused_with_the_line(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("ENV A 1\n")

    with pytest.raises(ValueError, match="write ENV as KEY=value, not 'ENV A 1'"):
        image_env(dockerfile)
