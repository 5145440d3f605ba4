"""The image's build replayed without Docker (devtools/replay.py), from the Dockerfile's own lines.

No engine is needed: this runs everywhere the tests run. It resolves every runtime
dependency for the image's CPython on manylinux x86_64 and aarch64 with the RUN line's
own pip options, installs them into an empty task root as the RUN line does (with this
machine's CPython of the image's version), copies what COPY copies, and runs the real
`awslambdaric` from that task root alone, through the Runtime API emulator, against a
local S3 server. What it cannot prove is listed in docs/development.md (Container image).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import images
import pytest

from devtools import dockerfile, replay
from devtools.s3server import FAKE_AWS_ENV, free_port, moto_server

ROOT = Path(__file__).resolve().parents[2]
IMAGE = dockerfile.parse()
VERSION = IMAGE.args["PYTHON_VERSION"]


def _lock_names(lock: Path) -> set[str]:
    return {
        line.split("==")[0].lower().replace("_", "-")
        for line in lock.read_text().splitlines()
        if line and line[0].isalnum() and "==" in line
    }


@pytest.fixture(scope="module")
def python() -> Path:
    found = replay.find_python(VERSION)
    if found is None:
        pytest.fail(
            f"CPython {VERSION}, the Dockerfile's PYTHON_VERSION, is not on this machine: "
            f"the build replay needs it (uv python install {VERSION})"
        )
    return found


@pytest.fixture(scope="module")
def built(python: Path) -> Iterator[replay.Replay]:
    with replay.replayed(IMAGE, python) as done:
        yield done


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_server(free_port()) as endpoint:
        yield endpoint


def test_cmd_names_a_handler_defined_in_the_task_root(built: replay.Replay) -> None:
    assert replay.handler_defined(built.task_root, IMAGE.cmd) is None
    assert replay.handler_defined(built.task_root, ["app.handler.nothing"]) == (
        "CMD names app.handler.nothing, but app/handler.py defines no nothing()"
    )


@pytest.mark.parametrize("arch", replay.ARCHES)
def test_every_dependency_resolves_for_the_image_platforms(built: replay.Replay, arch: str) -> None:
    files = built.resolved[arch]
    resolved = {f.name.split("-")[0].lower().replace("_", "-") for f in files}
    wanted = _lock_names(ROOT / "requirements" / "runtime.txt") | _lock_names(
        ROOT / "requirements" / "build.txt"
    )
    assert resolved == wanted
    tags = {f"{a}" for a in replay.platform_tags(arch)} | {"any"}
    for wheel in (f for f in files if f.suffix == ".whl"):
        platforms = wheel.stem.split("-")[-1].split(".")
        assert set(platforms) & tags, f"{wheel.name} does not install on manylinux {arch}"
    # A source distribution builds in the image, which has no compiler: it must be pure.
    for sdist in (f for f in files if f.name.endswith(".tar.gz")):
        name, version = sdist.name.removesuffix(".tar.gz").rsplit("-", 1)
        wheel_info = built.task_root / f"{name.replace('-', '_')}-{version}.dist-info" / "WHEEL"
        assert "Root-Is-Purelib: true" in wheel_info.read_text(), sdist.name


def test_the_task_root_holds_the_runtime_lock_and_the_code_only(
    built: replay.Replay, capsys: pytest.CaptureFixture[str]
) -> None:
    installed = {
        p.name.split("-")[0].lower().replace("_", "-") for p in built.task_root.glob("*.dist-info")
    }
    assert installed == _lock_names(ROOT / "requirements" / "runtime.txt")
    shipped = sorted(
        str(p.relative_to(built.task_root)) for p in (built.task_root / "app").rglob("*.py")
    )
    assert shipped == sorted(str(p.relative_to(ROOT)) for p in (ROOT / "app").rglob("*.py"))
    assert not list(built.rootfs.glob("tmp/*")), "the build's inputs were left in the image"
    # The configuration file travels in the image, beside the app package that reads it.
    assert (built.task_root / "renditions.toml").read_bytes() == (
        ROOT / "renditions.toml"
    ).read_bytes()
    size = replay.tree_bytes(built.task_root)
    with capsys.disabled():
        print(f"\nreplayed task root: {size / 1e6:.1f} MB", end=" ")
    assert size < 250e6  # Lambda's limit for a zip package; an image allows 10 GB


def test_libraries_load_from_the_task_root_alone(built: replay.Replay) -> None:
    probe = (
        "import sys, boto3, pyvips, aws_lambda_powertools, app.image.imaging\n"
        "print(pyvips.API_mode)\n"
        "for m in (boto3, pyvips, aws_lambda_powertools, app.image.imaging):\n"
        "    print(m.__file__)\n"
    )
    done = subprocess.run(
        [str(built.base_python), "-c", probe],
        cwd=built.task_root,
        env=built.runtime_env({}),
        capture_output=True,
        text=True,
        check=True,
    )
    api_mode, *files = done.stdout.split()
    assert api_mode == "True"  # libvips from the pyvips-binary wheel's compiled module
    assert all(Path(f).is_relative_to(built.task_root) for f in files), files


def test_a_cold_start_in_the_task_root_compiles_no_module(built: replay.Replay) -> None:
    # Lambda's task root is read-only: a module shipped without its bytecode is compiled
    # again at every cold start. Record every compile the handler's import asks for.
    probe = (
        "import importlib._bootstrap_external as b, json\n"
        "compiled = []\n"
        "plain = b.SourceLoader.source_to_code\n"
        "def source_to_code(self, data, path, **kw):\n"
        "    compiled.append(str(path))\n"
        "    return plain(self, data, path, **kw)\n"
        "b.SourceLoader.source_to_code = source_to_code\n"
        "import app.handler\n"
        "print(json.dumps(compiled))\n"
    )
    done = subprocess.run(
        [str(built.base_python), "-c", probe],
        cwd=built.task_root,
        env={**built.runtime_env({}), **FAKE_AWS_ENV, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout.splitlines()[-1]) == []


def test_s3_put_event_through_the_runtime_from_the_task_root(
    built: replay.Replay, s3_endpoint: str
) -> None:
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, **_credentials())
    event = json.loads((ROOT / "events" / "s3-put.json").read_text())
    bucket = event["Records"][0]["s3"]["bucket"]["name"]
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="images/2024/my photoé.jpg", Body=images.jpeg(1600, 1200))

    env = {**FAKE_AWS_ENV, "AWS_ENDPOINT_URL": s3_endpoint, "AWS_LAMBDA_FUNCTION_TIMEOUT": "60"}
    with built.emulator(env) as emulator:
        body, failed = emulator.invoke(json.dumps(event).encode())

    reply = json.loads(body)
    assert not failed, reply
    assert reply["processed"] == 1, reply
    for width in (300, 600, 900):
        key = f"copy/2024/my photoé-{width}.jpg"
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ContentType"] == "image/jpeg"
        copy = images.load(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        assert copy.width == width


def test_the_replay_command_reports_each_step_the_readme_names(built: replay.Replay) -> None:
    # `python -m devtools.replay` prints these lines: main() is replayed() + report().
    lines = replay.report(built)

    assert [line.split(":")[0] for line in lines[:2]] == list(replay.ARCHES)
    assert lines[2] == f"CMD {IMAGE.cmd}: defined in the task root"
    assert re.fullmatch(r"task root: \d+\.\d MB", lines[3]), lines[3]
    assert lines[4] == (
        f"events/s3-put.json through {IMAGE.cmd[0]} from the task root: "
        + ", ".join(f"copy/2024/my photoé-{w}.jpg ({w}x{w * 2 // 3})" for w in (300, 600, 900))
    )
    assert len(lines) == 5


def test_the_replay_catches_an_install_line_with_no_distribution(
    built: replay.Replay, tmp_path: Path
) -> None:
    # The install line this project shipped before: wheels only, for a lock whose
    # pyvips is published as source only. A build stops there; so must the replay.
    (tmp_path / "requirements").mkdir()
    shutil.copy(ROOT / "requirements" / "runtime.txt", tmp_path / "requirements")
    (tmp_path / "Dockerfile").write_text(
        f"ARG PYTHON_VERSION={VERSION}\n"
        "FROM amazon/aws-lambda-python:${PYTHON_VERSION}\n"
        "COPY requirements/runtime.txt /tmp/requirements.txt\n"
        "RUN pip install --no-cache-dir --require-hashes --only-binary=:all: \\\n"
        '        --target "${LAMBDA_TASK_ROOT}" -r /tmp/requirements.txt \\\n'
        "    && rm /tmp/requirements.txt\n"
        'CMD ["app.handler.handler"]\n'
    )
    old = replay.Replay(dockerfile.parse(tmp_path / "Dockerfile"), built.python, tmp_path / "s")
    old.base()
    old.copy()

    with pytest.raises(replay.ReplayError, match="No matching distribution found for pyvips"):
        old.resolve("aarch64", tmp_path / "dl")


def _credentials() -> dict[str, Any]:
    return {
        "region_name": FAKE_AWS_ENV["AWS_DEFAULT_REGION"],
        "aws_access_key_id": FAKE_AWS_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": FAKE_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    }


# -- the HEIC variant (--build-arg HEIC=on) --------------------------------------------


@pytest.fixture(scope="module")
def built_heic(python: Path) -> Iterator[replay.Replay]:
    with replay.replayed(IMAGE, python, build_args={"HEIC": "on"}) as done:
        yield done


def test_only_the_branch_a_build_argument_takes_is_resolved() -> None:
    line = (
        'pip install -r /a.txt && if [ "${HEIC}" = on ]; then pip install -r /b.txt; '
        'elif [ "${HEIC}" != off ]; then echo bad >&2; exit 1; else pip install -r /c.txt; fi'
    )
    assert replay.pip_installs(line, {"HEIC": "on"}) == [["-r", "/a.txt"], ["-r", "/b.txt"]]
    assert replay.pip_installs(line, {"HEIC": "off"}) == [["-r", "/a.txt"], ["-r", "/c.txt"]]
    assert replay.pip_installs(line, {"HEIC": "yes"}) == [["-r", "/a.txt"]]
    with pytest.raises(replay.ReplayError, match=r"RUN line test '\[ -f /x \]'"):
        replay.pip_installs("if [ -f /x ]; then pip install -r /b.txt; fi", {})


def test_a_build_argument_the_dockerfile_does_not_declare_is_refused(python: Path) -> None:
    with pytest.raises(replay.ReplayError, match=r"^--build-arg HEIF: the Dockerfile declares"):
        replay.Replay(IMAGE, python, Path("/nonexistent"), build_args={"HEIF": "on"})


@pytest.mark.parametrize("arch", replay.ARCHES)
def test_the_heic_variant_resolves_for_the_image_platforms(
    built_heic: replay.Replay, arch: str
) -> None:
    resolved = {f.name.split("-")[0].lower().replace("_", "-") for f in built_heic.resolved[arch]}
    wanted = set().union(
        *(_lock_names(ROOT / "requirements" / f) for f in ("runtime.txt", "build.txt", "heic.txt"))
    )
    assert "pillow-heif" in wanted
    assert resolved == wanted
    tags = set(replay.platform_tags(arch)) | {"any"}
    for wheel in (f for f in built_heic.resolved[arch] if f.suffix == ".whl"):
        assert set(wheel.stem.split("-")[-1].split(".")) & tags, wheel.name


def test_the_heic_variant_turns_a_heic_upload_into_jpeg_copies(
    built_heic: replay.Replay, s3_endpoint: str
) -> None:
    installed = {
        p.name.split("-")[0].lower().replace("_", "-")
        for p in built_heic.task_root.glob("*.dist-info")
    }
    assert installed == _lock_names(ROOT / "requirements" / "runtime.txt") | _lock_names(
        ROOT / "requirements" / "heic.txt"
    )
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, **_credentials())
    event = json.loads((ROOT / "events" / "s3-put.json").read_text())
    bucket = event["Records"][0]["s3"]["bucket"]["name"] + "-heic"
    event["Records"][0]["s3"]["bucket"]["name"] = bucket
    event["Records"][0]["s3"]["object"].update(key="images/IMG_0001.HEIC", size=None)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(
        Bucket=bucket,
        Key="images/IMG_0001.HEIC",
        Body=images.heic(images.upright(1600, 1200), orientation=6),
    )

    env = {**FAKE_AWS_ENV, "AWS_ENDPOINT_URL": s3_endpoint, "AWS_LAMBDA_FUNCTION_TIMEOUT": "60"}
    with built_heic.emulator(env) as emulator:
        body, failed = emulator.invoke(json.dumps(event).encode())

    reply = json.loads(body)
    assert not failed and reply["processed"] == 1, reply
    for width in (300, 600, 900):
        data = s3.get_object(Bucket=bucket, Key=f"copy/IMG_0001-{width}.jpg")["Body"].read()
        copy = images.load(data)
        assert (copy.width, copy.height) == (width, width * 3 // 4)
        assert images.top_left_is_red(copy)
