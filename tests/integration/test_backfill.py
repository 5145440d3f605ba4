"""scripts/backfill.sh for real: --local through the function against moto's S3 server,
and the AWS path against moto's IAM, Lambda and S3 with a stand-in for the Batch
Operations job API (tests/integration/batchjobs.py), which moto lacks."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
from batchjobs import batch_jobs
from harness import LambdaContext

from devtools.s3server import free_port
from devtools.stack import sample_image
from tools.backfill import objects

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"  # moto's
IMAGES = ["images/a.jpg", "images/b.png", "images/sub/c.webp", "images/my photo+1 é.jpg"]
NOT_AN_IMAGE = "images/notes.txt"
WIDTHS = (300, 600, 900)


def backfill(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / "backfill.sh"), *args],
        env={**os.environ, "MANIFEST": "off", **env},  # the manifest: test_manifest_s3.py
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def photos(s3: Any, bucket: str) -> str:
    """A bucket as a user has it before deploying: images, a text file, a folder marker,
    and an old copy under the output prefix."""
    for key in IMAGES:
        s3.put_object(Bucket=bucket, Key=key, Body=sample_image(key))
    s3.put_object(Bucket=bucket, Key=NOT_AN_IMAGE, Body=b"shopping list: milk, eggs\n")
    s3.put_object(Bucket=bucket, Key="images/2024/", Body=b"")
    s3.put_object(Bucket=bucket, Key="copy/old-300.jpg", Body=sample_image("old.jpg"))
    return bucket


def copies(s3: Any, bucket: str) -> dict[str, str]:
    """Every copy the function made (not the old one): key -> ETag and last-modified."""
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="copy/").get("Contents", [])
    return {
        o["Key"]: f"{o['ETag']} {o['LastModified']}"
        for o in listed
        if o["Key"] != "copy/old-300.jpg"
    }


def expected_copies() -> set[str]:
    stems = {"images/a.jpg": "a", "images/b.png": "b", "images/sub/c.webp": "sub/c"}
    stems["images/my photo+1 é.jpg"] = "my photo+1 é"
    return {
        f"copy/{stem}-{w}.{key.rpartition('.')[2]}" for key, stem in stems.items() for w in WIDTHS
    }


FAILED_GROUP = (
    "Failed, by reason:\n"
    "  1 x <object> is not an image in a supported format (JPEG, PNG, WebP, GIF, TIFF or "
    "HEIF/AVIF)\n"
    "      images/notes.txt"
)


def test_local_makes_the_copies_of_existing_objects_and_a_rerun_skips_them(
    photos: str, s3: Any, s3_endpoint: str
) -> None:
    first = backfill("--bucket", photos, "--local", AWS_ENDPOINT_URL=s3_endpoint)

    assert first.returncode == 1, first.stderr  # the text file cannot be resized
    assert set(copies(s3, photos)) == expected_copies()
    out = first.stdout
    assert f"Backfill of s3://{photos}/images/ on this machine: 5 objects to process " in out
    assert "(6 listed), 4 at a time" in out
    # Not a terminal: one line as tasks end, never a carriage return.
    bars = [line for line in out.splitlines() if line.startswith("[")]
    assert len(bars) >= 2 and "\r" not in out
    assert re.match(r"\[#{30}\] 5/5 tasks \(1 failed\)  [\d.]+/s  took 0:\d\d:\d\d$", bars[-1])
    assert re.match(r"\[-{30}\] 0/5 tasks \(0 failed\)  [\d.]+/s  ETA --:--$", bars[0])
    assert "Done: 5 objects: 4 made, 0 skipped as up to date, 0 skipped, 1 failed" in out
    assert "Left out of the tasks (the function would skip them): folder markers: 1" in out
    assert FAILED_GROUP in out

    made = copies(s3, photos)
    again = backfill("--bucket", photos, "--local", AWS_ENDPOINT_URL=s3_endpoint)

    # Safe to re-run: every copy is up to date, none is written again; the text file
    # still cannot be resized, so the run still says so with exit status 1.
    assert again.returncode == 1, again.stderr
    assert "Done: 5 objects: 0 made, 4 skipped as up to date, 0 skipped, 1 failed" in again.stdout
    assert FAILED_GROUP in again.stdout
    assert copies(s3, photos) == made


def test_local_over_the_whole_bucket_leaves_out_the_functions_own_copies(
    photos: str, s3: Any, s3_endpoint: str
) -> None:
    done = backfill(
        "--bucket",
        photos,
        "--local",
        "--prefix",
        "",
        "--concurrency",
        "2",
        AWS_ENDPOINT_URL=s3_endpoint,
    )

    assert done.returncode == 1, done.stderr
    assert "5 objects to process (7 listed), 2 at a time" in done.stdout
    assert (
        "Left out of the tasks (the function would skip them): folder markers: 1, "
        "under the output prefix (the function's own copies): 1"
    ) in done.stdout
    assert set(copies(s3, photos)) == expected_copies()


def test_local_reads_the_keys_of_an_s3_inventory_report(
    photos: str, s3: Any, s3_endpoint: str
) -> None:
    import gzip

    rows = [
        f'"{photos}","{objects.quote(k, safe="/").replace("%20", "+")}","true","false"'
        for k in IMAGES[:2]
    ]
    rows.append(f'"{photos}","images/gone.jpg","false","false"')  # an older version
    data = "inventory/photos/all/data/part-1.csv.gz"
    s3.put_object(Bucket=photos, Key=data, Body=gzip.compress("\n".join(rows).encode()))
    manifest = {
        "sourceBucket": photos,
        "destinationBucket": f"arn:aws:s3:::{photos}",
        "fileFormat": "CSV",
        "fileSchema": "Bucket, Key, IsLatest, IsDeleteMarker",
        "files": [{"key": data, "size": 1, "MD5checksum": "x"}],
    }
    key = "inventory/photos/all/2024-01-01T00-00Z/manifest.json"
    s3.put_object(Bucket=photos, Key=key, Body=json.dumps(manifest).encode())

    done = backfill(
        "--bucket",
        photos,
        "--local",
        "--inventory",
        f"s3://{photos}/{key}",
        AWS_ENDPOINT_URL=s3_endpoint,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "Done: 2 objects: 2 made, 0 skipped as up to date, 0 skipped, 0 failed" in done.stdout
    assert {k.rpartition("-")[0] for k in copies(s3, photos)} == {"copy/a", "copy/b"}


# -- the AWS path: S3 Batch Operations ------------------------------------------------------


def client(service: str, endpoint: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")


@pytest.fixture
def deployed(s3_endpoint: str) -> str:
    """The function as deploy.sh leaves it in moto's Lambda (its configuration only)."""
    iam, lam = client("iam", s3_endpoint), client("lambda", s3_endpoint)
    name = f"resizer-{os.urandom(4).hex()}"
    role = iam.create_role(
        RoleName=f"{name}-role",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    lam.create_function(
        FunctionName=name,
        PackageType="Image",
        Code={"ImageUri": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/{name}:v1"},
        Role=role,
        Environment={"Variables": {"SOURCE_PREFIX": "images/", "OUTPUT_PREFIX": "copy/"}},
    )
    return name


def test_aws_creates_the_role_the_manifest_and_the_job_and_reports_failures(
    photos: str, s3: Any, s3_endpoint: str, deployed: str, load_handler: Any
) -> None:
    handler = load_handler(SOURCE_PREFIX="images/", OUTPUT_PREFIX="copy/", MANIFEST="off")
    with batch_jobs(
        s3_endpoint, lambda event: handler.handler(event, LambdaContext()), task_delay=0.05
    ) as (jobs_endpoint, jobs):
        done = backfill(
            "--bucket",
            photos,
            "--function-name",
            deployed,
            "--region",
            "us-east-1",
            "--poll",
            "0.1",
            AWS_ENDPOINT_URL=s3_endpoint,
            AWS_ENDPOINT_URL_S3_CONTROL=jobs_endpoint,
        )

    assert done.returncode == 1, done.stdout + done.stderr
    assert set(copies(s3, photos)) == expected_copies(), done.stdout + done.stderr

    # The job: the function, schema 2.0, no confirmation, a report of failed tasks.
    [request] = jobs.requests
    function_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{deployed}"
    assert request["AccountId"] == ACCOUNT
    assert request["ConfirmationRequired"] == "false"
    assert request["Operation"] == {
        "LambdaInvoke": {
            "FunctionArn": function_arn,
            "InvocationSchemaVersion": "2.0",
            "UserArguments": "",
        }
    }
    assert request["Report"] == {
        "Bucket": f"arn:aws:s3:::{photos}",
        "Format": "Report_CSV_20180820",
        "Enabled": "true",
        "Prefix": f"backfill/{deployed}/reports",
        "ReportScope": "FailedTasksOnly",
    }
    spec = request["Manifest"]["Spec"]
    assert (spec["Format"], spec["Fields"]) == ("S3BatchOperations_CSV_20180820", ["Bucket", "Key"])
    manifest_arn = request["Manifest"]["Location"]["ObjectArn"]
    assert re.fullmatch(
        rf"arn:aws:s3:::{photos}/backfill/{deployed}/\d{{8}}T\d{{6}}Z/manifest.csv", manifest_arn
    )

    # The manifest: bucket,key with keys URL-encoded; no folder marker.
    manifest_key = manifest_arn.partition("/")[2]
    body = s3.get_object(Bucket=photos, Key=manifest_key)["Body"].read().decode()
    assert sorted(body.splitlines()) == sorted(
        [
            f"{photos},images/a.jpg",
            f"{photos},images/b.png",
            f"{photos},images/sub/c.webp",
            f"{photos},images/my%20photo%2B1%20%C3%A9.jpg",
            f"{photos},images/notes.txt",
        ]
    )

    # The role: trusted by Batch Operations only; invoke the one function, read the one
    # manifest, write reports under the one prefix.
    iam = client("iam", s3_endpoint)
    role_name = f"{deployed}-backfill"
    assert request["RoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{role_name}"
    role = iam.get_role(RoleName=role_name)["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "batchoperations.s3.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
    assert iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"] == []
    [policy_name] = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    policy = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
    assert {(str(s["Action"]), s["Resource"]) for s in policy["Statement"]} == {
        ("lambda:InvokeFunction", function_arn),
        (str(["s3:GetObject", "s3:GetObjectVersion"]), manifest_arn),
        ("s3:PutObject", f"arn:aws:s3:::{photos}/backfill/{deployed}/reports/*"),
        ("s3:GetBucketLocation", f"arn:aws:s3:::{photos}"),
    }
    assert {s["Effect"] for s in policy["Statement"]} == {"Allow"}

    # Progress until the job ended, then its report's failures by reason.
    out = done.stdout
    bars = [line for line in out.splitlines() if line.startswith("[")]
    assert bars and re.match(r"\[#{30}\] 5/5 tasks \(1 failed\)", bars[-1])
    assert re.search(
        r"Job [0-9a-f-]{36} Complete: 5 objects: 4 succeeded \(made, or skipped as up to "
        r"date\), 1 failed",
        out,
    )
    assert FAILED_GROUP in out
    assert "Left out of the tasks (the function would skip them): folder markers: 1" in out
    assert "+ aws s3control create-job --account-id 123456789012 --no-confirmation-required" in (
        done.stderr
    )


def test_aws_dry_run_reads_but_changes_nothing(
    photos: str, s3: Any, s3_endpoint: str, deployed: str
) -> None:
    done = backfill(
        "--bucket",
        photos,
        "--function-name",
        deployed,
        "--region",
        "us-east-1",
        "--dry-run",
        AWS_ENDPOINT_URL=s3_endpoint,
        AWS_ENDPOINT_URL_S3_CONTROL=f"http://127.0.0.1:{free_port()}",
    )

    assert done.returncode == 0, done.stderr
    assert "backfill: 5 objects to process under" in done.stderr
    for call in (
        "aws s3api list-objects-v2",
        "aws s3api put-object",
        "aws iam create-role",
        "aws iam put-role-policy",
        "aws s3control create-job",
    ):
        assert f"+ {call} " in done.stderr, call
    assert "Dry run: nothing was changed." in done.stdout
    assert s3.list_objects_v2(Bucket=photos, Prefix="backfill/").get("KeyCount") == 0
    roles = client("iam", s3_endpoint).list_roles()["Roles"]
    assert f"{deployed}-backfill" not in [r["RoleName"] for r in roles]


def test_aws_dry_run_with_no_credentials_or_network_prints_the_plan(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}",  # nothing listens: no network
    )
    done = subprocess.run(
        [str(ROOT / "scripts" / "backfill.sh"), "--bucket", "my-photos", "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "AWS cannot be reached" in done.stderr
    shown = [line for line in done.stderr.splitlines() if line.startswith("+ ")]
    assert [line.split(" ")[2:4] for line in shown] == [
        ["sts", "get-caller-identity"],
        ["lambda", "get-function-configuration"],
        ["s3api", "list-objects-v2"],
        ["s3api", "put-object"],
        ["iam", "get-role"],
        ["iam", "create-role"],
        ["iam", "put-role-policy"],
        ["s3control", "create-job"],
    ]
    assert "arn:aws:lambda:<region>:<account-id>:function:image-resizer" in done.stderr
    assert "--account-id '<account-id>'" in done.stderr
    assert "Dry run: nothing was changed." in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--bucket", "Bad_Bucket", "--local"),
            "backfill: invalid --bucket 'Bad_Bucket': expected an S3 bucket name "
            "(3-63 of a-z 0-9 . -)",
        ),
        (
            ("--bucket", "photos", "--local", "--concurrency", "0"),
            "backfill: invalid --concurrency 0: expected 1 to 64",
        ),
        (
            ("--bucket", "photos", "--local", "--inventory", "s3://photos/inventory/list.csv"),
            "backfill: invalid --inventory 's3://photos/inventory/list.csv': expected the s3:// "
            "address of an S3 Inventory report's manifest.json",
        ),
    ],
)
def test_bad_inputs_are_refused_with_one_sentence(
    args: tuple[str, ...], message: str, s3_endpoint: str
) -> None:
    done = backfill(*args, AWS_ENDPOINT_URL=s3_endpoint)

    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == message


def test_a_manifest_under_the_source_prefix_is_refused(
    photos: str, s3_endpoint: str, deployed: str
) -> None:
    client("lambda", s3_endpoint).update_function_configuration(
        FunctionName=deployed, Environment={"Variables": {"SOURCE_PREFIX": "back"}}
    )
    done = backfill(
        "--bucket",
        photos,
        "--function-name",
        deployed,
        "--region",
        "us-east-1",
        AWS_ENDPOINT_URL=s3_endpoint,
    )

    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        f"backfill: the manifest and reports go under s3://{photos}/backfill/{deployed}/, "
        "which overlaps the function's SOURCE_PREFIX 'back'; name another bucket with "
        "--report-bucket"
    )
    assert "+ aws s3api put-object" not in done.stderr  # refused before any change
