"""Configuration: defaults, and one message that lists every problem."""

from __future__ import annotations

import pytest

from app.config import settings as config
from app.errors import ConfigError
from app.image.imaging import SizeSpec


def test_defaults() -> None:
    settings = config.load({})

    assert settings.specs == (SizeSpec(300), SizeSpec(600), SizeSpec(900))
    assert (settings.source_prefix, settings.output_prefix) == ("images/", "copy/")
    assert settings.output_bucket is None and settings.output_bucket_for("b") == "b"
    assert settings.key_template == "{prefix}{dir}{stem}-{width}.{ext}"
    assert (settings.output_formats, settings.quality.jpeg) == (("source",), 80)
    assert (settings.crop, settings.animation, settings.max_frames) == (
        "attention",
        "first-frame",
        300,
    )
    assert settings.cache_control == "public, max-age=31536000, immutable"
    assert settings.max_input_pixels == 100_000_000


def test_boxes_and_widths_mix() -> None:
    settings = config.load({"RESIZE_WIDTHS": " 128x128, 640 ,1024X768"})

    assert settings.specs == (SizeSpec(128, 128), SizeSpec(640), SizeSpec(1024, 768))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"RESIZE_WIDTHS": "300,abc"},
            "invalid RESIZE_WIDTHS '300,abc': expected comma-separated widths or WxH boxes "
            "(WxH:cover to fill the box and crop), each 1..16384, no repeats "
            "(e.g. 300,600,900 or 128x128:cover)",
        ),
        (
            {"RESIZE_WIDTHS": "300,300"},
            "invalid RESIZE_WIDTHS '300,300': 300 is listed more than once; each size makes "
            "its own copies, so list each once",
        ),
        (
            {"RESIZE_WIDTHS": "128x128,600, 128X128,600,900"},
            "invalid RESIZE_WIDTHS '128x128,600, 128X128,600,900': 128x128 and 600 are listed "
            "more than once",
        ),
        ({"RESIZE_WIDTHS": "0"}, "invalid RESIZE_WIDTHS '0'"),
        ({"RESIZE_WIDTHS": "300:cover"}, "invalid RESIZE_WIDTHS '300:cover': expected"),
        ({"RESIZE_WIDTHS": "300x300:fill"}, "invalid RESIZE_WIDTHS '300x300:fill': expected"),
        (
            {"RESIZE_WIDTHS": "300x300,300x300:contain"},
            "invalid RESIZE_WIDTHS '300x300,300x300:contain': 300x300 is listed more than once",
        ),
        (
            {"OUTPUT_FORMATS": "jpeg,webp,jpeg"},
            "invalid OUTPUT_FORMATS 'jpeg,webp,jpeg': jpeg is listed more than once; list each "
            "format once",
        ),
        (
            {"OUTPUT_FORMATS": "jpeg,gif"},
            "invalid OUTPUT_FORMATS 'jpeg,gif': expected a comma-separated list of source, "
            "jpeg, png, webp, avif, each once",
        ),
        (
            {"OUTPUT_FORMATS": "webp,avif", "OUTPUT_FORMAT": "jpeg"},
            "invalid OUTPUT_FORMAT 'jpeg' with OUTPUT_FORMATS 'webp,avif': expected only "
            "OUTPUT_FORMATS (OUTPUT_FORMAT is its older, one-format name), or both the same",
        ),
        (
            {"OUTPUT_FORMATS": "jpeg,webp", "OUTPUT_KEY_TEMPLATE": "{prefix}{dir}{stem}-{width}"},
            "invalid OUTPUT_KEY_TEMPLATE '{prefix}{dir}{stem}-{width}': it lacks {ext}: "
            "OUTPUT_FORMATS has 2 formats, whose copies would share one key",
        ),
        ({"CROP": "face"}, "invalid CROP 'face': expected one of attention, entropy, centre"),
        ({"ANIMATION": "all"}, "invalid ANIMATION 'all': expected one of first-frame, keep"),
        ({"MAX_FRAMES": "0"}, "invalid MAX_FRAMES '0': expected an integer from 1 to 100000"),
        ({"QUALITY": "101"}, "invalid QUALITY '101': expected an integer from 1 to 100"),
        (
            {"OUTPUT_FORMAT": "tiff"},
            "invalid OUTPUT_FORMAT 'tiff': expected one of source, jpeg, png, webp, avif",
        ),
        (
            {"LOG_LEVEL": "loud"},
            "invalid LOG_LEVEL 'loud': expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
        ),
        (
            {"SOURCE_PREFIX": "", "OUTPUT_PREFIX": "copy/"},
            "invalid SOURCE_PREFIX '' with OUTPUT_PREFIX 'copy/': expected prefixes that do not "
            "overlap",
        ),
        (
            {"SOURCE_PREFIX": "images/", "OUTPUT_PREFIX": "images/copy/"},
            "invalid SOURCE_PREFIX 'images/' with OUTPUT_PREFIX 'images/copy/'",
        ),
        ({"OUTPUT_PREFIX": ""}, "invalid OUTPUT_PREFIX '': expected a non-empty key prefix"),
        (
            {"OUTPUT_KEY_TEMPLATE": "{prefix}{name}.{ext}"},
            "invalid OUTPUT_KEY_TEMPLATE '{prefix}{name}.{ext}': unknown placeholder {name}; "
            "expected only {prefix}, {dir}, {stem}, {width}, {ext}, {source_ext}, {bucket}",
        ),
        (
            {"OUTPUT_KEY_TEMPLATE": "{prefix}{}{stem}-{width}.{ext}"},
            "invalid OUTPUT_KEY_TEMPLATE '{prefix}{}{stem}-{width}.{ext}': unknown placeholder "
            "{}; expected only {prefix}",
        ),
        (
            {"OUTPUT_KEY_TEMPLATE": "{prefix}{stem}.{ext}"},
            "invalid OUTPUT_KEY_TEMPLATE '{prefix}{stem}.{ext}': it lacks {width}: "
            "RESIZE_WIDTHS has 3 sizes, whose copies would share one key",
        ),
        (
            {"OUTPUT_KEY_TEMPLATE": "{prefix}{dir}-{width}.{ext}"},
            "invalid OUTPUT_KEY_TEMPLATE '{prefix}{dir}-{width}.{ext}': it lacks {stem}: "
            "without it, every source would write the same keys",
        ),
        (
            {"OUTPUT_KEY_TEMPLATE": "thumbs/{stem}-{width}.{ext}"},
            "invalid OUTPUT_KEY_TEMPLATE 'thumbs/{stem}-{width}.{ext}': it does not start with "
            "{prefix}, which keeps every key under OUTPUT_PREFIX",
        ),
        (
            {"OUTPUT_KEY_TEMPLATE": "{prefix}{stem}-{width}.{ext"},
            "invalid OUTPUT_KEY_TEMPLATE '{prefix}{stem}-{width}.{ext': expected '}' before end "
            "of string (a literal brace is written {{ or }})",
        ),
        (
            {"OUTPUT_PREFIX": "*"},
            "invalid OUTPUT_PREFIX '*': expected a key prefix without '*' or '?', which IAM "
            "policies read as wildcards, so the function's role would reach other keys "
            "(the originals included)",
        ),
        ({"OUTPUT_PREFIX": "copy?/"}, "invalid OUTPUT_PREFIX 'copy?/': expected a key prefix"),
        ({"SOURCE_PREFIX": "img*/"}, "invalid SOURCE_PREFIX 'img*/': expected a key prefix"),
        (
            {"OUTPUT_PREFIX": "copy\x07/"},
            "invalid OUTPUT_PREFIX 'copy\\x07/': expected a key prefix without control characters",
        ),
        (
            {"OUTPUT_KEY_TEMPLATE": "{prefix}../../{stem}-{width}.{ext}"},
            "invalid OUTPUT_KEY_TEMPLATE '{prefix}../../{stem}-{width}.{ext}': the keys it makes "
            "must stay under OUTPUT_PREFIX, and it has a '.' or '..' path segment (a file "
            "system, a CDN or a browser resolves it)",
        ),
        ({"OUTPUT_KEY_TEMPLATE": "{prefix}{dir}./{stem}-{width}.{ext}"}, "'..' path segment"),
        ({"OUTPUT_KEY_TEMPLATE": "{prefix}.{dir}/{stem}-{width}.{ext}"}, "'..' path segment"),
        ({"OUTPUT_KEY_TEMPLATE": "{prefix}{stem}/../{width}.{ext}"}, "'..' path segment"),
        (
            {"OUTPUT_KEY_TEMPLATE": "{prefix}{stem.__class__.__name__}-{width}.{ext}"},
            "invalid OUTPUT_KEY_TEMPLATE '{prefix}{stem.__class__.__name__}-{width}.{ext}': "
            "{stem.__class__.__name__} reads an attribute or an index; expected plain "
            "placeholders",
        ),
        (
            {"OUTPUT_KEY_TEMPLATE": "{prefix}{stem[0]}-{width}.{ext}"},
            "{stem[0]} reads an attribute or an index; expected plain placeholders",
        ),
        (
            {"OUTPUT_KEY_TEMPLATE": "{prefix}{stem!r}-{width}.{ext}"},
            "invalid OUTPUT_KEY_TEMPLATE '{prefix}{stem!r}-{width}.{ext}': {stem!r} has a "
            "conversion; expected plain placeholders ({stem})",
        ),
        (
            {"OUTPUT_KEY_TEMPLATE": "{prefix}{stem:.3}-{width}.{ext}"},
            "invalid OUTPUT_KEY_TEMPLATE '{prefix}{stem:.3}-{width}.{ext}': {stem:.3} has a "
            "format spec; expected plain placeholders ({stem})",
        ),
        ({"MAX_INPUT_BYTES": "-1"}, "invalid MAX_INPUT_BYTES '-1': expected a positive number"),
        ({"CACHE_CONTROL": ""}, "invalid CACHE_CONTROL '': expected a non-empty ASCII header"),
    ],
)
def test_each_bad_value_is_named_with_what_was_expected(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        config.load(env)

    assert message in str(raised.value)


def test_cover_boxes_are_told_apart_from_boxes_to_fit_inside() -> None:
    settings = config.load({"RESIZE_WIDTHS": "300x300:cover,300x300,200x100:contain,640"})

    assert settings.specs == (
        SizeSpec(300, 300, cover=True),
        SizeSpec(300, 300),
        SizeSpec(200, 100),
        SizeSpec(640),
    )
    assert [s.label for s in settings.specs] == ["300x300-cover", "300x300", "200x100", "640"]


def test_several_output_formats_and_the_one_format_alias() -> None:
    assert config.load({"OUTPUT_FORMATS": " JPEG, webp ,avif"}).output_formats == (
        "jpeg",
        "webp",
        "avif",
    )
    assert config.load({"OUTPUT_FORMAT": "webp"}).output_formats == ("webp",)
    # Both, saying the same: no conflict.
    both = {"OUTPUT_FORMAT": "webp", "OUTPUT_FORMATS": "webp"}
    assert config.load(both).output_formats == ("webp",)
    # One format needs no {ext}, several do.
    assert config.load({"OUTPUT_FORMATS": "webp", "OUTPUT_KEY_TEMPLATE": "{prefix}{stem}-{width}"})
    assert config.load({"CROP": "Center"}).crop == "centre"


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as raised:
        config.load({"RESIZE_WIDTHS": "x", "QUALITY": "0", "OUTPUT_FORMAT": "bmp"})

    assert len(raised.value.problems) == 3
    assert str(raised.value).startswith(
        "invalid configuration (3 problems): invalid RESIZE_WIDTHS 'x'"
    )


def test_overlapping_prefixes_are_fine_in_another_bucket() -> None:
    settings = config.load({"SOURCE_PREFIX": "", "OUTPUT_BUCKET": "thumbs"})

    assert settings.output_bucket_for("photos") == "thumbs"


def test_the_overlap_check_applies_when_output_bucket_is_the_source_bucket() -> None:
    settings = config.load(
        {"SOURCE_PREFIX": "images/", "OUTPUT_PREFIX": "images/copy/", "OUTPUT_BUCKET": "photos"}
    )

    assert settings.conflict_in("elsewhere") is None
    assert settings.conflict_in("photos") == (
        "invalid OUTPUT_BUCKET 'photos': it is the bucket of the upload, and SOURCE_PREFIX "
        "'images/' and OUTPUT_PREFIX 'images/copy/' overlap, so every copy would trigger the "
        "function again"
    )
    assert config.load({}).conflict_in("photos") is None


def test_source_buckets_names_the_only_buckets_acted_on() -> None:
    settings = config.load({"SOURCE_BUCKETS": " photos , avatars.example "})

    assert settings.source_buckets == ("photos", "avatars.example")
    assert settings.foreign("photos") is None
    assert settings.foreign("elsewhere") == (
        "bucket 'elsewhere' is not a source: SOURCE_BUCKETS lists photos, avatars.example; "
        "nothing read or written"
    )
    # Empty (the default): no restriction, as before the setting existed.
    assert config.load({}).foreign("anything") is None


def test_a_bad_source_bucket_name_is_refused_at_load() -> None:
    with pytest.raises(ConfigError) as raised:
        config.load({"SOURCE_BUCKETS": "photos,Not_A_Bucket"})

    assert str(raised.value) == (
        "invalid configuration (1 problem): invalid SOURCE_BUCKETS 'photos,Not_A_Bucket': "
        "expected comma-separated S3 bucket names (3-63 lowercase letters, digits, '.' or '-'), "
        "or empty for any bucket"
    )
