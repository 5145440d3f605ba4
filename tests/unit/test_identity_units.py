"""Whose copy a key holds: the sentences of renditions/identity.py, one per way two sources meet."""

from __future__ import annotations

import pytest

from app import naming
from app.config import settings as config
from app.errors import PermanentError
from app.model import ObjectRef
from app.renditions import identity

CAT = ObjectRef("photos", "images/a/cat.jpg")


def copy_of(key: str, bucket: str | None = "photos") -> dict[str, str]:
    return naming.rendition_metadata(key, "etag", "jpeg", source_bucket=bucket)


def refusal(found: dict[str, dict[str, str] | None], **env: str) -> str:
    with pytest.raises(PermanentError) as raised:
        identity.check(CAT, "out", found, config.load(env), "copy/a/cat.json")
    return str(raised.value)


def test_its_own_copies_absent_keys_and_foreign_objects_pass() -> None:
    found = {
        "copy/a/cat-300.jpg": copy_of("images/a/cat.jpg"),
        "copy/a/cat-600.jpg": copy_of("images/a/cat.jpg", bucket=None),  # made before the bucket
        "copy/a/cat-900.jpg": None,
        "copy/a/cat.json": {"owner": "someone"},  # not a copy: no rendition-of
    }

    identity.check(CAT, "out", found, config.load({}), "copy/a/cat.json")


def test_a_template_without_dir_is_told_to_add_it() -> None:
    reason = refusal(
        {"copy/cat-300.jpg": copy_of("images/b/cat.jpg")},
        OUTPUT_KEY_TEMPLATE="{prefix}{stem}-{width}.{ext}",
    )

    assert reason == (
        "s3://out/copy/cat-300.jpg already holds a copy of s3://photos/images/b/cat.jpg; "
        "s3://photos/images/a/cat.jpg would overwrite it, so nothing was written: the two "
        "differ in {dir}, which OUTPUT_KEY_TEMPLATE '{prefix}{stem}-{width}.{ext}' leaves "
        "out; add {dir} (e.g. '{prefix}{dir}{stem}-{width}.{ext}')"
    )


def test_an_older_copy_without_its_bucket_and_a_digest_are_named_as_far_as_known() -> None:
    older = refusal({"copy/a/cat.json": copy_of("images/a/cat.png", bucket=None)})
    digest = {naming.MARKER: "sha256:" + "ab" * 32, naming.SOURCE_BUCKET: "photos"}
    long = refusal({"copy/a/cat-300.jpg": digest})

    assert older.startswith(
        "s3://out/copy/a/cat.json already holds a copy of 'images/a/cat.png' (its bucket "
        "not recorded); "
    )
    assert older.endswith(
        "which MANIFEST_KEY_TEMPLATE '{prefix}{dir}{stem}.json' leaves out; add {source_ext} "
        "(e.g. '{prefix}{dir}{stem}-{source_ext}.json')"
    )
    assert long == (
        "s3://out/copy/a/cat-300.jpg already holds a copy of the key whose SHA-256 is "
        f"{'ab' * 32} in bucket 'photos'; s3://photos/images/a/cat.jpg would overwrite it, so "
        "nothing was written: their keys differ only in how their path is written, which no "
        "OUTPUT_KEY_TEMPLATE tells apart; rename one of them"
    )


def test_the_new_placeholders_render() -> None:
    fields = naming.source_fields("images/2024/CAT.JPG", "images/", "copy/", "photos")

    assert (fields["source_ext"], fields["bucket"]) == ("JPG", "photos")
    assert naming.source_fields("images/README", "images/", "copy/")["source_ext"] == ""
