"""`python -m app resize`: the same pipeline on local files, one line per file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import images
import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT,
        text=True,
        capture_output=True,
        timeout=120,
        env={**os.environ, **env},
        check=False,
    )


def test_resizes_files_and_reports_each(tmp_path: Path) -> None:
    (tmp_path / "cat.jpg").write_bytes(images.with_orientation(8, 1200, 900))
    (tmp_path / "logo.png").write_bytes(images.alpha_png(alpha=255))
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "out"

    done = run(
        "resize",
        str(tmp_path / "cat.jpg"),
        str(tmp_path / "logo.png"),
        str(tmp_path / "broken.jpg"),
        "--out",
        str(out),
    )

    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0] == (
        f"{tmp_path}/cat.jpg: processed -> {out}/cat-300.jpg (300x225), "
        f"{out}/cat-600.jpg (600x450), {out}/cat-900.jpg (900x675)"
    )
    assert lines[1].startswith(f"{tmp_path}/logo.png: processed -> {out}/logo-300.png")
    assert lines[2] == (
        f"{tmp_path}/broken.jpg: failed: {tmp_path}/broken.jpg is not an image in a "
        "supported format (JPEG, PNG, WebP, GIF, TIFF or HEIF/AVIF)"
    )
    assert images.top_left_is_red(images.load((out / "cat-900.jpg").read_bytes()))
    assert sorted(p.name for p in out.iterdir()) == [
        "cat-300.jpg",
        "cat-600.jpg",
        "cat-900.jpg",
        "logo-300.png",
        "logo-600.png",
        "logo-900.png",
    ]


def test_a_missing_or_unreadable_file_is_a_failure(tmp_path: Path) -> None:
    (tmp_path / "cat.jpg").write_bytes(images.jpeg(640, 480))
    (tmp_path / "folder.jpg").mkdir()

    done = run(
        "resize",
        str(tmp_path / "cat.jpg"),
        "missing.jpg",
        str(tmp_path / "folder.jpg"),
        "--out",
        str(tmp_path / "out"),
    )

    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"{tmp_path}/cat.jpg: processed -> ")
    assert lines[1] == "missing.jpg: failed: missing.jpg does not exist"
    assert lines[2] == (
        f"{tmp_path}/folder.jpg: failed: {tmp_path}/folder.jpg cannot be read: Is a directory"
    )


def test_uses_the_function_configuration(tmp_path: Path) -> None:
    (tmp_path / "cat.jpg").write_bytes(images.jpeg(800, 600))

    done = run(
        "resize",
        str(tmp_path / "cat.jpg"),
        "--out",
        str(tmp_path),
        RESIZE_WIDTHS="100x100",
        OUTPUT_FORMAT="webp",
    )

    assert done.returncode == 0, done.stderr
    assert (tmp_path / "cat-100x100.webp").is_file()


def test_bad_configuration_exits_2_with_the_message(tmp_path: Path) -> None:
    done = run("resize", "x.jpg", "--out", str(tmp_path), QUALITY="0")

    assert done.returncode == 2
    assert done.stderr == (
        "error: invalid configuration (1 problem): invalid QUALITY '0': "
        "expected an integer from 1 to 100\n"
    )


@pytest.mark.corpus
def test_works_on_the_corpus_photos(corpus: Path, tmp_path: Path) -> None:
    photos = sorted((corpus / "photos").glob("*.jpg"))

    done = run("resize", *map(str, photos), "--out", str(tmp_path))

    assert done.returncode == 0, done.stdout + done.stderr
    assert len(done.stdout.splitlines()) == len(photos)
    assert len(list(tmp_path.glob("*-900.jpg"))) == len(photos)
