"""The main job on embedded defaults, on loopback with no AWS account: a local S3 API,
the function behind a Lambda Runtime API emulator, and uploads that trigger it.

    python -m devtools.stack [--s3-port 4566] [--lambda-port 9000] [--gallery-port 8321]

0. the function's configuration (renditions.toml, or RENDITIONS_CONFIG, and the
   environment) is checked first: a bad file or variable stops the stack with the
   configuration error and exit status 2, before anything starts; the banner shows
   the profiles and rules in effect
1. moto's server on 127.0.0.1:4566: S3 (and the SQS queues below)
2. the Runtime API emulator on 127.0.0.1:9000, running the real awslambdaric
   with app.handler.handler, its S3 endpoint pointed at (1)
3. the buckets and objects that the samples in events/ name, each object a generated
   image in the format its key names, so `curl ... -d @events/NAME.json` works for each
4. S3 notifications for ObjectCreated and ObjectRemoved under SOURCE_PREFIX go to an
   SQS queue (so a deleted upload's copies go too), which
   is delivered to the function as Lambda's SQS event source would: batches of up
   to 10 messages, failed items (batchItemFailures) left on the queue for a retry,
   and moved to a dead-letter queue after MAX_RECEIVES deliveries; the objects that the
   delete samples name have their copies made, then are deleted, before this wiring
5. a gallery page on 127.0.0.1:8321 (devtools/gallery.py): each source's copies, its
   placeholder and an `<img srcset>`, read from (1)

A port that cannot be listened on stops the stack first, in one line naming its
variable, with exit status 2. Ctrl-C (or SIGTERM) stops the parts in the reverse order,
quietly, and leaves no process behind.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, unquote_plus

import boto3

from app import events
from app.config import profiles
from app.errors import ConfigError
from devtools import gallery
from devtools.emulator import INVOKE_PATH, Emulator
from devtools.s3server import FAKE_AWS_ENV, moto_server

ROOT = Path(__file__).resolve().parents[1]
QUEUE = "image-resizer-uploads"
DEAD_LETTERS = "image-resizer-uploads-failed"
MAX_RECEIVES = 3  # as a redrive policy would be set in AWS: a poison message stops here


def sample_image(key: str = "sample.jpg") -> bytes:
    """A 2400x1600 picture with an EXIF orientation, made here so nothing is downloaded,
    in the format `key`'s extension names (PNG, WebP, else JPEG)."""
    import pyvips

    x = pyvips.Image.xyz(1600, 2400)
    picture = (x[0] * 255 / 1600).bandjoin([x[1] * 255 / 2400, 128]).cast("uchar")
    picture = picture.copy(interpretation="srgb")
    picture.set_type(pyvips.GValue.gint_type, "orientation", 6)  # shown as 2400x1600
    suffix = key.rpartition(".")[2].lower()
    if suffix == "png":
        return bytes(picture.pngsave_buffer())
    if suffix == "webp":
        return bytes(picture.webpsave_buffer(Q=90))
    return bytes(picture.jpegsave_buffer(Q=90))


def sample_objects() -> dict[str, list[tuple[str, str]]]:
    """The (bucket, key) pairs that each sample in events/ names, by file name."""
    named = {}
    for path in sorted((ROOT / "events").glob("*.json")):
        refs = events.parse(json.loads(path.read_text())).refs
        named[path.name] = [(ref.bucket, ref.key) for ref in refs]
    return named


def prepare(endpoint: str) -> tuple[str, str, str]:
    """Create the samples' buckets and objects and the queues; return the bucket, the
    sample key and the queue's URL."""
    event = json.loads((ROOT / "events" / "s3-put.json").read_text())
    bucket = event["Records"][0]["s3"]["bucket"]["name"]
    key = unquote_plus(event["Records"][0]["s3"]["object"]["key"])
    s3 = boto3.client("s3", endpoint_url=endpoint)
    sqs = boto3.client("sqs", endpoint_url=endpoint)
    objects = {pair for pairs in sample_objects().values() for pair in pairs}
    for name in sorted({bucket} | {b for b, _ in objects}):
        s3.create_bucket(Bucket=name)
    for name, object_key in sorted(objects):
        s3.put_object(Bucket=name, Key=object_key, Body=sample_image(object_key))
    dead_url = sqs.create_queue(QueueName=DEAD_LETTERS)["QueueUrl"]
    queue_url = sqs.create_queue(
        QueueName=QUEUE,
        Attributes={
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": _queue_arn(sqs, dead_url), "maxReceiveCount": MAX_RECEIVES}
            )
        },
    )["QueueUrl"]
    return bucket, key, queue_url


def notify_uploads(endpoint: str, bucket: str, queue_url: str, source_prefix: str) -> None:
    """S3 notifications for uploads and deletes under `source_prefix` go to the queue."""
    s3 = boto3.client("s3", endpoint_url=endpoint)
    sqs = boto3.client("sqs", endpoint_url=endpoint)
    queue_arn = _queue_arn(sqs, queue_url)
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": "image-resizer",
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
                    "Filter": {
                        "Key": {"FilterRules": [{"Name": "prefix", "Value": source_prefix}]}
                    },
                }
            ]
        },
    )


def _queue_arn(sqs: Any, url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


def deliver(emulator: Emulator, endpoint: str, queue_url: str, stop: threading.Event) -> None:
    """Poll the queue and invoke the function with SQS events, as an event source mapping."""
    sqs = boto3.client("sqs", endpoint_url=endpoint)
    while not stop.is_set():
        try:
            _deliver_once(emulator, sqs, queue_url)
        except Exception as error:  # noqa: BLE001 - the stack stays up; one line says why
            if stop.is_set():
                return  # stopping: the S3 server may be gone already, nothing is lost
            print(f"delivery failed, retrying in 1 s: {error}", flush=True)
            stop.wait(1)


def _deliver_once(emulator: Emulator, sqs: Any, queue_url: str) -> None:
    """One receive from the queue and, if it had messages, one invocation."""
    messages = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"]
    ).get("Messages", [])
    if not messages:
        return
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
            + (f", {reply['deleted']} deleted" if reply.get("deleted") else "")
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
        prog="python -m devtools.stack",
        description=" ".join(__doc__.split("\n\n")[0].split()),
        epilog="Ctrl-C stops everything and leaves no process behind.",
    )
    parser.add_argument(
        "--s3-port",
        type=_port("S3_PORT", "--s3-port"),
        default=os.environ.get("S3_PORT", "4566"),
        help="the local S3 API listens on 127.0.0.1:PORT (default 4566, or S3_PORT)",
    )
    parser.add_argument(
        "--lambda-port",
        type=_port("LAMBDA_PORT", "--lambda-port"),
        default=os.environ.get("LAMBDA_PORT", "9000"),
        help="the Lambda invoke URL is on 127.0.0.1:PORT (default 9000, or LAMBDA_PORT)",
    )
    parser.add_argument(
        "--gallery-port",
        type=_port("GALLERY_PORT", "--gallery-port"),
        default=os.environ.get("GALLERY_PORT", str(gallery.DEFAULT_PORT)),
        help="the gallery page is on 127.0.0.1:PORT "
        f"(default {gallery.DEFAULT_PORT}, or GALLERY_PORT)",
    )
    args = parser.parse_args(argv)
    try:  # as the function's cold start will: stop here, not later
        configuration = profiles.load(os.environ)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    problems = unusable_ports(
        {
            "S3_PORT (--s3-port)": args.s3_port,
            "LAMBDA_PORT (--lambda-port)": args.lambda_port,
            "GALLERY_PORT (--gallery-port)": args.gallery_port,
        }
    )
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 2
    os.environ.update(FAKE_AWS_ENV)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        with moto_server(args.s3_port) as endpoint:
            source_prefix = configuration.default.source_prefix
            bucket, key, queue_url = prepare(endpoint)
            env = {
                "AWS_ENDPOINT_URL": endpoint,
                **FAKE_AWS_ENV,
                # As deploy sets it: the bucket wired to the function is its one source.
                "SOURCE_BUCKETS": os.environ.get("SOURCE_BUCKETS", bucket),
            }
            with Emulator("app.handler.handler", port=args.lambda_port, env=env) as emulator:
                staged = stage_deletes(emulator, endpoint)
                notify_uploads(endpoint, bucket, queue_url, source_prefix)
                # Leaving these blocks stops the parts in reverse order: the delivery thread
                # first (while S3 and the function still answer), the gallery, the
                # function with its emulator, then the S3 server.
                with (
                    gallery.Gallery(endpoint, port=args.gallery_port) as page,
                    delivering(emulator, endpoint, queue_url),
                ):
                    banner = _banner(endpoint, emulator.address, bucket, key, configuration)
                    print(banner, end="")
                    print(_more(page.url, emulator.address, staged), flush=True)
                    threading.Event().wait()  # until Ctrl-C or SIGTERM
    except KeyboardInterrupt:
        print("stopped", flush=True)
    return 0


def _port(variable: str, flag: str) -> Callable[[str], int]:
    """An argparse type: a port number, or a sentence naming the variable and the flag."""

    def port(text: str) -> int:
        if not text.isdigit() or not 0 < int(text) < 65536:
            raise argparse.ArgumentTypeError(
                f"invalid port {text!r} ({variable} or {flag}): expected a whole number "
                "from 1 to 65535"
            )
        return int(text)

    return port


def unusable_ports(ports: dict[str, int]) -> list[str]:
    """A sentence for each port of `ports` (its name -> number) that the stack cannot
    listen on, on 127.0.0.1: taken by another program, or named twice."""
    problems = []
    seen: dict[int, str] = {}
    for name, port in ports.items():
        variable = name.split()[0]
        if port in seen:
            problems.append(
                f"{name} {port} is the port of {seen[port]} too; set {variable} to another"
            )
            continue
        seen[port] = name
        with socket.socket() as sock:
            # As the servers bind: a port left in TIME_WAIT by a stack just stopped is free.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError as error:
                problems.append(
                    f"{name} {port} is taken on 127.0.0.1 ({error.strerror}): another "
                    f"program listens there; set {variable} to a free port"
                )
    return problems


def stage_deletes(emulator: Emulator, endpoint: str) -> list[str]:
    """Make the copies of the objects that the delete samples name, then remove those
    objects, before S3 notifications are wired (so nothing deletes the copies yet):
    invoking a delete sample then removes copies, as a delete's event arriving late
    would. Returns the samples' file names."""
    s3 = boto3.client("s3", endpoint_url=endpoint)
    template = json.loads((ROOT / "events" / "s3-put-plain.json").read_text())["Records"][0]
    staged = []
    for name in sorted(sample_objects()):
        refs = events.parse(json.loads((ROOT / "events" / name).read_text())).refs
        removals = [ref for ref in refs if ref.action == "remove"]
        if not removals:
            continue
        created = {
            "Records": [
                {
                    **template,
                    "s3": {
                        **template["s3"],
                        "bucket": {**template["s3"]["bucket"], "name": ref.bucket},
                        "object": {"key": quote_plus(ref.key, safe="/")},
                    },
                }
                for ref in removals
            ]
        }
        body, failed = emulator.invoke(json.dumps(created).encode())
        reply = json.loads(body or b"{}")
        if failed or reply.get("processed") != len(removals):
            # E.g. a SOURCE_PREFIX the sample's key is not under: its source stays, and
            # the banner does not offer the sample as a delete to watch.
            reasons = [r.get("reason") for r in reply.get("results", [])]
            why = "; ".join(filter(None, reasons)) or reply.get("errorMessage", "no reason")
            print(f"note: events/{name} will delete nothing here: {why}", flush=True)
            continue
        for ref in removals:
            s3.delete_object(Bucket=ref.bucket, Key=ref.key)
        staged.append(name)
    return staged


@contextmanager
def delivering(emulator: Emulator, endpoint: str, queue_url: str) -> Iterator[None]:
    """The queue delivered to the function by a thread, stopped and joined on exit."""
    stop = threading.Event()
    worker = threading.Thread(target=deliver, args=(emulator, endpoint, queue_url, stop))
    worker.daemon = True  # the join below is bounded: never keep the process alive
    worker.start()
    try:
        yield
    finally:
        stop.set()
        # One long poll (1 s) ends it, unless an invocation runs: the emulator's close then
        # ends that one, and the thread leaves quietly when it sees `stop`.
        worker.join(timeout=5)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM ends the stack the way Ctrl-C does, through the `finally` blocks; another
    Ctrl-C while the parts stop is ignored, so the stop stays orderly and quiet."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("\nstopping: the delivery, the gallery, the function and the S3 server", flush=True)
    raise KeyboardInterrupt


def _more(gallery_url: str, lambda_address: str, staged: list[str]) -> str:
    """The banner's lines about the gallery and the delete samples."""
    lines = [f"See each source, its copies and its placeholder in a browser: {gallery_url}"]
    if staged:
        lines.append(
            "The delete samples' sources were deleted at start-up and their copies kept, as "
            "before a delete's\nevent arrives: invoking one deletes those copies (its reply "
            "lists them; a second time, none are left):"
        )
        lines += [
            f'  curl -XPOST "http://{lambda_address}{INVOKE_PATH}" -d @events/{name}'
            for name in staged
        ]
    return "\n".join(lines) + "\n"


def _banner(
    endpoint: str, lambda_address: str, bucket: str, key: str, configuration: profiles.Configuration
) -> str:
    prefix = configuration.default.source_prefix
    output = configuration.default.output_prefix
    return f"""
Local stack ready (Ctrl-C stops it).
{profiles.summary(configuration)}
  S3 API         {endpoint}      bucket {bucket}, sample image at {key!r}
  Lambda invoke  http://{lambda_address}{INVOKE_PATH}

Invoke with the sample event (every sample in events/ works: its objects exist, a
delete sample's copies too):
  curl -XPOST "http://{lambda_address}{INVOKE_PATH}" -d @events/s3-put.json
See the copies, from any terminal (the local S3 API takes these fake credentials):
  export {" ".join(f"{k}={v}" for k, v in FAKE_AWS_ENV.items() if k != "AWS_SESSION_TOKEN")}
  aws --endpoint-url {endpoint} s3 ls --recursive s3://{bucket}/{output}
Or upload any image under {prefix} and its copies appear by themselves (a profile's
name in its metadata makes that profile's copies: --metadata profile=NAME):
  aws --endpoint-url {endpoint} s3 cp photo.jpg s3://{bucket}/{prefix}photo.jpg
and delete it, and they go with it:
  aws --endpoint-url {endpoint} s3 rm s3://{bucket}/{prefix}photo.jpg
"""


if __name__ == "__main__":
    sys.exit(main())
