"""The function role's inline policy, as JSON: deploy.sh writes it, the IAM test runs under it.

Usage: python3 scripts/role_policy.py BUCKET SRC_PREFIX OUT_BUCKET OUT_PREFIX QUEUE_ARN [BUS_ARN]

- s3:GetObject and s3:GetObjectVersion on the uploads (an event may name a version);
- s3:GetObject on the copies, so that the up-to-date check can HEAD them;
- s3:ListBucket on each bucket, only for keys under those prefixes (an s3:prefix
  condition): without it S3 answers 403, not 404, for a key that does not exist,
  and a deleted upload could not be told from a denied one;
- s3:PutObject on the copies, and s3:DeleteObject on them alone (a deleted upload's
  copies go too; the uploads themselves can never be deleted by the function);
- sqs:SendMessage on the failure queue;
- with BUS_ARN (deploy.sh --event-bus), events:PutEvents on that event bus only.

The prefixes must hold no IAM wildcard ('*', '?'): deploy.sh refuses them.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def policy(
    bucket: str,
    source_prefix: str,
    output_bucket: str,
    output_prefix: str,
    queue_arn: str,
    bus_arn: str | None = None,
) -> dict[str, Any]:
    """The policy document."""
    listed: dict[str, list[str]] = {bucket: [f"{source_prefix}*"]}
    listed.setdefault(output_bucket, []).append(f"{output_prefix}*")
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadUploads",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": f"arn:aws:s3:::{bucket}/{source_prefix}*",
        },
        {
            "Sid": "ReadCopies",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{output_bucket}/{output_prefix}*",
        },
    ]
    for n, (name, prefixes) in enumerate(listed.items()):
        statements.append(
            {
                "Sid": f"TellMissingKeys{n or ''}",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": f"arn:aws:s3:::{name}",
                "Condition": {"StringLike": {"s3:prefix": prefixes}},
            }
        )
    statements += [
        {
            "Sid": "WriteCopies",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{output_bucket}/{output_prefix}*",
        },
        {
            "Sid": "DeleteCopies",
            "Effect": "Allow",
            "Action": "s3:DeleteObject",
            "Resource": f"arn:aws:s3:::{output_bucket}/{output_prefix}*",
        },
        {
            "Sid": "ReportFailures",
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
        },
    ]
    if bus_arn:
        statements.append(
            {
                "Sid": "TellApplications",
                "Effect": "Allow",
                "Action": "events:PutEvents",
                "Resource": bus_arn,
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


if __name__ == "__main__":
    if sys.argv[1:2] in (["-h"], ["--help"]):
        print(__doc__)
        sys.exit(0)
    if len(sys.argv) not in (6, 7):
        sys.exit(__doc__.splitlines()[2])
    print(json.dumps(policy(*sys.argv[1:])))
