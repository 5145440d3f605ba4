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

import dataclasses
import difflib
import hashlib
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app import config
from app.config import Settings
from app.errors import ConfigError, PermanentError

DEFAULT = "default"  # the profile made of [defaults] (and the environment) alone
METADATA = "profile"  # x-amz-meta-profile: the object's own choice among declared profiles
ENV_FILE = "RENDITIONS_CONFIG"
DEFAULT_FILE = Path(__file__).resolve().parents[1] / "renditions.toml"  # the task root
# Settings of the function rather than of a copy; every other setting may differ by profile.
# SOURCE_BUCKETS is listed ahead of its arrival in config.DEFAULTS.
GLOBAL = frozenset(
    {
        "SOURCE_PREFIX",
        "SOURCE_BUCKETS",
        "OUTPUT_BUCKET",
        "LOG_LEVEL",
        "MAX_INPUT_BYTES",
        "MAX_INPUT_PIXELS",
        "OBJECT_CONCURRENCY",
        "METRICS_NAMESPACE",
        "EVENT_BUS_NAME",
    }
)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_TABLES = ("defaults", "profiles", "rules")


@dataclass(frozen=True, slots=True)
class Rule:
    """Uploads under `prefix` take `profile` (unless their metadata names another)."""

    prefix: str
    profile: str


@dataclass(frozen=True, slots=True)
class Configuration:
    """Every profile's Settings, the rules that choose among them, and the file they came from."""

    profiles: Mapping[str, Settings]  # `default` first, then the file's order
    rules: tuple[Rule, ...] = ()  # longest prefix first
    file: Path | None = None
    sha256: str | None = None
    # Each profile's settings as the environment would write them, by file key (`check --json`).
    values: Mapping[str, Mapping[str, str]] = dataclasses.field(default_factory=dict)

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
    path, problems = _locate(environ, file)
    raw: dict[str, Any] = {}
    data = b""
    if path is not None and not problems:
        try:
            data = path.read_bytes()
            raw = tomllib.loads(data.decode())
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            problems.append(f"{path}: cannot be read as TOML: {error}")
    where = str(path)
    defaults, tables, rules = _structure(raw, where, problems)
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
        profiles[name] = dataclasses.replace(settings, profile=name)

    source_prefix = config.DEFAULTS["SOURCE_PREFIX"]
    if DEFAULT in profiles:
        source_prefix = profiles[DEFAULT].source_prefix
    problems.extend(_rule_problems(rules, where, source_prefix, [DEFAULT, *tables]))
    if problems:
        raise ConfigError(problems)
    ordered = sorted(rules, key=lambda rule: len(rule.prefix), reverse=True)
    return Configuration(
        profiles,
        tuple(ordered),
        path,
        hashlib.sha256(data).hexdigest() if path is not None else None,
        values,
    )


def file_key(name: str) -> str:
    """A setting's key in the file: its environment name in lower case."""
    return name.lower()


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
        file_key(name): layers.get(name, default).strip() for name, default in _known().items()
    }
    if "OUTPUT_FORMATS" not in layers and "OUTPUT_FORMAT" in layers:  # the older alias
        values["output_formats"] = layers["OUTPUT_FORMAT"].strip()
    return values


def _known() -> dict[str, str]:
    """Every setting a file may name, with its default: config.DEFAULTS."""
    return dict(config.DEFAULTS)


def _globals() -> set[str]:
    return {name for name in _known() if name in GLOBAL}


def _locate(environ: Mapping[str, str], file: Path | None) -> tuple[Path | None, list[str]]:
    named = file if file is not None else Path(environ[ENV_FILE]) if environ.get(ENV_FILE) else None
    if named is None:
        return (DEFAULT_FILE if DEFAULT_FILE.is_file() else None), []
    if not named.is_file():
        how = "--config" if file is not None else ENV_FILE
        return named, [f"invalid {how} {str(named)!r}: no such file"]
    return named, []


def _structure(
    raw: dict[str, Any], where: str, problems: list[str]
) -> tuple[dict[str, str], dict[str, dict[str, str]], list[Rule]]:
    """The file's [defaults], [profiles.*] and [[rules]], with every misplaced key reported."""
    for table in raw:
        if table not in _TABLES:
            problems.append(
                f"{where}: unknown table [{table}]: expected [defaults], [profiles.NAME] "
                "or [[rules]]"
            )
    defaults = _settings(raw.get("defaults", {}), f"{where}: [defaults]", problems, False)
    tables: dict[str, dict[str, str]] = {}
    declared = raw.get("profiles", {})
    if not isinstance(declared, dict):
        problems.append(f"{where}: profiles: expected tables [profiles.NAME]")
        declared = {}
    for name, table in declared.items():
        if name == DEFAULT:
            problems.append(
                f"{where}: [profiles.{DEFAULT}]: '{DEFAULT}' is the profile of [defaults] "
                "itself; put its settings in [defaults]"
            )
        elif not _NAME.match(name):
            problems.append(
                f"{where}: invalid profile name {name!r}: expected 1-63 of a-z 0-9 _ -, "
                "starting with a letter or digit (as x-amz-meta-profile carries it)"
            )
        else:
            tables[name] = _settings(table, f"{where}: [profiles.{name}]", problems, True)
    return defaults, tables, _rules(raw.get("rules", []), where, problems)


def _settings(table: Any, where: str, problems: list[str], profile: bool) -> dict[str, str]:
    """A table's keys as environment variables, every unknown key and odd value reported."""
    if not isinstance(table, dict):
        problems.append(f"{where}: expected a table of settings")
        return {}
    known = {file_key(name): name for name in _known()}
    found: dict[str, str] = {}
    for key, value in table.items():
        name = known.get(key)
        if name is None:
            close = difflib.get_close_matches(key.lower(), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(
                f"{where}: unknown key {key!r}: expected a setting's name in lower case "
                f"(the README's configuration table){hint}"
            )
        elif profile and name in GLOBAL:
            problems.append(
                f"{where}: {key!r} is the function's, not a profile's: set it in [defaults] "
                "or the environment"
            )
        else:
            text = _text(value)
            if text is None:
                problems.append(
                    f"{where}: invalid {key} {value!r}: expected a string (as the environment "
                    "writes it), an integer, true/false or a list"
                )
            else:
                found[name] = text
    return found


def _text(value: Any) -> str | None:
    """A TOML value as the environment writes it; None for a date, float or table."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, list) and all(
        isinstance(v, int | str) and not isinstance(v, bool) for v in value
    ):
        return ",".join(str(v) for v in value)
    return None


def _rules(raw: Any, where: str, problems: list[str]) -> list[Rule]:
    if not isinstance(raw, list):
        problems.append(f"{where}: rules: expected [[rules]] tables of prefix and profile")
        return []
    rules = []
    for n, item in enumerate(raw, 1):
        if not isinstance(item, dict):
            problems.append(f"{where}: rule {n}: expected a table of prefix and profile")
            continue
        extra = sorted(set(item) - {"prefix", "profile"})
        prefix, profile = item.get("prefix"), item.get("profile")
        if extra or not isinstance(prefix, str) or not isinstance(profile, str):
            problems.append(
                f'{where}: rule {n}: expected exactly prefix = "KEY PREFIX" and '
                f'profile = "NAME"' + (f" (unknown {', '.join(map(repr, extra))})" if extra else "")
            )
            continue
        rules.append(Rule(prefix, profile))
    return rules


def _rule_problems(
    rules: list[Rule], where: str, source_prefix: str, declared: list[str]
) -> list[str]:
    """Rules that name no declared profile, match nothing, or repeat a prefix."""
    problems = []
    seen: set[str] = set()
    for n, rule in enumerate(rules, 1):
        if rule.profile not in declared:
            problems.append(
                f"{where}: rule {n} ({rule.prefix!r}): profile {rule.profile!r} is not "
                f"declared; declared profiles: {', '.join(declared)}"
            )
        if not rule.prefix.startswith(source_prefix):
            problems.append(
                f"{where}: rule {n}: prefix {rule.prefix!r} is not under SOURCE_PREFIX "
                f"{source_prefix!r}, so no upload the function acts on matches it"
            )
        if rule.prefix in seen:
            problems.append(
                f"{where}: rule {n}: prefix {rule.prefix!r} is listed more than once; "
                "expected one profile per prefix"
            )
        seen.add(rule.prefix)
    return problems


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
