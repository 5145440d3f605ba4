#!/usr/bin/env bash
# Make .venv match requirements/dev.txt (installing uv first if it is missing).
# Sourced by the other scripts; safe to run again: it changes only what differs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v uv >/dev/null 2>&1; then
  echo "setup: installing uv with pip" >&2
  python3 -m pip install --quiet --user uv
  PATH="$(python3 -m site --user-base)/bin:$PATH"
  export PATH
fi
[ -x .venv/bin/python ] || uv venv --quiet --python python3 .venv
uv pip sync --quiet --python .venv/bin/python requirements/dev.txt
