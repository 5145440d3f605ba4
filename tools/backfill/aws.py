"""The backfill as an S3 Batch Operations job: manifest, role, job, progress, report.

1. the account (sts), the function and its configuration (lambda): the prefix
   defaults to its SOURCE_PREFIX, and its skip rule filters the listing
2. the objects (a paginated ListObjectsV2, or an S3 Inventory report) written as a CSV
   manifest to s3://REPORT_BUCKET/backfill/FUNCTION/STAMP/manifest.csv
3. the role FUNCTION-backfill: trusted by batchoperations.s3.amazonaws.com, allowed to
   invoke the function, read that manifest and write the report, and nothing else
4. the job (create-job: LambdaInvoke, schema 2.0, no confirmation, a report of failed
   tasks), then describe-job until it ends, then the report's failures by reason
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid

from botocore.exceptions import BotoCoreError, ClientError

from app.config import profiles
from app.config.profiles import Configuration
from app.errors import ConfigError
from tools.backfill import Refused, objects, report, summary, tasks
from tools.backfill.calls import Calls, Offline
from tools.backfill.progress import Progress

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "batchoperations.s3.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
POLICY_NAME = "invoke-and-report"
ENDED = {"Complete", "Failed", "Cancelled"}
# A new role is not assumable by S3 at once: create-job is tried again for this long.
ROLE_WAIT_S = 60.0


def role_policy(function_arn: str, manifest_arn: str, report_bucket: str, prefix: str) -> dict:  # type: ignore[type-arg]
    """Least privilege for the job: invoke the one function, read the one manifest,
    write reports under the one prefix (GetBucketLocation: the job checks the report
    bucket's region, as in AWS's examples)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": function_arn},
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": manifest_arn,
            },
            {
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{report_bucket}/{prefix}*",
            },
            {
                "Effect": "Allow",
                "Action": "s3:GetBucketLocation",
                "Resource": f"arn:aws:s3:::{report_bucket}",
            },
        ],
    }


def run(args: argparse.Namespace) -> int:
    """Plan or run the job; the exit status as for --local."""
    calls = Calls(args.region, args.dry_run)
    if calls.region is None and not args.dry_run:
        raise Refused("no region: pass --region or configure one (aws configure)")
    print(f"\n== Account and function {args.function_name}", file=sys.stderr)
    try:
        account = calls.reach() or "<account-id>"
    except (BotoCoreError, ClientError) as error:
        raise Refused(f"AWS cannot be reached: {error}") from None
    region = calls.region or "<region>"
    configuration, function_arn = _function(calls, args.function_name, account, region)
    prefix = configuration.default.source_prefix if args.prefix is None else args.prefix
    report_bucket = args.report_bucket or args.bucket
    base = f"backfill/{args.function_name}/"
    _check_outside(base, report_bucket, args.bucket, configuration)
    manifest_key = f"{base}{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}/manifest.csv"
    report_prefix = f"{base}reports"

    print(f"\n== Manifest s3://{report_bucket}/{manifest_key}", file=sys.stderr)
    selection = _select(calls, args, prefix, configuration)
    count = "<N>" if calls.offline else str(len(selection.keys))
    print(
        f"backfill: {count} objects to process under s3://{args.bucket}/{prefix}"
        f" ({'<N>' if calls.offline else selection.listed} listed)",
        file=sys.stderr,
    )
    if not selection.keys and not calls.offline:
        print(summary.render([], args.bucket, selection.left_out))
        return 0
    put = calls.change(
        "s3",
        "PutObject",
        shown={"Body": f"<manifest.csv: {count} lines of bucket,key>"},
        Bucket=report_bucket,
        Key=manifest_key,
        Body=objects.to_csv(args.bucket, selection.keys),
    )
    etag = put["ETag"] if put else "<etag>"

    role = f"{args.function_name[:55]}-backfill"
    role_arn = f"arn:aws:iam::{account}:role/{role}"
    print(f"\n== Role {role} (assumed by S3 Batch Operations)", file=sys.stderr)
    fresh = _role(
        calls,
        role,
        role_policy(
            function_arn,
            f"arn:aws:s3:::{report_bucket}/{manifest_key}",
            report_bucket,
            report_prefix + "/",
        ),
    )

    print(f"\n== Job: {args.function_name} on each object", file=sys.stderr)
    job = {
        "AccountId": account,
        "ConfirmationRequired": False,
        "Operation": {
            "LambdaInvoke": {
                "FunctionArn": function_arn,
                "InvocationSchemaVersion": tasks.SCHEMA,
                "UserArguments": {},
            }
        },
        "Manifest": {
            "Spec": {"Format": objects.CSV_FORMAT, "Fields": ["Bucket", "Key"]},
            "Location": {"ObjectArn": f"arn:aws:s3:::{report_bucket}/{manifest_key}", "ETag": etag},
        },
        "Report": {
            "Bucket": f"arn:aws:s3:::{report_bucket}",
            "Prefix": report_prefix,
            "Format": "Report_CSV_20180820",
            "Enabled": True,
            "ReportScope": "FailedTasksOnly",
        },
        "Priority": 10,
        "RoleArn": role_arn,
        "ClientRequestToken": str(uuid.uuid4()),
        "Description": f"image-resizer backfill of s3://{args.bucket}/{prefix}"[:256],
    }
    job_id = _create(calls, job, fresh)
    if job_id is None:
        print(
            "\nDry run: nothing was changed. Without --dry-run, the calls above create "
            f"the job that sends {count} objects to {args.function_name}."
        )
        return 0
    print(f"backfill: job {job_id} created", file=sys.stderr)
    if args.no_wait:
        print(f"Job {job_id}: aws s3control describe-job --account-id {account} --job-id {job_id}")
        return 0
    status, succeeded, failed_n, reasons = _wait(calls, account, job_id, args.poll)
    failures = report.failures(calls, report_bucket, f"{report_prefix}/job-{job_id}/manifest.json")
    headline = (
        f"Job {job_id} {status}: {succeeded + failed_n} objects: {succeeded} succeeded "
        f"(made, or skipped as up to date), {failed_n} failed"
    )
    print(summary.render(failures, args.bucket, selection.left_out, headline=headline))
    for reason in reasons:
        print(f"Job failure: {reason}")
    return 0 if status == "Complete" and not failed_n and not failures else 1


def _function(calls: Calls, name: str, account: str, region: str) -> tuple[Configuration, str]:
    """The function's configuration (its skip rule and every profile's prefixes: its
    variables with renditions.toml, which travels in its image) and its ARN."""
    try:
        found = calls.read("lambda", "GetFunctionConfiguration", FunctionName=name)
    except Offline:
        return profiles.load({}), f"arn:aws:lambda:{region}:{account}:function:{name}"
    except ClientError as error:
        raise Refused(
            f"function {name!r} cannot be read in {region} ({error}); deploy it first "
            "(scripts/deploy.sh) or name it with --function-name"
        ) from None
    variables = found.get("Environment", {}).get("Variables", {})
    try:
        return profiles.load(variables), str(found["FunctionArn"])
    except ConfigError as error:
        raise Refused(f"function {name!r} has an invalid configuration: {error}") from None


def _check_outside(
    base: str, report_bucket: str, bucket: str, configuration: Configuration
) -> None:
    """The manifest and the reports must not trigger the function, nor pass for copies."""
    if report_bucket != bucket:
        return
    for name, prefix in (
        ("SOURCE_PREFIX", configuration.default.source_prefix),
        *(("OUTPUT_PREFIX", output) for output in configuration.output_prefixes()),
    ):
        if base.startswith(prefix) or prefix.startswith(base):
            raise Refused(
                f"the manifest and reports go under s3://{bucket}/{base}, which overlaps the "
                f"function's {name} {prefix!r}; name another bucket with --report-bucket"
            )


def _select(
    calls: Calls, args: argparse.Namespace, prefix: str, configuration: Configuration
) -> objects.Selection:
    try:
        if args.inventory:
            calls.show("s3", "GetObject", {"Bucket": args.inventory, "Key": "(and its data files)"})
            if calls.offline:
                return objects.Selection()
            keys = objects.inventory_keys(calls.client("s3"), args.inventory, args.bucket)
        else:
            calls.show("s3", "ListObjectsV2", {"Bucket": args.bucket, "Prefix": prefix})
            if calls.offline:
                return objects.Selection()
            keys = objects.listing(calls.client("s3"), args.bucket, prefix)
        return objects.select(keys, args.bucket, prefix, configuration)
    except objects.InventoryError as error:
        raise Refused(str(error)) from None
    except ClientError as error:
        where = args.inventory or f"s3://{args.bucket}/{prefix}"
        raise Refused(f"cannot list {where}: {error}") from None


def _role(calls: Calls, role: str, policy: dict) -> bool:  # type: ignore[type-arg]
    """Create or update the job's role; True if it is new (not yet assumable)."""
    try:
        calls.read("iam", "GetRole", RoleName=role)
        exists = True
    except Offline:
        exists = False
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "NoSuchEntity":
            raise
        exists = False
    if exists:
        calls.change(
            "iam", "UpdateAssumeRolePolicy", RoleName=role, PolicyDocument=json.dumps(TRUST)
        )
    else:
        calls.change(
            "iam",
            "CreateRole",
            RoleName=role,
            AssumeRolePolicyDocument=json.dumps(TRUST),
            Description="image-resizer backfill: S3 Batch Operations invokes the function",
        )
    calls.change(
        "iam",
        "PutRolePolicy",
        RoleName=role,
        PolicyName=POLICY_NAME,
        PolicyDocument=json.dumps(policy),
    )
    return not exists


def _create(calls: Calls, job: dict, fresh_role: bool) -> str | None:  # type: ignore[type-arg]
    """create-job; with a role made seconds ago, tried again while it is not yet usable."""
    give_up = time.monotonic() + (ROLE_WAIT_S if fresh_role else 0)
    while True:
        try:
            created = calls.change("s3control", "CreateJob", **job)
            return None if created is None else str(created["JobId"])
        except ClientError as error:
            if "role" not in str(error).lower() or time.monotonic() > give_up:
                raise Refused(f"create-job failed: {error}") from None
            time.sleep(5)


def _wait(calls: Calls, account: str, job_id: str, poll: float) -> tuple[str, int, int, list[str]]:
    """describe-job until the job ends, drawing its progress."""
    progress = Progress(sys.stdout, None)
    first = True
    while True:
        if first:
            calls.show("s3control", "DescribeJob", {"AccountId": account, "JobId": job_id})
        first = False
        job = calls.client("s3control").describe_job(AccountId=account, JobId=job_id)["Job"]
        counts = job.get("ProgressSummary", {})
        done = counts.get("NumberOfTasksSucceeded", 0) + counts.get("NumberOfTasksFailed", 0)
        total = counts.get("TotalNumberOfTasks") or None
        progress.update(done, counts.get("NumberOfTasksFailed", 0), total)
        if job["Status"] in ENDED:
            progress.close()
            reasons = [
                f"{r.get('FailureCode', '')}: {r.get('FailureReason', '')}"
                for r in job.get("FailureReasons", [])
            ]
            return (
                job["Status"],
                counts.get("NumberOfTasksSucceeded", 0),
                counts.get("NumberOfTasksFailed", 0),
                reasons,
            )
        time.sleep(poll)
