"""S3 reads and writes. The boto3 client is passed in, never created here.

Every botocore failure leaves this module classified (see `errors.py`):
missing object -> ObjectGone, denied -> AccessDenied naming the permission,
throttling / network / 5xx -> TransientError, anything else -> PermanentError.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from app import naming
from app.errors import AccessDenied, ObjectGone, PermanentError, ResizerError, TransientError
from app.model import ObjectRef

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_GONE = {"NoSuchKey", "404", "NotFound"}
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
    received: int = 0  # bytes the body has given so far
    _pending: memoryview = field(default_factory=lambda: memoryview(b""))

    def read(self, size: int) -> bytes:
        """Up to `size` bytes; b"" at the end or after a failure (kept in `failure`).

        libvips asks for 4 KB at a time; the network is read `READ_CHUNK` at a time,
        as each read through botocore and urllib3 costs tens of microseconds (a
        20 MP photo is 1,000 reads of 4 KB). libvips calls this from C and cannot
        carry a Python exception through, so a network failure is recorded here and
        re-raised by the caller. A body that ends before `size` bytes is such a failure
        too: a decoder would take it for the end of a (damaged) file.
        """
        if self.failure is not None:
            return b""
        if not self._pending:
            start = time.perf_counter()
            try:
                data = self._body.read(max(size, READ_CHUNK))
            except Exception as error:  # noqa: BLE001 - nothing may escape into libvips' C
                self.failure = TransientError(
                    f"reading {self.ref.uri} failed after {self.received:,} of "
                    f"{self.size:,} bytes: {error}"
                )
                return b""
            finally:
                self.waited_s += time.perf_counter() - start
            self.received += len(data)
            if not data and self.received < self.size:
                self.failure = TransientError(
                    f"the download of {self.ref.uri} ended after {self.received:,} of "
                    f"{self.size:,} bytes; left for a retry"
                )
            self._pending = memoryview(data)
        chunk, self._pending = self._pending[:size], self._pending[size:]
        return bytes(chunk)

    def finish(self) -> None:
        """Read what the decoder left (bytes after an image's end, a TIFF's trailer), so
        that a body cut there is seen too, and the connection can be reused."""
        while self.read(READ_CHUNK):
            pass

    def close(self) -> None:
        self._body.close()


class S3Store:
    """Reads sources and writes renditions through one boto3 S3 client."""

    def __init__(self, client: S3Client) -> None:
        self._client = client

    def open(self, ref: ObjectRef) -> Download:
        """Start a GetObject; the headers are read, the body is not."""
        try:
            response = self._client.get_object(Bucket=ref.bucket, Key=ref.key)
        except (ClientError, BotoCoreError) as error:
            raise _classify(error, "s3:GetObject", ref.bucket, ref.key) from None
        return Download(
            ref,
            int(response.get("ContentLength", 0)),
            str(response.get("ETag", "")).strip('"'),
            str(response.get("ContentType", "")),
            dict(response.get("Metadata", {})),
            response["Body"],
        )

    def source_etag_of(self, bucket: str, key: str) -> str | None:
        """The source ETag recorded on an existing copy; None if absent or unreadable.

        Reading it needs s3:GetObject on the output prefix; without that permission
        (or on any error) the copy is simply made again, which is always correct.
        """
        try:
            head = self._client.head_object(Bucket=bucket, Key=key)
        except (ClientError, BotoCoreError):
            return None
        return head.get("Metadata", {}).get(naming.SOURCE_ETAG)

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


def _classify(error: Exception, action: str, bucket: str, key: str) -> ResizerError:
    where = f"s3://{bucket}/{key}"
    if isinstance(error, BotoCoreError):  # connection, timeout: after botocore's retries
        return TransientError(f"{action} on {where} failed: {error}")
    assert isinstance(error, ClientError)
    code = str(error.response.get("Error", {}).get("Code", ""))
    message = str(error.response.get("Error", {}).get("Message", "")) or code
    if code in _GONE and action == "s3:GetObject":
        return ObjectGone(f"{where} no longer exists")
    if code in _DENIED:
        return AccessDenied(
            f"{action} was denied on arn:aws:s3:::{bucket}/{key}: the "
            f"function's role needs {action} on that resource ({message})"
        )
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code in _TRANSIENT or status >= 500 or status == 429:
        return TransientError(f"{action} on {where} failed after retries: {code} {message}")
    return PermanentError(f"{action} on {where} failed: {code} {message}")
