"""S3 reads and writes. The boto3 client is passed in, never created here.

Every botocore failure leaves this module classified (see `errors.py`):
missing object -> ObjectGone, denied -> AccessDenied naming the permission,
throttling / network / 5xx -> TransientError, anything else -> PermanentError.

A source is read in two steps: `head` (size, ETag, metadata: enough to skip it),
then `open`, a GET of that very version (VersionId, else If-Match on the ETag).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from app.errors import AccessDenied, ObjectGone, PermanentError, ResizerError, TransientError
from app.model import ObjectRef

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_GONE = {"NoSuchKey", "NoSuchVersion", "404", "NotFound"}
_CHANGED = {"PreconditionFailed", "412"}
_DENIED = {
    "AccessDenied",
    "403",
    "Forbidden",
    "AllAccessDisabled",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
}
_TRANSIENT = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "InternalError",
    "ServiceUnavailable",
    "500",
    "502",
    "503",
    "504",
}


# Bytes read from the network at a time: 0.6 ms of a 100 MB/s GET, so the decoder
# still starts on the first bytes almost at once.
READ_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Head:
    """A source's headers, from a HeadObject: what the checks before any GET need."""

    size: int
    etag: str
    content_type: str
    metadata: dict[str, str]


@dataclass(slots=True)
class Download:
    """An object being read: its headers now, its bytes as `read(n)` is called."""

    ref: ObjectRef
    size: int
    etag: str
    content_type: str
    metadata: dict[str, str]
    _body: Any
    failure: ResizerError | None = field(default=None)
    waited_s: float = 0.0  # time spent inside `read`, waiting on the network
    _pending: memoryview = field(default_factory=lambda: memoryview(b""))

    def read(self, size: int) -> bytes:
        """Up to `size` bytes; b"" at the end or after a failure (kept in `failure`).

        libvips asks for 4 KB at a time; the network is read `READ_CHUNK` at a time,
        as each read through botocore and urllib3 costs tens of microseconds (a
        20 MP photo is 1,000 reads of 4 KB). libvips calls this from C and cannot
        carry a Python exception through, so a network failure is recorded here and
        re-raised by the caller.
        """
        if self.failure is not None:
            return b""
        if not self._pending:
            start = time.perf_counter()
            try:
                self._pending = memoryview(self._body.read(max(size, READ_CHUNK)))
            except (BotoCoreError, OSError) as error:
                self.failure = TransientError(
                    f"reading s3://{self.ref.bucket}/{self.ref.key} failed: {error}"
                )
                return b""
            finally:
                self.waited_s += time.perf_counter() - start
        chunk, self._pending = self._pending[:size], self._pending[size:]
        return bytes(chunk)

    def close(self) -> None:
        self._body.close()


class S3Store:
    """Reads sources and writes renditions through one boto3 S3 client."""

    def __init__(self, client: S3Client) -> None:
        self._client = client

    def head(self, ref: ObjectRef) -> Head:
        """HeadObject of the source (of `ref.version`, when the event names one)."""
        try:
            if ref.version:
                response = self._client.head_object(
                    Bucket=ref.bucket, Key=ref.key, VersionId=ref.version
                )
            else:
                response = self._client.head_object(Bucket=ref.bucket, Key=ref.key)
        except (ClientError, BotoCoreError) as error:
            raise _classify(error, _read_action(ref), ref.bucket, ref.key) from None
        return Head(
            int(response.get("ContentLength", 0)),
            str(response.get("ETag", "")).strip('"'),
            str(response.get("ContentType", "")),
            dict(response.get("Metadata", {})),
        )

    def open(self, ref: ObjectRef, head: Head) -> Download:
        """Start a GetObject of the version `head` describes; the body is not read yet."""
        try:
            # A version is immutable; a plain key is pinned to the ETag its HEAD saw.
            if ref.version:
                response = self._client.get_object(
                    Bucket=ref.bucket, Key=ref.key, VersionId=ref.version
                )
            else:
                response = self._client.get_object(
                    Bucket=ref.bucket, Key=ref.key, IfMatch=f'"{head.etag}"'
                )
        except (ClientError, BotoCoreError) as error:
            raise _classify(error, _read_action(ref), ref.bucket, ref.key) from None
        return Download(
            ref,
            int(response.get("ContentLength", 0)),
            str(response.get("ETag", "")).strip('"'),
            str(response.get("ContentType", "")),
            dict(response.get("Metadata", {})),
            response["Body"],
        )

    def copy_metadata(self, bucket: str, key: str) -> dict[str, str] | None:
        """The user metadata of an existing copy; None if absent or unreadable.

        Reading it needs s3:GetObject on the output prefix; without that permission
        (or on any error) the copy is simply made again, which is always correct.
        """
        try:
            head = self._client.head_object(Bucket=bucket, Key=key)
        except (ClientError, BotoCoreError):
            return None
        return dict(head.get("Metadata", {}))

    def put(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        content_type: str,
        cache_control: str,
        metadata: dict[str, str],
    ) -> None:
        """Write one rendition in a single PUT, so a reader never sees half of it."""
        try:
            self._client.put_object(
                Bucket=bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                CacheControl=cache_control,
                Metadata=metadata,
            )
        except (ClientError, BotoCoreError) as error:
            raise _classify(error, "s3:PutObject", bucket, key) from None


def _read_action(ref: ObjectRef) -> str:
    # Reading a given version takes its own permission.
    return "s3:GetObjectVersion" if ref.version else "s3:GetObject"


def _classify(error: Exception, action: str, bucket: str, key: str) -> ResizerError:
    where = f"s3://{bucket}/{key}"
    if isinstance(error, BotoCoreError):  # connection, timeout: after botocore's retries
        return TransientError(f"{action} on {where} failed: {error}")
    assert isinstance(error, ClientError)
    code = str(error.response.get("Error", {}).get("Code", ""))
    message = str(error.response.get("Error", {}).get("Message", "")) or code
    reading = action.startswith("s3:GetObject")
    if code in _GONE and reading:
        return ObjectGone(f"{where} no longer exists")
    if code in _CHANGED and reading:
        return TransientError(
            f"{where} changed between its HeadObject and its GetObject; left for a retry"
        )
    if code in _DENIED and reading:
        return _denied_read(action, bucket, key, message)
    if code in _DENIED:
        return AccessDenied(
            f"{action} was denied on arn:aws:s3:::{bucket}/{key}: the "
            f"function's role needs {action} on that resource ({message})"
        )
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code in _TRANSIENT or status >= 500 or status == 429:
        return TransientError(f"{action} on {where} failed after retries: {code} {message}")
    return PermanentError(f"{action} on {where} failed: {code} {message}")


def _denied_read(action: str, bucket: str, key: str, message: str) -> ResizerError:
    """A 403 on reading a source: denied, or (without s3:ListBucket) a missing key.

    S3 answers 403, not 404, for a key that does not exist when the caller may not
    list the bucket; its message names s3:ListBucket when it says so.
    """
    if "s3:ListBucket" in message:
        return ObjectGone(
            f"s3://{bucket}/{key} no longer exists (S3 answered 403, as the function's "
            f"role lacks s3:ListBucket on arn:aws:s3:::{bucket})"
        )
    return AccessDenied(
        f"{action} was denied on arn:aws:s3:::{bucket}/{key}: the function's role needs "
        f"{action} on that resource, and s3:ListBucket on arn:aws:s3:::{bucket}, without "
        f"which S3 also answers 403 for a key that no longer exists ({message})"
    )
