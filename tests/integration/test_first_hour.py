"""The first hour's frictions, each as a user meets it: Ctrl-C on the local stack, a taken
port, a bad `--out`, and `--help` on every entry point."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import images
import pytest
from localstack import ROOT, running_stack, wait_for

from devtools.emulator import INVOKE_PATH
from devtools.s3server import FAKE_AWS_ENV, free_port

# -- Ctrl-C ------------------------------------------------------------------------------


@pytest.mark.parametrize("when", ["delivering", "delivered", "delivered again"])
def test_ctrl_c_stops_the_stack_quietly_and_in_order(when: str) -> None:
    # A terminal's Ctrl-C goes to the whole foreground process group; a delivery thread
    # in its long poll when the S3 server died under it printed a traceback (3 in 6 tries).
    with running_stack() as stack:
        stack.ready()
        s3 = boto3.client(
            "s3",
            endpoint_url=stack.s3,
            region_name="us-east-1",
            aws_access_key_id=FAKE_AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        )
        s3.put_object(Bucket="image-resizer-local", Key="images/ctrl-c.png", Body=images.png())
        if when != "delivering":  # else: while the upload's delivery runs
            wait_for(lambda: any("1 processed" in line for line in stack.lines), 60, "delivery")
        os.killpg(stack.process.pid, signal.SIGINT)
        status = stack.process.wait(timeout=30)
        wait_for(lambda: stack.lines and stack.lines[-1] == "stopped\n", 10, "the last line")

    assert status == 0
    output = "".join(stack.lines)
    assert "Traceback" not in output and "Error" not in output, output[-3000:]
    stopping = next(i for i, line in enumerate(stack.lines) if line.startswith("stopping"))
    # A delivery under way finishes: its line, and the function's JSON log lines, may come.
    said = [line for line in stack.lines[stopping - 1 :] if not line.startswith("{")]
    assert said[:2] == [
        "\n",
        "stopping: the delivery, the gallery, the function and the S3 server\n",
    ]
    assert said[-1] == "stopped\n"
    assert all(line.startswith("delivered 1 message(s): ") for line in said[2:-1]), said
    for port in stack.ports.values():
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers"


# -- a port that is taken ----------------------------------------------------------------


@pytest.fixture
def listening() -> Iterator[int]:
    """A port on 127.0.0.1 that another program listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _stack(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devtools.stack"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("variable", "flag"),
    [
        ("S3_PORT", "--s3-port"),
        ("LAMBDA_PORT", "--lambda-port"),
        ("GALLERY_PORT", "--gallery-port"),
    ],
)
def test_a_taken_port_is_one_line_naming_its_variable(
    listening: int, variable: str, flag: str
) -> None:
    ports = {name: str(free_port()) for name in ("S3_PORT", "LAMBDA_PORT", "GALLERY_PORT")}
    started = time.monotonic()
    done = _stack({**ports, variable: str(listening)})

    assert done.returncode == 2
    assert done.stderr == (
        f"error: {variable} ({flag}) {listening} is taken on 127.0.0.1 (Address already in "
        f"use): another program listens there; set {variable} to a free port\n"
    )
    assert done.stdout == ""  # nothing was started
    assert time.monotonic() - started < 30


def test_two_parts_on_one_port_and_a_port_that_is_no_number_are_refused() -> None:
    port = str(free_port())
    done = _stack({"S3_PORT": port, "LAMBDA_PORT": str(free_port()), "GALLERY_PORT": port})
    assert done.returncode == 2
    assert done.stderr == (
        f"error: GALLERY_PORT (--gallery-port) {port} is the port of S3_PORT (--s3-port) too; "
        "set GALLERY_PORT to another\n"
    )

    done = _stack({"LAMBDA_PORT": "nine"})
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "python -m devtools.stack: error: argument --lambda-port: invalid port 'nine' "
        "(LAMBDA_PORT or --lambda-port): expected a whole number from 1 to 65535"
    )


# -- python -m app resize --out BAD --------------------------------------------------------


def _resize(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", "resize", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("out", "reason"),
    [
        ("a-file", "a file is there, not a folder"),
        ("a-file/copies", "cannot be made: a file stands where one of its parent folders would be"),
        # Not writable even by root (CI runs as root, so a chmod would not do).
        ("/sys", "cannot be written (Permission denied)"),
        ("/sys/copies", "cannot be written (Operation not permitted)"),
    ],
)
def test_a_bad_out_folder_is_one_line_and_exit_2(tmp_path: Path, out: str, reason: str) -> None:
    (tmp_path / "photo.jpg").write_bytes(images.jpeg(800, 600))
    (tmp_path / "a-file").write_text("not a folder")

    done = _resize("photo.jpg", "--out", out, cwd=tmp_path)

    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"error: --out {out}: {reason}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "photo.jpg"]


def test_a_copy_that_cannot_be_written_fails_its_file_on_one_line(tmp_path: Path) -> None:
    (tmp_path / "photo.jpg").write_bytes(images.jpeg(800, 600))
    (tmp_path / "out" / "photo-300.jpg").mkdir(parents=True)  # a folder where a copy goes

    done = _resize("photo.jpg", "--out", "out", cwd=tmp_path)

    assert (done.returncode, done.stderr) == (1, "")
    assert done.stdout == "photo.jpg: failed: out/photo-300.jpg cannot be written: Is a directory\n"


# -- --help everywhere ------------------------------------------------------------------


def _entry_points() -> list[list[str]]:
    """Every Python command of the repository: modules run with -m, and scripts/*.py."""
    commands = []
    for folder in ("app", "devtools", "tools", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if 'if __name__ == "__main__":' not in path.read_text(encoding="utf-8"):
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            commands.append(["-m", ".".join(parts[:-1] if parts[-1] == "__main__" else parts)])
    commands += [[f"scripts/{p.name}"] for p in sorted((ROOT / "scripts").glob("*.py"))]
    return commands


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
    }


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository without its venv, so that a command's changes would show."""
    copy = tmp_path_factory.mktemp("repo") / "image-resizer"
    shutil.copytree(
        ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "*cache*")
    )
    return copy


def test_the_entry_points_are_found() -> None:
    found = {" ".join(c) for c in _entry_points()}
    assert {"-m app", "-m devtools.stack", "-m devtools.replay", "-m bench"} <= found
    assert "-m tools.deploy" in found  # the deploy's template (scripts/ holds no .py now)


@pytest.mark.parametrize("command", _entry_points(), ids=" ".join)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_every_python_entry_points_help_exits_0_and_changes_nothing(
    repo_copy: Path, command: list[str], flag: str, tmp_path: Path
) -> None:
    before = _snapshot(repo_copy)
    done = subprocess.run(
        [sys.executable, *command, flag],
        cwd=repo_copy,
        env={**os.environ, "HOME": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert len(done.stdout.split()) > 5, done.stdout  # it says what it does
    assert _snapshot(repo_copy) == before
    assert list(tmp_path.iterdir()) == []


# -- CI installs the browser the gallery test needs -------------------------------------


@pytest.mark.parametrize(
    ("ci", "has_chromium", "installs"),
    [("true", False, True), ("true", True, False), ("", False, False)],
    ids=["ci-without-chromium", "ci-with-chromium", "not-ci"],
)
def test_ci_installs_chromium_only_when_it_is_missing(
    tmp_path: Path, ci: str, has_chromium: bool, installs: bool
) -> None:
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copytree(ROOT / ".ci", repo / ".ci")
    (repo / "scripts" / "test.sh").write_text('#!/bin/sh\necho "test.sh $*" >> "$CALLS"\n')
    (repo / "scripts" / "test.sh").chmod(0o755)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tools = ["apt-get", "chromium"] if has_chromium else ["apt-get"]
    for tool in tools:  # each records its call
        (bin_dir / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> "$CALLS"\n')
        (bin_dir / tool).chmod(0o755)
    for tool in ("timeout", "dirname"):  # what .ci/run needs besides bash's builtins
        (bin_dir / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    calls = tmp_path / "calls"

    done = subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(repo / ".ci" / "run")],
        env={"PATH": str(bin_dir), "CALLS": str(calls), "CI": ci},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert calls.read_text().splitlines() == (
        ["apt-get -qq update", "apt-get -qq install -y --no-install-recommends chromium"]
        if installs
        else []
    ) + ["test.sh "]


# -- the delete samples show a delete --------------------------------------------------


def test_invoking_a_delete_sample_deletes_the_copies_the_stack_made_for_it() -> None:
    from devtools.stack import sample_objects

    with running_stack() as stack:
        stack.ready()
        s3 = boto3.client(
            "s3",
            endpoint_url=stack.s3,
            region_name="us-east-1",
            aws_access_key_id=FAKE_AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        )
        invoke = f"http://127.0.0.1:{stack.ports['LAMBDA_PORT']}{INVOKE_PATH}"
        banner = "".join(stack.lines)
        for name, folder, stem in (
            ("s3-delete.json", "2024", "old cat"),
            ("eventbridge-object-deleted.json", "eventbridge", "old photo"),
        ):
            [(bucket, key)] = sample_objects()[name]
            assert key == f"images/{folder}/{stem}.jpg"
            assert f"-d @events/{name}" in banner
            copies = [f"copy/{folder}/{stem}-{w}.jpg" for w in (300, 600, 900)]
            made = [*copies, f"copy/{folder}/{stem}.json"]
            assert _keys(s3, bucket, f"copy/{folder}/{stem}") == made  # made at start-up
            assert _keys(s3, bucket, key) == []  # and the source is gone, as deleted

            reply = _post(invoke, (ROOT / "events" / name).read_bytes())
            assert (reply["deleted"], reply["processed"], reply["failed"]) == (1, 0, 0), reply
            assert sorted(reply["results"][0]["deleted"]) == made
            assert _keys(s3, bucket, f"copy/{folder}/{stem}") == []

            again = _post(invoke, (ROOT / "events" / name).read_bytes())
            assert (again["deleted"], again["skipped"]) == (0, 1), again


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return sorted(o["Key"] for o in listed)


def _post(url: str, body: bytes) -> Any:
    request = urllib.request.Request(url, data=body, method="POST")
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())
