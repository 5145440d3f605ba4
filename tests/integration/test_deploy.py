"""scripts/deploy.sh, for real, against moto's AWS API on loopback; docker is a stand-in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from app.observe import METRICS

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"  # moto's account
STANDIN = f"""#!{sys.executable}
# docker stand-in: records its arguments; answers what deploy.sh asks of docker.
import json, os, sys
with open(os.environ["DOCKER_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
if sys.argv[1:3] == ["buildx", "version"]:
    print("github.com/docker/buildx v0.17.1")
elif sys.argv[1:2] == ["login"]:
    sys.stdin.read()
    print("Login Succeeded")
"""


@pytest.fixture
def deploy(s3_endpoint: str, tmp_path: Path):
    """Run scripts/deploy.sh with moto as AWS and the docker stand-in on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(STANDIN)
    (bin_dir / "docker").chmod(0o755)
    log = tmp_path / "docker.log"

    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        environ = {
            **os.environ,
            "AWS_ENDPOINT_URL": s3_endpoint,
            "DOCKER_LOG": str(log),
            "PATH": f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}",
            **env,
        }
        return subprocess.run(
            [str(ROOT / "scripts" / "deploy.sh"), *args],
            env=environ,
            text=True,
            capture_output=True,
            timeout=300,
            check=False,
        )

    run.docker_calls = lambda: (
        [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    )  # type: ignore[attr-defined]
    return run


def role_policy(*args: str) -> dict[str, Any]:
    """The role policy deploy.sh writes for these arguments (scripts/role_policy.py)."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "role_policy.py"), *args],
        text=True,
        capture_output=True,
        timeout=30,
        check=True,
    )
    return json.loads(done.stdout)


def client(service: str, endpoint: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")


@pytest.fixture
def photos(s3, s3_endpoint: str) -> str:
    """A bucket that already has an unrelated notification, which must survive."""
    name = "deploy-photos"
    s3.create_bucket(Bucket=name)
    sqs = client("sqs", s3_endpoint)
    queue_url = sqs.create_queue(QueueName="someone-elses-queue")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    s3.put_bucket_notification_configuration(
        Bucket=name,
        NotificationConfiguration={
            "QueueConfigurations": [
                {"Id": "audit-log", "QueueArn": arn, "Events": ["s3:ObjectRemoved:*"]}
            ]
        },
    )
    return name


def test_deploys_everything_and_a_second_run_changes_nothing_it_should_not(
    deploy, photos, s3, s3_endpoint
):
    sizes = ("--memory", "2048", "--timeout", "90", "--reserved-concurrency", "20")
    sizes += ("--alarm-email", "ops@example.com")
    first = deploy("--bucket", photos, "--region", "us-east-1", "--tag", "v1", *sizes)
    assert first.returncode == 0, first.stderr
    second = deploy("--bucket", photos, "--region", "us-east-1", "--tag", "v2", *sizes)
    assert second.returncode == 0, second.stderr

    ecr, iam, lam = (client(s, s3_endpoint) for s in ("ecr", "iam", "lambda"))
    [repo] = ecr.describe_repositories()["repositories"]
    assert repo["repositoryName"] == "image-resizer"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    uri = repo["repositoryUri"]

    # docker: logged in, built for arm64 without provenance, pushed the tag.
    calls = deploy.docker_calls()
    builds = [c for c in calls if c[:2] == ["buildx", "build"]]
    assert builds[0][2:] == [
        "--platform",
        "linux/arm64",
        "--provenance=false",
        "--load",
        "--build-arg",
        "HEIC=off",
        "-t",
        f"{uri}:v1",
        str(ROOT / "scripts" / ".."),
    ]
    assert ["push", f"{uri}:v2"] in calls
    assert ["login", "--username", "AWS", "--password-stdin", uri.split("/")[0]] in calls

    # Role: Lambda trust, basic logging, S3 least privilege with exact ARNs.
    role = iam.get_role(RoleName="image-resizer-role")["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
    attached = iam.list_attached_role_policies(RoleName="image-resizer-role")
    assert [p["PolicyName"] for p in attached["AttachedPolicies"]] == [
        "AWSLambdaBasicExecutionRole"
    ]
    assert iam.list_role_policies(RoleName="image-resizer-role")["PolicyNames"] == [
        "s3-and-failures"
    ]
    policy = iam.get_role_policy(RoleName="image-resizer-role", PolicyName="s3-and-failures")[
        "PolicyDocument"
    ]
    assert {
        (str(s["Action"]), s["Resource"], json.dumps(s.get("Condition")))
        for s in policy["Statement"]
    } == {
        (str(["s3:GetObject", "s3:GetObjectVersion"]), f"arn:aws:s3:::{photos}/images/*", "null"),
        ("s3:GetObject", f"arn:aws:s3:::{photos}/copy/*", "null"),
        (
            "s3:ListBucket",
            f"arn:aws:s3:::{photos}",
            json.dumps({"StringLike": {"s3:prefix": ["images/*", "copy/*"]}}),
        ),
        ("s3:PutObject", f"arn:aws:s3:::{photos}/copy/*", "null"),
        ("s3:DeleteObject", f"arn:aws:s3:::{photos}/copy/*", "null"),  # copies, never uploads
        ("sqs:SendMessage", f"arn:aws:sqs:us-east-1:{ACCOUNT}:image-resizer-failures", "null"),
    }
    # The very document that tests/integration/test_iam.py runs the function under.
    assert policy == role_policy(
        photos,
        "images/",
        photos,
        "copy/",
        f"arn:aws:sqs:us-east-1:{ACCOUNT}:image-resizer-failures",
    )

    # Function: an image, arm64, the sizes asked for, the environment.
    config = lam.get_function_configuration(FunctionName="image-resizer")
    assert config["PackageType"] == "Image" and config["Architectures"] == ["arm64"]
    assert (config["MemorySize"], config["Timeout"]) == (2048, 90)
    assert config["Role"] == role["Arn"]
    assert config["Environment"]["Variables"] == {
        "RESIZE_WIDTHS": "300,600,900",
        "SOURCE_PREFIX": "images/",
        "OUTPUT_PREFIX": "copy/",
    }
    code = lam.get_function(FunctionName="image-resizer")["Code"]
    assert code["ImageUri"] == f"{uri}:v2"
    concurrency = lam.get_function_concurrency(FunctionName="image-resizer")
    assert concurrency["ReservedConcurrentExecutions"] == 20

    # Failures: bounded retries, then the queue.
    invoke_config = lam.get_function_event_invoke_config(FunctionName="image-resizer")
    assert invoke_config["MaximumRetryAttempts"] == 2
    assert invoke_config["DestinationConfig"]["OnFailure"]["Destination"] == (
        f"arn:aws:sqs:us-east-1:{ACCOUNT}:image-resizer-failures"
    )

    # Trigger: one permission statement (not two after two runs), scoped to the bucket.
    statements = json.loads(lam.get_policy(FunctionName="image-resizer")["Policy"])["Statement"]
    assert len(statements) == 1
    assert statements[0]["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statements[0]["Condition"] == {
        "ArnLike": {"AWS:SourceArn": f"arn:aws:s3:::{photos}"},
        "StringEquals": {"AWS:SourceAccount": ACCOUNT},
    }

    # Notification merged: ours once, the unrelated one untouched. The audit log already
    # has every ObjectRemoved event, and S3 refuses a second notification for them on
    # the same keys (moto does not): so deletes are left out, and the user is told.
    notifications = s3.get_bucket_notification_configuration(Bucket=photos)
    assert [q["Id"] for q in notifications["QueueConfigurations"]] == ["audit-log"]
    [mine] = notifications["LambdaFunctionConfigurations"]
    assert mine["LambdaFunctionArn"].endswith(":function:image-resizer")
    assert mine["Events"] == ["s3:ObjectCreated:*"]
    assert (
        f"deploy.sh: warning: s3://{photos} already sends s3:ObjectRemoved:* events for keys "
        "under 'images/' to 'audit-log', and S3 allows one notification per event type and "
        "key, so deletes are not wired: copies will stay when their upload is deleted. To have "
        "both, send the bucket's events through an SNS topic or EventBridge"
    ) in second.stderr.replace("\n", " ")
    assert mine["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": "images/"}]

    assert 'aws s3 cp photo.jpg "s3://deploy-photos/images/photo.jpg"' in second.stdout

    check_monitoring(s3_endpoint)

    # --destroy removes what deploy made, and nothing else.
    gone = deploy("--bucket", photos, "--region", "us-east-1", "--destroy")
    assert gone.returncode == 0, gone.stderr
    assert ecr.describe_repositories()["repositories"] == []
    assert "image-resizer" not in [f["FunctionName"] for f in lam.list_functions()["Functions"]]
    assert "image-resizer-role" not in [r["RoleName"] for r in iam.list_roles()["Roles"]]
    after = s3.get_bucket_notification_configuration(Bucket=photos)
    assert [q["Id"] for q in after["QueueConfigurations"]] == ["audit-log"]
    assert not after.get("LambdaFunctionConfigurations")
    s3.head_bucket(Bucket=photos)
    cloudwatch = client("cloudwatch", s3_endpoint)
    assert cloudwatch.describe_alarms()["MetricAlarms"] == []
    assert cloudwatch.list_dashboards()["DashboardEntries"] == []
    assert client("sns", s3_endpoint).list_topics()["Topics"] == []
    assert log_groups(s3_endpoint) == {"/aws/lambda/image-resizer": 30}  # the logs stay


# What the dashboard may show from AWS/Lambda and AWS/SQS (their documented metrics).
AWS_METRICS = {
    "AWS/Lambda": {
        "Invocations",
        "Duration",
        "Errors",
        "Throttles",
        "ConcurrentExecutions",
        "AsyncEventsDropped",
        "DestinationDeliveryFailures",
    },
    "AWS/SQS": {"ApproximateNumberOfMessagesVisible"},
}


def log_groups(endpoint: str) -> dict[str, int | None]:
    groups = client("logs", endpoint).describe_log_groups()["logGroups"]
    return {g["logGroupName"]: g.get("retentionInDays") for g in groups}


def check_monitoring(endpoint: str) -> None:
    assert log_groups(endpoint) == {"/aws/lambda/image-resizer": 30}

    # Alarms: each once, on the right metric, firing on anything above zero, to the topic.
    sns, cloudwatch = client("sns", endpoint), client("cloudwatch", endpoint)
    [topic] = sns.list_topics()["Topics"]
    assert topic["TopicArn"].endswith(":image-resizer-alarms")
    [subscription] = sns.list_subscriptions_by_topic(TopicArn=topic["TopicArn"])["Subscriptions"]
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", "ops@example.com")
    alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms()["MetricAlarms"]}
    function = [{"Name": "FunctionName", "Value": "image-resizer"}]
    assert {
        name: (a["Namespace"], a["MetricName"], a["Dimensions"], a["Statistic"])
        for name, a in alarms.items()
    } == {
        "image-resizer-errors": ("AWS/Lambda", "Errors", function, "Sum"),
        "image-resizer-throttles": ("AWS/Lambda", "Throttles", function, "Sum"),
        "image-resizer-objects-failed": ("ImageResizer", "ObjectsFailed", function, "Sum"),
        "image-resizer-failure-queue": (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            [{"Name": "QueueName", "Value": "image-resizer-failures"}],
            "Maximum",
        ),
    }
    for alarm in alarms.values():
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
        assert (alarm["Period"], alarm["EvaluationPeriods"]) == (300, 1)
        assert alarm["AlarmActions"] == [topic["TopicArn"]]

    # Dashboard: valid JSON naming only metrics that exist: AWS's, and those the function emits.
    [entry] = cloudwatch.list_dashboards()["DashboardEntries"]
    body = json.loads(
        cloudwatch.get_dashboard(DashboardName=entry["DashboardName"])["DashboardBody"]
    )
    shown = set()
    for widget in body["widgets"]:
        assert widget["type"] == "metric" and widget["properties"]["region"] == "us-east-1"
        for metric in widget["properties"]["metrics"]:
            namespace, name, dimension, value = metric[:4]
            expected = AWS_METRICS.get(namespace, set(METRICS) - {"ColdStart"})
            assert name in expected, (namespace, name)
            assert (dimension, value) in {
                ("FunctionName", "image-resizer"),
                ("QueueName", "image-resizer-failures"),
            }
            shown.add((namespace, name))
    # Every metric the function emits has a place on the dashboard (but the cold start).
    assert {n for ns, n in shown if ns == "ImageResizer"} == set(METRICS) - {"ColdStart"}


def test_deletes_and_application_events_are_wired_and_granted_on_their_resources_only(
    deploy, s3, s3_endpoint
):
    s3.create_bucket(Bucket="deploy-albums")
    done = deploy(
        "--bucket", "deploy-albums", "--region", "us-east-1", "--tag", "v1",
        "--event-bus", "apps",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr

    [mine] = s3.get_bucket_notification_configuration(Bucket="deploy-albums")[
        "LambdaFunctionConfigurations"
    ]
    assert mine["Events"] == ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
    assert mine["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": "images/"}]

    iam, lam = client("iam", s3_endpoint), client("lambda", s3_endpoint)
    policy = iam.get_role_policy(RoleName="image-resizer-role", PolicyName="s3-and-failures")[
        "PolicyDocument"
    ]
    bus = f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/apps"
    granted = {(str(s["Action"]), s["Resource"]) for s in policy["Statement"]}
    assert ("events:PutEvents", bus) in granted
    assert ("s3:DeleteObject", "arn:aws:s3:::deploy-albums/copy/*") in granted
    assert [a for a, _ in granted if "Delete" in a or "events:" in a] in (
        ["s3:DeleteObject", "events:PutEvents"],
        ["events:PutEvents", "s3:DeleteObject"],
    )  # nothing else may delete or publish
    queue = f"arn:aws:sqs:us-east-1:{ACCOUNT}:image-resizer-failures"
    assert policy == role_policy("deploy-albums", "images/", "deploy-albums", "copy/", queue, bus)
    variables = lam.get_function_configuration(FunctionName="image-resizer")["Environment"][
        "Variables"
    ]
    assert variables["EVENT_BUS_NAME"] == "apps"
    assert "one per object on the event bus apps" in done.stdout

    gone = deploy("--bucket", "deploy-albums", "--region", "us-east-1", "--destroy")
    assert gone.returncode == 0, gone.stderr
    after = s3.get_bucket_notification_configuration(Bucket="deploy-albums")
    assert not after.get("LambdaFunctionConfigurations")


def test_heic_builds_the_heic_variant(deploy, photos):
    done = deploy("--bucket", photos, "--region", "us-east-1", "--tag", "t", "--heic", "--dry-run")

    assert done.returncode == 0, done.stderr
    [build] = [line for line in done.stderr.splitlines() if line.startswith("+ docker buildx")]
    assert " --build-arg HEIC=on " in build
    refused = deploy("--bucket", photos, "--region", "us-east-1", DEPLOY_HEIC="yes")
    assert refused.returncode == 2
    assert "deploy.sh: invalid DEPLOY_HEIC 'yes': expected on or off" in refused.stderr


def test_dry_run_prints_every_call_and_changes_nothing(deploy, photos, s3_endpoint):
    done = deploy("--bucket", photos, "--region", "us-east-1", "--tag", "t", "--dry-run")

    assert done.returncode == 0, done.stderr
    for call in (
        "aws ecr create-repository",
        "docker buildx build",
        "docker push",
        "aws iam create-role",
        "aws lambda create-function",
        "aws lambda add-permission",
        "aws s3api put-bucket-notification-configuration",
    ):
        assert f"+ {call}" in done.stderr, call
    assert client("ecr", s3_endpoint).describe_repositories()["repositories"] == []
    assert [c for c in deploy.docker_calls() if c[:2] != ["buildx", "version"]] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "deploy.sh: --bucket is required"),
        (("--bucket", "no-such-bucket-here"), "bucket 'no-such-bucket-here' does not exist"),
        (
            (
                "--bucket",
                "deploy-photos",
                "--source-prefix",
                "images/",
                "--output-prefix",
                "images/copy/",
            ),
            "invalid prefixes: --source-prefix 'images/' and --output-prefix 'images/copy/' "
            "overlap in bucket 'deploy-photos', so every copy would trigger the function again",
        ),
        (
            (
                "--bucket",
                "deploy-photos",
                "--output-bucket",
                "deploy-photos",
                "--output-prefix",
                "images/copy/",
            ),
            "invalid prefixes: --source-prefix 'images/' and --output-prefix 'images/copy/' "
            "overlap in bucket 'deploy-photos'",
        ),
        (
            ("--bucket", "deploy-photos", "--output-prefix", "*"),
            "invalid --output-prefix '*': '*' and '?' are wildcards in the role's IAM policy, "
            "so its S3 permissions would reach other keys (the originals included); use a "
            "prefix without them",
        ),
        (
            ("--bucket", "deploy-photos", "--source-prefix", "images/?/"),
            "invalid --source-prefix 'images/?/': '*' and '?' are wildcards",
        ),
        (
            ("--bucket", "deploy-photos", "--output-prefix", "copy/\n"),
            "invalid --output-prefix $'copy/\\n': expected no control characters",
        ),
        (
            ("--bucket", "deploy-photos", "--source-prefix", ""),
            "invalid --source-prefix '': an empty source prefix makes every upload",
        ),
        (
            ("--bucket", "deploy-photos", "--arch", "sparc"),
            "invalid --arch 'sparc': expected arm64 or x86_64",
        ),
        (
            ("--bucket", "deploy-photos", "--event-bus", "my bus"),
            "invalid --event-bus 'my bus': expected an EventBridge event bus name (letters, "
            "digits and . - _ /) or its ARN",
        ),
        (
            ("--bucket", "deploy-photos", "--memory", "64"),
            "invalid --memory '64': expected megabytes from 128 to 10240",
        ),
    ],
)
def test_bad_inputs_fail_before_any_change(deploy, photos, s3_endpoint, args, message):
    done = deploy(*args, "--region", "us-east-1", "--tag", "t")

    assert done.returncode == 2
    assert message in done.stderr
    assert client("ecr", s3_endpoint).describe_repositories()["repositories"] == []
    assert [c for c in deploy.docker_calls() if c[:2] != ["buildx", "version"]] == []
