"""Command line of scripts/backfill.sh: `python -m tools.backfill --bucket B [options]`."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from app.config import profiles
from app.errors import ConfigError
from tools.backfill import Refused, objects

BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
FUNCTION = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def parser() -> argparse.ArgumentParser:
    """The options; scripts/backfill.sh --help prints the same, in shell form."""
    p = argparse.ArgumentParser(
        prog="scripts/backfill.sh",
        description="Make the copies of objects that already exist in the bucket.",
    )
    p.add_argument("--bucket", required=True, help="the source bucket")
    p.add_argument("--prefix", help="objects under this prefix (default: SOURCE_PREFIX)")
    p.add_argument("--local", action="store_true", help="run the function on this machine")
    p.add_argument("--inventory", metavar="S3URI", help="an S3 Inventory manifest.json")
    p.add_argument("--concurrency", type=int, default=4, help="--local: objects at once")
    p.add_argument("--retries", type=int, default=2, help="--local: TemporaryFailure retries")
    p.add_argument("--timeout", type=int, default=60, help="--local: seconds per invocation")
    p.add_argument("--log-file", type=Path, help="--local: the function's JSON logs")
    p.add_argument("--function-name", default="image-resizer")
    p.add_argument("--region")
    p.add_argument("--report-bucket", help="manifest and report bucket (default: --bucket)")
    p.add_argument("--poll", type=float, default=10.0, help="seconds between describe-job")
    p.add_argument("--no-wait", action="store_true", help="create the job and return")
    p.add_argument("--dry-run", action="store_true", help="print every AWS call; change nothing")
    return p


def check(args: argparse.Namespace) -> None:
    """Refuse bad inputs, each with one sentence, before anything is read or changed."""
    for name in ("bucket", "report_bucket"):
        value = getattr(args, name)
        if value is not None and not BUCKET.match(value):
            option = "--" + name.replace("_", "-")
            raise Refused(
                f"invalid {option} {value!r}: expected an S3 bucket name (3-63 of a-z 0-9 . -)"
            )
    if args.prefix is not None and any(ord(c) < 32 or ord(c) == 127 for c in args.prefix):
        raise Refused(f"invalid --prefix {args.prefix!r}: expected no control characters")
    if not FUNCTION.match(args.function_name):
        raise Refused(
            f"invalid --function-name {args.function_name!r}: expected 1-64 of A-Z a-z 0-9 _ -"
        )
    if not 1 <= args.concurrency <= 64:
        raise Refused(f"invalid --concurrency {args.concurrency}: expected 1 to 64")
    if not 0 <= args.retries <= 10:
        raise Refused(f"invalid --retries {args.retries}: expected 0 to 10")
    if not 1 <= args.timeout <= 900:
        raise Refused(f"invalid --timeout {args.timeout}: expected seconds from 1 to 900")
    if not 0.1 <= args.poll <= 600:
        raise Refused(f"invalid --poll {args.poll:g}: expected seconds from 0.1 to 600")
    if args.local and args.dry_run:
        raise Refused("--dry-run plans the AWS job; --local changes only copies, run it as is")


def main(argv: list[str] | None = None) -> int:
    """Run the backfill; 0 if every object succeeded, 1 if any failed, 2 if refused."""
    args = parser().parse_args(argv)
    try:
        check(args)
        if args.local:
            return _local(args)
        from tools.backfill import aws

        return aws.run(args)
    except Refused as refusal:
        print(f"backfill: {refusal}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as error:  # after a change: not a refusal
        print(f"backfill: an AWS call failed: {error}", file=sys.stderr)
        return 1


def _local(args: argparse.Namespace) -> int:
    from tools.backfill import local

    try:
        configuration = profiles.load(os.environ)  # as the function's cold start reads it
    except ConfigError as error:
        raise Refused(str(error)) from None
    settings = configuration.default  # SOURCE_PREFIX and OUTPUT_BUCKET are every profile's
    prefix = settings.source_prefix if args.prefix is None else args.prefix
    s3 = boto3.client("s3", region_name=args.region)
    try:
        keys = (
            objects.inventory_keys(s3, args.inventory, args.bucket)
            if args.inventory
            else objects.listing(s3, args.bucket, prefix)
        )
        selection = objects.select(keys, args.bucket, prefix, configuration)
    except objects.InventoryError as error:
        raise Refused(str(error)) from None
    except (ClientError, BotoCoreError) as error:
        where = args.inventory or f"s3://{args.bucket}/{prefix}"
        raise Refused(f"cannot list {where}: {error}") from None
    print(
        f"Backfill of s3://{args.bucket}/{prefix} on this machine: "
        f"{len(selection.keys)} objects to process ({selection.listed} listed), "
        f"{args.concurrency} at a time",
        flush=True,
    )
    with open(args.log_file or os.devnull, "a") as log:  # noqa: PTH123
        handler = local.load_handler(log)
        return local.run(
            handler,
            args.bucket,
            selection,
            concurrency=args.concurrency,
            retries=args.retries,
            timeout_ms=args.timeout * 1000,
        )


if __name__ == "__main__":
    sys.exit(main())
