"""The function role's inline policy: the deploy's template declares it, the IAM test runs under it.

- s3:GetObject and s3:GetObjectVersion on the uploads (an event may name a version);
- s3:GetObject on the copies, so that the up-to-date check can HEAD them, and
  s3:GetObjectVersion, so that a versioned copy's older versions can be checked;
- s3:ListBucket on each bucket, only for keys under those prefixes (an s3:prefix
  condition): without it S3 answers 403, not 404, for a key that does not exist,
  and a deleted upload could not be told from a denied one;
- s3:ListBucketVersions on the copies' prefixes, and s3:DeleteObjectVersion on the
  copies: in a versioned bucket a deleted upload's copies go with their versions
  (app/renditions/sweep.py), not behind a delete marker;
- s3:PutObject on the copies, and s3:DeleteObject on them alone (a deleted upload's
  copies go too; the uploads themselves can never be deleted by the function);
- sqs:SendMessage on the failure queue;
- with a bus (deploy.sh --event-bus or the file's event_bus), events:PutEvents on it only.

The copies' rules cover every profile's output prefix. The prefixes hold no IAM wildcard
('*', '?'): the configuration's validator refuses them (app/config/settings.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def policy(
    bucket: str,
    source_prefix: str,
    output_bucket: str,
    output_prefixes: Sequence[str],
    queue_arn: Any,
    bus_arn: str | None = None,
) -> dict[str, Any]:
    """The policy document; `queue_arn` may be an ARN or a template's Fn::GetAtt."""
    copies = _one_or_list([f"arn:aws:s3:::{output_bucket}/{p}*" for p in output_prefixes])
    listed: dict[str, list[str]] = {bucket: [f"{source_prefix}*"]}
    listed.setdefault(output_bucket, []).extend(f"{p}*" for p in output_prefixes)
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
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": copies,
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
            "Sid": "ListCopyVersions",
            "Effect": "Allow",
            "Action": "s3:ListBucketVersions",
            "Resource": f"arn:aws:s3:::{output_bucket}",
            "Condition": {"StringLike": {"s3:prefix": [f"{p}*" for p in output_prefixes]}},
        },
        {"Sid": "WriteCopies", "Effect": "Allow", "Action": "s3:PutObject", "Resource": copies},
        {
            "Sid": "DeleteCopies",
            "Effect": "Allow",
            "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
            "Resource": copies,
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


def _one_or_list(resources: list[str]) -> str | list[str]:
    # One prefix keeps the document as it always was; IAM reads both forms alike.
    return resources[0] if len(resources) == 1 else resources
