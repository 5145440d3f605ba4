#!/usr/bin/env bash
# The one test command: set up, lint, type-check, then run every test.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/unit -x).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
ruff check .
ruff format --check .
mypy
shellcheck scripts/*.sh .ci/run
exec python -m pytest "$@"
