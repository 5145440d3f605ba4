"""The declared configuration: renditions.toml and the environment -> named profiles, one check.

    [defaults]                  every profile's settings unless it says otherwise
    resize_widths = "300,600,900"
    [profiles.avatars]          a named set of rendition settings
    resize_widths = "64x64:cover,128x128:cover"
    [[rules]]                   the longest matching prefix chooses the profile
    prefix = "images/avatars/"
    profile = "avatars"

Keys are the settings' environment names (config.DEFAULTS) in lower case, so a setting
added there is a file key at once. A value is written as the environment writes it; a
TOML integer, boolean (`on`/`off`) or list (joined with commas) is taken too.

Layers, later wins: config.DEFAULTS, `[defaults]`, the environment, `[profiles.NAME]`.
The environment overrides `[defaults]` (so a deployment's variables keep working), never a
profile's own keys. GLOBAL settings concern the function, not a copy: only `[defaults]`
and the environment set them. With no file, the one profile `default` is exactly the
environment's configuration. Every problem of the file and of every profile is
collected and raised as one ConfigError.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from app import digest
from app.config import renditions_file
from app.config import settings as config
from app.config.renditions_file import DEFAULT, DEFAULT_FILE, ENV_FILE, GLOBAL, Rule, file_key
from app.config.settings import Settings
from app.errors import ConfigError, PermanentError
from app.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/development.md)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "DEFAULT",
    "DEFAULT_FILE",
    "DEPLOYED_SHA256",
    "ENV_FILE",
    "GLOBAL",
    "METADATA",
    "Configuration",
    "Rule",
    "as_json",
    "file_key",
    "load",
    "summary",
]

# The deployed file's sha256 (deploy.sh sets it): the function refuses to start on another.
DEPLOYED_SHA256 = "RENDITIONS_SHA256"
METADATA = "profile"  # x-amz-meta-profile: the object's own choice among declared profiles


class Configuration(Record):
    """Every profile's Settings, the rules that choose among them, and the file they came from."""

    profiles: Mapping[str, Settings]  # `default` first, then the file's order
    rules: tuple[Rule, ...] = ()  # longest prefix first
    file: Path | None = None
    sha256: str | None = None
    # Each profile's settings as the environment would write them, by file key (`check --json`).
    values: Mapping[str, Mapping[str, str]] = MappingProxyType({})

    @classmethod
    def of(cls, settings: Settings) -> Configuration:
        """The configuration of one profile: `settings`, for whatever is uploaded."""
        return cls({settings.profile: settings})

    @property
    def default(self) -> Settings:
        """The first profile: `default`, whose GLOBAL settings every profile shares."""
        return next(iter(self.profiles.values()))

    def by_rule(self, key: str) -> Settings:
        """The profile the longest rule matching `key` names, else the default."""
        for rule in self.rules:
            if key.startswith(rule.prefix):
                return self.profiles[rule.profile]
        return self.default

    def choose(self, key: str, metadata: Mapping[str, str], uri: str) -> Settings:
        """The profile of an object: its `profile` metadata, else the rules.

        The metadata counts only where a file declares profiles to choose among, so an
        object that carries a `profile` of its own meaning is processed as before.
        PermanentError names the declared profiles if it asks for one not declared.
        """
        asked = metadata.get(METADATA, "").strip()
        if not asked or len(self.profiles) == 1:
            return self.by_rule(key)
        if asked not in self.profiles:
            raise PermanentError(
                f"{uri} asks for profile {asked!r} (metadata '{METADATA}'), which is not "
                f"declared; declared profiles: {', '.join(self.profiles)}"
            )
        return self.profiles[asked]

    def output_prefixes(self) -> list[str]:
        """Every profile's OUTPUT_PREFIX, sorted, each once."""
        return sorted({s.output_prefix for s in self.profiles.values()})


def load(environ: Mapping[str, str], file: Path | None = None) -> Configuration:
    """The file (`file`, else RENDITIONS_CONFIG, else DEFAULT_FILE if present) with
    `environ`, checked together: one ConfigError lists every problem."""
    problems: list[str] = []
    read = renditions_file.read(environ, file, problems)
    defaults, tables, rules = read.defaults, read.tables, read.rules
    environment = {k: v for k, v in environ.items() if k != ENV_FILE}

    profiles: dict[str, Settings] = {}
    values: dict[str, dict[str, str]] = {}
    seen: set[str] = set()
    for name, own in [(DEFAULT, {}), *tables.items()]:
        layers = _merge(defaults, environment, own)
        values[name] = _effective(layers)
        try:
            settings = config.load(layers)
        except ConfigError as error:
            for problem in error.problems:
                said = _in_file_words(problem, {**defaults, **own}, environment, own)
                if said in seen:  # inherited: said once, for the profile it comes from
                    continue
                seen.add(said)
                problems.append(said if name == DEFAULT else f"profile {name!r}: {said}")
            continue
        profiles[name] = settings._replace(profile=name)

    source_prefix = config.DEFAULTS["SOURCE_PREFIX"]
    if DEFAULT in profiles:
        source_prefix = profiles[DEFAULT].source_prefix
    problems.extend(
        renditions_file.rule_problems(rules, str(read.path), source_prefix, [DEFAULT, *tables])
    )
    sha256 = digest.sha256(read.data).hexdigest() if read.path is not None else None
    problems.extend(_deployed_problems(environ.get(DEPLOYED_SHA256, "").strip(), read.path, sha256))
    if problems:
        raise ConfigError(problems)
    ordered = sorted(rules, key=lambda rule: len(rule.prefix), reverse=True)
    return Configuration(profiles, tuple(ordered), read.path, sha256, values)


def _deployed_problems(expected: str, path: Path | None, sha256: str | None) -> list[str]:
    """The file the function reads is the one deploy.sh checked (RENDITIONS_SHA256)."""
    if not expected or expected == sha256:
        return []
    if path is None:
        return [
            f"{DEPLOYED_SHA256} {expected[:12]!r}... names the configuration file deployed, but "
            f"no file was found ({ENV_FILE}, or {DEFAULT_FILE.name} beside app/): the image "
            "is not the one deployed with it; deploy again with scripts/deploy.sh"
        ]
    return [
        f"{path} has sha256 {(sha256 or '')[:12]}..., but {DEPLOYED_SHA256} says "
        f"{expected[:12]}...: the function runs another configuration file than the one "
        "deployed with it; deploy again with scripts/deploy.sh"
    ]


def summary(configuration: Configuration) -> str:
    """A few lines for people: where the configuration came from, its profiles and rules."""
    lines = [f"configuration: {configuration.file or 'the environment (no renditions.toml)'}"]
    for name, settings in configuration.profiles.items():
        sizes = ",".join(spec.label for spec in settings.specs)
        lines.append(
            f"  profile {name}: sizes {sizes}; formats {','.join(settings.output_formats)}; "
            f"copies under {settings.output_prefix}"
        )
    lines.extend(f"  rule {r.prefix} -> {r.profile}" for r in configuration.rules)
    if len(configuration.profiles) > 1:
        lines.append(f"  an upload's '{METADATA}' metadata may name any profile above")
    return "\n".join(lines)


def as_json(configuration: Configuration) -> str:
    """The effective configuration for tools (deploy): files, prefixes, every profile's values."""
    values = {name: dict(configuration.values[name]) for name in configuration.profiles}
    default = configuration.default
    document: dict[str, Any] = {
        "config_file": str(configuration.file) if configuration.file else None,
        "sha256": configuration.sha256,
        "source_prefix": default.source_prefix,
        "output_bucket": default.output_bucket,
        "output_prefixes": configuration.output_prefixes(),
        "event_bus": default.event_bus,
        "profiles": values,
        "rules": [{"prefix": r.prefix, "profile": r.profile} for r in configuration.rules],
    }
    for name in sorted(_globals()):  # the function's own settings, as every profile has them
        document.setdefault(file_key(name), values[DEFAULT][file_key(name)])
    return json.dumps(document, indent=2)


def _effective(layers: Mapping[str, str]) -> dict[str, str]:
    """Every setting's value as the environment would write it, by file key."""
    values = {
        file_key(name): layers.get(name, default).strip()
        for name, default in renditions_file.known().items()
    }
    if "OUTPUT_FORMATS" not in layers and "OUTPUT_FORMAT" in layers:  # the older alias
        values["output_formats"] = layers["OUTPUT_FORMAT"].strip()
    return values


def _globals() -> set[str]:
    return {name for name in renditions_file.known() if name in GLOBAL}


def _merge(
    defaults: Mapping[str, str], environment: Mapping[str, str], own: Mapping[str, str]
) -> dict[str, str]:
    """The layers as one environment; a layer's OUTPUT_FORMATS drops the older alias below it."""
    merged: dict[str, str] = {}
    for layer in (defaults, environment, own):
        if "OUTPUT_FORMATS" in layer:
            merged.pop("OUTPUT_FORMAT", None)
        merged.update(layer)
    return merged


def _in_file_words(
    problem: str,
    from_file: Mapping[str, str],
    environment: Mapping[str, str],
    own: Mapping[str, str],
) -> str:
    """`problem` with each setting the file gave written as the file writes it (lower case)."""
    for name in from_file:
        if name in environment and name not in own:
            continue  # the environment's value won: the problem is the variable's
        problem = re.sub(rf"\b{name}\b", file_key(name), problem)
    return problem
