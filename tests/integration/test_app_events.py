"""Applications hear about each object: EventBridge (moto's) -> a rule -> an SQS queue."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import images
import pytest
from harness import LambdaContext, s3_event, sample_event
from test_observability import emf, invoke, objects, runtime


@pytest.fixture
def app_queue(s3_endpoint: str) -> tuple[str, Any]:
    """A bus, and a rule that delivers everything image-resizer says on it to a queue."""
    events = boto3.client("events", endpoint_url=s3_endpoint, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=s3_endpoint, region_name="us-east-1")
    bus = f"apps-{uuid.uuid4().hex[:8]}"
    events.create_event_bus(Name=bus)
    url = sqs.create_queue(QueueName=f"thumbs-{bus}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="thumbnails-ready",
        EventBusName=bus,
        EventPattern=json.dumps({"source": ["image-resizer"]}),
    )
    events.put_targets(
        Rule="thumbnails-ready", EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}]
    )

    def received() -> list[dict[str, Any]]:
        found = []
        while True:
            batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return found
            for message in batch:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    return bus, received


def test_an_application_queue_receives_one_event_per_object_with_its_outputs(
    s3, bucket, load_handler, app_queue
):
    bus, received = app_queue
    handler = load_handler(EVENT_BUS_NAME=bus)
    s3.put_object(Bucket=bucket, Key="images/a.jpg", Body=images.jpeg(1200, 900))
    s3.put_object(Bucket=bucket, Key="images/b.png", Body=images.png())
    s3.put_object(Bucket=bucket, Key="images/broken.jpg", Body=b"not an image")
    keys = ["images/a.jpg", "images/b.png", "images/broken.jpg", "images/folder/"]

    reply = handler.handler(s3_event(bucket, keys), LambdaContext())

    got = {e["detail"]["key"]: e for e in received()}
    assert sorted(got) == ["images/a.jpg", "images/b.png", "images/broken.jpg"]  # not the skip
    for key in ("images/a.jpg", "images/b.png"):
        assert (got[key]["source"], got[key]["detail-type"]) == (
            "image-resizer",
            "Renditions Created",
        )
        [result] = [r for r in reply["results"] if r["key"] == key]
        assert got[key]["detail"] == {
            "bucket": bucket,
            "key": key,
            "version": None,
            "outputs": result["outputs"],
            "manifest": key.replace("images/", "copy/").rsplit(".", 1)[0] + ".json",
            "profile": "default",
        }
        assert len(got[key]["detail"]["outputs"]) == 3
    broken = got["images/broken.jpg"]
    assert broken["detail-type"] == "Renditions Failed"
    assert broken["detail"]["reason"].startswith(f"s3://{bucket}/images/broken.jpg")

    # The source goes: one event lists the copies deleted with it.
    s3.delete_object(Bucket=bucket, Key="images/a.jpg")
    delete = sample_event("s3-delete.json", bucket)
    delete["Records"][0]["s3"]["object"]["key"] = "images/a.jpg"
    handler.handler(delete, LambdaContext())
    [gone] = received()
    assert gone["detail-type"] == "Renditions Deleted"
    assert sorted(gone["detail"]["deleted"]) == [
        *(f"copy/a-{w}.jpg" for w in (300, 600, 900)),
        "copy/a.json",  # the manifest goes with its copies
    ]


def test_events_that_cannot_be_put_are_logged_and_counted_and_the_objects_stand(
    s3, s3_endpoint, bucket
):
    s3.put_object(Bucket=bucket, Key="images/a.jpg", Body=images.jpeg(1200, 900))
    env = {"AWS_ENDPOINT_URL": s3_endpoint, "EVENT_BUS_NAME": "no-such-bus"}

    with runtime(**env) as (emulator, output):
        documents = invoke(emulator, output, s3_event(bucket, ["images/a.jpg"]))

    assert objects(documents)["images/a.jpg"]["status"] == "processed"  # the copies stand
    [error] = [d for d in documents if d.get("message") == "application event not delivered"]
    assert error["reason"].startswith(
        f"events:PutEvents of 'Renditions Created' for s3://{bucket}/images/a.jpg on event bus "
        "'no-such-bus' failed: ResourceNotFoundException: "
    )
    [metrics] = emf(documents)
    assert metrics["EventsFailed"] == [1.0]
