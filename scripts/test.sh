#!/usr/bin/env bash
# The one test command: set up, lint, type-check, then run every test.
#   scripts/test.sh [PYTEST ARGS...]   e.g. scripts/test.sh tests/unit -x
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
  sed -n '2,3p' "$0" | cut -c3-
  exit 0
fi
source scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
ruff check .
ruff format --check .
mypy
shellcheck scripts/*.sh .ci/run
exec python -m pytest "$@"
