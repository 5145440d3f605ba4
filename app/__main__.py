"""Command line: `python -m app resize FILE... --out DIR` runs the Lambda pipeline on local files.

It reads the same environment variables as the function (RESIZE_WIDTHS,
OUTPUT_FORMATS, QUALITY, ...), prints one line per file and exits 1 if any
file failed (a missing or unreadable file included), 2 if the configuration or
the arguments are invalid. Messages name each file by the path given.
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from app import config, imaging, pipeline
from app.errors import ConfigError
from app.localfiles import LocalStore
from app.model import ObjectRef, Outcome


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    resize = commands.add_parser("resize", help="resize local image files")
    resize.add_argument("files", nargs="+", type=Path, metavar="FILE")
    resize.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="DIR",
        help="folder for the copies (created if missing)",
    )
    args = parser.parse_args(argv)

    try:
        settings = config.load(os.environ)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
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
