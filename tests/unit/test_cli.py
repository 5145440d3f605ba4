"""`python -m app resize`: the same pipeline on local files, one line per file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import images
import pytest

from app.errors import PermanentError
from app.localfiles import LocalStore

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
        f"{out}/cat-600.jpg (600x450), {out}/cat-900.jpg (900x675); manifest {out}/cat.json"
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
        "cat.json",
        "logo-300.png",
        "logo-600.png",
        "logo-900.png",
        "logo.json",
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


def test_the_same_files_give_the_same_bytes_at_any_thread_count(tmp_path: Path) -> None:
    # Copies and manifests (its placeholder, its colour, every copy's size) alike, byte for
    # byte, from fresh processes at 1 and 8 libvips threads. Not AVIF (the next test).
    photo = images.photo(100, 67, alpha=True).zoom(8, 8)
    (tmp_path / "logo.png").write_bytes(bytes(photo.pngsave_buffer()))
    (tmp_path / "cat.jpg").write_bytes(images.jpeg(1200, 900))
    made = []
    for threads in ("1", "8"):
        out = tmp_path / f"out{threads}"
        done = run(
            "resize",
            str(tmp_path / "logo.png"),
            str(tmp_path / "cat.jpg"),
            "--out",
            str(out),
            OUTPUT_FORMATS="source,webp",
            VIPS_CONCURRENCY=threads,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        made.append({path.name: path.read_bytes() for path in out.iterdir()})

    assert made[0] == made[1]
    assert {"logo.json", "cat.json", "logo-900.png", "cat-900.webp"} <= set(made[0])


def test_avif_copies_are_the_same_bytes_at_the_same_thread_count(tmp_path: Path) -> None:
    # libaom cuts a picture into tiles by the threads it has (libvips hands it
    # VIPS_CONCURRENCY, else the cores), so an AVIF's bytes may change with the count
    # (docs/events.md says so); at the same count, they are the same.
    (tmp_path / "cat.jpg").write_bytes(images.jpeg(1200, 900))
    made = []
    for out, threads in (("a", "4"), ("b", "4")):
        done = run(
            "resize",
            str(tmp_path / "cat.jpg"),
            "--out",
            str(tmp_path / out),
            OUTPUT_FORMATS="avif",
            RESIZE_WIDTHS="900",
            VIPS_CONCURRENCY=threads,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        made.append(
            (
                (tmp_path / out / "cat-900.avif").read_bytes(),
                (tmp_path / out / "cat.json").read_bytes(),
            )
        )

    assert made[0] == made[1]


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


def test_a_template_that_climbs_out_of_out_is_refused(tmp_path: Path) -> None:
    (tmp_path / "cat.jpg").write_bytes(images.jpeg(400, 300))
    out = tmp_path / "a" / "b" / "out"

    done = run(
        "resize",
        str(tmp_path / "cat.jpg"),
        "--out",
        str(out),
        OUTPUT_KEY_TEMPLATE="{prefix}../../{stem}-{width}.{ext}",
    )

    assert done.returncode == 2
    assert "invalid OUTPUT_KEY_TEMPLATE '{prefix}../../{stem}-{width}.{ext}'" in done.stderr
    assert "it has a '.' or '..' path segment" in done.stderr
    assert sorted(p.name for p in tmp_path.rglob("*.jpg")) == ["cat.jpg"]


def test_no_copy_is_written_outside_out(tmp_path: Path) -> None:
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    out.mkdir()
    (out / "2024").symlink_to(elsewhere)  # a folder inside --out that leads out of it
    store = LocalStore({}, out, "copy/")

    assert store.output_path("copy/cat-300.jpg") == out / "cat-300.jpg"
    for key in ("copy/../cat-300.jpg", "copy/a/../../cat-300.jpg", "copy/2024/cat-300.jpg"):
        with pytest.raises(PermanentError) as raised:
            store.put("", key, b"x", content_type="", cache_control="", metadata={})
        assert str(raised.value) == (
            f"output key {key!r} would be written to {out / key.removeprefix('copy/')}, "
            f"outside --out {out}; nothing written"
        )
    assert list(elsewhere.iterdir()) == [] and list(tmp_path.glob("cat*")) == []
