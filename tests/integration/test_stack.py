"""The README's main job: the local stack, a curl-style invoke, and uploads that trigger."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import boto3
import images
from localstack import wait_for

from devtools import stack as stack_module
from devtools.emulator import INVOKE_PATH
from devtools.s3server import FAKE_AWS_ENV, free_port

ROOT = Path(__file__).resolve().parents[2]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start_stack(env: dict[str, str]) -> tuple[subprocess.Popen[str], list[str], int, int]:
    """`python -m devtools.stack` on free ports; its output lines are collected as they come."""
    s3_port, lambda_port = free_port(), free_port()
    stack = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devtools.stack",
            "--s3-port",
            str(s3_port),
            "--lambda-port",
            str(lambda_port),
            "--gallery-port",
            str(free_port()),  # not the default: another stack may hold it
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    assert stack.stdout is not None
    threading.Thread(
        target=lambda: lines.extend(iter(stack.stdout.readline, "")), daemon=True
    ).start()
    return stack, lines, s3_port, lambda_port


def test_stack_serves_the_readme_flow_and_stops_cleanly() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT")}
    stack, lines, s3_port, lambda_port = start_stack(env)
    try:
        wait_for(lambda: any("Local stack ready" in line for line in lines), 60, "the banner")
        endpoint = f"http://127.0.0.1:{s3_port}"
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=FAKE_AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        )

        # curl -XPOST .../invocations -d @events/s3-put.json
        body = (ROOT / "events" / "s3-put.json").read_bytes()
        request = urllib.request.Request(
            f"http://127.0.0.1:{lambda_port}{INVOKE_PATH}", data=body, method="POST"
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            reply = json.loads(response.read())
        assert reply["processed"] == 1, reply
        listing = s3.list_objects_v2(Bucket="image-resizer-local", Prefix="copy/2024/my")[
            "Contents"
        ]
        assert sorted(o["Key"] for o in listing) == [
            *(f"copy/2024/my photoé-{w}.jpg" for w in (300, 600, 900)),
            "copy/2024/my photoé.json",
        ]

        sqs = boto3.client(
            "sqs",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=FAKE_AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        )
        queue_url = sqs.get_queue_url(QueueName=stack_module.QUEUE)["QueueUrl"]

        def drained() -> bool:
            counts = sqs.get_queue_attributes(
                QueueUrl=queue_url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
            return set(counts.values()) == {"0"}

        # An upload under images/ makes its copies by itself; the copies trigger nothing.
        s3.put_object(
            Bucket="image-resizer-local", Key="images/uploads/new photo.png", Body=images.png()
        )

        def copies() -> list[str]:
            found = s3.list_objects_v2(Bucket="image-resizer-local", Prefix="copy/uploads/").get(
                "Contents", []
            )
            return [o["Key"] for o in found]

        made = wait_for(lambda: len(copies()) == 4 and copies(), 60, "copies of the upload")
        assert sorted(made) == [
            *(f"copy/uploads/new photo-{w}.png" for w in (300, 600, 900)),
            "copy/uploads/new photo.json",
        ]
        # A (wrong) notification about the copies was queued when they were written:
        # wait until the queue holds nothing, waiting or in delivery.
        wait_for(drained, 60, "the queue to be drained")
        delivered = [line for line in lines if line.startswith("delivered")]
        assert delivered[-1].strip() == "delivered 1 message(s): 1 processed, 0 skipped, 0 failed"
        assert sum("1 processed" in line for line in delivered) == 1

        # Deleting the upload deletes its copies, by itself too.
        s3.delete_object(Bucket="image-resizer-local", Key="images/uploads/new photo.png")
        wait_for(lambda: copies() == [], 60, "the copies of the deleted upload to go")
        wait_for(drained, 60, "the queue to be drained")  # and so for the deleted copies
        delivered = [line for line in lines if line.startswith("delivered")]
        assert delivered[-1].strip() == (
            "delivered 1 message(s): 0 processed, 0 skipped, 0 failed, 1 deleted"
        )
        assert sum("deleted" in line for line in delivered) == 1
    finally:
        stack.send_signal(signal.SIGINT)
        status = stack.wait(timeout=30)
    assert status == 0
    assert not port_open(s3_port) and not port_open(lambda_port)
    assert "stopping" in "".join(lines)
    assert not runtimes_for(lambda_port), "a runtime process outlived the stack"


def runtimes_for(port: int) -> list[str]:
    """Processes whose environment points the Lambda runtime at `port`."""
    marker = f"AWS_LAMBDA_RUNTIME_API=127.0.0.1:{port}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes():
                found.append(environ.parent.name)
        except OSError:
            continue
    return found


def test_every_sample_event_works_and_the_banner_commands_run_in_a_new_terminal() -> None:
    from devtools.stack import sample_objects

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    stack, lines, _, lambda_port = start_stack(env)
    try:
        wait_for(lambda: any("Local stack ready" in line for line in lines), 60, "the banner")
        for name, objects in sample_objects().items():
            request = urllib.request.Request(
                f"http://127.0.0.1:{lambda_port}{INVOKE_PATH}",
                data=(ROOT / "events" / name).read_bytes(),
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=120) as response:
                reply = json.loads(response.read())
            if name.startswith("s3-batch"):
                assert [r["resultCode"] for r in reply["results"]] == ["Succeeded"], reply
            elif name in ("s3-delete.json", "eventbridge-object-deleted.json"):
                assert reply["deleted"] == len(objects), reply  # the copies made at start-up
            else:
                assert reply["failed"] == 0, reply
                assert reply["processed"] + reply["skipped"] == len(objects), reply

        # The banner's commands, pasted into a terminal that has no AWS settings at all.
        banner = [line.strip() for line in lines]
        export = next(line for line in banner if line.startswith("export AWS_"))
        listing = next(line for line in banner if line.startswith("aws --endpoint-url"))
        done = subprocess.run(
            ["bash", "-c", f"{export}\n{listing}"],
            env={
                **env,
                "HOME": "/nonexistent",
                "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            },
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "copy/2024/my photoé-900.jpg" in done.stdout
    finally:
        stack.send_signal(signal.SIGINT)
        stack.wait(timeout=30)
