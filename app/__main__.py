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

import argparse
import os
import sys
from pathlib import Path

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/development.md)
if TYPE_CHECKING:
    from app.config.profiles import Configuration
    from app.localfiles import LocalStore
    from app.model import Outcome


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(
        prog=_prog(), description=__doc__.splitlines()[0], formatter_class=_Formatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    resize = commands.add_parser(
        "resize", help="resize local image files", formatter_class=_Formatter
    )
    resize.add_argument("files", nargs="+", type=Path, metavar="FILE")
    resize.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="DIR",
        help="folder for the copies (created if missing)",
    )
    resize.add_argument("--profile", metavar="NAME", help="make this profile's copies")
    check = commands.add_parser(
        "check", help="check the configuration as a cold start would", formatter_class=_Formatter
    )
    check.add_argument(
        "--config", type=Path, metavar="FILE", help="this file instead of renditions.toml"
    )
    check.add_argument("--json", action="store_true", help="print the effective configuration")
    args = parser.parse_args(argv)

    # Imported once the arguments are read: `--help` and a usage error need no libvips.
    from app.config import profiles
    from app.errors import ConfigError

    try:
        configuration = profiles.load(os.environ, getattr(args, "config", None))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.command == "check":
        print(profiles.as_json(configuration) if args.json else profiles.summary(configuration))
        return 0
    return _resize(args, configuration)


def _resize(args: argparse.Namespace, configuration: Configuration) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from app.config import profiles
    from app.image import imaging
    from app.localfiles import LocalStore
    from app.model import ObjectRef
    from app.renditions import pipeline

    name = args.profile or profiles.DEFAULT
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
    refs = {settings.source_prefix + path.name: path for path in args.files}
    if len(refs) != len(args.files):
        print(
            "error: two FILE arguments share a file name; their copies would collide",
            file=sys.stderr,
        )
        return 2
    problem = usable_folder(args.out)
    if problem:
        print(f"error: --out {args.out}: {problem}", file=sys.stderr)
        return 2
    store = LocalStore(refs, args.out, settings.output_prefix)
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


class _Formatter(argparse.HelpFormatter):
    """argparse's help, as wide as argparse makes it, sized without shutil.

    The parser makes a formatter for each argument it declares, not only for `--help`,
    and argparse's own sizes itself with shutil, whose import loads zlib, bz2 and lzma:
    about 3 ms of every run that prints no help.
    """

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=_columns() - 2)  # as argparse leaves a margin


def _columns() -> int:
    """The terminal's width as shutil.get_terminal_size gives it: COLUMNS, else the
    terminal's own, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    stdout = sys.__stdout__
    try:
        return (os.get_terminal_size(stdout.fileno()).columns if stdout else 0) or 80
    except (ValueError, OSError):  # closed, or not a terminal
        return 80


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
