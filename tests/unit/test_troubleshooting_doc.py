"""docs/troubleshooting.md stays true to the code: the sentences it quotes are the ones the
code prints, and its command for a `photo.jpg` makes a JPEG."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import pyvips

from app.config import profiles
from app.errors import ConfigError
from devtools import stack

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "troubleshooting.md").read_text()


def section(title: str) -> str:
    """The text of the page's section under `## title`."""
    return PAGE.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def blocks(text: str) -> list[str]:
    """The fenced code blocks of a text, without their fences."""
    return re.findall(r"^```[a-z]*\n(.*?)^```", text, flags=re.M | re.S)


def test_a_taken_port_gets_the_sentence_the_page_quotes() -> None:
    (quoted,) = blocks(section("A port is taken"))
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]

        problems = stack.unusable_ports({"LAMBDA_PORT (--lambda-port)": port})

    assert [f"error: {problem}" for problem in problems] == [
        quoted.strip().replace(" 9000 ", f" {port} ")
    ]


def test_a_bad_configuration_gets_the_line_the_page_quotes() -> None:
    (quoted,) = blocks(section("A bad configuration: exit status 2"))

    with pytest.raises(ConfigError) as raised:
        profiles.load({"QUALITY": "0", "MAX_FRAMES": "x"})

    assert f"error: {raised.value}" == quoted.strip()


def test_the_command_for_a_photo_makes_a_jpeg(tmp_path: Path) -> None:
    (command,) = blocks(section("Where `photo.jpg` comes from"))
    code = re.fullmatch(r'\.venv/bin/python -c "(.*)"\n', command)
    assert code is not None, command

    subprocess.run([sys.executable, "-c", code.group(1)], cwd=tmp_path, check=True, timeout=60)

    photo = pyvips.Image.new_from_file(str(tmp_path / "photo.jpg"))
    assert (photo.get("vips-loader"), photo.width, photo.height) == ("jpegload", 1200, 800)


def test_the_browser_tests_skip_reason_is_the_one_quoted() -> None:
    quoted = re.search(
        r"``(no chromium on PATH: .*?)``", section("No chromium: the gallery's browser test skips")
    )
    assert quoted is not None

    assert f'"{quoted.group(1)}"' in (ROOT / "tests" / "browser" / "test_gallery.py").read_text()
