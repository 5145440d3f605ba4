"""One frozen Settings, built once from the environment, with every check in one place."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping
from string import Formatter

from app import naming
from app.errors import ConfigError
from app.image import carry, fit, formats
from app.image.fit import SizeSpec
from app.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/development.md)
if TYPE_CHECKING:
    from typing import TypeVar

    T = TypeVar("T")


DEFAULTS: dict[str, str] = {
    "RESIZE_WIDTHS": "300,600,900",
    "SOURCE_PREFIX": "images/",
    "OUTPUT_PREFIX": "copy/",
    "OUTPUT_BUCKET": "",
    "OUTPUT_KEY_TEMPLATE": "{prefix}{dir}{stem}-{width}.{ext}",
    "OUTPUT_FORMATS": "source",
    "CROP": "attention",
    "ANIMATION": "first-frame",
    "MAX_FRAMES": "300",
    "QUALITY": "80",
    "WEBP_QUALITY": "",  # empty: the WebP quality that looks like JPEG at QUALITY
    "AVIF_QUALITY": "",
    "CACHE_CONTROL": "public, max-age=31536000, immutable",
    "LOG_LEVEL": "INFO",
    "MAX_INPUT_BYTES": str(100 * 1024 * 1024),
    "MAX_INPUT_PIXELS": str(100_000_000),
    "OBJECT_CONCURRENCY": "4",
    "METRICS_NAMESPACE": "ImageResizer",
    "EVENT_BUS_NAME": "",
    "MANIFEST": "on",
    "MANIFEST_KEY_TEMPLATE": "{prefix}{dir}{stem}.json",
    "COLOUR": "keep",  # a wide-gamut source's copies stay wide; srgb: every copy sRGB
    "HDR": "keep",  # a gain map (Ultra HDR) goes into JPEG copies; drop: SDR only
    "RIGHTS": "keep",  # creator and copyright go into copies; none: no metadata at all
    "SOURCE_BUCKETS": "",  # empty: any bucket an event names (the local CLI, older deployments)
}

OUTPUT_FORMATS = formats.CHOICES
ANIMATIONS = ("first-frame", "keep")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MAX_DIMENSION = 16384  # larger renditions are not thumbnails; also bounds memory

_SPEC = re.compile(r"^([0-9]+)(?:x([0-9]+)(?::(cover|contain))?)?$")
_NAMESPACE = re.compile(r"^[A-Za-z0-9.\-_/#: ]{1,255}$")
# Patterns, not compiled ones, for the settings that are seldom set: re compiles each
# (and keeps it) when a value is first checked, not at every start.
# EventBridge's PutEvents takes a bus by name or by ARN.
_BUS_NAME = r"[A-Za-z0-9./_\-]{1,256}"
_BUS_ARN = rf"arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{{12}}:event-bus/{_BUS_NAME}"
_BUS = rf"^(?:{_BUS_NAME}|{_BUS_ARN})$"
# S3's rule for a general purpose bucket's name (3-63 lowercase letters, digits, '.', '-').
_BUCKET = r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$"


class Settings(Record):
    """The validated configuration. Build it with `load()`."""

    specs: tuple[SizeSpec, ...]
    source_prefix: str
    output_prefix: str
    output_bucket: str | None
    key_template: str
    output_formats: tuple[str, ...]
    quality: formats.Quality  # QUALITY is JPEG's; WebP's and AVIF's look alike (or are set)
    cache_control: str
    log_level: str
    max_input_bytes: int
    max_input_pixels: int
    object_concurrency: int
    metrics_namespace: str
    crop: str = "attention"
    animation: str = "first-frame"
    max_frames: int = 300
    event_bus: str | None = None  # EVENT_BUS_NAME: where application events go (app/aws/notify.py)
    manifest_template: str | None = None  # MANIFEST_KEY_TEMPLATE; None: MANIFEST=off
    profile: str = "default"  # the name of these settings in renditions.toml (profiles.py)
    colour: str = "keep"  # COLOUR (app/image/carry.py)
    hdr: str = "keep"  # HDR
    rights: str = "keep"  # RIGHTS
    source_buckets: tuple[str, ...] = ()  # SOURCE_BUCKETS; empty: any bucket

    def output_bucket_for(self, source_bucket: str) -> str:
        """Where the copies of an object from `source_bucket` go."""
        return self.output_bucket or source_bucket

    def foreign(self, bucket: str) -> str | None:
        """Why an event naming `bucket` is refused (not in SOURCE_BUCKETS), or None."""
        if not self.source_buckets or bucket in self.source_buckets:
            return None
        return (
            f"bucket {bucket!r} is not a source: SOURCE_BUCKETS lists "
            f"{', '.join(self.source_buckets)}; nothing read or written"
        )

    def conflict_in(self, source_bucket: str) -> str | None:
        """Why copies of objects from `source_bucket` cannot be written, or None.

        With OUTPUT_BUCKET unset this was checked at load; OUTPUT_BUCKET may still
        name the very bucket an event comes from, which only the event tells.
        """
        if self.output_bucket != source_bucket or not _overlap(
            self.source_prefix, self.output_prefix
        ):
            return None
        return (
            f"invalid OUTPUT_BUCKET {source_bucket!r}: it is the bucket of the upload, and "
            f"SOURCE_PREFIX {self.source_prefix!r} and OUTPUT_PREFIX {self.output_prefix!r} "
            "overlap, so every copy would trigger the function again"
        )


def load(environ: Mapping[str, str]) -> Settings:
    """Read and check every variable; raise one ConfigError that lists every problem."""
    problems: list[str] = []

    def get(name: str) -> str:
        return environ.get(name, DEFAULTS[name]).strip()

    def check(name: str, parse: Callable[[str], T], expected: str, fallback: T) -> T:
        raw = get(name)
        try:
            return parse(raw)
        except _Invalid as error:  # the parser knows exactly what is wrong
            problems.append(f"invalid {name} {raw!r}: {error}")
        except ValueError:
            problems.append(f"invalid {name} {raw!r}: expected {expected}")
        return fallback

    no_specs: tuple[SizeSpec, ...] = ()
    specs = check(
        "RESIZE_WIDTHS",
        _parse_specs,
        "comma-separated widths or WxH boxes (WxH:cover to fill the box and crop), each 1.."
        f"{MAX_DIMENSION}, no repeats (e.g. 300,600,900 or 128x128:cover)",
        no_specs,
    )
    output_formats = _output_formats(environ, problems)
    crop = check(
        "CROP",
        lambda v: _one_of(fit.CROPS)("centre" if v.lower() == "center" else v),
        "one of " + ", ".join(fit.CROPS),
        "attention",
    )
    animation = check(
        "ANIMATION", _one_of(ANIMATIONS), "one of " + ", ".join(ANIMATIONS), "first-frame"
    )
    colour = check("COLOUR", _one_of(carry.COLOURS), "one of " + ", ".join(carry.COLOURS), "keep")
    hdr = check("HDR", _one_of(carry.HDRS), "one of " + ", ".join(carry.HDRS), "keep")
    rights = check("RIGHTS", _one_of(carry.RIGHTS), "one of " + ", ".join(carry.RIGHTS), "keep")
    max_frames = check("MAX_FRAMES", _int_in(1, 100_000), "an integer from 1 to 100000", 1)
    quality = check("QUALITY", _int_in(1, 100), "an integer from 1 to 100", 80)
    own = "an integer from 1 to 100, or empty for the quality that looks like QUALITY's JPEG"
    webp_quality = check("WEBP_QUALITY", _optional(_int_in(1, 100)), own, None)
    avif_quality = check("AVIF_QUALITY", _optional(_int_in(1, 100)), own, None)
    log_level = check(
        "LOG_LEVEL",
        lambda v: _one_of(LOG_LEVELS)(v.upper()),
        "one of " + ", ".join(LOG_LEVELS),
        "INFO",
    )
    max_bytes = check("MAX_INPUT_BYTES", _int_in(1, 2**40), "a positive number of bytes", 0)
    max_pixels = check("MAX_INPUT_PIXELS", _int_in(1, 2**40), "a positive number of pixels", 0)
    concurrency = check("OBJECT_CONCURRENCY", _int_in(1, 64), "an integer from 1 to 64", 1)
    cache_control = check("CACHE_CONTROL", _header_value, "a non-empty ASCII header value", "")
    namespace = check(
        "METRICS_NAMESPACE",
        _namespace,
        "a CloudWatch namespace: 1-255 letters, digits, spaces or . - _ / # : "
        "(not starting with 'AWS/')",
        "",
    )
    event_bus = check(
        "EVENT_BUS_NAME",
        _event_bus,
        "an EventBridge event bus name (1-256 letters, digits or . - _ /) or its ARN "
        "(arn:aws:events:REGION:ACCOUNT:event-bus/NAME), or empty for no events",
        "",
    )

    any_bucket: tuple[str, ...] = ()
    source_buckets = check(
        "SOURCE_BUCKETS",
        _bucket_names,
        "comma-separated S3 bucket names (3-63 lowercase letters, digits, '.' or '-'), "
        "or empty for any bucket",
        any_bucket,
    )

    source_prefix, output_prefix = get("SOURCE_PREFIX"), get("OUTPUT_PREFIX")
    output_bucket = get("OUTPUT_BUCKET") or None
    problems.extend(
        problem
        for problem in (
            _prefix_problem("SOURCE_PREFIX", source_prefix),
            _prefix_problem("OUTPUT_PREFIX", output_prefix),
        )
        if problem
    )
    if not output_prefix:
        problems.append(
            "invalid OUTPUT_PREFIX '': expected a non-empty key prefix such as "
            "'copy/' (copies written at the top of a bucket cannot be told apart "
            "from uploads)"
        )
    elif output_bucket is None and _overlap(source_prefix, output_prefix):
        problems.append(
            f"invalid SOURCE_PREFIX {source_prefix!r} with OUTPUT_PREFIX {output_prefix!r}: "
            "expected prefixes that do not overlap, since copies written under the source "
            "prefix would trigger the function again (set OUTPUT_BUCKET to write elsewhere)"
        )

    template = get("OUTPUT_KEY_TEMPLATE")
    problems.extend(_template_problems(template, output_prefix, len(specs), len(output_formats)))
    manifest = check("MANIFEST", _one_of(("on", "off")), "on or off", "on") == "on"
    manifest_template = get("MANIFEST_KEY_TEMPLATE")
    if manifest:
        problems.extend(_manifest_problems(manifest_template, template, output_prefix, specs))

    if problems:
        raise ConfigError(problems)
    return Settings(
        specs,
        source_prefix,
        output_prefix,
        output_bucket,
        template,
        output_formats,
        formats.Quality.matching(quality, webp=webp_quality, avif=avif_quality),
        cache_control,
        log_level,
        max_bytes,
        max_pixels,
        concurrency,
        namespace,
        crop,
        animation,
        max_frames,
        event_bus=event_bus or None,
        manifest_template=manifest_template if manifest else None,
        colour=colour,
        hdr=hdr,
        rights=rights,
        source_buckets=source_buckets,
    )


def _overlap(source_prefix: str, output_prefix: str) -> bool:
    return source_prefix.startswith(output_prefix) or output_prefix.startswith(source_prefix)


def _prefix_problem(name: str, prefix: str) -> str | None:
    if any(c in "*?" for c in prefix):
        return (
            f"invalid {name} {prefix!r}: expected a key prefix without '*' or '?', which "
            "IAM policies read as wildcards, so the function's role would reach other keys "
            "(the originals included)"
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in prefix):
        return f"invalid {name} {prefix!r}: expected a key prefix without control characters"
    return None


def _parse_specs(raw: str) -> tuple[SizeSpec, ...]:
    specs = []
    for part in raw.split(","):
        match = _SPEC.match(part.strip().lower())
        if not match:
            raise ValueError(part)
        width, height = int(match[1]), int(match[2]) if match[2] else None
        if not 1 <= width <= MAX_DIMENSION or (
            height is not None and not 1 <= height <= MAX_DIMENSION
        ):
            raise ValueError(part)
        specs.append(SizeSpec(width, height, cover=match[3] == "cover"))
    _refuse_repeats([s.label for s in specs], "each size makes its own copies, so list each once")
    return tuple(specs)


def _refuse_repeats(names: list[str], advice: str) -> None:
    """_Invalid naming every item of `names` listed more than once, in order of listing."""
    repeated = sorted({name for name in names if names.count(name) > 1}, key=names.index)
    if repeated:
        raise _Invalid(
            f"{' and '.join(repeated)} {'is' if len(repeated) == 1 else 'are'} listed more "
            f"than once; {advice}"
        )


class _Invalid(ValueError):
    """A value's problem in its own words, said instead of the generic `expected ...`."""


def _one_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw.lower() not in choices and raw not in choices:
            raise ValueError(raw)
        return raw if raw in choices else raw.lower()

    return parse


def _int_in(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw.replace("_", ""))
        if not low <= value <= high:
            raise ValueError(raw)
        return value

    return parse


def _optional(parse: Callable[[str], T]) -> Callable[[str], T | None]:
    return lambda raw: parse(raw) if raw else None


def _header_value(raw: str) -> str:
    if not raw or not raw.isascii() or any(c in raw for c in "\r\n"):
        raise ValueError(raw)
    return raw


def _namespace(raw: str) -> str:
    if not _NAMESPACE.match(raw) or raw.startswith("AWS/"):
        raise ValueError(raw)
    return raw


def _bucket_names(raw: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in raw.split(",")) if raw else ()
    if not all(re.match(_BUCKET, name) for name in names):
        raise ValueError(raw)
    return names


def _event_bus(raw: str) -> str:
    if raw and not re.match(_BUS, raw):
        raise ValueError(raw)
    return raw


def _template_problems(
    template: str, output_prefix: str, n_specs: int, n_formats: int
) -> list[str]:
    needed = {"stem": "without it, every source would write the same keys"}
    if n_specs > 1:
        needed["width"] = f"RESIZE_WIDTHS has {n_specs} sizes, whose copies would share one key"
    if n_formats > 1:
        needed["ext"] = f"OUTPUT_FORMATS has {n_formats} formats, whose copies would share one key"
    broken = _broken_rule("OUTPUT_KEY_TEMPLATE", template, naming.PLACEHOLDERS, needed, {})
    if broken:
        return [broken]
    # In a folder and at the top: an empty {dir} may make a '.' segment of its own.
    samples = [
        naming.output_key(
            template,
            source_key=source_key,
            source_prefix="images/",
            output_prefix=output_prefix,
            width="300",
            ext="jpg",
        )
        for source_key in ("images/a/b.jpg", "images/b.jpg")
    ]
    return _escapes("OUTPUT_KEY_TEMPLATE", template, samples, output_prefix)


def _broken_rule(
    variable: str,
    template: str,
    allowed: tuple[str, ...],
    needed: Mapping[str, str],
    refused: Mapping[str, str],
) -> str | None:
    """The first rule of key templates that `template` breaks, as one sentence; else None."""
    start = f"invalid {variable} {template!r}: "
    names = ", ".join(f"{{{name}}}" for name in allowed)
    try:
        fields = [(f, s, c) for _, f, s, c in Formatter().parse(template) if f is not None]
    except ValueError as error:  # a lone brace
        return start + f"{error} (a literal brace is written {{{{ or }}}})"
    for field, spec, conversion in fields:
        shown = (
            "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
        )
        shown += "}"
        if field in refused:
            return start + f"{shown} is not allowed here: {refused[field]}"
        if "." in field or "[" in field:
            return start + f"{shown} reads an attribute or an index; expected plain placeholders"
        if field not in allowed:
            return start + f"unknown placeholder {shown}; expected only {names}"
        if spec or conversion:
            kind = "a conversion" if conversion else "a format spec"
            return start + f"{shown} has {kind}; expected plain placeholders ({{{field}}})"
    if not template.startswith("{prefix}"):
        return start + "it does not start with {prefix}, which keeps every key under OUTPUT_PREFIX"
    for name, why in needed.items():
        if f"{{{name}}}" not in template:
            return start + f"it lacks {{{name}}}: {why}"
    return None


def _escapes(variable: str, template: str, keys: list[str], output_prefix: str) -> list[str]:
    """A sentence for the first of `keys` (made by `template`) that leaves OUTPUT_PREFIX."""
    for key in keys:
        reason = naming.escape_reason(key, output_prefix)
        if reason:
            return [
                f"invalid {variable} {template!r}: the keys it makes must stay under "
                f"OUTPUT_PREFIX, and {reason} (a file system, a CDN or a browser resolves it)"
            ]
    return []


def _output_formats(environ: Mapping[str, str], problems: list[str]) -> tuple[str, ...]:
    """OUTPUT_FORMATS, or its one-format alias OUTPUT_FORMAT; both only if they agree."""
    expected = "a comma-separated list of " + ", ".join(OUTPUT_FORMATS) + ", each once"
    parsed: dict[str, tuple[str, ...]] = {}
    for name in ("OUTPUT_FORMATS", "OUTPUT_FORMAT"):
        if name not in environ:
            continue
        raw = environ[name].strip()
        try:
            parsed[name] = _parse_formats(raw)
        except _Invalid as error:
            problems.append(f"invalid {name} {raw!r}: {error}")
        except ValueError:
            one = "one of " + ", ".join(OUTPUT_FORMATS)
            problems.append(
                f"invalid {name} {raw!r}: expected "
                + (one if name == "OUTPUT_FORMAT" else expected)
            )
    if len(parsed) == 2 and parsed["OUTPUT_FORMATS"] != parsed["OUTPUT_FORMAT"]:
        problems.append(
            f"invalid OUTPUT_FORMAT {environ['OUTPUT_FORMAT'].strip()!r} with OUTPUT_FORMATS "
            f"{environ['OUTPUT_FORMATS'].strip()!r}: expected only OUTPUT_FORMATS (OUTPUT_FORMAT "
            "is its older, one-format name), or both the same"
        )
    return parsed.get("OUTPUT_FORMATS") or parsed.get("OUTPUT_FORMAT") or ("source",)


def _parse_formats(raw: str) -> tuple[str, ...]:
    names = [part.strip().lower() for part in raw.split(",")]
    if not all(name in OUTPUT_FORMATS for name in names):
        raise ValueError(raw)
    _refuse_repeats(names, "list each format once")
    return tuple(names)


def _manifest_problems(
    manifest: str, template: str, output_prefix: str, specs: tuple[SizeSpec, ...]
) -> list[str]:
    """MANIFEST_KEY_TEMPLATE: the copies' naming rules, no {width}, and never a copy's key."""
    allowed = tuple(name for name in naming.PLACEHOLDERS if name != "width")
    needed = {"stem": "without it, every source would write the same manifest"}
    refused = {"width": "a source has one manifest, for all its sizes"}
    broken = _broken_rule("MANIFEST_KEY_TEMPLATE", manifest, allowed, needed, refused)
    if broken:
        return [broken]
    sources = ("images/a/b.jpg", "images/b.jpg")
    keys = [naming.manifest_key(manifest, s, "images/", output_prefix) for s in sources]
    escapes = _escapes("MANIFEST_KEY_TEMPLATE", manifest, keys, output_prefix)
    if escapes:
        return escapes
    with contextlib.suppress(KeyError, IndexError, ValueError):  # reported for the template
        for source, key in zip(sources, keys, strict=True):
            for spec in specs:
                for fmt in formats.FORMATS.values():
                    copy = naming.output_key(
                        template,
                        source_key=source,
                        source_prefix="images/",
                        output_prefix=output_prefix,
                        width=spec.label,
                        ext=fmt.extension,
                    )
                    if copy == key:
                        return [
                            f"invalid MANIFEST_KEY_TEMPLATE {manifest!r}: it names the "
                            f"manifest {key!r} as OUTPUT_KEY_TEMPLATE names a copy; expected "
                            "a key of its own (e.g. the default {prefix}{dir}{stem}.json)"
                        ]
    return []
