"""Value objects that travel between the steps: what to process and how it ended."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from app.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/development.md)
if TYPE_CHECKING:
    from typing import Any, Literal

    Status = Literal["processed", "skipped", "failed", "deleted"]
    Action = Literal["create", "remove"]


class ObjectRef(Record):
    """One S3 object named by an event; `key` is already URL-decoded.

    `version` is the S3 version the event names (versioned buckets): that version,
    not whichever is current when it is read, is the one processed, and only while it
    is the current one. `action` says whether the event created or removed the object;
    `sequencer` is S3's order of events for this key (hex; None from Batch Operations).
    """

    bucket: str
    key: str
    size: int | None = None
    etag: str | None = None
    version: str | None = None  # the version an event names, in a versioned bucket
    label: str | None = None  # how messages name it, if not s3://bucket/key: a local path
    action: Action = "create"
    sequencer: str | None = None

    @property
    def uri(self) -> str:
        """How messages name the object: s3://bucket/key, or its label (a local file)."""
        return self.label or f"s3://{self.bucket}/{self.key}"


class Output(Record):
    """One rendition as written."""

    key: str
    width: int
    height: int
    bytes: int
    content_type: str
    colour_space: str = "sRGB"  # sRGB, or the name of the wide profile it carries
    hdr: bool = False  # it carries a gain map (Ultra HDR JPEG)


class Outcome(Record):
    """How one object ended. `retryable` failures make Lambda (or SQS, or the job) retry.

    `outputs` are the copies written; `removed`, the keys of the copies deleted.
    """

    ref: ObjectRef
    status: Status
    reason: str | None = None
    outputs: tuple[Output, ...] = ()
    retryable: bool = False
    details: Mapping[str, Any] = MappingProxyType({})  # timings, sizes, profile, manifest
    removed: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape reported by the handler and logged per object."""
        result: dict[str, Any] = {
            "bucket": self.ref.bucket,
            "key": self.ref.key,
            "status": self.status,
        }
        if self.ref.version is not None:
            result["versionId"] = self.ref.version
        if self.reason is not None:
            result["reason"] = self.reason
        if self.retryable:
            result["retryable"] = True
        result["outputs"] = [
            {
                "key": o.key,
                "width": o.width,
                "height": o.height,
                "bytes": o.bytes,
                "contentType": o.content_type,
            }
            for o in self.outputs
        ]
        if "manifest" in self.details:  # written after the copies, listing them
            result["manifest"] = self.details["manifest"]
        if "profile" in self.details:  # the profile chosen (config/profiles.py), once the HEAD told
            result["profile"] = self.details["profile"]
        if self.status == "deleted":
            result["deleted"] = list(self.removed)
        return result
