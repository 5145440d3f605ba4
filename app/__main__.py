"""Command line: `image-resizer resize FILE... --out DIR` runs the Lambda pipeline on local files.

`image-resizer` (installed by scripts/setup.sh) and `python -m app` are the same command;
either runs from any folder, and neither loads the AWS SDK.

It reads the same configuration as the function (renditions.toml, or RENDITIONS_CONFIG,
and the environment: RESIZE_WIDTHS, OUTPUT_FORMATS, QUALITY, ...), prints one line per
file and exits 1 if any file failed (a missing or unreadable file included), 2 if the
configuration or the arguments are invalid. Messages name each file by the path given.
`--profile NAME` makes that profile's copies; without it, the default profile's (a local
file has no key for the rules to match, nor metadata).

`image-resizer check [--config FILE] [--json]` checks the configuration as a cold start
would: exit 0 with a summary (or the effective configuration as JSON), else exit 2
with the function's own message.
"""

from __future__ import annotations

import getopt
import os
import sys
from pathlib import Path

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/development.md)
if TYPE_CHECKING:
    from collections.abc import Iterable

    from app.config.profiles import Configuration
    from app.localfiles import LocalStore
    from app.model import Outcome

# The arguments are read with getopt, not argparse: on top of `import pyvips` (172 M
# instructions), building and running an argparse parser costs about 20 M (its import,
# gettext's and locale's, regexes compiled, a formatter per argument); getopt about 5 M.
#
# Each command: what it does, and its operands (METAVAR, what they are; one or more), if any.
_COMMANDS: dict[str, tuple[str, tuple[str, str] | None]] = {
    "resize": (
        "resize local image files",
        ("FILE", "an image file to resize; one or more (after --, a name may start with -)"),
    ),
    "check": ("check the configuration as a cold start would", None),
}
# Each command's options, declared once for getopt, the usage line and the help:
# --name -> (its value's METAVAR, "" for a flag; whether it is required; what it does).
_OPTIONS: dict[str, dict[str, tuple[str, bool, str]]] = {
    "resize": {
        "--out": ("DIR", True, "folder for the copies (created if missing)"),
        "--profile": ("NAME", False, "make this profile's copies"),
    },
    "check": {
        "--config": ("FILE", False, "this file instead of renditions.toml"),
        "--json": ("", False, "print the effective configuration"),
    },
}
_HELP = ("-h, --help", "show this help message and exit")
_COMMAND_NAMES = " and ".join(_COMMANDS)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (0 after --help, 2 for a usage error)."""
    try:
        command, options, operands = _read(sys.argv[1:] if argv is None else argv)
    except _Stop as stop:
        print(stop.text, file=sys.stderr if stop.status else sys.stdout)
        return stop.status

    # Imported once the arguments are read: `--help` and a usage error need no libvips.
    from app.config import profiles
    from app.errors import ConfigError

    config = options.get("--config")
    try:
        configuration = profiles.load(os.environ, None if config is None else Path(config))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if command == "check":
        as_json = "--json" in options
        print(profiles.as_json(configuration) if as_json else profiles.summary(configuration))
        return 0
    files = [Path(operand) for operand in operands]
    return _resize(files, Path(options["--out"]), options.get("--profile"), configuration)


class _Stop(Exception):
    """The arguments were read no further: `text` is --help's (status 0) or a usage error's (2)."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status, self.text = status, text


def _read(argv: list[str]) -> tuple[str, dict[str, str], list[str]]:
    """The command, its options (--name -> value, "" for a flag) and its operands, from
    `argv` (after the program's name); _Stop for a help or a usage error."""
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    head = argv if command is None else argv[: argv.index(command)]
    # -h/--help wins wherever it comes (before --), as with argparse; after an unknown
    # command, the top level's help, which names the commands.
    if _asks_for_help(head, ()) or (command not in _COMMANDS and _asks_for_help(argv, ())):
        raise _Stop(0, _help(None))
    try:
        getopt.getopt(head, "h", ["help"])  # before the command, -h alone is an option
    except getopt.GetoptError as error:
        raise _Stop(2, _error(None, error.msg)) from None
    if command is None:
        raise _Stop(2, _error(None, f"no command given; the commands are {_COMMAND_NAMES}"))
    if command not in _COMMANDS:
        raise _Stop(
            2, _error(None, f"unknown command {command!r}; the commands are {_COMMAND_NAMES}")
        )
    return command, *_read_command(command, argv[len(head) + 1 :])


def _read_command(command: str, args: list[str]) -> tuple[dict[str, str], list[str]]:
    """`command`'s options and operands, from the arguments after its name."""
    declared, operand = _OPTIONS[command], _COMMANDS[command][1]
    if _asks_for_help(args, declared):
        raise _Stop(0, _help(command))
    # GNU's grammar: options after operands too, --out DIR or --out=DIR, unique prefixes
    # (--prof), and -- ends the options. (With POSIXLY_CORRECT set, the options end at the
    # first operand, as in GNU's own tools.)
    names = [name[2:] + ("=" if metavar else "") for name, (metavar, _, _) in declared.items()]
    try:
        given, operands = getopt.gnu_getopt(args, "h", ["help", *names])
    except getopt.GetoptError as error:
        raise _Stop(2, _error(command, _whose(error, command))) from None
    options = dict(given)  # an option given twice: the last one counts, as with argparse
    for name, value in given:
        metavar = declared[name][0] if name in declared else ""
        if metavar and not value:  # --out= or --out "": Path("") would be this folder
            raise _Stop(2, _error(command, f"option {name} requires a {metavar}, not ''"))
    if operands and operand is None:
        extra = "argument " if len(operands) == 1 else "arguments "
        extra += ", ".join(map(repr, operands))
        raise _Stop(2, _error(command, f"unexpected {extra}: {command} takes options only"))
    missing = [operand[0]] if operand and not operands else []
    missing += [
        name for name, (_, required, _) in declared.items() if required and name not in options
    ]
    if missing:
        raise _Stop(
            2, _error(command, f"the following arguments are required: {', '.join(missing)}")
        )
    return options, operands


def _asks_for_help(args: list[str], names: Iterable[str]) -> bool:
    """Whether -h, --help or an abbreviation of it (one naming none of `names`) comes before --."""
    for arg in args:
        if arg == "--":
            return False
        if arg.startswith("-h") or (
            arg.startswith("--h")
            and [n for n in ("--help", *names) if n.startswith(arg)] == ["--help"]
        ):
            return True
    return False


def _whose(error: getopt.GetoptError, command: str) -> str:
    """getopt's message, saying whose option it is when it is another command's."""
    name = f"--{error.opt}"
    owners = [other for other, options in _OPTIONS.items() if name in options]
    if owners and command not in owners:
        return f"{error.msg} (it is an option of {' and '.join(owners)})"
    return error.msg


def _resize(files: list[Path], out: Path, profile: str | None, configuration: Configuration) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from app.config import profiles
    from app.image import imaging
    from app.localfiles import LocalStore
    from app.model import ObjectRef
    from app.renditions import pipeline

    name = profile or profiles.DEFAULT
    if name not in configuration.profiles:
        print(
            f"error: invalid --profile {name!r}: not declared; declared profiles: "
            + ", ".join(configuration.profiles),
            file=sys.stderr,
        )
        return 2
    settings = configuration.profiles[name]
    imaging.configure_libvips()

    # Each file is named as an upload under SOURCE_PREFIX would be, so the key
    # template, the guards and the limits apply exactly as in the function.
    refs = {settings.source_prefix + path.name: path for path in files}
    if len(refs) != len(files):
        print(
            "error: two FILE arguments share a file name; their copies would collide",
            file=sys.stderr,
        )
        return 2
    problem = usable_folder(out)
    if problem:
        print(f"error: --out {out}: {problem}", file=sys.stderr)
        return 2
    store = LocalStore(refs, out, settings.output_prefix)
    with ThreadPoolExecutor(max_workers=settings.object_concurrency) as pool:
        outcomes = list(
            pool.map(
                lambda key: pipeline.process(
                    ObjectRef("", key, label=str(refs[key])), settings, store
                ),
                refs,
            )
        )
    for outcome in outcomes:
        print(_line(refs[outcome.ref.key], outcome, store))
    return 1 if any(o.status == "failed" for o in outcomes) else 0


def _usage(command: str | None) -> str:
    """The usage line, argparse's way: the top level's, or `command`'s."""
    if command is None:
        return f"usage: {_prog()} [-h] {{{','.join(_COMMANDS)}}} ..."
    words = [f"usage: {_prog()} {command} [-h]"]
    for name, (metavar, required, _) in _OPTIONS[command].items():
        words.append(_spelled(name, metavar) if required else f"[{_spelled(name, metavar)}]")
    operand = _COMMANDS[command][1]
    if operand:
        words.append(f"{operand[0]} [{operand[0]} ...]")
    return " ".join(words)


def _error(command: str | None, what: str) -> str:
    """A usage error as argparse shapes it: the usage line, then `PROG: error: WHAT`."""
    prog = _prog() if command is None else f"{_prog()} {command}"
    return f"{_usage(command)}\n{prog}: error: {what}"


def _help(command: str | None) -> str:
    """--help's text: the top level's (what the command does, its commands), or `command`'s."""
    if command is None:
        about = (__doc__ or "").partition("\n")[0]
        sections = {
            "commands": [(name, summary) for name, (summary, _) in _COMMANDS.items()],
            "options": [_HELP],
        }
        after = f"\n\nA command's usage and options: {_prog()} COMMAND --help"
    else:
        about, operand = _COMMANDS[command]
        options = [(_spelled(name, m), what) for name, (m, _, what) in _OPTIONS[command].items()]
        sections = {"arguments": [operand] if operand else [], "options": [_HELP, *options]}
        after = ""
    width = max(len(left) for rows in sections.values() for left, _ in rows)
    listed = "\n\n".join(
        f"{title}:\n" + "\n".join(f"  {left:<{width}}  {right}" for left, right in rows)
        for title, rows in sections.items()
        if rows
    )
    return f"{_usage(command)}\n\n{about}\n\n{listed}{after}"


def _spelled(name: str, metavar: str) -> str:
    """An option as the usage and the help spell it: `--out DIR`, or `--json` for a flag."""
    return f"{name} {metavar}" if metavar else name


def _prog() -> str:
    """The command as the user typed it: `image-resizer`, or `python -m app`."""
    name = Path(sys.argv[0]).name
    return "python -m app" if name in {"__main__.py", "-m"} else name


def usable_folder(folder: Path) -> str | None:
    """None once `folder` exists (made if missing) and takes a new file; else why not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _take_a_file(folder)
    except FileExistsError:
        return "a file is there, not a folder"
    except NotADirectoryError:
        return "cannot be made: a file stands where one of its parent folders would be"
    except OSError as error:
        return f"cannot be written ({error.strerror})"
    return None


def _take_a_file(folder: Path) -> None:
    """Make a file in `folder` and drop it at once; OSError if the folder takes none."""
    unnamed = getattr(os, "O_TMPFILE", 0)  # Linux: a file with no name, gone once closed
    if unnamed:
        try:
            os.close(os.open(folder, unnamed | os.O_WRONLY | os.O_CLOEXEC, 0o600))
        except OSError:
            pass  # not on this filesystem, or refused: tempfile tries again, and says why
        else:
            return  # as tempfile would have, without loading it (and random) at start-up
    import tempfile

    with tempfile.TemporaryFile(dir=folder):
        pass


def _line(path: Path, outcome: Outcome, store: LocalStore) -> str:
    if outcome.status == "processed":
        made = ", ".join(
            f"{store.output_path(o.key)} ({o.width}x{o.height})" for o in outcome.outputs
        )
        if "manifest" in outcome.details:
            made += f"; manifest {store.output_path(outcome.details['manifest'])}"
        return f"{path}: processed -> {made}"
    return f"{path}: {outcome.status}: {outcome.reason}"


if __name__ == "__main__":
    sys.exit(main())
