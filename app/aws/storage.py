"""S3 reads and writes. The boto3 clients are passed in, never created here.

Every botocore failure leaves this module classified (see `errors.py`):
missing object -> ObjectGone, denied -> AccessDenied naming the permission,
throttling / network / 5xx -> TransientError, anything else -> PermanentError.
A store bound to a deadline (`S3Store.until`) fits every call in the time left
before it, and sends nothing once too little is left (see `deadline.py`).

A source is read in two steps: `head` of the current version (size, ETag, version,
metadata: enough to skip it), then `open`, a GET of that very version (VersionId,
else If-Match on the ETag). A source's copies are checked with `copy_head` (a manifest
read whole with `read_copy`), their versions listed with `versions`, and removed with
`delete` (app/renditions/sweep.py).

Copies are written conditionally (`put`'s `replacing`): over the very copy the
up-to-date check saw (If-Match on its ETag), or only where there was none
(If-None-Match: *). Two attempts that race (an older and a newer version of a
source, or a retry and a late PUT of an attempt given up on) cannot interleave their
copies: the one that writes second finds the key changed and is left for a retry,
which reads the new state and decides again.
"""

from __future__ import annotations

import contextlib
import time

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    ReadTimeoutError,
)

from app.aws import deadline
from app.aws.objects import CopyHead, Download, Head
from app.errors import (
    AccessDenied,
    ObjectGone,
    PermanentError,
    ResizerError,
    TransientError,
    WriteLost,
)
from app.model import ObjectRef

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/development.md)
if TYPE_CHECKING:
    from typing import Any

    from mypy_boto3_s3 import S3Client

_GONE = {"NoSuchKey", "NoSuchVersion", "404", "NotFound"}
_CHANGED = {"PreconditionFailed", "412"}
# A conditional PUT lost: the key changed (412), another conditional write to it was in
# flight (409), or the copy it was to replace is gone (If-Match on a missing key: 404).
_WRITE_LOST = _CHANGED | {"ConditionalRequestConflict", "409", "NoSuchKey", "404"}
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


class S3Store:
    """Reads sources and writes renditions through boto3 S3 clients, within a deadline."""

    def __init__(self, clients: deadline.Clients, until: float | None = None) -> None:
        self._clients = clients
        self._until = until

    def until(self, until: float) -> S3Store:
        """This store, bound to finish every call by `until` (a `time.monotonic()` value)."""
        return S3Store(self._clients, until)

    def _client(self, action: str, bucket: str, key: str) -> tuple[S3Client, deadline.Timeouts]:
        """A client whose timeouts and attempts fit in the time left, and those settings."""
        left = None if self._until is None else self._until - time.monotonic()
        timeouts = deadline.timeouts_for(left)
        if timeouts is None:
            raise TransientError(
                f"{action} on s3://{bucket}/{key} not sent: {max(left or 0, 0) * 1000:,.0f} ms "
                "left before the Lambda deadline; left for a retry"
            )
        return self._clients.get(timeouts), timeouts

    def head(self, ref: ObjectRef) -> Head:
        """HeadObject of the source's current version, whatever version `ref` names.

        The caller compares the two (app/renditions/order.py): only the current version is worth
        copies. A key whose current version is a delete marker answers 404: gone.
        """
        client, timeouts = self._client("s3:HeadObject", ref.bucket, ref.key)
        try:
            response = client.head_object(Bucket=ref.bucket, Key=ref.key)
        except (ClientError, BotoCoreError) as error:
            raise _classify(error, "s3:GetObject", ref.bucket, ref.key, timeouts) from None
        return Head(
            int(response.get("ContentLength", 0)),
            str(response.get("ETag", "")).strip('"'),
            str(response.get("ContentType", "")),
            dict(response.get("Metadata", {})),
            response.get("VersionId") or None,
        )

    def open(self, ref: ObjectRef, head: Head) -> Download:
        """Start a GetObject of the version `head` describes; the body is not read yet."""
        client, timeouts = self._client("s3:GetObject", ref.bucket, ref.key)
        # A version is immutable; a plain key is pinned to the ETag its HEAD saw.
        pinned: dict[str, Any] = (
            {"VersionId": ref.version} if ref.version else {"IfMatch": f'"{head.etag}"'}
        )
        try:
            response = client.get_object(Bucket=ref.bucket, Key=ref.key, **pinned)
        except (ClientError, BotoCoreError) as error:
            raise _classify(error, _read_action(ref), ref.bucket, ref.key, timeouts) from None
        return Download(
            ref,
            int(response.get("ContentLength", 0)),
            str(response.get("ETag", "")).strip('"'),
            str(response.get("ContentType", "")),
            dict(response.get("Metadata", {})),
            response["Body"],
            deadline=self._until,
            read_timeout=timeouts.read,
        )

    def existing(self, bucket: str, key: str) -> CopyHead | None:
        """The copy at `key` (ETag and metadata), or None if there is none; a failed
        HEAD raises (retryable), never taken for "absent".

        A 403 with no reason is the exception: without s3:ListBucket S3 answers so for
        a missing key, and the role may lack s3:GetObject on OUTPUT_PREFIX. It counts as
        absent, and the write that follows is the guard: `put` with `replacing=None`
        creates the key only if it does not exist, so an unreadable copy is never
        overwritten (its PUT fails and is left for a retry).
        """
        try:
            return self.copy_head(bucket, key)
        except AccessDenied:
            return None

    def copy_head(self, bucket: str, key: str, version: str | None = None) -> CopyHead | None:
        """An existing copy's metadata and version (`version`: that one); None if there is
        none; else it raises."""
        action = "s3:GetObjectVersion" if version else "s3:GetObject"
        client, timeouts = self._client("s3:HeadObject", bucket, key)
        pinned: dict[str, Any] = {"VersionId": version} if version else {}
        try:
            head = client.head_object(Bucket=bucket, Key=key, **pinned)
        except (ClientError, BotoCoreError) as error:
            failure = _classify(error, action, bucket, key, timeouts)
            if isinstance(failure, ObjectGone):
                return None
            raise failure from None
        return CopyHead(
            dict(head.get("Metadata", {})),
            _version(head.get("VersionId")),
            str(head.get("ETag", "")).strip('"'),
        )

    def read_copy(self, bucket: str, key: str, limit: int) -> tuple[CopyHead, bytes] | None:
        """A small copy (a manifest) whole, with its head; None if there is none. One of
        more than `limit` bytes is not read: its body comes back empty."""
        client, timeouts = self._client("s3:GetObject", bucket, key)
        try:
            response = client.get_object(Bucket=bucket, Key=key)
            body = response["Body"]
            with contextlib.closing(body):
                large = int(response.get("ContentLength", 0)) > limit
                data = b"" if large else body.read()
        except (ClientError, BotoCoreError) as error:
            failure = _classify(error, "s3:GetObject", bucket, key, timeouts)
            if isinstance(failure, ObjectGone):
                return None
            raise failure from None
        found = CopyHead(
            dict(response.get("Metadata", {})),
            _version(response.get("VersionId")),
            str(response.get("ETag", "")).strip('"'),
        )
        return found, data

    def versions(self, bucket: str, key: str) -> list[tuple[str, bool]]:
        """Every version of exactly `key`, newest first: (version id, is a delete marker).

        Each page is a call of its own, sent only while the deadline leaves time for it."""
        keys: list[tuple[str, bool]] = []
        token: dict[str, Any] = {}
        while True:
            client, timeouts = self._client("s3:ListBucketVersions", bucket, key)
            try:
                page = client.list_object_versions(Bucket=bucket, Prefix=key, **token)
            except (ClientError, BotoCoreError) as error:
                failure = _classify(error, "s3:ListBucketVersions", bucket, key, timeouts)
                if isinstance(failure, AccessDenied):
                    raise AccessDenied(
                        f"s3:ListBucketVersions was denied on arn:aws:s3:::{bucket} for the "
                        f"prefix {key!r}: the function's role needs s3:ListBucketVersions on "
                        "that bucket for keys under OUTPUT_PREFIX, to remove a deleted "
                        "source's copies with their versions"
                    ) from None
                raise failure from None
            found: list[tuple[Any, bool]] = [(v, False) for v in page.get("Versions", [])]
            found += [(m, True) for m in page.get("DeleteMarkers", [])]
            found.sort(key=lambda item: item[0]["LastModified"], reverse=True)
            keys += [(str(v["VersionId"]), marker) for v, marker in found if v["Key"] == key]
            if not page.get("IsTruncated"):
                return keys
            token = {
                "KeyMarker": page["NextKeyMarker"],
                "VersionIdMarker": page["NextVersionIdMarker"],
            }

    def delete(
        self, bucket: str, key: str, version: str | None = None, etag: str | None = None
    ) -> bool:
        """Delete one copy: `version`, that version for good; `etag`, only while it holds
        that ETag (S3's conditional delete). False if it changed since (left as it is);
        deleting a key that is already gone succeeds."""
        action = "s3:DeleteObjectVersion" if version else "s3:DeleteObject"
        client, timeouts = self._client(action, bucket, key)
        pinned: dict[str, Any] = {"VersionId": version} if version else {}
        if etag:
            pinned["IfMatch"] = f'"{etag}"'
        try:
            client.delete_object(Bucket=bucket, Key=key, **pinned)
        except (ClientError, BotoCoreError) as error:
            code = str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))
            if etag and code in _CHANGED:
                return False
            if etag and code in _GONE:  # gone since its HEAD: what was asked
                return True
            raise _classify(error, action, bucket, key, timeouts) from None
        return True

    def put(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        content_type: str,
        cache_control: str,
        metadata: dict[str, str],
        replacing: str | None,
    ) -> None:
        """Write one rendition in a single PUT, so a reader never sees half of it: over
        the object whose ETag is `replacing`, or (None) only if the key holds nothing."""
        client, timeouts = self._client("s3:PutObject", bucket, key)
        condition: dict[str, Any] = (
            {"IfMatch": f'"{replacing}"'} if replacing is not None else {"IfNoneMatch": "*"}
        )
        try:
            client.put_object(
                Bucket=bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                CacheControl=cache_control,
                Metadata=metadata,
                **condition,
            )
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in _WRITE_LOST:
                raise WriteLost(
                    f"s3://{bucket}/{key} changed while this attempt wrote "
                    f"{metadata.get('rendition-of', 'it')!r}'s copies (another attempt wrote "
                    "it first); left for a retry, which decides again"
                ) from None
            raise _classify(error, "s3:PutObject", bucket, key, timeouts) from None
        except BotoCoreError as error:
            raise _classify(error, "s3:PutObject", bucket, key, timeouts) from None


def _version(value: Any) -> str | None:
    """S3's version id, or None where the bucket has never been versioned ("null")."""
    return None if not value or value == "null" else str(value)


def _read_action(ref: ObjectRef) -> str:
    # Reading a given version takes its own permission.
    return "s3:GetObjectVersion" if ref.version else "s3:GetObject"


def _classify(
    error: Exception,
    action: str,
    bucket: str,
    key: str,
    timeouts: deadline.Timeouts | None = None,
) -> ResizerError:
    where = f"s3://{bucket}/{key}"
    if timeouts is not None and isinstance(error, ReadTimeoutError | ConnectTimeoutError):
        waited = (
            f"no answer within {timeouts.read:g} s (read timeout"
            if isinstance(error, ReadTimeoutError)
            else f"no connection within {timeouts.connect:g} s (connect timeout"
        )
        attempts = f"{timeouts.attempts} attempt{'s' if timeouts.attempts > 1 else ''}"
        return TransientError(f"{action} on {where} timed out: {waited}, {attempts})")
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
