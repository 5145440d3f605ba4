"""The function role's inline policy, as JSON: deploy.sh writes it, the IAM test runs under it.

Usage: python3 scripts/role_policy.py BUCKET SOURCE_PREFIX OUTPUT_BUCKET OUTPUT_PREFIX QUEUE_ARN

- s3:GetObject and s3:GetObjectVersion on the uploads (an event may name a version);
- s3:GetObject on the copies, so that the up-to-date check can HEAD them;
- s3:ListBucket on each bucket, only for keys under those prefixes (an s3:prefix
  condition): without it S3 answers 403, not 404, for a key that does not exist,
  and a deleted upload could not be told from a denied one;
- s3:PutObject on the copies; sqs:SendMessage on the failure queue.

The prefixes must hold no IAM wildcard ('*', '?'): deploy.sh refuses them.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def policy(
    bucket: str, source_prefix: str, output_bucket: str, output_prefix: str, queue_arn: str
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
            "Sid": "ReportFailures",
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
        },
    ]
    return {"Version": "2012-10-17", "Statement": statements}


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit(__doc__.splitlines()[2])
    print(json.dumps(policy(*sys.argv[1:])))
