"""The main job on embedded defaults: a local S3 API, the function behind the emulator, and
uploads that trigger it, all on loopback and with no AWS account.

    python -m devtools.stack [--s3-port 4566] [--lambda-port 9000]

1. moto's server on 127.0.0.1:4566: S3 (and the SQS queue below)
2. the Runtime API emulator on 127.0.0.1:9000, running the real awslambdaric
   with app.handler.handler, its S3 endpoint pointed at (1)
3. the bucket named in events/s3-put.json, with a generated sample image at its key,
   so `curl ... -d @events/s3-put.json` makes the copies
4. S3 notifications for ObjectCreated under SOURCE_PREFIX go to an SQS queue, which
   is delivered to the function as Lambda's SQS event source would: batches of up
   to 10 messages, failed items (batchItemFailures) left on the queue for a retry

Ctrl-C (or SIGTERM) stops everything and leaves no process behind.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3

from devtools.emulator import INVOKE_PATH, Emulator
from devtools.s3server import FAKE_AWS_ENV, moto_server

ROOT = Path(__file__).resolve().parents[1]
QUEUE = "image-resizer-uploads"


def sample_image() -> bytes:
    """A 2400x1600 picture with an EXIF orientation, made here so nothing is downloaded."""
    import pyvips

    x = pyvips.Image.xyz(1600, 2400)
    picture = (x[0] * 255 / 1600).bandjoin([x[1] * 255 / 2400, 128]).cast("uchar")
    picture = picture.copy(interpretation="srgb")
    picture.set_type(pyvips.GValue.gint_type, "orientation", 6)  # shown as 2400x1600
    return bytes(picture.jpegsave_buffer(Q=90))


def prepare(endpoint: str, source_prefix: str) -> tuple[str, str, str]:
    """Create the bucket, the sample object and the notification wiring; return names."""
    event = json.loads((ROOT / "events" / "s3-put.json").read_text())
    bucket = event["Records"][0]["s3"]["bucket"]["name"]
    key = unquote_plus(event["Records"][0]["s3"]["object"]["key"])
    s3 = boto3.client("s3", endpoint_url=endpoint)
    sqs = boto3.client("sqs", endpoint_url=endpoint)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=sample_image(), ContentType="image/jpeg")
    queue_url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": "image-resizer",
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {
                        "Key": {"FilterRules": [{"Name": "prefix", "Value": source_prefix}]}
                    },
                }
            ]
        },
    )
    return bucket, key, queue_url


def deliver(emulator: Emulator, endpoint: str, queue_url: str, stop: threading.Event) -> None:
    """Poll the queue and invoke the function with SQS events, as an event source mapping."""
    sqs = boto3.client("sqs", endpoint_url=endpoint)
    while not stop.is_set():
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            continue
        event = {"Records": [_sqs_record(m, queue_url) for m in messages]}
        body, failed = emulator.invoke(json.dumps(event).encode())
        reply: Any = json.loads(body or b"{}")
        if failed:  # the whole batch failed: every message stays for another attempt
            retry = {m["MessageId"] for m in messages}
        else:  # partial batch response: only the items it names stay
            retry = {f["itemIdentifier"] for f in reply.get("batchItemFailures", [])}
        for message in messages:
            if message["MessageId"] not in retry:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        print(
            f"delivered {len(messages)} message(s): "
            + (
                "function error " + str(reply.get("errorMessage"))
                if failed
                else f"{reply.get('processed')} processed, {reply.get('skipped')} skipped, "
                f"{reply.get('failed')} failed"
            ),
            flush=True,
        )


def _sqs_record(message: dict[str, Any], queue_url: str) -> dict[str, Any]:
    name = queue_url.rsplit("/", 1)[-1]
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{name}",
        "awsRegion": "us-east-1",
    }


def main(argv: list[str] | None = None) -> int:
    """Run the stack until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m devtools.stack", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--s3-port", type=int, default=int(os.environ.get("S3_PORT", 4566)))
    parser.add_argument("--lambda-port", type=int, default=int(os.environ.get("LAMBDA_PORT", 9000)))
    args = parser.parse_args(argv)
    os.environ.update(FAKE_AWS_ENV)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    stop = threading.Event()
    try:
        with moto_server(args.s3_port) as endpoint:
            source_prefix = os.environ.get("SOURCE_PREFIX", "images/")
            bucket, key, queue_url = prepare(endpoint, source_prefix)
            env = {"AWS_ENDPOINT_URL": endpoint, **FAKE_AWS_ENV}
            with Emulator("app.handler.handler", port=args.lambda_port, env=env) as emulator:
                threading.Thread(
                    target=deliver, args=(emulator, endpoint, queue_url, stop), daemon=True
                ).start()
                print(_banner(endpoint, emulator.address, bucket, key, source_prefix), flush=True)
                stop.wait()
    except KeyboardInterrupt:
        print("\nstopping: the function, the emulator and the S3 server", flush=True)
    finally:
        stop.set()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM ends the stack the way Ctrl-C does, through the `finally` blocks."""
    raise KeyboardInterrupt


def _banner(endpoint: str, lambda_address: str, bucket: str, key: str, prefix: str) -> str:
    return f"""
Local stack ready (Ctrl-C stops it).
  S3 API         {endpoint}      bucket {bucket}, sample image at {key!r}
  Lambda invoke  http://{lambda_address}{INVOKE_PATH}

Invoke with the sample event:
  curl -XPOST "http://{lambda_address}{INVOKE_PATH}" -d @events/s3-put.json
See the copies:
  aws --endpoint-url {endpoint} s3 ls --recursive s3://{bucket}/copy/
Or upload any image under {prefix} and its copies appear by themselves:
  aws --endpoint-url {endpoint} s3 cp photo.jpg s3://{bucket}/{prefix}photo.jpg
"""


if __name__ == "__main__":
    sys.exit(main())
