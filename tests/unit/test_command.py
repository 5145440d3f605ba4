"""The `image-resizer` command: from any folder, the same copies, and no AWS SDK loaded.

scripts/setup.sh installs the project into the venv (editable), which puts pyproject's
[project.scripts] entry beside the venv's python.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import images

ROOT = Path(__file__).resolve().parents[2]
COMMAND = Path(sys.executable).parent / "image-resizer"
AWS_SDK = ("boto3", "botocore", "s3transfer", "aws_lambda_powertools", "mypy_boto3_s3")


def _elsewhere() -> dict[str, str]:
    """The environment without this repository on PYTHONPATH: the install alone finds app."""
    env = {**os.environ}
    env.pop("PYTHONPATH", None)
    return env


def test_the_command_resizes_a_photo_from_another_folder(tmp_path: Path) -> None:
    assert COMMAND.is_file(), f"{COMMAND} is missing: scripts/setup.sh installs it"
    (tmp_path / "photo.jpg").write_bytes(images.with_orientation(8, 1200, 900))

    done = subprocess.run(
        [str(COMMAND), "resize", "photo.jpg", "--out", "o"],
        cwd=tmp_path,
        env=_elsewhere(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "photo.jpg: processed -> o/photo-300.jpg (300x225), o/photo-600.jpg (600x450), "
        "o/photo-900.jpg (900x675); manifest o/photo.json\n"
    )
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "photo-300.jpg",
        "photo-600.jpg",
        "photo-900.jpg",
        "photo.json",
    ]
    assert images.top_left_is_red(images.load((tmp_path / "o" / "photo-900.jpg").read_bytes()))


def test_the_command_checks_the_configuration_beside_app_from_another_folder(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [str(COMMAND), "check", "--json"],
        cwd=tmp_path,
        env=_elsewhere(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["config_file"] == str(ROOT / "renditions.toml")


def test_help_names_the_command_as_typed(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(COMMAND), "--help"], cwd=tmp_path, env=_elsewhere(), capture_output=True, text=True
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: image-resizer [-h] {resize,check}")


def test_resizing_local_files_loads_no_aws_sdk(tmp_path: Path) -> None:
    (tmp_path / "photo.jpg").write_bytes(images.with_orientation(1, 640, 480))
    probe = (
        "import json, sys\n"
        "from app.__main__ import main\n"
        "status = main(['resize', 'photo.jpg', '--out', 'o'])\n"
        f"print(json.dumps([status, sorted(m for m in sys.modules if m.startswith({AWS_SDK}))]))\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=_elsewhere(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    status, loaded = json.loads(done.stdout.splitlines()[-1])
    assert status == 0, done.stdout
    assert (tmp_path / "o" / "photo-300.jpg").is_file()
    assert loaded == []
