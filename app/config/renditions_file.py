"""renditions.toml read: its tables as environment-style settings, every misplaced key reported.

Which keys it may hold comes from config.DEFAULTS (a setting added there is a file key at
once, in lower case) and GLOBAL (the function's settings, which no profile may set).
What the values mean is config.load's to check, for every profile (app/config/profiles.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from app.config import settings as config
from app.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/development.md)
if TYPE_CHECKING:
    from typing import Any

DEFAULT = "default"  # the profile made of [defaults] (and the environment) alone
ENV_FILE = "RENDITIONS_CONFIG"
DEFAULT_FILE = Path(__file__).resolve().parents[2] / "renditions.toml"  # the task root
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
_NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"  # compiled (by re) for a file that names profiles
_TABLES = ("defaults", "profiles", "rules")
# What TOML allows nowhere, not even in a comment: ASCII's control characters but tab
# (LF ends a line; a CR is allowed only before an LF).
_CONTROL = frozenset(map(chr, [*range(0x09), *range(0x0B, 0x20), 0x7F]))


class Rule(Record):
    """Uploads under `prefix` take `profile` (unless their metadata names another)."""

    prefix: str
    profile: str


class File(Record):
    """The file as read: where, its bytes, [defaults], each [profiles.NAME], the [[rules]]."""

    path: Path | None
    data: bytes
    defaults: dict[str, str]
    tables: dict[str, dict[str, str]]
    rules: list[Rule]


def read(environ: Mapping[str, str], file: Path | None, problems: list[str]) -> File:
    """The file (`file`, else RENDITIONS_CONFIG, else DEFAULT_FILE if there), each problem
    of its shape added to `problems`; an empty File if there is none."""
    path, missing = _locate(environ, file)
    problems.extend(missing)
    raw: dict[str, Any] = {}
    data = b""
    if path is not None and not missing:
        try:
            data = path.read_bytes()
            raw = _parsed(data.decode())
        # ValueError: tomllib's TOMLDecodeError, and the int() it calls refusing an
        # integer of more than 4300 digits (which escaped as a traceback before).
        except (OSError, UnicodeDecodeError, ValueError) as error:
            problems.append(f"{path}: cannot be read as TOML: {error}")
    defaults, tables, rules = _structure(raw, str(path), problems)
    return File(path, data, defaults, tables, rules)


def file_key(name: str) -> str:
    """A setting's key in the file: its environment name in lower case."""
    return name.lower()


def known() -> dict[str, str]:
    """Every setting a file may name, with its default: config.DEFAULTS."""
    return dict(config.DEFAULTS)


def _locate(environ: Mapping[str, str], file: Path | None) -> tuple[Path | None, list[str]]:
    named = file if file is not None else Path(environ[ENV_FILE]) if environ.get(ENV_FILE) else None
    if named is None:
        return (DEFAULT_FILE if DEFAULT_FILE.is_file() else None), []
    if not named.is_file():
        how = "--config" if file is not None else ENV_FILE
        return named, [f"invalid {how} {str(named)!r}: no such file"]
    return named, []


def _parsed(text: str) -> dict[str, Any]:
    """`text` as TOML. A file of comments and blank lines alone (renditions.toml as shipped)
    is {} without loading tomllib (~4 ms of CPU at every start); any other is tomllib's."""
    if _declares_nothing(text):
        return {}
    import tomllib  # here: only a file that declares something needs the parser

    return tomllib.loads(text)


def _declares_nothing(text: str) -> bool:
    """True if every line of `text` is blank or a comment, as TOML reads them: lines end
    in LF or CRLF, blanks are spaces and tabs, and no control character but a tab
    appears (TOML refuses them even in a comment). False for anything else, which the
    parser then reads, and refuses in its own words."""
    lines = text.replace("\r\n", "\n")
    if not _CONTROL.isdisjoint(lines):
        return False
    return all(line.lstrip(" \t")[:1] in ("", "#") for line in lines.split("\n"))


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
        elif not re.match(_NAME, name):
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
    names = {file_key(name): name for name in known()}
    found: dict[str, str] = {}
    for key, value in table.items():
        name = names.get(key)
        if name is None:
            import difflib  # here: only a misspelt key needs it, never a cold start

            close = difflib.get_close_matches(key.lower(), names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(
                f"{where}: unknown key {key!r}: expected a setting's name in lower case "
                f"(the configuration table of docs/configuration.md){hint}"
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


def rule_problems(
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
