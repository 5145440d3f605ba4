"""The function under exactly the role policy the deploy declares, with IAM enforced.

moto's server checks every request against IAM once INITIAL_NO_AUTH_ACTION_COUNT
requests have passed (moto's "IAM-like Access Control"); the fault proxy adds
the rule moto leaves out: without s3:ListBucket, S3 answers 403, not 404, for a
key that does not exist (AWS docs for GetObject and HeadObject).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import images
import pytest
from botocore.exceptions import ClientError
from faults import fault_proxy
from harness import LambdaContext, s3_event

from devtools.s3server import free_port, moto_server
from tools.deploy.policy import policy

BUCKET = "iam-photos"
QUEUE = "arn:aws:sqs:us-east-1:123456789012:image-resizer-failures"


def role_policy(*, list_bucket: bool = True) -> dict[str, Any]:
    """What the deploy's template puts on the role for the default prefixes (less
    s3:ListBucket, as deploy.sh wrote it before: then S3 answers 403 for a missing key)."""
    document = policy(BUCKET, "images/", BUCKET, ["copy/"], QUEUE)
    if not list_bucket:
        document["Statement"] = [s for s in document["Statement"] if s["Action"] != "s3:ListBucket"]
    return document


@pytest.fixture(params=[True, False], ids=["deployed policy", "without s3:ListBucket"])
def enforced(request: pytest.FixtureRequest) -> Iterator[tuple[str, dict[str, str], Any]]:
    """A moto server of its own holding one upload and a user limited to the role policy;
    IAM is enforced from the moment it is handed over. Yields (endpoint, keys, admin)."""
    with moto_server(free_port()) as endpoint:
        admin = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        admin.create_bucket(Bucket=BUCKET)
        admin.put_object(Bucket=BUCKET, Key="images/cat.jpg", Body=images.jpeg(800, 600))
        iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")
        iam.create_user(UserName="image-resizer")
        iam.put_user_policy(
            UserName="image-resizer",
            PolicyName="s3-and-failures",
            PolicyDocument=json.dumps(role_policy(list_bucket=request.param)),
        )
        key = iam.create_access_key(UserName="image-resizer")["AccessKey"]
        # Someone who uploads and deletes the originals.
        iam.create_user(UserName="uploader")
        iam.put_user_policy(
            UserName="uploader",
            PolicyName="uploads",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": ["s3:PutObject", "s3:DeleteObject"],
                            "Resource": f"arn:aws:s3:::{BUCKET}/images/*",
                        }
                    ],
                }
            ),
        )
        uploader = iam.create_access_key(UserName="uploader")["AccessKey"]
        # From here on, every request must be signed by a known user and allowed.
        reset = urllib.request.Request(
            f"{endpoint}/moto-api/reset-auth",
            b"0",
            method="POST",
            headers={"Content-Type": "text/plain"},  # moto reads the raw body
        )
        with urllib.request.urlopen(reset, timeout=10):
            pass
        credentials = {
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        }
        admin.uploader = boto3.client(  # type: ignore[attr-defined]
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=uploader["AccessKeyId"],
            aws_secret_access_key=uploader["SecretAccessKey"],
        )
        yield endpoint, credentials, admin, request.param


def test_the_deployed_policy_lets_the_function_work_and_tell_a_missing_key(
    enforced, load_handler, monkeypatch
):
    endpoint, credentials, admin, list_bucket = enforced
    role = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
    )
    with pytest.raises(ClientError, match="InvalidAccessKeyId"):  # IAM is on: unknown keys are out
        admin.list_objects_v2(Bucket=BUCKET)

    def may_list(bucket: str, key: str) -> bool:
        try:
            role.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
        except ClientError:
            return False
        return True

    with fault_proxy(endpoint) as (proxy_endpoint, proxy):
        proxy.may_list = may_list
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # it caches the credentials
        handler = load_handler(AWS_ENDPOINT_URL=proxy_endpoint, **credentials)

        done = handler.handler(s3_event(BUCKET, ["images/cat.jpg"]), LambdaContext())
        again = handler.handler(s3_event(BUCKET, ["images/cat.jpg"]), LambdaContext())
        missing = handler.handler(s3_event(BUCKET, ["images/deleted.jpg"]), LambdaContext())

    assert done["processed"] == 1, done["results"]
    assert again["results"][0]["reason"].startswith("up to date: every copy already exists")
    if list_bucket:
        assert missing["results"][0] == {
            "bucket": BUCKET,
            "key": "images/deleted.jpg",
            "status": "skipped",
            "reason": f"s3://{BUCKET}/images/deleted.jpg no longer exists",
            "outputs": [],
        }
    else:  # a HEAD's 403 has no body to tell why: the message names the likely cause
        assert missing["results"][0]["status"] == "failed"
        assert missing["results"][0]["reason"] == (
            f"s3:GetObject was denied on arn:aws:s3:::{BUCKET}/images/deleted.jpg: the "
            "function's role needs s3:GetObject on that resource, and s3:ListBucket on "
            f"arn:aws:s3:::{BUCKET}, without which S3 also answers 403 for a key that no "
            "longer exists (Forbidden)"
        )
    made = [o["key"] for o in done["results"][0]["outputs"]]
    assert made == [f"copy/cat-{w}.jpg" for w in (300, 600, 900)]
    for key in made:
        assert role.head_object(Bucket=BUCKET, Key=key)["ContentType"] == "image/jpeg"
    # And no more than that: the originals stay out of the role's reach for writing.
    with pytest.raises(ClientError, match="AccessDenied"):
        role.put_object(Bucket=BUCKET, Key="images/cat.jpg", Body=b"overwritten")


def test_the_deployed_policy_lets_the_function_delete_the_copies_of_a_deleted_upload_only(
    enforced, load_handler, monkeypatch
):
    endpoint, credentials, admin, list_bucket = enforced
    if not list_bucket:
        pytest.skip("finding a deleted upload's copies takes the deployed s3:ListBucket")
    role = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
    )
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    handler = load_handler(AWS_ENDPOINT_URL=endpoint, MANIFEST="off", **credentials)
    assert handler.handler(s3_event(BUCKET, ["images/cat.jpg"]), LambdaContext())["processed"]
    admin.uploader.delete_object(Bucket=BUCKET, Key="images/cat.jpg")
    removal = s3_event(BUCKET, ["images/cat.jpg"])
    removal["Records"][0]["eventName"] = "ObjectRemoved:Delete"

    done = handler.handler(removal, LambdaContext())

    assert done["results"][0]["status"] == "deleted", done["results"]
    assert done["results"][0]["deleted"] == [f"copy/cat-{w}.jpg" for w in (300, 600, 900)]
    assert role.list_objects_v2(Bucket=BUCKET, Prefix="copy/").get("KeyCount") == 0
    # The role deletes copies, never an original.
    admin.uploader.put_object(Bucket=BUCKET, Key="images/dog.jpg", Body=images.jpeg(80, 60))
    with pytest.raises(ClientError, match="AccessDenied"):
        role.delete_object(Bucket=BUCKET, Key="images/dog.jpg")
