"""The Dockerfile read as a build reads it: its instructions, variables and build context.

One parser for everything that acts on what the image does without Docker: the image's
environment (`image_env.py`) and the build replay (`replay.py`). It knows the
instructions this project's Dockerfile uses (ARG, FROM, COPY, ENV, RUN, CMD, and
WORKDIR/LABEL/USER as no-ops) and refuses any other, so that a new instruction cannot
silently go unreplayed.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"

_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_IGNORED = ("WORKDIR", "LABEL", "USER", "EXPOSE", "HEALTHCHECK")


@dataclass(frozen=True, slots=True)
class Copy:
    """`COPY SRC... DEST`: sources relative to the build context, DEST as written."""

    sources: tuple[str, ...]
    dest: str


@dataclass(slots=True)
class Dockerfile:
    """The instructions of one Dockerfile, in order where order matters."""

    path: Path
    args: dict[str, str] = field(default_factory=dict)  # ARG defaults
    base: str = ""  # FROM, its variables substituted
    copies: list[Copy] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    runs: list[str] = field(default_factory=list)  # shell form, continuation lines joined
    cmd: list[str] = field(default_factory=list)

    @property
    def context(self) -> Path:
        """The build context: the folder the Dockerfile is in (`docker build .`)."""
        return self.path.parent


def parse(path: Path = DOCKERFILE) -> Dockerfile:
    """Read `path`; raise ValueError naming the line of anything it cannot replay."""
    result = Dockerfile(path)
    for number, line in _instructions(path.read_text()):
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        where = f"{path.name}:{number}"
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            result.args[name.strip()] = default.strip()
        elif keyword == "FROM":
            result.base = substitute(rest.split()[0], result.args)
        elif keyword == "COPY":
            words = shlex.split(rest)
            if len(words) < 2 or any(w.startswith("--") for w in words):
                raise ValueError(f"{where}: expected COPY SRC... DEST without flags: {line!r}")
            result.copies.append(Copy(tuple(words[:-1]), words[-1]))
        elif keyword == "ENV":
            for word in shlex.split(rest):
                key, sep, value = word.partition("=")
                if not sep:
                    raise ValueError(f"{where}: write ENV as KEY=value, not {line!r}")
                result.env[key] = value
        elif keyword == "RUN":
            if rest.startswith("["):
                raise ValueError(f"{where}: expected RUN in shell form, got {line!r}")
            result.runs.append(rest)
        elif keyword == "CMD":
            result.cmd = _json_list(rest, where)
        elif keyword not in _IGNORED:
            raise ValueError(f"{where}: {keyword} is not an instruction the replay knows")
    if not result.base:
        raise ValueError(f"{path.name}: no FROM line")
    return result


def substitute(text: str, variables: dict[str, str]) -> str:
    """`${NAME}` and `$NAME` replaced from `variables`; an unknown name is an error."""

    def value(match: re.Match[str]) -> str:
        name = match[1] or match[2]
        if name not in variables:
            raise ValueError(f"${{{name}}} is not set in {text!r}")
        return variables[name]

    return _VARIABLE.sub(value, text)


def context_files(context: Path) -> list[Path]:
    """The files of the build context that `.dockerignore` lets into a build, sorted."""
    patterns = _ignore_patterns(context / ".dockerignore")
    return sorted(
        path
        for path in context.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(context).parts
        if not _ignored(path.relative_to(context).as_posix(), patterns)
    )


def _instructions(text: str) -> list[tuple[int, str]]:
    """(first line number, instruction) pairs; comments dropped, continuations joined."""
    result: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1].strip())
            continue
        pending.append(line)
        result.append((start, " ".join(part for part in pending if part)))
        pending = []
    if pending:
        raise ValueError("the Dockerfile ends inside a continued instruction")
    return result


def _json_list(text: str, where: str) -> list[str]:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where}: expected CMD in exec form, a JSON list of strings")
    return value


def _ignore_patterns(path: Path) -> list[tuple[bool, str]]:
    """(negated, pattern) pairs from `.dockerignore`, in order."""
    if not path.exists():
        return []
    patterns = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        patterns.append((negated, line.lstrip("!").strip("/")))
    return patterns


def _ignored(relative: str, patterns: list[tuple[bool, str]]) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its folders wins."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for negated, pattern in patterns:
        if any(_glob(pattern).fullmatch(prefix) for prefix in prefixes):
            ignored = not negated
    return ignored


def _glob(pattern: str) -> re.Pattern[str]:
    """Go's filepath.Match, as Docker uses it: `*` and `?` stay within one folder."""
    parts = re.split(r"(\*\*|\*|\?)", pattern)
    wildcards = {"**": ".*", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(wildcards.get(part, re.escape(part)) for part in parts))
