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
import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMAND = Path(sys.executable).parent / "image-resizer"
AWS_SDK = ("boto3", "botocore", "s3transfer", "aws_lambda_powertools", "mypy_boto3_s3")
# What a resize of local files never loads; each waits for the first use the command does
# not make (tests/unit/test_cold_start.py holds the function's own list).
NOT_FOR_LOCAL_FILES = {
    "tomllib": "the shipped renditions.toml declares nothing (comments alone)",
    "ctypes": "only a limited memory budget (the function's) trims; the command's has no limit",
    "app.renditions.sweep": "local files have no store that removes copies",
    "app.renditions.removal": "no local file is removed",
    "app.image.heic": "only a HEIC file needs it",
    "pillow_heif": "only a HEIC file needs it",
    "dataclasses": "value objects are Records (app/record.py), defined cheaply",
    "typing": "annotations are for mypy alone, and Records are built without it",
    "inspect": "nothing asks a runtime-checkable protocol (copies.removes looks up methods)",
    "hashlib": "SHA-256 of short texts comes from CPython's built-in _sha2 (app/digest.py)",
    "_hashlib": "OpenSSL's hashes: only a colour profile over 256 KB needs them",
    "base64": "the manifest's ThumbHash is encoded by binascii",
    "argparse": "the arguments are read with getopt: argparse's parser costs about 20 M "
    "instructions of every run, getopt's about 5 M (docs/performance.md)",
    "locale": "gettext loads it to translate a message: getopt makes one for a usage error alone",
    "shutil": "only argparse's help formatter would load it",
    "bz2": "shutil would load it",
    "lzma": "shutil would load it",
}


def _elsewhere() -> dict[str, str]:
    """The environment without this repository on PYTHONPATH: the install alone finds app."""
    env = {**os.environ}
    env.pop("PYTHONPATH", None)
    return env


def _run(argv: list[str], folder: Path) -> subprocess.CompletedProcess[str]:
    """`argv` run from `folder`, found by the install alone (`_elsewhere`)."""
    return subprocess.run(
        argv,
        cwd=folder,
        env=_elsewhere(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_command_resizes_a_photo_from_another_folder(tmp_path: Path) -> None:
    assert COMMAND.is_file(), f"{COMMAND} is missing: scripts/setup.sh installs it"
    (tmp_path / "photo.jpg").write_bytes(images.with_orientation(8, 1200, 900))

    done = _run([str(COMMAND), "resize", "photo.jpg", "--out", "o"], tmp_path)

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
    done = _run([str(COMMAND), "check", "--json"], tmp_path)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["config_file"] == str(ROOT / "renditions.toml")


def test_help_names_the_command_as_typed(tmp_path: Path) -> None:
    done = _run([str(COMMAND), "--help"], tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: image-resizer [-h] {resize,check}")


def _modules_after_a_resize(tmp_path: Path) -> list[str]:
    """Every module a fresh interpreter holds once it resized a plain JPEG into tmp_path/o."""
    return _after_a_resize(tmp_path, "sorted(sys.modules)")


def _after_a_resize(tmp_path: Path, what: str) -> list[str]:
    """`what` (a Python expression giving a list of str) in a fresh interpreter, once it
    resized a plain JPEG into tmp_path/o."""
    (tmp_path / "photo.jpg").write_bytes(images.jpeg(640, 480))
    probe = (  # `compiled`: each compile() that app's code calls (at any depth), not an import
        "import json, os, sys\n"
        "import app\n"
        "compiled, APP = [], os.path.dirname(app.__file__) + os.sep\n"
        "def compiling(event, args):\n"
        "    if event != 'compile' or str(args[1]).endswith('.py'):\n"
        "        return  # (sys._getframe is audited too)\n"
        "    frame = sys._getframe()\n"
        "    while frame and not frame.f_code.co_filename.startswith('<frozen importlib'):\n"
        "        if frame.f_code.co_filename.startswith(APP):\n"
        "            compiled.append(f'{frame.f_code.co_filename}:{frame.f_lineno}')\n"
        "            break\n"
        "        frame = frame.f_back\n"
        "sys.addaudithook(compiling)\n"
        "from app.__main__ import main\n"
        "status = main(['resize', 'photo.jpg', '--out', 'o'])\n"
        f"print(json.dumps([status, {what}]))\n"
    )
    done = _run([sys.executable, "-c", probe], tmp_path)
    assert done.returncode == 0, done.stderr
    status, found = json.loads(done.stdout.splitlines()[-1])
    assert status == 0, done.stdout
    assert (tmp_path / "o" / "photo-300.jpg").is_file()
    return list(found)


def test_resizing_a_photo_loads_only_what_local_files_need(tmp_path: Path) -> None:
    loaded = _modules_after_a_resize(tmp_path)

    assert "app.renditions.pipeline" in loaded  # the resize did run
    early = {name: why for name, why in NOT_FOR_LOCAL_FILES.items() if name in loaded}
    assert not early, f"loaded by the command, though {early}"


def test_resizing_a_photo_compiles_nothing_of_its_own(tmp_path: Path) -> None:
    # Code compiled at run time (collections.namedtuple's constructor, a dataclass's methods,
    # typing's string annotations) costs every start-up: Records are built without it
    # (app/record.py). What the standard library compiles for itself (urllib.parse's
    # namedtuples, which `import pyvips` makes too) is not app's.
    compiled = _after_a_resize(tmp_path, "compiled")

    assert compiled == []


def test_checking_out_makes_a_file_without_tempfile(tmp_path: Path) -> None:
    try:  # Linux's unnamed file; where there is none, tempfile makes (and removes) a named one
        os.close(os.open(tmp_path, os.O_TMPFILE | os.O_WRONLY, 0o600))
    except (AttributeError, OSError) as error:
        pytest.skip(f"{tmp_path} takes no O_TMPFILE file here ({error}): tempfile checks --out")

    assert "tempfile" not in _modules_after_a_resize(tmp_path)
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "photo-300.jpg",
        "photo-600.jpg",
        "photo-900.jpg",
        "photo.json",
    ]


def test_resizing_local_files_loads_no_aws_sdk(tmp_path: Path) -> None:
    loaded = _modules_after_a_resize(tmp_path)

    assert [name for name in loaded if name.startswith(AWS_SDK)] == []
