"""scripts/deploy.sh, for real, against moto's AWS API (CloudFormation included) on loopback.

docker is a stand-in that records its calls and what the build context holds. moto 5.2
creates no AWS::CloudWatch::Alarm, AWS::SNS::Subscription or AWS::Lambda::EventInvokeConfig
from a stack: those are checked in the stack's own template, never as if created.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from app.observe import METRICS
from tools.deploy.policy import policy as role_policy

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"  # moto's account
STANDIN = f"""#!{sys.executable}
# docker stand-in: records its arguments, and the configuration file a build would copy.
import hashlib, json, os, sys
args = sys.argv[1:]
if args[:2] == ["buildx", "build"]:
    with open(os.path.join(args[-1], "renditions.toml"), "rb") as built:
        args.append("renditions.toml sha256 " + hashlib.sha256(built.read()).hexdigest())
with open(os.environ["DOCKER_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[:2] == ["buildx", "version"]:
    print("github.com/docker/buildx v0.17.1")
elif args[:1] == ["login"]:
    sys.stdin.read()
    print("Login Succeeded")
elif args[:1] == ["push"] and args[1].endswith(os.environ.get("DOCKER_FAIL_PUSH", "\\0")):
    sys.exit("denied: the stand-in refuses this push")
"""
CONFIG = """\
# The deployed configuration: [defaults] apply to every upload but the avatars.
[defaults]
resize_widths = "300,600"
quality = "82"

[profiles.avatars]
resize_widths = "64x64:cover,128x128:cover"
output_prefix = "avatars/"

[[rules]]
prefix = "images/avatars/"
profile = "avatars"
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
            [str(ROOT / "scripts" / "deploy.sh"), "--region", "us-east-1", *args],
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


def client(service: str, endpoint: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")


def check(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m app check`, the validator deploy.sh runs, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "app", "check", *args],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], **env},
        text=True,
        capture_output=True,
        timeout=60,
        check=False,
    )


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


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "renditions.toml"
    path.write_text(CONFIG)
    return path


def stack_template(endpoint: str, stack: str) -> dict[str, Any]:
    body = client("cloudformation", endpoint).get_template(StackName=stack)["TemplateBody"]
    return body if isinstance(body, dict) else json.loads(body)


def pending_change_sets(endpoint: str, stack: str) -> list[str]:
    """The stack's change sets not executed (AWS lists none once executed; moto keeps them)."""
    listed = client("cloudformation", endpoint).list_change_sets(StackName=stack)["Summaries"]
    return [
        c["ChangeSetName"]
        for c in listed
        if c["StackName"] == stack and c["ExecutionStatus"] != "EXECUTE_COMPLETE"
    ]


def test_deploys_the_file_and_flags_and_a_second_run_changes_nothing(
    deploy, photos, config_file, s3, s3_endpoint
):
    options = ("--bucket", photos, "--config", str(config_file), "--tag", "v1")
    options += ("--memory", "2048", "--timeout", "90", "--reserved-concurrency", "20")
    options += ("--alarm-email", "ops@example.com", "--widths", "200,400")
    first = deploy(*options)
    assert first.returncode == 0, first.stderr
    second = deploy(*options)
    assert second.returncode == 0, second.stderr

    # The second run found nothing to change: its change set was empty, and deleted.
    assert "No changes: the stack already holds this image, configuration and options." in (
        second.stderr
    )
    assert pending_change_sets(s3_endpoint, "image-resizer") == []
    cloudformation = client("cloudformation", s3_endpoint)

    ecr, iam, lam = (client(s, s3_endpoint) for s in ("ecr", "iam", "lambda"))
    [repo] = ecr.describe_repositories()["repositories"]
    assert repo["repositoryName"] == "image-resizer"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    uri = repo["repositoryUri"]

    # docker: logged in, built for arm64 without provenance, with exactly the file checked.
    sha256 = hashlib.sha256(CONFIG.encode()).hexdigest()
    calls = deploy.docker_calls()
    [build, _] = [c for c in calls if c[:2] == ["buildx", "build"]]
    platform = ["--platform", "linux/arm64", "--provenance=false", "--load"]
    assert build[2:8] == [*platform, "--build-arg", "HEIC=off"]
    assert build[8:10] == ["-t", f"{uri}:v1"]
    assert build[-1] == f"renditions.toml sha256 {sha256}"
    assert ["push", f"{uri}:v1"] in calls
    assert ["login", "--username", "AWS", "--password-stdin", uri.split("/")[0]] in calls

    # The deployed configuration, read back: the file in the image (its hash), the flags.
    config = lam.get_function_configuration(FunctionName="image-resizer")
    assert config["Environment"]["Variables"] == {
        "RESIZE_WIDTHS": "200,400",
        "SOURCE_BUCKETS": photos,
        "RENDITIONS_SHA256": sha256,
    }
    # moto's stack drops a function's PackageType and Architectures: the template's.
    declared = stack_template(s3_endpoint, "image-resizer")["Resources"]["Function"]
    assert declared["Properties"]["PackageType"] == "Image"
    assert declared["Properties"]["Architectures"] == ["arm64"]
    assert (config["MemorySize"], config["Timeout"]) == (2048, 90)
    assert lam.get_function(FunctionName="image-resizer")["Code"]["ImageUri"] == f"{uri}:v1"
    concurrency = lam.get_function_concurrency(FunctionName="image-resizer")
    assert concurrency["ReservedConcurrentExecutions"] == 20

    # Role: Lambda trust, basic logging, S3 least privilege with exact ARNs.
    role = iam.get_role(RoleName="image-resizer-role")["Role"]
    assert config["Role"] == role["Arn"]
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
    # moto's stack attaches no managed policy to a role: the template's.
    assert stack_template(s3_endpoint, "image-resizer")["Resources"]["Role"]["Properties"][
        "ManagedPolicyArns"
    ] == ["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]
    policy = iam.get_role_policy(RoleName="image-resizer-role", PolicyName="s3-and-failures")[
        "PolicyDocument"
    ]
    # Every profile's copies, and nothing more: the avatars' prefix and the default one.
    queue = f"arn:aws:sqs:us-east-1:{ACCOUNT}:image-resizer-failures"
    copies = [f"arn:aws:s3:::{photos}/avatars/*", f"arn:aws:s3:::{photos}/copy/*"]
    assert {
        (str(s["Action"]), json.dumps(s["Resource"]), json.dumps(s.get("Condition")))
        for s in policy["Statement"]
    } == {
        (
            str(["s3:GetObject", "s3:GetObjectVersion"]),
            json.dumps(f"arn:aws:s3:::{photos}/images/*"),
            "null",
        ),
        (str(["s3:GetObject", "s3:GetObjectVersion"]), json.dumps(copies), "null"),
        (
            "s3:ListBucket",
            json.dumps(f"arn:aws:s3:::{photos}"),
            json.dumps({"StringLike": {"s3:prefix": ["images/*", "avatars/*", "copy/*"]}}),
        ),
        (
            "s3:ListBucketVersions",  # a versioned copy's versions, under the copies only
            json.dumps(f"arn:aws:s3:::{photos}"),
            json.dumps({"StringLike": {"s3:prefix": ["avatars/*", "copy/*"]}}),
        ),
        ("s3:PutObject", json.dumps(copies), "null"),
        # copies (and their versions), never uploads
        (str(["s3:DeleteObject", "s3:DeleteObjectVersion"]), json.dumps(copies), "null"),
        ("sqs:SendMessage", json.dumps(queue), "null"),
    }
    # The very document that tests/integration/test_iam.py runs the function under.
    assert policy == role_policy(photos, "images/", photos, ["avatars/", "copy/"], queue)

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
    # the same keys (moto does not): so deletes are left out, and the user is told so,
    # in the warning and in the summary.
    notifications = s3.get_bucket_notification_configuration(Bucket=photos)
    assert [q["Id"] for q in notifications["QueueConfigurations"]] == ["audit-log"]
    [mine] = notifications["LambdaFunctionConfigurations"]
    assert mine["LambdaFunctionArn"].endswith(":function:image-resizer")
    assert mine["Events"] == ["s3:ObjectCreated:*"]
    assert mine["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": "images/"}]
    assert (
        f"deploy.sh: warning: s3://{photos} already sends s3:ObjectRemoved:* events for keys "
        "under 'images/' to 'audit-log', and S3 allows one notification per event type and "
        "key, so deletes are not wired: copies will stay when their upload is deleted. To have "
        "both, send the bucket's events through an SNS topic or EventBridge"
    ) in second.stderr.replace("\n", " ")
    assert "NOT deleted with their upload: deletes are not wired" in second.stdout
    assert "deleted with their upload)" not in second.stdout
    assert 'aws s3 cp photo.jpg "s3://deploy-photos/images/photo.jpg"' in second.stdout

    check_monitoring(s3_endpoint, stack_template(s3_endpoint, "image-resizer"))

    # A flag dropped on the next run: the file's value again (nothing set by hand lingers).
    third = deploy(*options[:-2])
    assert third.returncode == 0, third.stderr
    variables = lam.get_function_configuration(FunctionName="image-resizer")["Environment"]
    assert variables["Variables"] == {"SOURCE_BUCKETS": photos, "RENDITIONS_SHA256": sha256}

    # --destroy removes the stack and the repository, and nothing else.
    gone = deploy("--bucket", photos, "--destroy")
    assert gone.returncode == 0, gone.stderr
    assert ecr.describe_repositories()["repositories"] == []
    assert "image-resizer" not in [f["FunctionName"] for f in lam.list_functions()["Functions"]]
    assert "image-resizer-role" not in [r["RoleName"] for r in iam.list_roles()["Roles"]]
    assert [s["StackName"] for s in cloudformation.describe_stacks()["Stacks"]] == []
    after = s3.get_bucket_notification_configuration(Bucket=photos)
    assert [q["Id"] for q in after["QueueConfigurations"]] == ["audit-log"]
    assert not after.get("LambdaFunctionConfigurations")
    s3.head_bucket(Bucket=photos)
    cloudwatch = client("cloudwatch", s3_endpoint)
    assert cloudwatch.list_dashboards()["DashboardEntries"] == []
    assert client("sns", s3_endpoint).list_topics()["Topics"] == []
    assert log_groups(s3_endpoint) == {}


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


def check_monitoring(endpoint: str, template: dict[str, Any]) -> None:
    assert log_groups(endpoint) == {"/aws/lambda/image-resizer": 30}
    sqs = client("sqs", endpoint)
    queue_url = sqs.get_queue_url(QueueName="image-resizer-failures")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])
    assert attributes["Attributes"]["MessageRetentionPeriod"] == str(14 * 24 * 3600)
    sns = client("sns", endpoint)
    [topic] = sns.list_topics()["Topics"]
    assert topic["TopicArn"].endswith(":image-resizer-alarms")
    resources = template["Resources"]

    # moto makes none of these three from a stack: their declarations, as AWS receives them.
    [subscription] = [r for r in resources.values() if r["Type"] == "AWS::SNS::Subscription"]
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": "ops@example.com",
    }
    assert resources["AlarmTopic"]["Properties"] == {"TopicName": "image-resizer-alarms"}
    [invoke] = [r for r in resources.values() if r["Type"] == "AWS::Lambda::EventInvokeConfig"]
    assert invoke["Properties"] == {
        "FunctionName": {"Ref": "Function"},
        "Qualifier": "$LATEST",
        "MaximumRetryAttempts": 2,
        "MaximumEventAgeInSeconds": 21600,
        "DestinationConfig": {
            "OnFailure": {"Destination": {"Fn::GetAtt": ["FailureQueue", "Arn"]}}
        },
    }
    alarms = {
        r["Properties"]["AlarmName"]: r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }
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
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]

    # Dashboard: valid JSON naming only metrics that exist: AWS's, and those the function emits.
    cloudwatch = client("cloudwatch", endpoint)
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
    client("events", s3_endpoint).create_event_bus(Name="apps")
    name = ("--function-name", "albums-resizer")
    done = deploy("--bucket", "deploy-albums", *name, "--tag", "v1", "--event-bus", "apps")
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr

    [mine] = s3.get_bucket_notification_configuration(Bucket="deploy-albums")[
        "LambdaFunctionConfigurations"
    ]
    assert mine["Events"] == ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
    assert mine["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": "images/"}]
    assert "(deleted with their upload)" in done.stdout

    iam, lam = client("iam", s3_endpoint), client("lambda", s3_endpoint)
    policy = iam.get_role_policy(RoleName="albums-resizer-role", PolicyName="s3-and-failures")[
        "PolicyDocument"
    ]
    bus = f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/apps"
    granted = {(str(s["Action"]), s["Resource"]) for s in policy["Statement"]}
    assert ("events:PutEvents", bus) in granted
    deletes = str(["s3:DeleteObject", "s3:DeleteObjectVersion"])
    assert (deletes, "arn:aws:s3:::deploy-albums/copy/*") in granted
    assert sorted(a for a, _ in granted if "Delete" in a or "events:" in a) == sorted(
        ["events:PutEvents", deletes]
    )  # nothing else may delete or publish
    queue = f"arn:aws:sqs:us-east-1:{ACCOUNT}:albums-resizer-failures"
    assert policy == role_policy("deploy-albums", "images/", "deploy-albums", ["copy/"], queue, bus)
    variables = lam.get_function_configuration(FunctionName="albums-resizer")["Environment"][
        "Variables"
    ]
    assert variables["EVENT_BUS_NAME"] == "apps"
    assert "one per object on the event bus apps" in done.stdout

    gone = deploy("--bucket", "deploy-albums", *name, "--destroy")
    assert gone.returncode == 0, gone.stderr
    after = s3.get_bucket_notification_configuration(Bucket="deploy-albums")
    assert not after.get("LambdaFunctionConfigurations")


def test_an_event_bus_that_does_not_exist_is_refused_before_any_change(deploy, photos, s3_endpoint):
    done = deploy("--bucket", photos, "--event-bus", "no-such-bus", "--tag", "t")

    assert done.returncode == 2
    assert (
        "deploy.sh: event bus 'no-such-bus' (EVENT_BUS_NAME, or --event-bus) does not exist in "
        "us-east-1 or this account cannot read it: create it (aws events create-event-bus "
        "--name NAME) or leave the setting empty for no application events"
    ) in done.stderr.replace("\n", " ")
    assert client("ecr", s3_endpoint).describe_repositories()["repositories"] == []


def test_a_failed_deploy_half_way_leaves_the_previous_version_running(
    deploy, photos, config_file, s3_endpoint
):
    name = ("--function-name", "halfway-resizer", "--config", str(config_file))
    first = deploy("--bucket", photos, *name, "--tag", "v1")
    assert first.returncode == 0, first.stderr
    lam = client("lambda", s3_endpoint)
    before = lam.get_function_configuration(FunctionName="halfway-resizer")

    # The image is built, then its push is refused: the stack is never asked to change.
    failed = deploy(
        "--bucket", photos, *name, "--tag", "v2", "--widths", "100", DOCKER_FAIL_PUSH=":v2"
    )

    assert failed.returncode != 0
    assert "denied: the stand-in refuses this push" in failed.stderr
    after = lam.get_function_configuration(FunctionName="halfway-resizer")
    assert after["Environment"] == before["Environment"]
    assert lam.get_function(FunctionName="halfway-resizer")["Code"]["ImageUri"].endswith(":v1")
    assert pending_change_sets(s3_endpoint, "halfway-resizer") == []
    assert deploy("--bucket", photos, *name, "--destroy").returncode == 0


def test_dry_run_shows_the_whole_template_first_then_the_change_set(
    deploy, photos, config_file, s3_endpoint
):
    name = ("--function-name", "dry-resizer", "--config", str(config_file))
    cloudformation, lam = client("cloudformation", s3_endpoint), client("lambda", s3_endpoint)

    first = deploy("--bucket", photos, *name, "--tag", "t", "--heic", "--dry-run")

    assert first.returncode == 0, first.stderr
    template = json.loads(first.stdout[: first.stdout.index("\nDry run:")].strip())
    function = template["Resources"]["Function"]["Properties"]
    assert function["FunctionName"] == "dry-resizer"
    [build] = [line for line in first.stderr.splitlines() if line.startswith("+ docker buildx")]
    assert " --build-arg HEIC=on " in build
    assert "dry-resizer" not in [s["StackName"] for s in cloudformation.describe_stacks()["Stacks"]]
    assert client("ecr", s3_endpoint).describe_repositories()["repositories"] == []
    assert [c for c in deploy.docker_calls() if c[:2] != ["buildx", "version"]] == []

    assert deploy("--bucket", photos, *name, "--tag", "t").returncode == 0
    planned = deploy("--bucket", photos, *name, "--tag", "t2", "--memory", "512", "--dry-run")

    assert planned.returncode == 0, planned.stderr
    assert "  Modify  Function (AWS::Lambda::Function)" in planned.stderr
    config = lam.get_function_configuration(FunctionName="dry-resizer")
    assert config["MemorySize"] == 1769  # the plan was shown, not carried out
    assert pending_change_sets(s3_endpoint, "dry-resizer") == []
    assert deploy("--bucket", photos, *name, "--destroy").returncode == 0


def test_a_bad_file_is_refused_with_the_validators_own_sentence(
    deploy, photos, tmp_path, s3_endpoint
):
    bad = tmp_path / "bad.toml"
    bad.write_text("[defaults\nresize_widths = '300'\n")
    cli = check("--json", "--config", str(bad))
    assert cli.returncode == 2
    [sentence] = cli.stderr.splitlines()
    assert sentence.startswith("error: ")

    done = deploy("--bucket", photos, "--config", str(bad), "--dry-run")

    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"deploy.sh: {sentence}"]
    assert deploy.docker_calls() == []
    assert client("ecr", s3_endpoint).describe_repositories()["repositories"] == []


@pytest.mark.parametrize(
    ("args", "variable"),
    [
        (("--widths", "0"), "RESIZE_WIDTHS=0"),
        (("--widths", "300,abc"), "RESIZE_WIDTHS=300,abc"),
        (("--output-prefix", "*"), "OUTPUT_PREFIX=*"),
        (("--source-prefix", "images/?/"), "SOURCE_PREFIX=images/?/"),
        (("--source-prefix", "images/", "--output-prefix", "images/copy/"), None),
        (("--metrics-namespace", "AWS/Lambda"), "METRICS_NAMESPACE=AWS/Lambda"),
        (("--event-bus", "my bus"), "EVENT_BUS_NAME=my bus"),
    ],
)
def test_a_bad_setting_is_refused_as_the_function_refuses_it(deploy, photos, args, variable):
    env = dict(v.split("=", 1) for v in [variable] if v) or {
        "SOURCE_PREFIX": "images/",
        "OUTPUT_PREFIX": "images/copy/",
    }
    cli = check("--json", **env)
    assert cli.returncode == 2
    [sentence] = cli.stderr.splitlines()

    done = deploy("--bucket", photos, *args, "--tag", "t", "--dry-run")

    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"deploy.sh: {sentence}"]
    assert deploy.docker_calls() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "deploy.sh: --bucket is required"),
        (("--bucket", "no-such-bucket-here"), "bucket 'no-such-bucket-here' does not exist"),
        (
            ("--bucket", "deploy-photos", "--output-bucket", "deploy-photos", "--output-prefix",
             "images/copy/"),
            "invalid prefixes: the source prefix 'images/' and the output prefix 'images/copy/' "
            "overlap in bucket 'deploy-photos', so every copy would trigger the function again",
        ),
        (
            ("--bucket", "deploy-photos", "--arch", "sparc"),
            "invalid --arch 'sparc': expected arm64 or x86_64",
        ),
        (
            ("--bucket", "deploy-photos", "--memory", "64"),
            "invalid --memory '64': expected megabytes from 128 to 10240",
        ),
        (
            ("--bucket", "deploy-photos", "--function-name", "2_resizer"),
            "invalid --function-name '2_resizer': expected a letter, then up to 55 of",
        ),
        (("--bucket", "deploy-photos", "--heic", "--tag", "a b"), "invalid --tag 'a b'"),
        (
            ("--bucket", "deploy-photos", "--config", "/no/such.toml"),
            "deploy.sh: --config '/no/such.toml' is not a file",
        ),
    ],
)  # fmt: skip
def test_bad_deploy_options_fail_before_any_change(deploy, photos, s3_endpoint, args, message):
    done = deploy(*args)

    assert done.returncode == 2
    assert message in done.stderr.replace("\n", " ")
    assert client("ecr", s3_endpoint).describe_repositories()["repositories"] == []
    assert [c for c in deploy.docker_calls() if c[:2] != ["buildx", "version"]] == []


def test_a_function_deployed_outside_the_stack_is_refused_before_any_change(
    deploy, photos, s3_endpoint
):
    iam, lam = client("iam", s3_endpoint), client("lambda", s3_endpoint)
    role = iam.create_role(
        RoleName="legacy-resizer-role",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    uri = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/legacy-resizer:old"
    lam.create_function(
        FunctionName="legacy-resizer", PackageType="Image", Code={"ImageUri": uri}, Role=role
    )

    done = deploy("--bucket", photos, "--function-name", "legacy-resizer", "--tag", "t")

    assert done.returncode == 2
    assert (
        "deploy.sh: function 'legacy-resizer' exists but no stack 'legacy-resizer' holds it: "
        "it was deployed by hand or by an older deploy.sh, whose --destroy removes it (or "
        "choose another --function-name)"
    ) in done.stderr.replace("\n", " ")
    assert lam.get_function(FunctionName="legacy-resizer")["Code"]["ImageUri"] == uri
    assert deploy.docker_calls() == [["buildx", "version"]]
