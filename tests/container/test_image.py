"""The real image, built with the docker SDK and invoked through the base image's RIE.

Skipped, with the reason printed, where no Docker engine answers.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

docker = pytest.importorskip("docker")

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.container


@pytest.fixture(scope="module")
def engine() -> Any:
    import requests

    try:
        client = docker.from_env(timeout=10)
        client.ping()
    except docker.errors.APIError:
        raise  # an engine answered: its error is a failure to see, not a reason to skip
    except (docker.errors.DockerException, requests.exceptions.ConnectionError) as error:
        # from_env found no engine to ask for its API version, or ping reached none.
        reason = f"no Docker engine answers ({type(error).__name__}: {error})"
        print(f"SKIP container tests: {reason}")
        pytest.skip(reason)
    return client


@pytest.fixture(scope="module")
def image(engine: Any) -> str:
    tag = "image-resizer:test"
    engine.images.build(path=str(ROOT), tag=tag, rm=True)
    return tag


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from devtools.s3server import free_port, moto_server

    with moto_server(free_port()) as endpoint:
        yield endpoint


def test_put_event_through_the_rie_in_the_built_image(
    engine: Any, image: str, s3_endpoint: str
) -> None:
    import boto3
    import images

    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    event = json.loads((ROOT / "events" / "s3-put.json").read_text())
    bucket = event["Records"][0]["s3"]["bucket"]["name"]
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="images/2024/my photoé.jpg", Body=images.jpeg(1600, 1200))

    # Host networking keeps every server on loopback: the container reaches moto at
    # 127.0.0.1, and the RIE in the image listens on 127.0.0.1:8080.
    container = engine.containers.run(
        image,
        detach=True,
        network_mode="host",
        environment={
            "AWS_ENDPOINT_URL": s3_endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
        },
    )
    try:
        url = "http://127.0.0.1:8080/2015-03-31/functions/function/invocations"
        reply = _post(url, json.dumps(event).encode())
    finally:
        container.remove(force=True)

    assert reply["processed"] == 1, reply
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="copy/")["Contents"]]
    assert sorted(keys) == [  # the copies and, written by default, the manifest
        *(f"copy/2024/my photoé-{w}.jpg" for w in (300, 600, 900)),
        "copy/2024/my photoé.json",
    ]


def _post(url: str, body: bytes, attempts: int = 30) -> Any:
    for _ in range(attempts):  # the RIE needs a moment to listen
        try:
            with urllib.request.urlopen(
                urllib.request.Request(url, body, method="POST"), timeout=120
            ) as response:
                return json.loads(response.read())
        except OSError:
            time.sleep(1)
    raise AssertionError(f"the RIE never answered on {url}")
