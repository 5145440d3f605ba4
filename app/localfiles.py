"""A store over local files, so that `python -m app resize` runs the very same pipeline."""

from __future__ import annotations

import os
from pathlib import Path

from app.aws.objects import CopyHead, Download, Head
from app.errors import PermanentError
from app.model import ObjectRef


class LocalStore:
    """Reads the named files; writes renditions below `out_dir` (output prefix removed)."""

    def __init__(self, files: dict[str, Path], out_dir: Path, output_prefix: str) -> None:
        self._files = files
        self._out_dir = out_dir
        self._output_prefix = output_prefix

    def head(self, ref: ObjectRef) -> Head:
        path = self._files[ref.key]
        try:
            stat = path.stat()
        except FileNotFoundError:
            # Unlike an S3 object deleted after its event, a file named on the command
            # line that is not there is the user's mistake: a failure, not a skip.
            raise PermanentError(f"{path} does not exist") from None
        except OSError as error:
            raise PermanentError(f"{path} cannot be read: {error.strerror}") from None
        return Head(stat.st_size, _etag(stat), "", {})

    def open(self, ref: ObjectRef, head: Head) -> Download:
        del head  # a file has one version: whatever it holds now
        path = self._files[ref.key]
        try:
            body = path.open("rb")
        except FileNotFoundError:
            raise PermanentError(f"{path} does not exist") from None
        except OSError as error:
            raise PermanentError(f"{path} cannot be read: {error.strerror}") from None
        stat = os.fstat(body.fileno())
        return Download(ref, stat.st_size, _etag(stat), "", {}, body)

    def existing(self, bucket: str, key: str) -> CopyHead | None:
        """Files carry no metadata: local copies are always made again."""
        del bucket, key
        return None

    def delete(
        self, bucket: str, key: str, version: str | None = None, etag: str | None = None
    ) -> bool:
        """Remove a written file (never asked: `existing` finds none)."""
        del bucket, version, etag
        self.output_path(key).unlink(missing_ok=True)
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
        replacing: str | None = None,
    ) -> None:
        # S3 attributes and conditions; files have none (one command writes them at a time).
        del bucket, content_type, cache_control, metadata, replacing
        path = self.output_path(key)
        partial = path.with_name(f".{path.name}.partial")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(data)
            partial.replace(path)  # atomic: a reader never sees half a file
        except OSError as error:
            # A full disk, a folder made read-only or a file in the way since the start:
            # this file's failure, reported on its line, not a traceback for the run.
            raise PermanentError(f"{path} cannot be written: {error.strerror}") from None

    def output_path(self, key: str) -> Path:
        """Where `put` writes `key`: always inside `out_dir`, else PermanentError."""
        path = self._out_dir / key.removeprefix(self._output_prefix)
        if not path.resolve().is_relative_to(self._out_dir.resolve()):
            raise PermanentError(
                f"output key {key!r} would be written to {path}, outside --out "
                f"{self._out_dir}; nothing written"
            )
        return path


def _etag(stat: os.stat_result) -> str:
    return f"{stat.st_size:x}-{stat.st_mtime_ns:x}"
