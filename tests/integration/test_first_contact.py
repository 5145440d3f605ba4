"""A new user's first hour, as they would try it: scripts' help, set-up, the local stack's
start and banner, the CLI, and a dry run of the deploy on a machine with nothing else."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devtools.s3server import free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(p.name for p in (ROOT / "scripts").glob("*.sh"))

# Stand-ins for every tool a script could change the machine with: each records its call.
RECORDER = """#!/bin/sh
echo "$(basename "$0") $*" >> "$CALLS"
exit 1
"""
TOOLS = ("uv", "pip", "pip3", "apt-get", "npm", "docker", "aws", "python3", "taskset")


def _recording_path(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        (bin_dir / tool).write_text(RECORDER)
        (bin_dir / tool).chmod(0o755)
    return bin_dir


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_every_scripts_help_prints_its_usage_and_changes_nothing(
    script: str, flag: str, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "scripts", repo / "scripts")
    calls = tmp_path / "calls"
    bin_dir = _recording_path(tmp_path)

    done = subprocess.run(
        ["bash", str(repo / "scripts" / script), flag],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "CALLS": str(calls), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert f"scripts/{script}" in done.stdout  # the usage line names the script
    assert not calls.exists(), calls.read_text()
    assert sorted(p.name for p in repo.iterdir()) == ["scripts"]  # no .venv, no output


def test_the_local_stacks_help_names_its_ports_and_how_to_stop_it() -> None:
    for command in (
        [str(ROOT / "scripts" / "local.sh"), "--help"],
        [sys.executable, "-m", "devtools.stack", "--help"],
    ):
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
        text = " ".join(done.stdout.split())
        assert "127.0.0.1" in text and "4566" in text and "9000" in text, text
        assert "Ctrl-C" in text and "S3_PORT" in text and "LAMBDA_PORT" in text, text


def test_setup_finds_uv_where_pip_put_it_and_says_what_it_does() -> None:
    # A fresh shell whose PATH lacks pip's user script folder, where setup put uv.
    done = subprocess.run(
        ["bash", "-c", "source scripts/setup.sh && command -v uv"],
        cwd=ROOT,
        env={**os.environ, "PATH": "/usr/local/bin:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("/uv")
    assert "installing" not in done.stderr  # uv is there: nothing to install
    assert "setup: syncing .venv with requirements/dev.txt" in done.stderr


def test_a_bad_configuration_stops_the_local_stack_at_start() -> None:
    s3_port, lambda_port = free_port(), free_port()
    started = time.monotonic()
    done = subprocess.run(
        [
            str(ROOT / "scripts" / "local.sh"),
            "--s3-port",
            str(s3_port),
            "--lambda-port",
            str(lambda_port),
        ],
        env={**os.environ, "QUALITY": "0"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 2
    assert "Local stack ready" not in done.stdout
    errors = [line for line in done.stderr.splitlines() if not line.startswith(("setup:", " "))]
    errors = [line for line in errors if not line.startswith(("Resolved", "Checked", "Audited"))]
    assert errors == [
        "error: invalid configuration (1 problem): invalid QUALITY '0': expected an integer "
        "from 1 to 100"
    ]
    assert time.monotonic() - started < 120


# -- scripts/deploy.sh --dry-run on a machine with no AWS access --------------------------


def _bare_path(tmp_path: Path, *, aws: bool) -> str:
    """A PATH with the system's tools but no docker, and aws only when asked."""
    bin_dir = tmp_path / "bare"
    bin_dir.mkdir()
    for folder in ("/usr/bin", "/bin"):
        for tool in Path(folder).iterdir():
            if tool.name not in ("docker", "aws") and not (bin_dir / tool.name).exists():
                (bin_dir / tool.name).symlink_to(tool)
    (bin_dir / "python3").unlink(missing_ok=True)
    (bin_dir / "python3").symlink_to(sys.executable)
    if aws:
        (bin_dir / "aws").symlink_to(Path(sys.executable).parent / "aws")
    return str(bin_dir)


def _deploy(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / "deploy.sh"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


DEPLOY_CALLS = [
    "aws ecr create-repository",
    "aws ecr get-login-password | docker login --username AWS --password-stdin",
    "docker buildx build --platform linux/arm64 --provenance=false",
    "docker push",
    "aws s3api put-bucket-notification-configuration",
]
# What the stack declares: everything but the repository and the bucket's notification.
STACK_TYPES = {
    "AWS::IAM::Role",
    "AWS::IAM::Policy",
    "AWS::SQS::Queue",
    "AWS::Logs::LogGroup",
    "AWS::Lambda::Function",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::Lambda::Permission",
    "AWS::CloudWatch::Dashboard",
    "AWS::CloudWatch::Alarm",
}


@pytest.mark.parametrize("aws", [False, True], ids=["no-aws-cli", "no-credentials"])
def test_deploy_dry_run_works_with_no_buildx_credentials_or_network(
    tmp_path: Path, aws: bool
) -> None:
    env = {
        "PATH": _bare_path(tmp_path, aws=aws),
        "HOME": str(tmp_path),  # no ~/.aws
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens: no network
    }

    done = _deploy("--bucket", "my-photos", "--dry-run", env=env)

    assert done.returncode == 0, done.stderr
    shown = [line.replace("\\", "") for line in done.stderr.splitlines() if line.startswith("+")]
    for call in DEPLOY_CALLS:
        assert any(line.startswith(f"+ {call}") for line in shown), call
    assert "<account-id>" in done.stderr
    assert "AWS cannot be reached" in done.stderr
    [note] = [line for line in done.stderr.splitlines() if "(a real run stops here)" in line]
    assert "'docker' is not on PATH: install Docker" in note
    template = json.loads(done.stdout[: done.stdout.index("\nDry run:")])
    assert {r["Type"] for r in template["Resources"].values()} == STACK_TYPES
    assert "Dry run: nothing was changed." in done.stdout

    destroyed = _deploy("--bucket", "my-photos", "--dry-run", "--destroy", env=env)
    assert destroyed.returncode == 0, destroyed.stderr
    for call in ("aws cloudformation delete-stack", "aws ecr delete-repository"):
        assert f"+ {call}" in destroyed.stderr, call
    assert "Dry run: nothing was removed." in destroyed.stdout


def test_a_real_deploy_still_checks_its_tools_first(tmp_path: Path) -> None:
    env = {"PATH": _bare_path(tmp_path, aws=True), "HOME": str(tmp_path)}
    done = _deploy("--bucket", "my-photos", "--region", "eu-west-1", env=env)

    assert done.returncode == 2
    assert done.stderr.strip() == "deploy.sh: 'docker' is not on PATH: install Docker"


def test_a_real_deploy_names_every_missing_tool_at_once(tmp_path: Path) -> None:
    env = {"PATH": _bare_path(tmp_path, aws=False), "HOME": str(tmp_path)}
    done = _deploy("--bucket", "my-photos", env=env)

    assert done.returncode == 2
    assert done.stderr.strip() == (
        "deploy.sh: 'aws' is not on PATH: install the AWS CLI; 'docker' is not on PATH: "
        "install Docker; no region: pass --region or configure one (aws configure)"
    )
