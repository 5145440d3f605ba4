"""A real S3 API (moto's server, one per session) on loopback, and the handler wired to it."""

from __future__ import annotations

import importlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest

from devtools.context import LambdaContext
from devtools.s3server import FAKE_AWS_ENV, free_port, moto_server

__all__ = ["LambdaContext"]  # the tests take it from here, with the fixtures

EVENTS = Path(__file__).resolve().parents[2] / "events"
SAMPLE_BUCKET = "image-resizer-local"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with moto_server(free_port()) as endpoint:
        saved = dict(os.environ)
        os.environ.update(FAKE_AWS_ENV)
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        try:
            yield endpoint
        finally:
            os.environ.clear()
            os.environ.update(saved)


@pytest.fixture
def s3(s3_endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


@pytest.fixture
def bucket(s3: Any) -> str:
    """A new, empty bucket for one test."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def load_handler(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch):
    """Import app.handler afresh under the given environment (a cold start)."""

    def load(**env: str) -> ModuleType:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        import app.handler

        return importlib.reload(app.handler)

    return load


def sample_event(name: str, bucket: str) -> dict[str, Any]:
    """An event from events/, pointed at `bucket`."""
    text = (EVENTS / name).read_text().replace(SAMPLE_BUCKET, bucket)
    return json.loads(text)


def s3_event(bucket: str, keys: list[str]) -> dict[str, Any]:
    """An S3 Put event for `keys` in `bucket` (no sizes: every object is read)."""
    event = sample_event("s3-put-plain.json", bucket)
    template = event["Records"][0]
    event["Records"] = [
        {
            **template,
            "s3": {
                **template["s3"],
                "object": {
                    **template["s3"]["object"],
                    "key": quote_plus(k, safe="/"),
                    "size": None,
                },
            },
        }
        for k in keys
    ]
    return event
