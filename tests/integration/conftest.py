"""Fixtures for the integration tests (defined in harness.py, shared with the tests)."""

from harness import bucket, load_handler, s3, s3_endpoint

__all__ = ["bucket", "load_handler", "s3", "s3_endpoint"]
