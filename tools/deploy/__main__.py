"""`python -m tools.deploy template ...`: the stack's template as JSON, for scripts/deploy.sh.

It takes the configuration as `python -m app check --json` printed it (--check FILE), so
that the role's policy covers every profile's output prefix, and deploy.sh's own options.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tools.deploy.template import Plan, template


def main(argv: list[str] | None = None) -> int:
    """Print the template; exit 2 with a sentence if an argument is unusable."""
    parser = argparse.ArgumentParser(prog="python -m tools.deploy")
    commands = parser.add_subparsers(dest="command", required=True)
    made = commands.add_parser("template", help="print the stack's template as JSON")
    made.add_argument("--check", type=Path, required=True, help="python -m app check --json")
    for option in ("--function-name", "--bucket", "--image", "--region"):
        made.add_argument(option, required=True)
    made.add_argument("--arch", default="arm64")
    made.add_argument("--memory", type=int, default=1769)
    made.add_argument("--timeout", type=int, default=60)
    made.add_argument("--reserved-concurrency", type=int)
    made.add_argument("--log-retention", type=int, default=30)
    made.add_argument("--alarm-email")
    made.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)

    checked = json.loads(args.check.read_text())
    environment = dict(pair.partition("=")[::2] for pair in args.env)
    plan = Plan(
        function_name=args.function_name,
        bucket=args.bucket,
        image_uri=args.image,
        region=args.region,
        source_prefix=checked["source_prefix"],
        output_bucket=checked["output_bucket"] or args.bucket,
        output_prefixes=tuple(checked["output_prefixes"]),
        environment=environment,
        namespace=checked.get("metrics_namespace") or "ImageResizer",
        arch=args.arch,
        memory=args.memory,
        timeout=args.timeout,
        reserved=args.reserved_concurrency,
        log_retention=args.log_retention,
        alarm_email=args.alarm_email or None,
        bus_arn=checked["event_bus"] or None,
    )
    print(json.dumps(template(plan), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
