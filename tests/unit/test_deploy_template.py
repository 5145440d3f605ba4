"""The deploy's CloudFormation template, checked by cfn-lint against AWS's specification."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tools.deploy.template import Plan, template

CFN_LINT = Path(sys.executable).parent / "cfn-lint"
SMALLEST = Plan(
    function_name="image-resizer",
    bucket="photos",
    image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/image-resizer:v1",
    region="us-east-1",
    source_prefix="images/",
    output_bucket="photos",
    output_prefixes=("copy/",),
    environment={"SOURCE_BUCKETS": "photos", "RENDITIONS_SHA256": "0" * 64},
)
EVERYTHING = replace(
    SMALLEST,
    output_bucket="copies",
    output_prefixes=("avatars/", "copy/", "products/"),
    environment={**SMALLEST.environment, "RESIZE_WIDTHS": "300", "EVENT_BUS_NAME": "apps"},
    namespace="Photos/Resizer",
    arch="x86_64",
    memory=3008,
    timeout=900,
    reserved=20,
    log_retention=3653,
    alarm_email="ops@example.com",
    bus_arn="apps",
)


def lint(document: dict, tmp_path: Path) -> subprocess.CompletedProcess[str]:  # type: ignore[type-arg]
    path = tmp_path / "template.json"
    path.write_text(json.dumps(document))
    return subprocess.run(
        [str(CFN_LINT), "--regions", "us-east-1", "--", str(path)],
        text=True,
        capture_output=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("plan", [SMALLEST, EVERYTHING], ids=["smallest", "everything"])
def test_the_whole_template_passes_cfn_lint(plan: Plan, tmp_path: Path) -> None:
    done = lint(template(plan), tmp_path)

    assert (done.returncode, done.stdout) == (0, "")


def test_cfn_lint_catches_a_value_aws_would_refuse(tmp_path: Path) -> None:
    done = lint(template(replace(SMALLEST, memory=64)), tmp_path)

    assert done.returncode != 0
    assert "E3034 64 is less than the minimum of 128" in done.stdout


def test_the_role_may_write_under_every_profiles_output_prefix_only() -> None:
    policy = template(EVERYTHING)["Resources"]["RolePolicy"]["Properties"]["PolicyDocument"]
    [write] = [s for s in policy["Statement"] if s["Action"] == "s3:PutObject"]

    assert write["Resource"] == [
        "arn:aws:s3:::copies/avatars/*",
        "arn:aws:s3:::copies/copy/*",
        "arn:aws:s3:::copies/products/*",
    ]
